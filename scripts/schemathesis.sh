#!/usr/bin/env bash
# Checks the running service against its own OpenAPI document with schemathesis (PyPI):
#  1. installs schemathesis $SCHEMATHESIS_VERSION into .venv-schemathesis/ (skipped when that
#     version is already there);
#  2. starts `switchboard serve --sandbox` on free ports with a throwaway configuration (state,
#     audit log in a temporary directory; the broker $SWITCHBOARD_TEST_BROKERS, default
#     127.0.0.1:19092, as scripts/test.sh exports it) and waits until /readyz answers 200;
#  3. pass 1: runs schemathesis on every operation of /openapi.json but the WebSocket upgrade
#     (GET /stream), positive and negative data (wrong methods included), with the checks in
#     $CHECKS, at most $SCHEMATHESIS_MAX_EXAMPLES examples per operation and phase; no
#     answer may be a 5xx. The paths are selected by an including regex rather than by
#     excluding /stream: schemathesis leaves out the operation that served the document
#     (GET /openapi.json) unless a filter includes it;
#  4. pass 2, upstream faults: has the sandbox answer half of the CXone calls 503 and 5% 429
#     (`POST /sandbox/faults`), then fuzzes the operations that call CXone (definitions,
#     deltas, orchestrations, completions) with $SCHEMATHESIS_FAULT_EXAMPLES examples each:
#     the same checks, but a documented 502 (CXone failed) is not a server error there; a 500
#     or 503 still is. The configuration makes those failures surface quickly (CXone retries
#     10-100 ms apart, no 429 retries for definitions);
#  5. stops the service (always) and exits non-zero on any failure.
# The binary is $SWITCHBOARD_BIN when set (scripts/test.sh passes the one `cargo test` built),
# otherwise `cargo build --bin switchboard` builds it. $SCHEMATHESIS_SEED replays a run (the
# seed of every run is printed); $SCHEMATHESIS_ARGS adds flags (e.g. `--report har`). The
# service's log is printed when something fails.
# The virtualenv's Python is $SCHEMATHESIS_PYTHON, else the first of python3.13, python3.12,
# pyenv's 3.13 and 3.12, python3 that runs and is not one of the CPython releases that fail at
# random inside Hypothesis with "AST constructor recursion depth mismatch" (gh-106905: before
# 3.11.8, and 3.12.0-3.12.1), else python3.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
MAX_EXAMPLES="${SCHEMATHESIS_MAX_EXAMPLES:-300}"
FAULT_EXAMPLES="${SCHEMATHESIS_FAULT_EXAMPLES:-100}"
BROKERS="${SWITCHBOARD_TEST_BROKERS:-127.0.0.1:19092}"
VENV="$ROOT/.venv-schemathesis"
CHECKS="not_a_server_error,status_code_conformance,content_type_conformance"
CHECKS+=",response_headers_conformance,response_schema_conformance"
CHECKS+=",unsupported_method,allow_header_conformance"

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qx "schemathesis, version $SCHEMATHESIS_VERSION"; then
  echo "schemathesis: installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
  PYTHON="${SCHEMATHESIS_PYTHON:-}"
  if [[ -z "$PYTHON" ]]; then
    PYENV_ROOT_DIR="$(pyenv root 2>/dev/null || true)"
    for candidate in python3.13 python3.12 "$PYENV_ROOT_DIR"/versions/3.13*/bin/python3 \
        "$PYENV_ROOT_DIR"/versions/3.12*/bin/python3 python3; do
      if "$candidate" -c 'import sys; v = sys.version_info[:3]; sys.exit(not ((3, 11, 8) <= v < (3, 12) or v >= (3, 12, 2)))' 2>/dev/null; then
        PYTHON="$candidate"
        break
      fi
    done
  fi
  PYTHON="${PYTHON:-python3}"
  echo "schemathesis: with $("$PYTHON" --version 2>&1) ($PYTHON)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
PY="$VENV/bin/python"

if [[ -z "${SWITCHBOARD_BIN:-}" ]]; then
  cargo build --bin switchboard
  TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  SWITCHBOARD_BIN="$TARGET_DIR/debug/switchboard"
