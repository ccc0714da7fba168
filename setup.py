"""Package list for setuptools (everything else is in pyproject.toml).

pyproject's `packages.find` cannot add a package whose folder lies outside its parent's:
the bundled drivers live in devices/ but install as `driverkit.devices` (package-dir in
pyproject.toml), so the list is find("driverkit*") plus that one. New subpackages of driverkit/
are picked up without editing anything.
"""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["driverkit", "driverkit.*"]) + ["driverkit.devices"])
