"""Data: tasks and their registry, readers of labelled files, splits, tokenization, and task sampling
(which task each training step draws from)."""

from .readers import (
    HubDataset,
    missing_data_error,
    read_csv,
    read_hub_dataset,
    read_jsonl,
    read_labelled,
    read_local_or_hub,
    read_sha256_manifest,
    read_tsv,
)
from .splits import load_task_splits, load_test_split, phrase_groups, resolve_data_dir
from .tasks import Task, file_task, get_task, list_tasks, load_task_file, register_task

__all__ = ["HubDataset", "Task", "file_task", "get_task", "list_tasks", "load_task_file", "load_task_splits", "load_test_split", "missing_data_error", "phrase_groups", "read_csv", "read_hub_dataset", "read_jsonl", "read_labelled", "read_local_or_hub",
    "read_sha256_manifest", "read_tsv", "register_task", "resolve_data_dir"]
