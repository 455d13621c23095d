"""tesoro: the rewards service of the runbook, a small real web app (standard library only)."""
