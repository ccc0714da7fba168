"""Runnable demonstrations of driverkit on real guests (scripts/demo runs `seed`).

Nothing in the framework imports from here: a demo uses driverkit's public API the way a
user's script would, and keeps its results in typed dataclasses.
"""
