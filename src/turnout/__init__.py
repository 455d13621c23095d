"""turnout: a production deployment runbook, run as a program."""

__version__ = "0.1.0"
