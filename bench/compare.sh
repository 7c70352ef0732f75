#!/usr/bin/env bash
# The service against loco and against the original Flask/Celery stack, in one sitting, on
# one machine: only ratios travel (the same code runs 2-3x faster on another machine, and
# 10-25 % apart from one run to the next on a shared one).
#
#   bench/original/setup.sh                  # once, as root
#   nice -n 19 bench/loco/build.sh           # once (long)
#   bench/compare.sh path/to/rendered-project
#
# Builds the project in release mode and, ROUNDS times (2), interleaved, serves and loads
# the service, loco and the original one after the other with the same load (wrk -t2 -c32,
# WARMUP s then DURATION s per route: 3 and 15) on the same routes over the same 1,000
# persons: ping, GET one, a page of 20, POST. Then prints, per route and round, requests/s,
# p99 and the ratios service/loco and service/original, and the memory (PSS) after load.
#
# Identity is on, as real clients meet it: the service with an API key made once for the
# sitting (`keys create`, sent as `Authorization: Bearer`; a service without a `keys`
# command is measured open, and the script says so), loco with the JWT of a registered user
# who logged in (its scaffold's routes require one; `LOCO=open` measures the `--no-auth`
# scaffold instead, `LOCO=none` leaves loco out). Pings are open on all three.
#
# The service is measured a second time in each round with OpenTelemetry traces on
# (`traced`: a sampling ratio of TRACE_RATIO, 0.1, the rest of the trace settings their
# defaults), exporting to bench/otlp_sink.py, a stand-in collector that drops what it takes;
# TRACE_RATIO=off leaves it out.
#
# Then the tasks (TASKS=0 skips them), ROUNDS times interleaved: Celery's N (5,000)
# `add_one_year` (bench/original/tasks.sh), the project's `cargo bench --bench tasks` on the
# same task (BENCH_TASKS=N; 32 callers, then one caller in a loop as Celery's) and its
# `benches/tasks_ceiling.sh` (what PostgreSQL alone lets through for the engine's
# statements), with their ratios.
#
# Results are appended to $BENCH_WORK/results/{api,tasks}.tsv, raw output in results/raw.
# APP__... variables in the environment reach the service (its prod config otherwise).
set -euo pipefail
project=$(cd "${1:?usage: bench/compare.sh RENDERED_PROJECT_DIR}" && pwd)
cd "$(dirname "$0")"
# shellcheck source-path=SCRIPTDIR
. lib.sh

rounds=${ROUNDS:-2}
loco=${LOCO:-jwt}
trace_ratio=${TRACE_RATIO:-0.1}
SINK_PID=
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
export STAMP QUIET_HEADER=1
for tool in wrk psql curl ss; do command -v "$tool" >/dev/null || die "$tool is missing: run bench/original/setup.sh"; done
[ -x "$VENV/bin/gunicorn" ] || die "the original is not installed: run bench/original/setup.sh (as root)"
[ "$loco" = none ] || [ -x "$(loco_binary "$loco")" ] || die "loco is not built: run bench/loco/build.sh"

# The service: release build, its own database, prod config, tasks in-process.
name=$(sed -nE 's/^name = "([^"]+)".*/\1/p' "$project/Cargo.toml" | head -1)
echo "building $name (release)"
(cd "$project" && cargo build --release --quiet --bin "$name")
service=${CARGO_TARGET_DIR:-$project/target}/release/$name
ensure_database bench_service
export APP_ENV=prod APP__DATABASE__URL="$BENCH_PG/bench_service" APP__TASKS__EAGER=true \
    APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT=18000
(cd "$project" && "$service" db upgrade >/dev/null)
service_auth=
key_name=
if "$service" keys --help >/dev/null 2>&1; then
    key_name=bench-$(tr "[:upper:]" "[:lower:]" <<<"$STAMP")
    made=$(cd "$project" && "$service" keys create --name "$key_name" \
        --scope persons:read --scope persons:write)
    # The key is the one long token the command prints.
    key=$(grep -oE '[A-Za-z0-9_.~+/=-]{24,}' <<<"$made" | tail -1)
    [ -n "$key" ] || die "no key in what \`keys create\` printed: $made"
    service_auth="Bearer $key"
    echo "service: identity on, API key $key_name (persons:read, persons:write)"
else
    echo "service: NO IDENTITY (its binary has no \`keys\` command): measured open"
fi
cleanup() {
    stop_server
    if [ -n "$SINK_PID" ]; then kill -TERM "$SINK_PID" 2>/dev/null || true; fi
    if [ -n "$key_name" ]; then (cd "$project" && "$service" keys revoke "$key_name" >/dev/null) || true; fi
}
trap cleanup EXIT

loco_app_dir=$LOCO_WORK/$(loco_app "$loco")

