"""OpenMP's wait policy for predicting with a word-vector model: PyTorch's idle threads sleep
instead of spinning.

PyTorch's CPU wheels run their parallel operations on OpenMP (GNU ``libgomp`` on Linux). When an
operation ends, libgomp's worker threads keep spinning on their core for a while (300,000 rounds by
default) in case another follows. That suits a model whose time goes to its operations. A word-vector
model's prediction on short texts spends most of its time elsewhere: between two encoder passes the
Hugging Face tokenizer encodes the next texts on its own thread pool (Rayon, one thread per core), and
the spinning workers take those cores from it. ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP specification 4.5,
section 4.8; libgomp then spins 0 rounds, see its manual's ``GOMP_SPINCOUNT``; LLVM's and Intel's
OpenMP read it as a block time of 0) makes a worker sleep as soon as it waits.

:func:`openmp_wait_policy_for` sets it for the prediction commands (``mtl-text predict``, ``mtl-text
serve``, the benchmark's speed measurement) when the model folder holds a word-vector model, before
they load torch: libgomp reads the variable once, when it is loaded. It leaves the default for a
transformer (its time is in its operations, where sleeping workers cost a wake-up each), and does
nothing where the user chose a policy (``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` set) or where torch
is loaded already (the policy would silently not apply).

Measured on the 2-core CPU machine of the README with the two-epoch ``--wide-svm 20newsgroups``
word-vector model of docs/benchmark.md, a fresh process each, the two settings alternating: SST-2
test batches of 256 ran faster in each of seven rounds (+8% to +52%); 20 Newsgroups, whose long posts
spend their time in the model, 0.94x to 1.04x over four rounds. all-MiniLM-L6-v2 on SST-2 gave 68
against 73 texts/s (means of six rounds each, the rounds between 60 and 79): no gain, perhaps a loss,
hence the default for transformers.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from .files import CONFIG_NAME

WAIT_POLICY_ENV = "OMP_WAIT_POLICY"
USER_SETTINGS = (WAIT_POLICY_ENV, "GOMP_SPINCOUNT")
# the encoder type that config.json names for a word-vector model (WordVectorEncoder.type_name; a test
# checks they agree): read here from the JSON, since importing the encoders would load torch
WORD_VECTORS = "word_vectors"


def saved_encoder_type(model: str | os.PathLike) -> str | None:
    """The encoder type named in a model folder's config file (``config.json``); ``None`` where there is no such
    folder here (a Hub id) or it cannot be read (loading the model reports that properly)."""
    try:
        return json.loads((Path(model) / CONFIG_NAME).read_text())["encoder"]["type"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def openmp_wait_policy_for(model: str | os.PathLike, environ=os.environ) -> str:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` for this process when ``model`` (a model folder) holds a
    word-vector model, unless the user chose a wait policy or torch is loaded already (see the
    module's text).

    Returns:
        what was done or why not, in one line for the logs. Never raises.
    """
    chosen = [k for k in USER_SETTINGS if k in environ]
    if chosen:
        return f"OpenMP wait policy left as the environment sets it ({', '.join(f'{k}={environ[k]}' for k in chosen)})"
    encoder = saved_encoder_type(model)
    if encoder != WORD_VECTORS:
        return f"OpenMP wait policy left at its default (encoder: {encoder or 'not read yet'})"
    if "torch" in sys.modules:
        return "OpenMP wait policy left at its default (torch was loaded before it could be set)"
    environ[WAIT_POLICY_ENV] = "PASSIVE"
    return "OpenMP wait policy: PASSIVE (a word-vector model: idle threads sleep, leaving the cores to the tokenizer)"
