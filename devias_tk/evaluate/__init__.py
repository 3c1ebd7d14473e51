"""Evaluation: metrics, seen/unseen suites, the k-NN disentanglement check, reports."""
