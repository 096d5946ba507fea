# Sourced by the PostgreSQL integration tests. pg_start starts a throwaway
# PostgreSQL 15 (tests/support/pg-tmp) that is stopped and removed when the
# script exits, and sets PG_DIR (its directory) and PG_BASE (its base URL).
# Without PostgreSQL 15 installed the test skips: exit 0, with a note.
PG_TMP=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/pg-tmp

pg_start() {
  if [ ! -x /usr/lib/postgresql/15/bin/initdb ]; then
    echo "# skipped: PostgreSQL 15 is not installed (scripts/bootstrap test installs it)"
    exit 0
  fi
  PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kiln-pg.XXXXXX")
  trap '"$PG_TMP" stop "$PG_DIR"' EXIT
  PG_BASE=$("$PG_TMP" start "$PG_DIR") || { echo "FAIL: cannot start PostgreSQL"; exit 1; }
}
