"""Local servers that follow external services' documented REST contracts, with state."""
