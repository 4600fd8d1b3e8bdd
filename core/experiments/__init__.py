"""Experiments: the run history, side-by-side comparison of runs (and, later, searches over settings)."""
