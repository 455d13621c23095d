"""The command line: the only place that prints or maps errors to exit codes."""
