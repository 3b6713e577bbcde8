"""The standalone backend: the store is the cluster, agents carry decisions out by heartbeat."""
