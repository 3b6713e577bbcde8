"""The node agent: reads GPUs (NVML or simulated), runs assigned replicas, reports to the scheduler.

It talks to the scheduler only over the agent HTTP protocol (docs/agent-protocol.md).
"""
