#!/usr/bin/env bash
# Set up .venv and run the offline demo: everything it needs is generated on the spot.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh index,eval,train
.venv/bin/timbrel demo "${1:-demo-output}"
