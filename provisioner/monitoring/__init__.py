"""Fleet health for people and for Prometheus: pure functions over registry statuses."""
