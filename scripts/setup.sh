#!/usr/bin/env bash
# Create .venv with the newest supported Python present and install stdp-ray
# with its test extra. An existing .venv is kept as it is.
#
# The supported versions are read from requires-python in pyproject.toml. For
# each, newest first, `python3.X` on PATH is tried, then pyenv's installs
# (${PYENV_ROOT:-$HOME/.pyenv}/versions/3.X.*, newest patch first); a
# candidate counts only if it runs (a pyenv shim for a version not selected
# does not) and has venv and ensurepip. PYTHON=/path/to/python overrides the
# choice; neither applies to an existing .venv (remove it to change Python).
# `setup.sh --print-python` prints the Python it would use and installs nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# requires-python = ">=3.LO,<3.HI" -> "LO HI"
supported_minors() {
    sed -n 's/^requires-python *= *">=3\.\([0-9]*\), *<3\.\([0-9]*\)".*/\1 \2/p' pyproject.toml
}

# Succeeds if $1 runs, is Python 3.$2 and can create a virtual environment.
usable() {
    "$1" -c "import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, $2))" \
        >/dev/null 2>&1
}

find_python() {
    local range lo hi minor cand
    range="$(supported_minors)"
    if [ -z "$range" ]; then
        echo "setup.sh: cannot read requires-python (\">=3.X,<3.Y\") from pyproject.toml" >&2
        return 1
    fi
    read -r lo hi <<<"$range"
    for ((minor = hi - 1; minor >= lo; minor--)); do
        while IFS= read -r cand; do
            if usable "$cand" "$minor"; then
                command -v "$cand"
                return 0
            fi
        done < <(
            echo "python3.$minor"
            printf '%s\n' "${PYENV_ROOT:-$HOME/.pyenv}/versions/3.$minor".*/bin/"python3.$minor" | sort -rV
        )
    done
    echo "setup.sh: no Python 3.$lo to 3.$((hi - 1)) with venv found (on PATH or under pyenv); set PYTHON=..." >&2
    return 1
}

if [ "${1:-}" = "--print-python" ]; then
    PYTHON="${PYTHON:-$(find_python)}"
    echo "$PYTHON"
    exit 0
fi
if [ ! -x .venv/bin/python ]; then
    PYTHON="${PYTHON:-$(find_python)}"
    echo "setup.sh: creating .venv with $PYTHON ($("$PYTHON" --version 2>&1))" >&2
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"
