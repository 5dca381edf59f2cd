"""Modeling: the shared encoders (word vectors, Hugging Face transformers), pooling, the heads of each
problem type, and :class:`MultiTaskModel` which ties them together and saves/loads model folders."""

from .heads import HEAD_TYPES, Head, SingleLabelClassificationHead, register_head_type
from .model import MultiTaskModel

__all__ = ["HEAD_TYPES", "Head", "MultiTaskModel", "SingleLabelClassificationHead", "register_head_type"]
