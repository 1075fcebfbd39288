#!/usr/bin/env bash
# Set up .venv with the test extras, then lint, check the layer contracts and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,index,eval,hub,train,ui,onnx
# The web UI's browser tests drive Debian's Chromium (never a browser downloaded by Playwright).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/lint-imports
.venv/bin/python scripts/cli_reference.py --check
.venv/bin/python -m pytest -n 2 -q "$@"
