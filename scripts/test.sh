#!/usr/bin/env bash
# Runs every test (unit and integration) against a real broker it starts itself:
# tansu on 127.0.0.1:$SWITCHBOARD_TEST_KAFKA_PORT (default 19092, so a broker on 9092 is left
# alone), stopped again at the end. Extra arguments go to `cargo test`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PORT="${SWITCHBOARD_TEST_KAFKA_PORT:-19092}"
scripts/broker.sh install
OWN_BROKER=1
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then OWN_BROKER=0; fi
scripts/broker.sh start "$PORT"
if [[ "$OWN_BROKER" == "1" ]]; then trap 'scripts/broker.sh stop "$PORT"' EXIT; fi
export SWITCHBOARD_TEST_BROKERS="127.0.0.1:$PORT"
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
cargo test --workspace "$@"
