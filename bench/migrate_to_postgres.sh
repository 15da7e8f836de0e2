#!/usr/bin/env bash
# How fast `manage.py migrate_to_postgres` moves ltplabs.db: a file of N sample clients
# (default 100,000; built once by `initdb --sample N` into bench/data/, gitignored) copied to
# a throwaway PostgreSQL 15 (scripts/with-postgres.sh), timed end to end; the command itself
# prints rows/s for the copy and overall. Usage: bench/migrate_to_postgres.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-100000}
file="bench/data/migrate-$clients.db"
mkdir -p bench/data
if [ ! -f "$file" ]; then
  DJANGO_DEBUG=1 DATABASE_PATH="$file" .venv/bin/python manage.py initdb --sample "$clients"
  DJANGO_DEBUG=1 DATABASE_PATH="$file" .venv/bin/python manage.py create_dev_staff --username bench --password bench-pass-123 >/dev/null
fi
rows=$(python3 -c "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); print(sum(db.execute(f'SELECT COUNT(*) FROM \"{t}\"').fetchone()[0] for (t,) in db.execute(\"SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'\").fetchall()))" "$file")
echo "source: $file, $clients clients, $rows rows in all tables"
scripts/with-postgres.sh bash -c '
  set -e
  start=$(date +%s.%N)
  DATABASE_URL= DJANGO_DEBUG=1 DATABASE_PATH="$0" .venv/bin/python manage.py migrate_to_postgres --to "$DATABASE_URL"
  end=$(date +%s.%N)
  python3 -c "import sys; s = float(sys.argv[2]) - float(sys.argv[1]); print(f\"wall time, process start to exit: {s:.1f}s ({int(sys.argv[3]) / s:,.0f} rows/s)\")" "$start" "$end" "$1"
' "$file" "$rows"
