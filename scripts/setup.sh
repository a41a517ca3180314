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
# pyright, for the types check (swarm/checks/types.py finds it in .venv/pyright). Without npm the check
# is skipped and says so in the report.
PYRIGHT_VERSION=1.1.414
if command -v npm >/dev/null 2>&1; then
  if [ "$(.venv/pyright/node_modules/.bin/pyright --version 2>/dev/null)" != "pyright $PYRIGHT_VERSION" ]; then
    npm install --silent --no-audit --no-fund --prefix .venv/pyright "pyright@$PYRIGHT_VERSION" >/dev/null
  fi
else
  echo "setup: npm not found; the types check will be skipped (install Node.js and run this again)" >&2
fi
