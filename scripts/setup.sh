#!/usr/bin/env bash
# Create a virtual environment with mtl-text and its dependencies (idempotent).
# Usage: bash scripts/setup.sh [VENV_DIR]   (default .venv)
#
# torch comes first, so that the dependency resolver never pulls the CUDA build onto a machine
# without a GPU: with an NVIDIA GPU, the default (CUDA) build from PyPI; without one, a CPU build,
# from a local wheel where pip's --find-links offers one, else from PyTorch's CPU index.
set -euo pipefail
VENV=${1:-.venv}
PYTHON=${PYTHON:-python3}
stamp="$VENV/.mtl-text-installed"
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
"$PYTHON" -m venv "$VENV"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install --quiet --upgrade pip

if [ -n "${MTL_TEXT_TORCH_SPEC:-}" ]; then
  "${pip[@]}" install --quiet $MTL_TEXT_TORCH_SPEC          # the user's own choice, e.g. "torch==2.5.1"
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: NVIDIA GPU found, installing torch with CUDA"
  "${pip[@]}" install --quiet "torch>=2.4"
elif ls ${PIP_FIND_LINKS:-/nonexistent}/torch-*+cpu-*.whl >/dev/null 2>&1; then
  echo "setup: no GPU, installing the local CPU build of torch"
  "${pip[@]}" install --quiet "torch==2.13.0"
else
  echo "setup: no GPU, installing the CPU build of torch from PyTorch's CPU index"
  "${pip[@]}" install --quiet torch --index-url https://download.pytorch.org/whl/cpu
fi
"${pip[@]}" install --quiet -e ".[dev,bench]"
echo "$want" > "$stamp"
"$VENV/bin/python" -c "import torch, mtl_text; print(f'setup: mtl-text {mtl_text.__version__}, torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}')"
