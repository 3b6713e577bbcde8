"""The service: the one scheduling loop (store snapshot → run_cycle → one commit → backend).

Also holds the process-wide Settings and the wake-up signal the API pulls on submit, finish and
node change.
"""
