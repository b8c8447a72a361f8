#!/usr/bin/env bash
# Start what an operator needs on one machine: a Prefect server with its UI on 127.0.0.1, the
# process work pool `billing`, the deployments of prefect.yaml (monthly, inbox, manual) and a
# worker. Safe to run again: what already runs is left running, the deployments are updated.
# Stop everything with ops/stop.sh (make stop). See the README ("Operating it").
#
# Settings (environment; the defaults work on the sample data):
#   PREFECT_PORT          server port on 127.0.0.1                     (4200)
#   BILLING_PREFECT_DIR   pid files, logs, env file                    (out/prefect)
#   PREFECT_HOME          the server's database and Prefect's files    ($BILLING_PREFECT_DIR/home)
#   BILLING_SOURCE        booking orders of the monthly and manual runs (sample_data/booking_orders.csv)
#   BILLING_CONFIG        configuration folder                          (sample_data)
#   BILLING_OUTBOX        folder the invoicing system reads             (out/outbox)
#   BILLING_INBOX         folder OpenOlat exports are dropped into      (out/inbox)
#   BILLING_STATE         state store: SQLite file or postgresql:// URL (beside the outbox)
#   SERVE_TIMEOUT         longest wait for the server to be healthy, in s (600); the wait
#                         ends sooner when the server process dies or shows no progress
#   BILLING_CRASH_AFTER_SECONDS  a run without heartbeat this long is marked Crashed (90)
#   PREFECT_API_DATABASE_CONNECTION_URL  the server's database (Prefect's own setting): unset,
#                         SQLite in PREFECT_HOME; postgresql+asyncpg://user@host:5432/prefect
#                         (postgresql:// is accepted too) for PostgreSQL, created when missing
#                         (ops/prefect_db.py). Password: PGPASSWORD or ~/.pgpass, or in this URL
#                         (environment only; never printed)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_BIN="${VENV_BIN:-$ROOT/.venv/bin}"
PY="$VENV_BIN/python"
PREFECT="$VENV_BIN/prefect"
PROCS=("$PY" "$ROOT/ops/procs.py")

