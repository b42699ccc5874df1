# Starts (or reuses) a PostgreSQL cluster of the project's own. Sourced after .ci/lib.sh.
#
#   pg_up DATA_DIR PORT [OPTS]  initialise DATA_DIR if needed, start the server on 127.0.0.1:PORT unless it
#                         already runs, and print the base URL (no database name) on stdout.
#   pg_down DATA_DIR      stop it.
#
# initdb refuses to run as root, so as root the cluster belongs to the postgres user.

pg_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

pg_up() {
  local data=$1 port=$2 extra=${3:-}
  local sock="$data/socket"
  if [ ! -f "$data/PG_VERSION" ]; then
    log "creating a PostgreSQL cluster in $data"
    mkdir -p "$data"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$data"
    chmod 700 "$data"
    pg_as_owner "'$PG_BIN/initdb' -D '$data' -U postgres -A trust -E UTF8 --locale=C.UTF-8" >"$data.initdb.log" 2>&1 \
      || die "initdb failed; see $data.initdb.log"
  fi
  # The postgres user must be able to reach the data directory through every parent.
  mkdir -p "$sock"
  [ "$(id -u)" -eq 0 ] && chown postgres: "$sock"
  if ! pg_as_owner "'$PG_BIN/pg_ctl' -D '$data' status" >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$port"
    pg_as_owner "'$PG_BIN/pg_ctl' -D '$data' -l '$data/server.log' -w -t 60 \
      -o \"-p $port -k '$sock' -c listen_addresses=127.0.0.1 -c max_connections=300 $extra\" start" >/dev/null \
      || die "PostgreSQL did not start; see $data/server.log"
  fi
  echo "postgres://postgres@127.0.0.1:$port"
}

pg_down() {
  local data=$1
  [ -f "$data/PG_VERSION" ] || return 0
  pg_as_owner "'$PG_BIN/pg_ctl' -D '$data' -m fast -w stop" >/dev/null 2>&1 || true
}

# Creates database NAME on the server at BASE_URL unless it exists.
pg_create_db() {
  local base=$1 name=$2 port
  port=${base##*:}
  "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$name'" postgres | grep -q 1 \
    || "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE \"$name\"" postgres
}