# $1: the round; $2: the stack's name, `service` or `traced` (OpenTelemetry traces on, at a
# sampling ratio of TRACE_RATIO, exported to bench/otlp_sink.py, which drops them).
run_service() {
    local stack=${2:-service} traces=()
    seed_persons bench_service persons "created_at, updated_at" >/dev/null
    if [ "$stack" = traced ]; then
        python3 otlp_sink.py 14318 >"$RESULTS/raw/$STAMP-otlp-sink-$1.log" 2>&1 &
        SINK_PID=$!
        wait_http_post http://127.0.0.1:14318/v1/traces || die "the OTLP sink did not start"
        traces=(APP__TRACE__ENDPOINT=http://127.0.0.1:14318 APP__TRACE__SAMPLE_RATIO="$trace_ratio")
    fi
    start_server "$RESULTS/raw/$STAMP-$stack-$1.log" http://127.0.0.1:18000/mon/ping \
        env -C "$project" "${traces[@]}" "$service" serve
    local base=http://127.0.0.1:18000
    BENCH_AUTH=$service_auth
    measure_route "$stack" "$1" ping GET "$base/mon/ping"
    measure_route "$stack" "$1" get_one GET "$base/v1/persons/1"
    measure_route "$stack" "$1" page_20 GET "$base/v1/persons?per_page=20"
    measure_route "$stack" "$1" post POST "$base/v1/persons"
    record_memory "$stack" "$1"
    stop_server
    if [ "$stack" = traced ]; then
        kill -TERM "$SINK_PID"; wait "$SINK_PID" || true
        SINK_PID=
        echo "traced round $1: $(tail -1 "$RESULTS/raw/$STAMP-otlp-sink-$1.log")"
        if grep -q ' 0 exports' "$RESULTS/raw/$STAMP-otlp-sink-$1.log"; then
            die "traced round $1 exported no span"
        fi
    fi
}

# Waits up to 10 s until the sink takes a POST at URL $1.
wait_http_post() {
    for _ in $(seq 1 100); do
        curl -sf -o /dev/null -X POST --data-binary '' "$1" && return 0
        sleep 0.1
    done
    return 1
}

run_loco() {
    seed_persons "$(loco_database "$loco")" people "created_at, updated_at" >/dev/null
    (
        loco_environment "$loco" 5150
        start_server "$RESULTS/raw/$STAMP-loco-$1.log" http://127.0.0.1:5150/_ping \
            env -C "$loco_app_dir" "$(loco_binary "$loco")" start -e production --no-banner
        trap stop_server EXIT
        local base=http://127.0.0.1:5150
        BENCH_AUTH=
        if [ "$loco" = jwt ]; then BENCH_AUTH="Bearer $(loco_login "$base")"; fi
        measure_route "loco" "$1" ping GET "$base/_ping"
        measure_route "loco" "$1" get_one GET "$base/api/people/1"
        measure_route "loco" "$1" page_20 GET "$base/api/people?page_size=20"
        measure_route "loco" "$1" post POST "$base/api/people"
        record_memory "loco" "$1"
    )
}

# A token for loco's JWT routes: register a user (answers 200 when it exists), log in.
loco_login() {
    local user='{"name": "bench", "email": "bench@example.com", "password": "bench-password-1"}'
    curl -sf -o /dev/null -H 'content-type: application/json' -d "$user" "$1/api/auth/register"
    curl -sf -H 'content-type: application/json' -d "$user" "$1/api/auth/login" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])'
}

echo "sitting $STAMP: $rounds rounds; wrk -t2 -c32, ${WARMUP}s warm-up then ${DURATION}s per route;" \
    "loco: $loco"
measure_header
for round in $(seq 1 "$rounds"); do
    run_service "$round"
    [ "$trace_ratio" = off ] || run_service "$round" traced
    [ "$loco" = none ] || run_loco "$round"
    original/load.sh "$round"
done

