#!/usr/bin/env bash
# The original's tasks: a Celery worker (prefork, concurrency 2; Redis as broker and result
# backend) runs N (5,000) `add_one_year(person_id)` over the 1,000 persons (row lock, one
# added, commit each), scheduled by one caller with `.delay()` in a loop. Prints and appends
# to $BENCH_WORK/results/tasks.tsv: the enqueue rate, the end-to-end rate (first `.delay()`
# to the last increment committed), CPU per task (worker, PostgreSQL, Redis and the caller),
# other processes' CPU during the run (foreign%) and the worker's PSS.
#
#   bench/original/setup.sh       # once, as root
#   bench/original/tasks.sh [ROUND]
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source-path=SCRIPTDIR
. ../lib.sh

round=${1:-1}
export N=${N:-5000}
STAMP=${STAMP:-$(date -u +%Y%m%dT%H%M%SZ)}
raw=$RESULTS/raw/$STAMP-celery-$round
tsv=$RESULTS/tasks.tsv
[ -f "$tsv" ] || printf 'stamp\tstack\tround\tn\tenqueue_per_s\te2e_per_s\tcpu_ms_per_task\tforeign_pct\tpss_mib\n' >"$tsv"
[ -x "$VENV/bin/celery" ] || die "run bench/original/setup.sh first (as root)"

export DATABASE_URL="postgresql+psycopg2://${BENCH_PG#postgres://}/bench_original"
export PSYCOPG_DSN="${BENCH_PG}/bench_original"
export CELERY_BROKER_URL="$BENCH_REDIS/10" CELERY_RESULT_BACKEND="$BENCH_REDIS/11"
seed_persons bench_original persons created_at >/dev/null
"$VENV/bin/celery" -A tasks:celery purge -f >/dev/null
trap stop_server EXIT
"$VENV/bin/celery" -A tasks:celery worker --pool prefork --concurrency 2 --loglevel WARNING \
    >"$raw.worker.log" 2>&1 &
SERVER_PIDS=$!

CPU_BEFORE=$raw.cpu0.json CPU_AFTER=$raw.cpu1.json "$VENV/bin/python" drive_tasks.py | tee "$raw.txt"
line=$(grep '^TASKS ' "$raw.txt")
# shellcheck disable=SC2046 # the pids are words
cpu=$(python3 ../cpu.py diff "$raw.cpu0.json" "$raw.cpu1.json" "$N" \
    --server "$SERVER_PIDS" $(listener_pid 5432) $(listener_pid 6379) --self $$)
per_task=$(awk -v a="$(field server_ms_per_request "$cpu")" -v b="$(field self_ms_per_request "$cpu")" \
    'BEGIN { printf "%.2f", a + b }')
kib=0
for pid in $SERVER_PIDS $(pgrep -P "$SERVER_PIDS"); do
    kib=$(( kib + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup") ))
done
pss=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
echo "celery round $round: enqueue $(field enqueue_per_s "$line")/s, end to end $(field e2e_per_s "$line")/s," \
    "CPU $per_task ms per task, foreign $(field foreign_pct "$cpu")%, worker PSS $pss MiB"
printf '%s\tcelery\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$STAMP" "$round" "$N" "$(field enqueue_per_s "$line")" \
    "$(field e2e_per_s "$line")" "$per_task" "$(field foreign_pct "$cpu")" "$pss" >>"$tsv"
