#!/usr/bin/env bash
# Set up, fetch MNIST, then the main job: train a small network on a few hundred
# images, observe a few hundred, and score a few hundred test images.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/stdp-ray data fetch
RUN_DIR="${1:-runs/quickstart}"
.venv/bin/stdp-ray run "$RUN_DIR" --neurons 100 --samples 300 --checkpoint-every 100 \
    --observe-samples 300 --test-samples 300
