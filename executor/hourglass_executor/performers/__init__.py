"""Performers: where they run (backends), how the executor talks to them (client, circuit
breaker, health checks) and which one serves each AVS (blue-green deployments)."""