fi

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
SANDBOX_PORT="$(free_port)"
while [[ "$SANDBOX_PORT" == "$PORT" ]]; do SANDBOX_PORT="$(free_port)"; done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/switchboard-schemathesis.XXXXXX")"
SERVICE=""
cleanup() {
  local status=$?
  if [[ -n "$SERVICE" ]]; then
    kill "$SERVICE" 2>/dev/null || true
    wait "$SERVICE" 2>/dev/null || true
  fi
  if [[ "$status" != "0" && -f "$WORK/service.log" ]]; then
    echo "schemathesis: the service's log ends with:" >&2
    tail -n 40 "$WORK/service.log" >&2
  fi
  rm -rf "$WORK"
  exit "$status"
}
trap cleanup EXIT

# TOML list of the brokers ("a:1,b:2" → "a:1", "b:2").
BROKER_LIST="\"${BROKERS//,/\", \"}\""
cat > "$WORK/config.toml" <<EOF
[server]
bind = "127.0.0.1:$PORT"
# Stopped at the end: no load balancer to wait for.
shutdown_timeout_secs = 0
drain_timeout_secs = 5
[sandbox]
bind = "127.0.0.1:$SANDBOX_PORT"
[kafka]
brokers = [$BROKER_LIST]
[routing]
rules_file = "$ROOT/config/routes.toml"
[audit]
path = "$WORK/audit.jsonl"
[state]
url = "sqlite://$WORK/state.db"
[cxone]
backoff_initial_ms = 10
backoff_max_ms = 100
[definitions]
rate_limit_retries = 0
EOF
# Pass 2: CXone's failures are documented 502s there.
cat > "$WORK/faults.toml" <<EOF
[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "502"]
EOF

RUST_LOG="${RUST_LOG:-warn}" "$SWITCHBOARD_BIN" serve --sandbox --config "$WORK/config.toml" \
  > "$WORK/service.log" 2>&1 &
SERVICE=$!
BASE="http://127.0.0.1:$PORT"
"$PY" - "$BASE/readyz" "$SERVICE" <<'EOF'
import os, sys, time, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 60
last = None
while True:
    try:
        with urllib.request.urlopen(url, timeout=6) as r:
            if r.status == 200:
                break
    except Exception as e:
        last = e
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(f"schemathesis: the service exited before it was ready")
    if time.monotonic() > deadline:
        sys.exit(f"schemathesis: {url} did not answer 200 within 60 s ({last})")
    time.sleep(0.2)
EOF
echo "schemathesis: switchboard serve --sandbox is ready at $BASE (pid $SERVICE)"

SEED_ARGS=()
if [[ -n "${SCHEMATHESIS_SEED:-}" ]]; then SEED_ARGS=(--seed "$SCHEMATHESIS_SEED"); fi
COMMON=(--mode all --workers 2 --request-timeout 30 --generation-database none --no-color)
started=$SECONDS
echo "schemathesis: pass 1, every operation but GET /stream"
"$VENV/bin/schemathesis" run "$BASE/openapi.json" \
  --include-path-regex '^/(?!stream$)' \
  --checks "$CHECKS" \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$MAX_EXAMPLES" \
  "${COMMON[@]}" ${SCHEMATHESIS_ARGS:-} "${SEED_ARGS[@]}"

echo "schemathesis: pass 2, the operations that call CXone, with upstream faults"
"$PY" - "http://127.0.0.1:$SANDBOX_PORT/sandbox/faults" <<'EOF'
import json, sys, urllib.request
faults = {"error_rate": 0.5, "throttle_rate": 0.05}
request = urllib.request.Request(sys.argv[1], data=json.dumps(faults).encode(),
                                 headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=10) as r:
    assert r.status == 200, r.status
EOF
"$VENV/bin/schemathesis" --config-file "$WORK/faults.toml" run "$BASE/openapi.json" \
  --include-path-regex '^/(data-actions|deltas|orchestrations|cxone/webhook)' \
  --checks "$CHECKS" \
  --phases fuzzing \
  --max-examples "$FAULT_EXAMPLES" \
  "${COMMON[@]}" ${SCHEMATHESIS_ARGS:-} "${SEED_ARGS[@]}"
echo "schemathesis: passed in $((SECONDS - started)) s"
