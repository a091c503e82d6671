"""Keeping a run alive: checkpoints (`checkpoint`, `host`), the input's and outputs'
positions (`positions`), clean stops on a signal (`stopping`), rules reloaded while
running (`watch`)."""
