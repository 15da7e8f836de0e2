#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL 15, e.g. `scripts/with-postgres.sh .venv/bin/pytest -q`.
# initdb into a temp folder owned by the `postgres` user (the server refuses to run as root),
# pg_ctl on 127.0.0.1 with a free port, a database `ltplabs`, DATABASE_URL exported for the
# command; the server is stopped and the folder removed on exit, also when the command fails.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/15/bin 2>/dev/null || dirname "$(command -v pg_ctl)")}
if [ $# -eq 0 ]; then
  echo "usage: $0 COMMAND [ARG...]" >&2
  exit 2
fi
if [ ! -x "$PGBIN/pg_ctl" ]; then
  echo "$0: PostgreSQL 15 is not installed (no pg_ctl in $PGBIN); apt-get install postgresql-15" >&2
  exit 2
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

dir=$(mktemp -d "${TMPDIR:-/tmp}/ltplabs-pg.XXXXXX")
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi
started=0
cleanup() {
  if [ "$started" -eq 1 ]; then as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# A test server: durability off (the folder is thrown away), sockets only in the temp folder. Stopped on
# exit from here on: pg_ctl's -t can give up while the server goes on starting.
started=1
as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
  -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" >/dev/null \
  || { cat "$dir/server.log" >&2; exit 1; }
as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$port" -U postgres ltplabs

export DATABASE_URL="postgres://postgres@127.0.0.1:$port/ltplabs"
echo "with-postgres: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') at $DATABASE_URL" >&2
set +e
"$@"
status=$?
set -e
exit "$status"
