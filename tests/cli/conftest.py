"""CLI tests run the console script in a subprocess (the `cli` fixture, tests/cli_run.py)."""

from cli_run import cli  # noqa: F401  (a fixture)
