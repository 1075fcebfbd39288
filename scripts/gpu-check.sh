#!/usr/bin/env bash
# The GPU check: on a bare NVIDIA machine that has a CUDA build of torch but no network, run the
# `gpu` tests and the benchmarks' device mode, and print one table. Under 8 minutes on one GPU.
#
#   bash scripts/gpu-check.sh --download   # beforehand, where the package registry is reachable:
#                                          # fill .gpu-check-carry/ (git-ignored) with the wheels
#                                          # the check needs that the GPU machine lacks, and the
#                                          # parity fixtures the gpu tests read
#   bash scripts/gpu-check.sh              # on the GPU machine: its python3 and torch; the carried
#                                          # wheels go into .gpu-check/site (no network)
#   bash scripts/gpu-check.sh --cpu        # dry run of the same steps on the CPU (fp16 cases skip)
#
# With the device tool: run(command="bash scripts/gpu-check.sh", carry=[".gpu-check-carry"]).
# The carried folder must stay under the working tree's 64 MiB with the checkout; --download
# prints its size. GPU_CHECK_PYTHON_VERSION: the GPU machine's Python (default 3.12, the H200
# image's); for the dry run here make the wheels for this machine's:
#   GPU_CHECK_PYTHON_VERSION=3.11 bash scripts/gpu-check.sh --download && bash scripts/gpu-check.sh --cpu
# PYTHON: the interpreter whose torch is used (default python3; the dry run: .venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-gpu}"
carry=.gpu-check-carry
site=.gpu-check/site
out=.gpu-check/results
# What the gpu tests, the CLI and the benchmarks import beyond the H200 image's packages (numpy,
# scipy, pytest, typer, rich, safetensors are there); nothing else is carried.
missing_there=(soundfile cffi pycparser soxr pyloudnorm praat-parselmouth faiss-cpu)
# The fixture files the gpu tests read (not the whole 68 MB folder).
fixture_files=(
  rvc/e2e/settings.json rvc/e2e/e2etiny.pth rvc/e2e/added_IVF2_Flat_nprobe_1_e2etiny_v2.index
  rvc/e2e/hubert rvc/e2e/input_short.wav rvc/e2e/input_long.wav rvc/e2e/output_short.wav
  rvc/e2e/output_long.wav rvc/hubert/hubert_io.pt rvc/hubert/hubert_tiny rvc/train/train_step.pt
  rvc/train/summary.json rift/e2e rift/dit_small/model-step=2.ckpt rift/dit_small/forward.pt
  rift/dit_small/train_loss.pt
)

python_version() { "$1" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")'; }

case "$mode" in
  --download)
    target_python="${GPU_CHECK_PYTHON_VERSION:-3.12}"
    rm -rf "$carry" && mkdir -p "$carry/wheels" "$carry/fixtures"
    # this checkout's tested versions of those packages
    .venv/bin/python -m pip freeze --disable-pip-version-check | grep -i -E "^($(IFS='|'; echo "${missing_there[*]}"))==" \
      > "$carry/wheels/requirements.txt"
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --python-version "$target_python" --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 -d "$carry/wheels" -r "$carry/wheels/requirements.txt"
    echo "$target_python" > "$carry/wheels/python-version"
    source_fixtures="${TIMBREL_FIXTURES:-../shared/fixtures}"
    for file in "${fixture_files[@]}"; do
      mkdir -p "$carry/fixtures/$(dirname "$file")"
      cp -r "$source_fixtures/$file" "$carry/fixtures/$file"
    done
    du -sh "$carry" "$carry/wheels" "$carry/fixtures"
    exit 0
    ;;
  --cpu) device=cpu ;;
  gpu) device=cuda ;;
  *) echo "usage: $0 [--download | --cpu]" >&2; exit 2 ;;
esac

start=$(date +%s)
python="${PYTHON:-python3}"
[ -d "$carry/wheels" ] || { echo "no $carry/: run '$0 --download' where PyPI is reachable" >&2; exit 2; }
"$python" -c "import torch" 2>/dev/null || { echo "$python has no torch: set PYTHON" >&2; exit 2; }
made_for=$(cat "$carry/wheels/python-version")
running=$(python_version "$python")
[ "$made_for" = "$running" ] || { echo "the wheels are for Python $made_for, $python is $running" >&2; exit 2; }
if [ "$device" = cuda ]; then
  "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" ||
    { echo "torch sees no GPU: $("$python" -c 'import torch; print(torch.__version__, torch.version.cuda)')" >&2; exit 2; }
fi

# Offline: only the carried wheels, beside (not over) the machine's own packages.
rm -rf "$site" "$out"
mkdir -p "$site" "$out"
"$python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --no-compile \
  --target "$site" "$carry"/wheels/*.whl
export PYTHONPATH="$PWD/src:$PWD:$PWD/$site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export TIMBREL_FIXTURES="$PWD/$carry/fixtures" TIMBREL_GPU_TESTS_DEVICE="$device"
export TIMBREL_HOME="$PWD/.gpu-check/home"
echo "installed in $(( $(date +%s) - start )) s; $("$python" -c 'import torch; print("torch", torch.__version__)')"

"$python" -m timbrel doctor --json > "$out/doctor.json" || true
quick=()
[ "$device" = cpu ] && quick=(--quick)  # the dry run checks that it runs, not how fast
timeout 300 "$python" -m pytest -p no:cacheprovider -q -m gpu tests/gpu --junitxml "$out/tests.xml" || true
left=$(( 470 - ($(date +%s) - start) ))
timeout "$(( left > 30 ? left : 30 ))" "$python" -m benchmarks devices --device "$device" "${quick[@]}" \
  --json "$out/benchmarks.json" || echo "benchmarks stopped (time or error): the table shows what finished"
status=0
"$python" scripts/gpu_check_report.py "$out" || status=$?
echo "gpu-check ($device) finished in $(( $(date +%s) - start )) s"
exit "$status"
