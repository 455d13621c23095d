"""Targets: where the app runs. A protocol, a fake, and one module per backend."""
