"""Keeping a run alive: checkpoints, clean stops, rules reloaded while running."""
