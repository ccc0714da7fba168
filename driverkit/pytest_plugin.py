"""driverkit's pytest plugin (pytest11 entry point): machine fixtures and markers."""
