"""`turnout demo`: the whole runbook story on this machine, unattended."""
