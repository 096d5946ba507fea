#!/usr/bin/env bash
# D6 (RELIABILITY.md): PostgreSQL crashes under a writer loop. Starts a
# throwaway PostgreSQL 15 of its own (tests/support/pg-tmp), since the test
# crashes it, and runs unit_data_test_pg_crash against it: the program crashes
# the server (pg-tmp crash: immediate stop) and starts it again (pg-tmp
# restart) while its writers run. The database keeps synchronous_commit=on
# (pg-tmp's server default is off, which may lose acknowledged commits in a
# crash). Skips (exit 0, with a note) only when PostgreSQL is not installed.
set -uo pipefail
BIN=${1:?usage: test_data_pg_crash.sh BUILD/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TESTS=$BIN/../tests
. "$ROOT/tests/support/pglib.sh"
pg_start
base=$PG_BASE dir=$PG_DIR
/usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 "$base/postgres" \
  -c "CREATE DATABASE kiln_d6" -c "ALTER DATABASE kiln_d6 SET synchronous_commit = on" ||
  { echo "FAIL: cannot create the database"; exit 1; }
if KILN_TEST_DATABASE_URL="$base/kiln_d6?pool_size=4" KILN_TEST_PG_TMP="$PG_TMP" KILN_TEST_PG_DIR="$dir" \
   "$TESTS/unit_data_test_pg_crash"; then
  echo "ok - d6 pg crash"
else
  echo "not ok - d6 pg crash"; exit 1
fi
