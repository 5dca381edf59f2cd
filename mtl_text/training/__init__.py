"""Training: the typed configuration, run-time set-up, building a run, the multi-task loop, early
stopping, checkpoints, and :func:`train` which ties them together."""
