"""Test doubles shipped with the agent: a fake NVML library for tests, benchmarks and demos."""