echo
echo "== per route and round: requests/s and p99 (ms); ratios above 1x favour the service"
awk -F'\t' -v stamp="$STAMP" '
    function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.1fx", a / b) }
    function show(v, format) { return v == "" ? "-" : sprintf(format == "" ? "%.0f" : format, v) }
    function share(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%+.1f %%", 100 * (a / b - 1)) }
    $1 == stamp && $4 != "memory" { rps[$2, $3, $4] = $5; p99[$2, $3, $4] = $7; if ($3 + 0 > rounds) rounds = $3 + 0 }
    $1 == stamp && $4 == "memory" { mem[$2, $3] = $12 }
    END {
        printf "%-8s %5s %9s %9s %9s %13s %17s %8s %8s %8s %13s %13s %9s %15s\n", "route", "round", "service", "loco",
            "original", "service/loco", "service/original", "p99 svc", "p99 loco", "p99 orig",
            "p99 loco/svc", "p99 orig/svc", "traced", "traced/service"
        split("ping get_one page_20 post", order, " ")
        for (i = 1; i <= 4; i++) for (r = 1; r <= rounds; r++) {
            k = order[i]
            printf "%-8s %5s %9s %9s %9s %13s %17s %8s %8s %8s %13s %13s %9s %15s\n", k, r,
                show(rps["service", r, k]), show(rps["loco", r, k]), show(rps["original", r, k]),
                ratio(rps["service", r, k], rps["loco", r, k]), ratio(rps["service", r, k], rps["original", r, k]),
                show(p99["service", r, k], "%.1f"), show(p99["loco", r, k], "%.1f"), show(p99["original", r, k], "%.1f"),
                ratio(p99["loco", r, k], p99["service", r, k]), ratio(p99["original", r, k], p99["service", r, k]),
                show(rps["traced", r, k]), share(rps["traced", r, k], rps["service", r, k])
        }
        for (r = 1; r <= rounds; r++)
            printf "PSS after load, round %s: service %s MiB, loco %s MiB, original %s MiB (service/loco %s)\n",
                r, show(mem["service", r], "%.1f"), show(mem["loco", r], "%.1f"), show(mem["original", r], "%.1f"),
                ratio(mem["service", r], mem["loco", r])
    }' "$API_TSV"

[ "${TASKS:-1}" = 1 ] || exit 0
tasks=${N:-5000}
export N=$tasks
echo
echo "== tasks: Celery's $tasks add_one_year against the service's engine and its database's ceiling"
tasks_tsv=$RESULTS/tasks.tsv
for round in $(seq 1 "$rounds"); do
    original/tasks.sh "$round"
    # 32 callers, as views under load schedule, then one caller in a loop, as Celery's is.
    for producers in 32 1; do
        stack=engine; [ "$producers" = 32 ] || stack="engine 1 caller"
        bench_psql postgres -c "DROP DATABASE IF EXISTS bench_tasks WITH (FORCE)" -c "CREATE DATABASE bench_tasks"
        out=$(cd "$project" && env -u APP_ENV -u APP__TASKS__EAGER -u APP__SERVER__PORT \
            BENCH_TASKS="$tasks" BENCH_PRODUCERS="$producers" BENCH_ONLY=persons.add_one_year \
            APP__DATABASE__URL="$BENCH_PG/bench_tasks" APP__REDIS__URL="$BENCH_REDIS" \
            cargo bench --quiet --bench tasks 2>&1) || die "cargo bench --bench tasks failed: $out"
        echo "$out" >"$RESULTS/raw/$STAMP-engine-$producers-callers-$round.txt"
        e2e=$(sed -nE 's/.*all succeeded at +([0-9.]+)\/s end to end.*/\1/p' <<<"$out")
        enqueue=$(sed -nE 's/.*enqueued at +([0-9.]+)\/s.*/\1/p' <<<"$out")
        echo "$stack round $round ($producers callers): enqueue $enqueue/s, end to end $e2e/s" \
            "($(grep 'CPU per task' <<<"$out" | sed 's/^ *//'))"
        printf '%s\t%s\t%s\t%s\t%s\t%s\t\t\t\n' "$STAMP" "$stack" "$round" "$tasks" "$enqueue" "$e2e" >>"$tasks_tsv"
    done
    out=$(cd "$project" && BENCH_DATABASE_URL="$BENCH_PG/postgres" SERVICE_BIN="$service" \
        DURATION="$DURATION" benches/tasks_ceiling.sh 2>&1) || die "tasks_ceiling.sh failed: $out"
    echo "$out" >"$RESULTS/raw/$STAMP-ceiling-$round.txt"
    for workload in engine "no task rows"; do
        rate=$(sed -nE "s/^$workload +([0-9.]+) tasks\/s.*/\1/p" <<<"$out")
        echo "ceiling round $round, $workload: $rate tasks/s"
        printf '%s\tceiling %s\t%s\t\t\t%s\t\t\t\n' "$STAMP" "$workload" "$round" "$rate" >>"$tasks_tsv"
    done
done
echo
awk -F'\t' -v stamp="$STAMP" '
    function ratio(a, b) { return (a == "" || b == "" || b == 0) ? "-" : sprintf("%.1fx", a / b) }
    $1 == stamp { enq[$2, $3] = $5; e2e[$2, $3] = $6; if ($3 + 0 > rounds) rounds = $3 + 0 }
    END {
        for (r = 1; r <= rounds; r++) {
            c = e2e["celery", r]; s = e2e["engine", r]; ce = e2e["ceiling engine", r]; cn = e2e["ceiling no task rows", r]
            l = e2e["engine 1 caller", r]
            printf "round %s, end to end: Celery %s/s; service %s/s (%s Celery), one caller %s/s (%s); " \
                "ceiling %s/s (%s Celery), without task rows %s/s (%s); the service at %s of its ceiling\n",
                r, c, s, ratio(s, c), l, ratio(l, c), ce, ratio(ce, c), cn, ratio(cn, c),
                (ce > 0 ? sprintf("%.0f %%", 100 * s / ce) : "-")
            printf "round %s, scheduling: Celery %s/s; service %s/s (%s), one caller %s/s (%s)\n", r,
                enq["celery", r], enq["engine", r], ratio(enq["engine", r], enq["celery", r]),
                enq["engine 1 caller", r], ratio(enq["engine 1 caller", r], enq["celery", r])
        }
    }' "$tasks_tsv"
