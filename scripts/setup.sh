#!/usr/bin/env bash
# Create .venv (if missing) and install swarm with its test extra into it.
# Needs only Python 3.11+, pip and git. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[test,ray]'
