"""Evaluation: test metrics, baselines, permutation importance, the decision threshold, reports."""
