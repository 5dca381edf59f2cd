"""mtl-text: multi-task text classification with one shared encoder and one head per task.

Data flows one way: text -> tokens (:mod:`mtl_text.data.tokenization`) -> encoder
(:mod:`mtl_text.modeling.encoders`) -> pooled vector (:mod:`mtl_text.modeling.pooling`) -> heads
(:mod:`mtl_text.modeling.heads`: loss, decoding, metrics). :class:`MultiTaskModel` ties encoder and
heads together; :mod:`mtl_text.data.sampling` decides which task each training step draws from;
:func:`train` runs a whole job from a :class:`TrainingConfig`; :class:`Predictor` scores text with
every head from one encoder pass; :func:`push_to_hub` uploads a saved model folder to the Hugging Face Hub.

The package layout:

* :mod:`mtl_text.data`: tasks and their registry, readers, splits, tokenization, task sampling;
* :mod:`mtl_text.modeling`: encoders, pooling, heads, the multi-task model;
* :mod:`mtl_text.training`: configuration, set-up, the loop, checkpoints, early stopping;
* :mod:`mtl_text.inference`: evaluation, prediction, ensembles and the ONNX Runtime backend;
* :mod:`mtl_text.transfer`: sequential transfer (``--init-from``), MMD domain adaptation,
  knowledge distillation, paired-bootstrap significance;
* :mod:`mtl_text.serving`: the HTTP server with dynamic batching (needs the ``serve`` extra);
* :mod:`mtl_text.cli`: the command line (``mtl-text train|predict|evaluate|serve|export-onnx|push-to-hub|benchmark``);
* :mod:`mtl_text.bench`: the benchmark tooling (needs the ``bench`` extra);
* :mod:`mtl_text.utils`: atomic files, logging, the process's malloc and CPU settings;
* :mod:`mtl_text.errors`: the typed errors, all under :class:`MtlTextError`.
"""

__version__ = "0.3.23"

from .data import (
    HubDataset,
    Task,
    file_task,
    get_task,
    list_tasks,
    load_task_file,
    load_task_splits,
    load_test_split,
    missing_data_error,
    phrase_groups,
    read_csv,
    read_hub_dataset,
    read_jsonl,
    read_labelled,
    read_local_or_hub,
    read_sha256_manifest,
    read_tsv,
    register_task,
    resolve_data_dir,
)
from .errors import (
    CheckpointError,
    ConfigError,
    DataError,
    DataFormatError,
    DataNotFoundError,
    HubUploadError,
    InputError,
    ModelLoadError,
    ModelOutputError,
    MtlTextError,
    OutputDirError,
    TaskError,
    TaskFileError,
    UnknownHeadError,
    UnknownTaskError,
)

# torch-heavy parts are imported when first used: `import mtl_text` in a task file stays light
_LAZY = {
    "MultiTaskModel": "mtl_text.modeling.model",
    "Head": "mtl_text.modeling.heads",
    "register_head_type": "mtl_text.modeling.heads",
    "Predictor": "mtl_text.inference.prediction",
    "Ensemble": "mtl_text.inference.ensemble",
    "calibrate_model": "mtl_text.inference.calibration",
    "estimate_model_accuracy": "mtl_text.transfer.estimation",
    "compare_models": "mtl_text.inference.comparison",
    "push_to_hub": "mtl_text.modeling.hub",
    "train": "mtl_text.training.trainer",
    "TrainingResult": "mtl_text.training.trainer",
    "TrainingConfig": "mtl_text.training.config",
    "DataArguments": "mtl_text.training.config",
    "EncoderArguments": "mtl_text.training.config",
    "HeadArguments": "mtl_text.training.config",
    "OptimizationArguments": "mtl_text.training.config",
    "EvaluationArguments": "mtl_text.training.config",
    "CheckpointArguments": "mtl_text.training.config",
}

__all__ = [
    "CheckpointError", "ConfigError", "DataError", "DataFormatError", "DataNotFoundError", "HubUploadError", "InputError", "ModelLoadError", "ModelOutputError",
    "HubDataset", "MtlTextError", "OutputDirError", "Task", "TaskError", "TaskFileError", "UnknownHeadError", "UnknownTaskError", "file_task", "get_task",
    "list_tasks", "load_task_file", "load_task_splits", "load_test_split", "missing_data_error", "phrase_groups", "read_csv", "read_hub_dataset", "read_jsonl", "read_labelled", "read_local_or_hub", "read_sha256_manifest",
    "read_tsv", "register_task", "resolve_data_dir", *_LAZY,
]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mtl_text' has no attribute {name!r}")
