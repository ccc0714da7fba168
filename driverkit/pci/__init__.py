"""PCI: config space, enumeration, BAR sizing/assignment, enable."""
