#!/usr/bin/env bash
# The data suite against a real PostgreSQL 15 that this test starts and stops
# (tests/support/pg-tmp): each unit_data_* suite that honours
# KILN_TEST_DATABASE_URL gets a fresh database of its own, then the migration
# commands run on a real app binary (examples/bench). Skips (exit 0, with a
# note) only when PostgreSQL is not installed.
set -uo pipefail
BIN=${1:?usage: test_data_pg.sh BUILD/bin}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TESTS=$BIN/../tests
. "$ROOT/tests/support/pglib.sh"
pg_start
base=$PG_BASE
psql() { /usr/lib/postgresql/15/bin/psql -X -q -v ON_ERROR_STOP=1 "$base/postgres" "$@"; }

fail=0
for suite in test_repo; do
  psql -c "CREATE DATABASE kiln_$suite" || { fail=1; continue; }
  if KILN_TEST_DATABASE_URL="$base/kiln_$suite?pool_size=4" "$TESTS/unit_data_$suite"; then
    echo "ok - $suite on postgres"
  else
    echo "not ok - $suite on postgres"; fail=1
  fi
done

# The command line on a real app: migrate twice, status, rollback.
if [ -x "$BIN/bench" ]; then
  psql -c "CREATE DATABASE kiln_cli"
  export DATABASE_URL="$base/kiln_cli"
  if "$BIN/bench" migrate && "$BIN/bench" migrate && "$BIN/bench" migrations | grep -q '^up' &&
     [ "$(psql -d "$base/kiln_cli" -At -c 'SELECT count(*) FROM world' 2>/dev/null || /usr/lib/postgresql/15/bin/psql -X -At "$base/kiln_cli" -c 'SELECT count(*) FROM world')" = 10000 ]; then
    echo "ok - bench migrate on postgres"
  else
    echo "not ok - bench migrate on postgres"; fail=1
  fi
fi
exit $fail
