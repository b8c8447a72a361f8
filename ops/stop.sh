#!/usr/bin/env bash
# Stop what ops/serve.sh started: the worker first, with the flow-run processes it started (a
# running flow run ends Crashed), also those a worker that died left behind; then the server. Uses the pid files in BILLING_PREFECT_DIR (default out/prefect); never stops a
# process it did not start.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${VENV_BIN:-$ROOT/.venv/bin}/python"
command -v "$PY" >/dev/null 2>&1 || PY=python3
RUN_DIR="${BILLING_PREFECT_DIR:-out/prefect}"
case "$RUN_DIR" in /*) ;; *) RUN_DIR="$ROOT/$RUN_DIR" ;; esac

if [ ! -d "$RUN_DIR" ]; then
    echo "nothing to stop ($RUN_DIR does not exist)"
    exit 0
fi
"$PY" "$ROOT/ops/procs.py" stop "$RUN_DIR" worker server
echo "stopped; logs stay in $RUN_DIR"
