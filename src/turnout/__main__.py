"""`python -m turnout` runs the command line."""

from turnout.cli.entry import run

run()
