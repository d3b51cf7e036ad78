#!/usr/bin/env bash
# Set up and run the test suite. pytest's exit code 5 ("no tests ran") is a failure.
# Arguments go to pytest: `--quick` runs the quick tier (tests/quick_tier.py).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit $?
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >&2
    exit 1
fi
exit "$status"
