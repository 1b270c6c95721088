#!/usr/bin/env bash
# Installs (if missing) and runs a local Kafka-compatible broker: nisshi 0.8.1 (tansu's
# successor) with in-memory storage. Usage:
#   scripts/broker.sh install           # cargo install nisshi (about 20 minutes the first time)
#   scripts/broker.sh start [PORT]      # start on 127.0.0.1:PORT (default 9092), wait until it listens
#   scripts/broker.sh stop [PORT]       # stop the broker started on PORT
# nisshi reads a .env in its working directory, so it runs from its own state directory.
# It declares rustc 1.96 through a dependency but builds with older toolchains, hence
# --ignore-rust-version.
set -euo pipefail

NISSHI_VERSION=0.8.1
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.nisshi"
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$CARGO_BIN:$PATH"

nisshi_ok() {
  command -v nisshi >/dev/null 2>&1 && nisshi --version 2>/dev/null | grep -q "$NISSHI_VERSION"
}

install() {
  if nisshi_ok; then
    return 0
  fi
  echo "broker: installing nisshi $NISSHI_VERSION (cargo install, takes about 20 minutes)..." >&2
  cargo install nisshi --locked --version "$NISSHI_VERSION" --ignore-rust-version >&2
  nisshi_ok || { echo "broker: nisshi $NISSHI_VERSION is not usable after install" >&2; exit 1; }
}

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-
}

start() {
  local port="${1:-9092}"
  if listening "$port"; then
    echo "broker: something already listens on 127.0.0.1:$port; using it" >&2
    return 0
  fi
  install
  mkdir -p "$STATE/$port"
  (
    cd "$STATE/$port"
    : > .env
    nohup nisshi broker \
      --listener-url "tcp://127.0.0.1:$port" \
      --advertised-listener-url "tcp://127.0.0.1:$port" \
      --storage-engine "memory://nisshi/" \
      > "$STATE/$port/broker.log" 2>&1 &
    echo $! > "$STATE/$port/pid"
  )
  for _ in $(seq 1 100); do
    if listening "$port"; then
      echo "broker: nisshi listening on 127.0.0.1:$port (pid $(cat "$STATE/$port/pid"), log $STATE/$port/broker.log)" >&2
      return 0
    fi
    if ! kill -0 "$(cat "$STATE/$port/pid")" 2>/dev/null; then
      echo "broker: nisshi exited; its log:" >&2
      cat "$STATE/$port/broker.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "broker: nisshi did not listen on 127.0.0.1:$port within 10 s; its log:" >&2
  cat "$STATE/$port/broker.log" >&2
  exit 1
}

stop() {
  local port="${1:-9092}"
  local pidfile="$STATE/$port/pid"
  if [[ -f "$pidfile" ]]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
    # Wait until the port is free, so an immediate start does not attach to a dying broker.
    for _ in $(seq 1 100); do
      listening "$port" || return 0
      sleep 0.1
    done
  fi
}

case "${1:-}" in
  install) install ;;
  start) start "${2:-9092}" ;;
  stop) stop "${2:-9092}" ;;
  *) echo "usage: $0 install | start [PORT] | stop [PORT]" >&2; exit 2 ;;
esac
