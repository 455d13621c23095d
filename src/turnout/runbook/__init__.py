"""The runbook: a pure plan, a durable engine, and one module per step."""
