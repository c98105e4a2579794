"""Synthetic civil-status base and identity-traits rules: the data foundation of the INSi
teleservice (see docs/civil-status.md)."""
