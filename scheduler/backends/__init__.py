"""Backends: where decisions are carried out. Each folder implements the ports (scheduler.ports)."""
