#!/usr/bin/env bash
# Loads the original (Flask under gunicorn, 2 sync workers, as the original deploys it) with
# wrk, route after route: GET /mon/ping, GET /v1/persons/1, a page of 20, POST /v1/persons.
# Prints and appends to $BENCH_WORK/results/api.tsv: requests/s, p50, p99, errors, the CPU of
# the server, PostgreSQL and Redis per request, other processes' CPU during each window
# (foreign%: above a few percent the figures are disturbed) and the server's PSS after load.
#
#   bench/original/setup.sh                 # once, as root
#   bench/original/load.sh [ROUND]          # DURATION (15) and WARMUP (3) seconds per route
#
# The table goes back to the same 1,000 persons first. PORT (5000) is where it listens.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source-path=SCRIPTDIR
. ../lib.sh

round=${1:-1}
port=${PORT:-5000}
STAMP=${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}
[ -x "$VENV/bin/gunicorn" ] || die "run bench/original/setup.sh first (as root)"
seed_persons bench_original persons created_at >/dev/null
trap stop_server EXIT
start_server "$RESULTS/raw/$STAMP-original-$round.log" "http://127.0.0.1:$port/mon/ping" \
    env DATABASE_URL="postgresql+psycopg2://${BENCH_PG#postgres://}/bench_original" \
    "$VENV/bin/gunicorn" -w 2 -k sync -b "127.0.0.1:$port" app:app
base=http://127.0.0.1:$port
[ "${QUIET_HEADER:-}" ] || measure_header
measure_route original "$round" ping GET "$base/mon/ping"
measure_route original "$round" get_one GET "$base/v1/persons/1"
measure_route original "$round" page_20 GET "$base/v1/persons?per_page=20"
measure_route original "$round" post POST "$base/v1/persons"
record_memory original "$round"
