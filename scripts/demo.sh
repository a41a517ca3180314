#!/usr/bin/env bash
# Set up swarm and run `swarm demo`: the whole pipeline offline on the bundled sample project.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/swarm demo "$@"
