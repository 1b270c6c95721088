#!/usr/bin/env bash
# Runs every test (unit and integration) against real servers it starts itself, stopped again
# at the end (each only if this script started it):
#  - nisshi on 127.0.0.1:$SWITCHBOARD_TEST_KAFKA_PORT (default 19092, so a broker on 9092 is
#    left alone), exported as SWITCHBOARD_TEST_BROKERS;
#  - a throwaway PostgreSQL cluster on 127.0.0.1:$SWITCHBOARD_TEST_POSTGRES_PORT (default
#    15432, so a server on 5432 is left alone; scripts/postgres.sh), exported as
#    SWITCHBOARD_TEST_POSTGRES_URL.
# Fails if either cannot be installed or started. Extra arguments go to `cargo test`.
# Then scripts/schemathesis.sh checks the service against its OpenAPI document (schemathesis
# from PyPI, against the binary `cargo test` built and the broker above); SKIP_SCHEMATHESIS=1
# leaves it out.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${SWITCHBOARD_TEST_KAFKA_PORT:-19092}"
PG_PORT="${SWITCHBOARD_TEST_POSTGRES_PORT:-15432}"
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
OWN_BROKER=0
OWN_POSTGRES=0
cleanup() {
  if [[ "$OWN_POSTGRES" == "1" ]]; then scripts/postgres.sh stop "$PG_PORT" || true; fi
  if [[ "$OWN_BROKER" == "1" ]]; then scripts/broker.sh stop "$PORT" || true; fi
}
trap cleanup EXIT

scripts/broker.sh install
if ! listening "$PORT"; then OWN_BROKER=1; fi
scripts/broker.sh start "$PORT"
export SWITCHBOARD_TEST_BROKERS="127.0.0.1:$PORT"

scripts/postgres.sh install
if ! listening "$PG_PORT"; then OWN_POSTGRES=1; fi
SWITCHBOARD_TEST_POSTGRES_URL="$(scripts/postgres.sh start "$PG_PORT")"
export SWITCHBOARD_TEST_POSTGRES_URL

export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo test --workspace "$@"

if [[ "${SKIP_SCHEMATHESIS:-0}" != "1" ]]; then
  PROFILE_DIR=debug
  for arg in "$@"; do if [[ "$arg" == "--release" ]]; then PROFILE_DIR=release; fi; done
  TARGET_DIR="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  SWITCHBOARD_BIN="$TARGET_DIR/$PROFILE_DIR/switchboard" scripts/schemathesis.sh
fi
