"""Bundled kernel descriptions (JSON written by `python -m driverkit.mem.kernel`)."""
