#!/usr/bin/env bash
# Set up .venv with the test extras, then lint, check the layer contracts and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev,index,eval,hub
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/ruff format --check src tests benchmarks scripts
.venv/bin/lint-imports
.venv/bin/python -m pytest -n 2 -q "$@"
