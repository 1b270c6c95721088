#!/usr/bin/env bash
# Installs (if missing) and runs a throwaway local PostgreSQL cluster for the tests. Usage:
#   scripts/postgres.sh install          # apt-get install postgresql if initdb/pg_ctl are missing
#   scripts/postgres.sh start [PORT]     # start a cluster on 127.0.0.1:PORT (default 15432), wait
#                                        # until it accepts connections, create the database
#                                        # `switchboard`, print its URL (the only stdout line)
#   scripts/postgres.sh stop [PORT]      # stop the cluster started on PORT, remove its files
#   scripts/postgres.sh url [PORT]       # print postgres://switchboard@127.0.0.1:PORT/switchboard
# The cluster is the project's own (initdb + pg_ctl), not Debian's cluster manager
# (pg_ctlcluster / the default cluster on 5432), which it leaves alone. It trusts every
# connection, so it listens on 127.0.0.1 only; superuser `switchboard`, no password; fsync off.
# If something already listens on PORT, `start` uses it (it must accept that URL) and `stop`
# leaves it alone.
#
# Where its files go: $ROOT/.pg/PORT/ (data/, postgres.log, and the Unix socket). initdb and
# pg_ctl refuse to run as root, so as root they run as the `postgres` system user (created by
# the package; SWITCHBOARD_PG_USER picks another non-root user), which then owns that
# directory. When that user cannot reach the repository (e.g. it lives under /root, mode 700)
# or its path is too long or unusual for a Unix socket path, the files go to
# /tmp/switchboard-pg-PORT/ instead. `stop` looks in both places.
set -euo pipefail
shopt -s inherit_errexit

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEFAULT_PORT=15432
DB=switchboard
DB_USER=switchboard

log() { echo "postgres: $*" >&2; }
die() { log "$*"; exit 1; }

url() { echo "postgres://$DB_USER@127.0.0.1:$1/$DB"; }

# Sets PGBIN to the directory holding initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin,
# else the one on PATH. Returns 1 if there is none.
find_bin() {
  local dir
  for dir in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
      PGBIN="$dir"
      return 0
    fi
  done
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    PGBIN="$(dirname "$(command -v initdb)")"
    return 0
  fi
  return 1
}

# A client program (psql, createdb) from PGBIN, else from PATH.
client() {
  if [[ -x "$PGBIN/$1" ]]; then echo "$PGBIN/$1"; else command -v "$1" || echo "$1"; fi
}

install() {
  if find_bin; then
    return 0
  fi
  local sudo=()
  if [[ "$(id -u)" != 0 ]]; then
    command -v sudo >/dev/null 2>&1 \
      || die "PostgreSQL (initdb, pg_ctl) is not installed, and installing it needs root or sudo: run 'apt-get install postgresql' as root"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null 2>&1 \
    || die "PostgreSQL (initdb, pg_ctl) is not installed and there is no apt-get; install the PostgreSQL server by hand"
  log "installing PostgreSQL (apt-get install postgresql)..."
  if ! "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2; then
    log "apt-get install failed; running apt-get update and trying again..."
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
  fi
  find_bin || die "apt-get installed postgresql but initdb/pg_ctl are still not found under /usr/lib/postgresql/*/bin or on PATH"
}

listening() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-
}

# The user initdb/pg_ctl run as: empty (this user) unless this is root.
run_user() {
  if [[ "$(id -u)" != 0 ]]; then
    echo ""
    return 0
  fi
  local user="${SWITCHBOARD_PG_USER:-postgres}"
  id -u "$user" >/dev/null 2>&1 \
    || die "running as root, and initdb refuses root, but there is no user '$user' to run it as (install the postgresql package, or set SWITCHBOARD_PG_USER to a non-root user)"
  [[ "$(id -u "$user")" != 0 ]] || die "SWITCHBOARD_PG_USER='$user' is root; initdb refuses root"
  echo "$user"
}

# run_as USER CMD ARGS...: CMD as USER (or as this user if USER is empty), from /, so that a
# working directory USER cannot enter does not matter.
run_as() {
  local user="$1"
  shift
  if [[ -z "$user" ]]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    (cd / && runuser -u "$user" -- "$@")
  else
    (cd / && su "$user" -s /bin/bash -c "$(printf '%q ' "$@")")
  fi
}

repo_base() { echo "$ROOT/.pg/$1"; }
tmp_base() { echo "/tmp/switchboard-pg-$1"; }

