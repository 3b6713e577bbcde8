"""Fault tests of issue 12: real scheduler and agent processes, jobs that leave marks, a checker."""
