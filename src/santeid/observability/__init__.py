"""What operators watch: readiness checks, Prometheus metrics, structured logs and the
authentication event store (docs/operations.md)."""
