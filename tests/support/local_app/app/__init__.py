"""A tiny stdlib HTTP app the local target tests deploy into slots."""
