#!/usr/bin/env bash
# The most tasks per second PostgreSQL alone lets through on this machine: pgbench sends the
# statements the task engine sends for each `persons.add_one_year` task, and nothing else
# runs (no worker, no Redis, no producer). No worker can beat this figure on the same
# machine; compare it with `cargo bench --bench tasks`.
#
#   BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres benches/tasks_ceiling.sh
#
# Two workloads, 32 tasks per pgbench transaction, from POOL clients (default 10, the
# service's pool), DURATION seconds each (default 15):
# - `engine`: the rows of 32 tasks written in one statement, marked started in one
#   statement, then for each task its own transaction: the person's update and the task's
#   success, committed (what `Queue::schedule`, the worker and `AddOneYear` send);
# - `no task rows`: the same work without task rows (SELECT ... FOR UPDATE, UPDATE, commit),
#   as Celery's version of the task does; its state lives in Redis instead.
# Needs pgbench and psql (Debian: postgresql, postgresql-client); builds the service in
# release mode to create the tables (unless SERVICE_BIN names a binary); a database of its
# own is created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a PostgreSQL server URL}"
duration=${DURATION:-15}
clients=${POOL:-10}
for tool in pgbench psql; do
    command -v "$tool" >/dev/null || { echo "$tool is needed (Debian: postgresql)" >&2; exit 1; }
done

# shellcheck source-path=SCRIPTDIR/..
. benches/scratch_database.sh
scratch_database "ceiling_$$"
work=$(mktemp -d)
cleanup() {
    drop_scratch_database
    rm -rf "$work"
}
trap cleanup EXIT

# The tables, as the service's own migrations make them (SERVICE_BIN: a binary already built).
upgrade=(cargo run --release --quiet --)
if [ -n "${SERVICE_BIN:-}" ]; then upgrade=("$SERVICE_BIN"); fi
APP_ENV=prod APP__DATABASE__URL="$database_url" APP__TASKS__EAGER=true "${upgrade[@]}" db upgrade >/dev/null
psql -q "$database_url" -c "INSERT INTO persons (name, age, created_at, updated_at)
    SELECT 'Bench', 0, now(), now() FROM generate_series(1, 1000)"

# One pgbench transaction: 32 tasks. Task k's id is derived from the client and a random
# number, so that every statement can name it without reading it back.
batch=32
id() { echo "md5(:client_id || '-' || :base || '-$1')::uuid"; }
{
    echo '\set base random(1, 1000000000000)'
    for k in $(seq "$batch"); do echo "\\set person$k random(1, 1000)"; done
    rows=()
    for k in $(seq "$batch"); do
        rows+=("($(id "$k"), 'persons.add_one_year', json_build_object('person_id', (:person$k)::bigint), 'pending', 0, 3, NULL, NULL, NULL, NULL, NULL, now(), now(), NULL, NULL, NULL)")
    done
    echo "INSERT INTO tasks (id, name, arguments, state, attempts, max_retries, last_error, result, chain_id, chain_position, request_id, created_at, updated_at, started_at, finished_at, worker) VALUES $(IFS=,; echo "${rows[*]}");"
    ids=()
    for k in $(seq "$batch"); do ids+=("$(id "$k")"); done
    echo "UPDATE tasks SET state = 'started', updated_at = now(), attempts = attempts + 1, started_at = now(), worker = 'bench-worker' WHERE state IN ('pending', 'retrying') AND id IN ($(IFS=,; echo "${ids[*]}")) RETURNING id, attempts;"
    for k in $(seq "$batch"); do
        echo "BEGIN;"
        echo "UPDATE persons SET age = age + 1, updated_at = now() WHERE id = (:person$k)::bigint AND age <= 149 RETURNING *;"
        echo "UPDATE tasks SET state = 'succeeded', updated_at = now(), result = CASE WHEN id = $(id "$k") THEN json_build_object('age', 1) END, last_error = NULL, finished_at = now() WHERE state IN ('started') AND id IN ($(id "$k")) AND (id, attempts) IN (($(id "$k"), 1)) RETURNING id;"
        echo "COMMIT;"
    done
} >"$work/engine.sql"
{
    for k in $(seq "$batch"); do echo "\\set person$k random(1, 1000)"; done
    for k in $(seq "$batch"); do
        echo "BEGIN;"
        echo "SELECT id, age FROM persons WHERE id = (:person$k)::bigint FOR UPDATE;"
        echo "UPDATE persons SET age = age + 1 WHERE id = (:person$k)::bigint;"
        echo "COMMIT;"
    done
} >"$work/no_task_rows.sql"

echo "pgbench -M prepared, $clients clients, ${duration} s each, $batch tasks per transaction"
for workload in engine no_task_rows; do
    psql -q "$database_url" -c "UPDATE persons SET age = 0" -c "VACUUM ANALYZE"
    output=$(pgbench -n -M prepared -c "$clients" -j 2 -T "$duration" \
        -f "$work/$workload.sql" "$database_url" 2>&1) || { echo "$output" >&2; exit 1; }
    tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' <<<"$output")
    awk -v name="${workload//_/ }" -v tps="$tps" -v batch="$batch" \
        'BEGIN { printf "%-13s %8.0f tasks/s\n", name, tps * batch }'
done