abs() { case "$1" in /*|*://*) printf '%s\n' "$1" ;; *) printf '%s\n' "$ROOT/$1" ;; esac; }

PREFECT_PORT="${PREFECT_PORT:-4200}"
RUN_DIR="$(abs "${BILLING_PREFECT_DIR:-out/prefect}")"
export PREFECT_HOME="$(abs "${PREFECT_HOME:-$RUN_DIR/home}")"
export PREFECT_API_URL="http://127.0.0.1:${PREFECT_PORT}/api"
export PREFECT_UI_URL="http://127.0.0.1:${PREFECT_PORT}"
export PREFECT_SERVER_ANALYTICS_ENABLED="${PREFECT_SERVER_ANALYTICS_ENABLED:-false}"
export PREFECT_CLI_PROMPT=false
# what prefect.yaml reads: the code for the pull step (at run time, in the worker) ...
export BILLING_EXPORT_HOME="$ROOT"
# ... and the paths for the deployments' parameters (at deploy time)
export BILLING_SOURCE="$(abs "${BILLING_SOURCE:-sample_data/booking_orders.csv}")"
export BILLING_CONFIG="$(abs "${BILLING_CONFIG:-sample_data}")"
export BILLING_OUTBOX="$(abs "${BILLING_OUTBOX:-out/outbox}")"
export BILLING_INBOX="$(abs "${BILLING_INBOX:-out/inbox}")"
export BILLING_STATE="$(abs "${BILLING_STATE:-$(dirname "$BILLING_OUTBOX")/billing-state.sqlite}")"
SERVE_TIMEOUT="${SERVE_TIMEOUT:-600}"
# flow-run processes send a heartbeat every 30 s (Prefect's minimum; prefect.yaml sets the same
# for the runs); ops/crash_detection.py marks a run Crashed when they stop
export PREFECT_FLOWS_HEARTBEAT_FREQUENCY="${PREFECT_FLOWS_HEARTBEAT_FREQUENCY:-30}"

# the server's database: PostgreSQL when named (Prefect's own variable, or its newer
# PREFECT_SERVER_ alias), with the driver Prefect needs; else SQLite in PREFECT_HOME. Only the
# server (and the check before it) gets the URL, which may hold a password: not the worker,
# not the runs, not the env file
DB_URL="${PREFECT_API_DATABASE_CONNECTION_URL:-${PREFECT_SERVER_DATABASE_CONNECTION_URL:-}}"
unset PREFECT_API_DATABASE_CONNECTION_URL PREFECT_SERVER_DATABASE_CONNECTION_URL
case "$DB_URL" in
    postgresql://*|postgres://*) DB_URL="postgresql+asyncpg://${DB_URL#*://}" ;;
esac
with_db() {
    if [ -n "$DB_URL" ]; then PREFECT_API_DATABASE_CONNECTION_URL="$DB_URL" "$@"; else "$@"; fi
}
# On SQLite nothing is tuned: Prefect already uses WAL and waits 60 s for a lock (its own
# PRAGMA busy_timeout, which overrides PREFECT_SERVER_DATABASE_TIMEOUT), and the "database is
# locked" a busy machine still shows fails at once (the triggers service reads, another commit
# comes, its write is refused), so no longer wait helps; batching Prefect's event and task-run
# writes made no measurable difference. PostgreSQL is the remedy (README, "Operating it").

[ -x "$PREFECT" ] || { echo "serve: $PREFECT not found; run 'make install' first" >&2; exit 2; }
mkdir -p "$RUN_DIR" "$PREFECT_HOME" "$BILLING_OUTBOX" "$BILLING_INBOX"
cd "$ROOT"

# 1. the server (API + UI)
if "${PROCS[@]}" alive "$RUN_DIR" server; then
    echo "server: already running (pid $(cat "$RUN_DIR/server.pid"))"
else
    if ! "${PROCS[@]}" port-free "$PREFECT_PORT"; then
        echo "serve: something already listens on 127.0.0.1:$PREFECT_PORT; choose another port: make serve PREFECT_PORT=4300" >&2
        exit 2
    fi
    with_db "$PY" "$ROOT/ops/prefect_db.py" || exit 1  # PostgreSQL: reachable, database there
    pid=$(with_db "${PROCS[@]}" start "$RUN_DIR" server -- \
        "$PREFECT" server start --host 127.0.0.1 --port "$PREFECT_PORT")
    echo "server: started (pid $pid), log $RUN_DIR/server.log"
fi
if ! "${PROCS[@]}" wait-http "$PREFECT_API_URL/health" "$SERVE_TIMEOUT" "$RUN_DIR" server; then
    echo "serve: the server did not become healthy (reason above); last lines of $RUN_DIR/server.log:" >&2
    tail -n 30 "$RUN_DIR/server.log" >&2 || true
    exit 1
fi
echo "server: healthy at $PREFECT_API_URL"

# 2. the work pool (the worker type `process` runs each flow run as a local subprocess)
if ! "$PREFECT" work-pool inspect billing >/dev/null 2>&1; then
    "$PREFECT" work-pool create billing --type process >>"$RUN_DIR/deploy.log" 2>&1
    echo "work pool: billing created"
fi

# 3. the deployments, without questions
if ! "$PREFECT" --no-prompt deploy --all >>"$RUN_DIR/deploy.log" 2>&1; then
    echo "serve: 'prefect deploy --all' failed; last lines of $RUN_DIR/deploy.log:" >&2
    tail -n 40 "$RUN_DIR/deploy.log" >&2
    exit 1
fi
echo "deployments: $("$PREFECT" deployment ls 2>/dev/null | grep -oE '[a-z-]+/(monthly|inbox|manual)' | sort -u | tr '\n' ' ')"

# 4. runs whose process died are marked Crashed (ops/crash_detection.py)
if ! "$PY" "$ROOT/ops/crash_detection.py" >>"$RUN_DIR/deploy.log" 2>&1; then
    echo "serve: installing the crash detection failed; last lines of $RUN_DIR/deploy.log:" >&2
    tail -n 20 "$RUN_DIR/deploy.log" >&2
    exit 1
fi
echo "crash detection: a run without heartbeat for ${BILLING_CRASH_AFTER_SECONDS:-90} s is marked Crashed"

# 5. a worker for the pool, under a supervisor that ends the flow-run processes the worker
#    leaves when it dies (ops/procs.py); it inherits the environment above
if "${PROCS[@]}" alive "$RUN_DIR" worker; then
    echo "worker: already running (pid $(cat "$RUN_DIR/worker.pid"))"
else
    "${PROCS[@]}" stop "$RUN_DIR" worker  # what a worker that died may have left running
    pid=$("${PROCS[@]}" start "$RUN_DIR" worker -- "${PROCS[@]}" supervise "$RUN_DIR" worker -- \
        "$PREFECT" worker start --pool billing --type process --name "billing-$(hostname)")
    echo "worker: started (pid $pid), log $RUN_DIR/worker.log"
fi

# 6. an env file for the operator's shell: `. out/prefect/env`, then prefect commands work
cat >"$RUN_DIR/env" <<EOF
export PREFECT_API_URL=$PREFECT_API_URL
export PREFECT_HOME=$PREFECT_HOME
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PATH="$VENV_BIN:\$PATH"
EOF

cat <<EOF

Prefect UI:   $PREFECT_UI_URL
Outbox:       $BILLING_OUTBOX
Inbox:        $BILLING_INBOX   (polled every 5 minutes)
In a shell:   . $RUN_DIR/env
              prefect deployment run 'billing-run/manual' -p invoice_date=2026-10-30
Stop:         make stop
EOF
