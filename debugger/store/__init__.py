"""The capture: one SQLite file in WAL mode, one writer thread, readers on their own connections.

The only package that runs SQL."""
