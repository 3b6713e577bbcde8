"""gpusched's scheduler: the pure core, the store, the service loop, the simulator and the CLI."""
