"""Inference: evaluation of a model on tasks' splits, and prediction of raw text with every head."""
