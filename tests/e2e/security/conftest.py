"""Attacks reproduced against real server processes: ``santeid serve`` in each shipped layout,
a real nginx in front, a real Redis for the multi-process servers."""
