#!/usr/bin/env bash
# Set up .venv with the test extras, then lint, check the layer contracts and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,index,eval,hub,train,ui,onnx,live
# Debian packages the tests drive: Chromium for the web UI's browser tests (never a browser
# downloaded by Playwright), ffmpeg for gradio's streaming audio (the Live tab), and PulseAudio with
# PortAudio and ALSA's pulse plugin for the live device test.
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v ffmpeg >/dev/null 2>&1 || missing+=(ffmpeg)
command -v pulseaudio >/dev/null 2>&1 || missing+=(pulseaudio pulseaudio-utils libportaudio2 libasound2-plugins)
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/lint-imports
.venv/bin/python scripts/cli_reference.py --check
.venv/bin/python -m pytest -n 2 -q "$@"

# The parity tests again as a CPU without AVX2 or AVX-512 computes them: torch's and numpy's
# baseline kernels (numpy's dispatch targets that this CPU has, switched off) and one thread, so a
# tolerance that only holds for this machine's SIMD width and summation order fails here.
reduced_simd=$(.venv/bin/python -c '
try:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
except ImportError:  # numpy < 2
    from numpy.core._multiarray_umath import __cpu_dispatch__, __cpu_features__
print(" ".join(f for f in __cpu_dispatch__ if __cpu_features__.get(f)))
')
echo "parity tests again with ATEN_CPU_CAPABILITY=default NPY_DISABLE_CPU_FEATURES=\"$reduced_simd\", 1 thread"
# torch's matrix products go through MKL and oneDNN and numpy's through OpenBLAS, each with its
# own CPU dispatch, and faiss loads an AVX2 or AVX-512 build: hold those to the baseline too.
ATEN_CPU_CAPABILITY=default NPY_DISABLE_CPU_FEATURES="$reduced_simd" \
  MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41 OPENBLAS_CORETYPE=Nehalem FAISS_OPT_LEVEL=generic \
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
  .venv/bin/python -m pytest -n 2 -q -m "parity and not slow and not gpu"
