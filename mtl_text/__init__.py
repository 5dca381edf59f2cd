"""mtl-text: multi-task text classification with one shared encoder and one head per task.

Data flows one way: text -> tokens (:mod:`mtl_text.tokenization`) -> encoder
(:mod:`mtl_text.encoders`) -> pooled vector (:mod:`mtl_text.pooling`) -> heads (:mod:`mtl_text.heads`)
-> loss and metrics (:mod:`mtl_text.metrics`). :class:`MultiTaskModel` ties encoder and heads together;
:mod:`mtl_text.sampling` decides which task each training step draws from.
"""

__version__ = "0.1.0"

from .readers import DataFormatError, DataNotFoundError, missing_data_error, read_csv, read_jsonl, read_tsv
from .tasks import (
    Task,
    UnknownTaskError,
    get_task,
    list_tasks,
    load_task_file,
    load_task_splits,
    register_task,
    resolve_data_dir,
)

__all__ = [
    "DataFormatError",
    "DataNotFoundError",
    "Task",
    "UnknownTaskError",
    "get_task",
    "list_tasks",
    "load_task_file",
    "load_task_splits",
    "missing_data_error",
    "read_csv",
    "read_jsonl",
    "read_tsv",
    "register_task",
    "resolve_data_dir",
    "MultiTaskModel",
]


def __getattr__(name):  # the model pulls in torch; import it only when asked for
    if name == "MultiTaskModel":
        from .modeling import MultiTaskModel

        return MultiTaskModel
    raise AttributeError(name)
