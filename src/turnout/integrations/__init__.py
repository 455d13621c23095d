"""Integrations: notifications, tracking issue, incidents, on-call, git."""