# Creates the directory for PORT's cluster, owned by USER, and prints it.
make_base() {
  local port="$1" user="$2" base
  base="$(repo_base "$port")"
  # The socket path ($base/.s.PGSQL.PORT) must stay under ~107 bytes, and pg_ctl passes the
  # socket directory through a shell, so keep the path short and plain.
  if [[ ${#base} -le 80 && "$base" =~ ^[A-Za-z0-9/._+-]+$ ]] && run_as "$user" test -x "$ROOT"; then
    mkdir -p -m 755 "$ROOT/.pg"
    rm -rf "$base"
    mkdir -m 755 "$base"
    [[ -z "$user" ]] || chown "$user:" "$base"
    if run_as "$user" test -w "$base"; then
      echo "$base"
      return 0
    fi
    rm -rf "$base"
    rmdir "$ROOT/.pg" 2>/dev/null || true
  fi
  base="$(tmp_base "$port")"
  log "${user:-this user} cannot use $ROOT/.pg; using $base"
  rm -rf "$base"
  mkdir -m 755 "$base"
  [[ -z "$user" ]] || chown "$user:" "$base"
  echo "$base"
}

# Whether the postmaster recorded in DATA/postmaster.pid runs (a crashed one may linger as a
# zombie until reaped, which pg_ctl would wait for in vain).
postmaster_alive() {
  local pid state
  pid="$(head -n 1 "$1/postmaster.pid" 2>/dev/null)" || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  state="$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Stops the cluster whose files are in BASE (if it runs) and removes BASE.
remove_cluster() {
  local base="$1" user=""
  if [[ -d "$base/data" ]]; then
    if [[ "$(id -u)" == 0 ]]; then
      user="$(stat -c %U "$base/data")"
      [[ "$user" != root ]] || user=""
    fi
    if postmaster_alive "$base/data" && find_bin; then
      run_as "$user" "$PGBIN/pg_ctl" -D "$base/data" -m fast -w -t 20 stop >&2 \
        || run_as "$user" "$PGBIN/pg_ctl" -D "$base/data" -m immediate -w -t 10 stop >&2 \
        || true
    fi
  fi
  rm -rf "$base"
}

# Creates the database unless it exists, over TCP as the superuser.
ensure_db() {
  local port="$1" psql createdb found
  # Something that accepts the connection but never answers must not hang us.
  export PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
  psql="$(client psql)"
  createdb="$(client createdb)"
  found="$("$psql" -X -q -h 127.0.0.1 -p "$port" -U "$DB_USER" -d postgres -tAc \
    "select 1 from pg_database where datname = '$DB'")" || return 1
  if [[ "$found" != 1 ]]; then
    "$createdb" -h 127.0.0.1 -p "$port" -U "$DB_USER" "$DB" >&2 || return 1
  fi
}

start() {
  local port="$1"
  install
  if listening "$port"; then
    log "something already listens on 127.0.0.1:$port; using it"
    ensure_db "$port" \
      || die "but $(url "$port") does not work there; stop what listens on $port or choose another port"
    url "$port"
    return 0
  fi
  local user base
  user="$(run_user)"
  # Nothing listens, so files left for this port are from a run that did not stop cleanly.
  remove_cluster "$(repo_base "$port")"
  remove_cluster "$(tmp_base "$port")"
  rmdir "$ROOT/.pg" 2>/dev/null || true
  base="$(make_base "$port" "$user")"
  run_as "$user" "$PGBIN/initdb" -D "$base/data" --auth=trust --username="$DB_USER" \
    -E UTF8 --locale=C --no-sync >"$base/initdb.log" 2>&1 || {
    log "initdb failed; its output:"
    cat "$base/initdb.log" >&2
    exit 1
  }
  if ! run_as "$user" "$PGBIN/pg_ctl" -D "$base/data" -l "$base/postgres.log" -w -t 20 \
    -o "-p $port -k '$base' -c listen_addresses=127.0.0.1 -c fsync=off" start >&2; then
    log "PostgreSQL did not start on 127.0.0.1:$port (pg_ctl waits up to 20 s); its log:"
    cat "$base/postgres.log" >&2 || true
    exit 1
  fi
  ensure_db "$port" || {
    log "PostgreSQL started but creating the database '$DB' failed; its log:"
    cat "$base/postgres.log" >&2 || true
    exit 1
  }
  log "PostgreSQL $("$PGBIN/pg_ctl" --version | awk '{print $3}') listening on 127.0.0.1:$port (data $base/data, log $base/postgres.log${user:+, runs as $user})"
  url "$port"
}

stop() {
  local port="$1" base found=0
  for base in "$(repo_base "$port")" "$(tmp_base "$port")"; do
    if [[ -e "$base" ]]; then
      found=1
      remove_cluster "$base"
    fi
  done
  rmdir "$ROOT/.pg" 2>/dev/null || true
  if [[ "$found" == 1 ]]; then
    # pg_ctl -w waited for the server to go; make sure the port is free for an immediate start.
    for _ in $(seq 1 100); do
      listening "$port" || return 0
      sleep 0.1
    done
    log "something still listens on 127.0.0.1:$port after stopping"
  fi
}

port_arg() {
  local port="${1:-$DEFAULT_PORT}"
  [[ "$port" =~ ^[0-9]+$ ]] || { echo "postgres: PORT must be a number, not '$port'" >&2; exit 2; }
  echo "$port"
}

case "${1:-}" in
  install) install ;;
  start) PORT="$(port_arg "${2:-}")"; start "$PORT" ;;
  stop) PORT="$(port_arg "${2:-}")"; stop "$PORT" ;;
  url) PORT="$(port_arg "${2:-}")"; url "$PORT" ;;
  *) echo "usage: $0 install | start [PORT] | stop [PORT] | url [PORT]" >&2; exit 2 ;;
esac
