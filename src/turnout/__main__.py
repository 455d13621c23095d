"""`python -m turnout` runs the command line."""

from turnout.cli.main import run

run()
