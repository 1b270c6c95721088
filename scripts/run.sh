#!/usr/bin/env bash
# Runs switchboard on this machine and shows it working:
#  1. installs nisshi if missing and starts it on 127.0.0.1:9092 (in-memory storage);
#  2. builds and starts `switchboard serve --sandbox` (service on 127.0.0.1:8080, embedded
#     CXone sandbox on 127.0.0.1:8090);
#  3. has the sandbox emit DEMO_EVENTS (default 5000) Data Action webhooks at the service and
#     prints a summary (events per topic/partition, acknowledgements, p50/p99 latency);
#  4. keeps the service running until Ctrl-C (DEMO_EXIT=1 stops right after the summary).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
mkdir -p .run
# Stop the broker at the end only if this script started it.
OWN_BROKER=1
if (exec 3<>/dev/tcp/127.0.0.1/9092) 2>/dev/null; then OWN_BROKER=0; fi
scripts/broker.sh start 9092
cargo build --release --bin switchboard
BIN="$ROOT/target/release/switchboard"
# No load balancer here to drain from: a stop skips the graceful stop's serving window.
SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_SECS="${SWITCHBOARD__SERVER__SHUTDOWN_TIMEOUT_SECS:-0}" \
  RUST_LOG="${RUST_LOG:-info}" "$BIN" serve --sandbox > .run/service.log 2>&1 &
SERVICE=$!
cleanup() {
  kill "$SERVICE" 2>/dev/null || true
  wait "$SERVICE" 2>/dev/null || true
  if [[ "$OWN_BROKER" == "1" ]]; then scripts/broker.sh stop 9092; fi
}
trap cleanup EXIT
echo "run: switchboard serve --sandbox started (pid $SERVICE, log .run/service.log)"
"$BIN" demo --events "${DEMO_EVENTS:-5000}" --concurrency "${DEMO_CONCURRENCY:-64}" || {
  echo "run: the demo failed; the service log ends with:" >&2
  tail -n 30 .run/service.log >&2
  exit 1
}
if [[ "${DEMO_EXIT:-0}" == "1" ]]; then
  exit 0
fi
echo
echo "run: the service is at http://127.0.0.1:8080 (sandbox http://127.0.0.1:8090); Ctrl-C stops it."
wait "$SERVICE"
