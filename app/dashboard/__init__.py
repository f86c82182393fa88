"""The dashboard: the whole floor in one call, then only what changed (delta sync)."""
