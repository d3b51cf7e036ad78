#!/usr/bin/env bash
# Set up, fetch MNIST, then the main job: score the shipped 400-neuron network
# (results/networks/n400-seed42) on the full 10,000-image test set and write its
# report. Training from scratch instead: see the README ("Train from scratch").
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/stdp-ray data fetch
RUN_DIR="${1:-runs/shipped-n400}"
.venv/bin/stdp-ray import results/networks/n400-seed42 "$RUN_DIR"
.venv/bin/stdp-ray test "$RUN_DIR"
.venv/bin/stdp-ray report "$RUN_DIR"
echo "report: $RUN_DIR/report/report.md"
