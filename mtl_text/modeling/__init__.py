"""Modeling: the shared encoders (word vectors, Hugging Face transformers), pooling, the heads of each
problem type, and :class:`MultiTaskModel` which ties them together and saves/loads model folders.

The exports below load torch when first used, so that the torch-free modules of this package
(:mod:`~mtl_text.modeling.options`) can be read without it."""

_LAZY = {
    "HEAD_TYPES": "mtl_text.modeling.heads",
    "Head": "mtl_text.modeling.heads",
    "SingleLabelClassificationHead": "mtl_text.modeling.heads",
    "register_head_type": "mtl_text.modeling.heads",
    "MultiTaskModel": "mtl_text.modeling.model",
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'mtl_text.modeling' has no attribute {name!r}")
