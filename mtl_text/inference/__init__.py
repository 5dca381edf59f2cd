"""Inference: evaluation of a model on tasks' splits, and prediction of raw text with every head."""

# tokens per encoder pass at prediction, padding included (Predictor, predict.py --max-batch-tokens)
DEFAULT_MAX_BATCH_TOKENS = 16384
