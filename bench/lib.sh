# Sourced by the scripts of bench/: where things live, the databases, serving and measuring.
# Nothing here writes inside the repository: the work folder holds the virtualenv, loco's
# build and every result.
#
#   BENCH_WORK  the work folder (default: starter-bench in the system's temporary folder)
#   BENCH_PG    PostgreSQL as the `bench` role, without a database name
#               (default postgres://bench:bench@127.0.0.1:5432)
#   BENCH_REDIS Redis, without a database number (default redis://127.0.0.1:6379)
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BENCH_WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/starter-bench}
BENCH_PG=${BENCH_PG:-postgres://bench:bench@127.0.0.1:5432}
BENCH_REDIS=${BENCH_REDIS:-redis://127.0.0.1:6379}
# shellcheck disable=SC2034 # used by the scripts that source this file
VENV=$BENCH_WORK/venv
RESULTS=$BENCH_WORK/results
mkdir -p "$RESULTS/raw"
export PYTHONDONTWRITEBYTECODE=1

die() { echo "$*" >&2; exit 1; }

# psql on database $1 as the bench role, quiet, unaligned.
bench_psql() {
    local db=$1; shift
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -At "$BENCH_PG/$db" "$@"
}

# Creates database $1, owned by the bench role, unless it exists.
ensure_database() {
    if [ -z "$(bench_psql postgres -c "SELECT 1 FROM pg_database WHERE datname = '$1'")" ]; then
        bench_psql postgres -c "CREATE DATABASE $1"
    fi
}

# Resets table $2 of database $1 to the same 1,000 persons everywhere (person-0001..., age
# i % 90), then vacuums it. $3: the columns after name and age ("" or "created_at" or
# "created_at, updated_at"); each is set to now().
seed_persons() {
    local db=$1 table=$2 extra=${3:-} columns values
    columns="name, age${extra:+, $extra}"
    values="format('person-%s', lpad(i::text, 4, '0')), i % 90"
    if [ -n "$extra" ]; then values="$values$(sed -E 's/[a-z_]+/now()/g; s/^/, /' <<<"$extra")"; fi
    bench_psql "$db" -c "TRUNCATE $table RESTART IDENTITY" \
        -c "INSERT INTO $table ($columns) SELECT $values FROM generate_series(1, 1000) AS i" \
        -c "VACUUM ANALYZE $table"
    echo "$table in $db: $(bench_psql "$db" -c "SELECT count(*) || ' rows, sum(age) ' || sum(age) FROM $table")"
}

# The pid of the process listening on TCP port $1 of this machine.
listener_pid() {
    ss -Hltnp "sport = :$1" | sed -nE 's/.*pid=([0-9]+).*/\1/p' | head -1
}

# Waits up to 60 s until URL $1 answers 2xx.
wait_http() {
    local i
    for i in $(seq 1 600); do
        curl -sf -o /dev/null "$1" && return 0
        [ "$i" = 600 ] || sleep 0.1
    done
    return 1
}

# loco, built by bench/loco/build.sh in $LOCO_WORK: two apps from the same `loco new`, whose
# persons scaffold is public (`open`) or requires loco's JWT (`jwt`).
LOCO_WORK=$BENCH_WORK/loco
loco_app() { if [ "$1" = jwt ]; then echo loco_anchor_jwt; else echo loco_anchor; fi; }
loco_database() { if [ "$1" = jwt ]; then echo bench_loco_jwt; else echo bench_loco; fi; }
loco_binary() { echo "$LOCO_WORK/target/release/$(loco_app "$1")-cli"; }

# The environment loco's production config asks for, for variant $1, on port ${2:-5150}.
loco_environment() {
    local secret_file=$LOCO_WORK/jwt_secret
    mkdir -p "$LOCO_WORK"
    [ -s "$secret_file" ] || head -c 48 /dev/urandom | base64 -w0 >"$secret_file"
    DATABASE_URL="$BENCH_PG/$(loco_database "$1")"
    export DATABASE_URL REDIS_URL="$BENCH_REDIS/12" \
        JWT_SECRET HOST="http://127.0.0.1:${2:-5150}" PORT="${2:-5150}" BINDING=127.0.0.1 \
        DB_MAX_CONNECTIONS=10 MAILER_HOST=127.0.0.1 MAILER_PORT=2525 MAILER_USER=bench \
        MAILER_PASSWORD=bench
    JWT_SECRET=$(cat "$secret_file")
}

# The load: wrk with 2 threads and 32 connections, WARMUP seconds (3) unmeasured, then
# DURATION seconds (15) measured, per route.
DURATION=${DURATION:-15}
WARMUP=${WARMUP:-3}
API_TSV=$RESULTS/api.tsv
[ -f "$API_TSV" ] || printf 'stamp\tstack\tround\troute\trps\tp50_ms\tp99_ms\trequests\terrors\tserver_cpu_ms_per_req\tforeign_pct\tpss_mib\n' >"$API_TSV"

# Loads one route of a running server and appends a row to $API_TSV.
#   measure_route STACK ROUND ROUTE METHOD URL   (ROUTE: ping, get_one, page_20, post)
# SERVER_PIDS: the server's pids (its children are counted with it); BENCH_AUTH: an
# Authorization header value sent with every request, if set; STAMP: the sitting's id.
measure_route() {
    local stack=$1 round=$2 route=$3 method=$4 url=$5
    local raw=$RESULTS/raw/$STAMP-$stack-$round-$route lua
    lua=$raw.lua
    {
        echo "wrk.method = \"$method\""
        if [ "$method" = POST ]; then
            echo "wrk.body = '{\"name\": \"wrk-bench\", \"age\": 42}'"
            echo 'wrk.headers["Content-Type"] = "application/json"'
        fi
        if [ -n "${BENCH_AUTH:-}" ]; then echo "wrk.headers[\"Authorization\"] = \"$BENCH_AUTH\""; fi
        cat <<'LUA'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("WRK requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
    } >"$lua"
    wrk -t2 -c32 -d"${WARMUP}s" -s "$lua" "$url" >"$raw.warmup.txt" 2>&1
    local pg redis
    pg=$(listener_pid 5432); redis=$(listener_pid 6379)
    python3 "$BENCH_DIR/cpu.py" snap "$raw.cpu0.json"
    wrk -t2 -c32 -d"${DURATION}s" --latency -s "$lua" "$url" >"$raw.txt" 2>&1
    python3 "$BENCH_DIR/cpu.py" snap "$raw.cpu1.json"
    local line requests cpu
    line=$(grep '^WRK ' "$raw.txt") || die "wrk failed on $url: $(cat "$raw.txt")"
    requests=$(field requests "$line")
    # shellcheck disable=SC2086 # the pids are words
    cpu=$(python3 "$BENCH_DIR/cpu.py" diff "$raw.cpu0.json" "$raw.cpu1.json" "$requests" \
        --server $SERVER_PIDS $pg $redis --self $$)
    echo "$cpu" >>"$raw.txt"
    printf '%-10s %-6s %-8s %9s %8s %8s %7s %13s %8s\n' "$stack" "$round" "$route" \
        "$(field rps "$line")" "$(field p50_ms "$line")" "$(field p99_ms "$line")" \
        "$(field errors "$line")" "$(field server_ms_per_request "$cpu")" "$(field foreign_pct "$cpu")"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n' "$STAMP" "$stack" "$round" "$route" \
        "$(field rps "$line")" "$(field p50_ms "$line")" "$(field p99_ms "$line")" "$requests" \
        "$(field errors "$line")" "$(field server_ms_per_request "$cpu")" "$(field foreign_pct "$cpu")" \
        >>"$API_TSV"
}

# The header of measure_route's lines.
measure_header() {
    printf '%-10s %-6s %-8s %9s %8s %8s %7s %13s %8s\n' stack round route req/s p50_ms p99_ms \
        errors srv_cpu_ms/req foreign%
}

# Value of key $1 in a line of key=value words $2.
field() { sed -nE "s/(^|.* )$1=([^ ]+).*/\2/p" <<<"$2"; }

# Proportional set size of the server's processes (and their children), in MiB; appended as
# the stack's `memory` row.
record_memory() {
    local stack=$1 round=$2 pid kib=0 pids
    # shellcheck disable=SC2086
    pids=$(for pid in $SERVER_PIDS; do echo "$pid"; pgrep -P "$pid" || true; done | sort -u)
    for pid in $pids; do
        kib=$(( kib + $(awk '/^Pss:/ {print $2}' "/proc/$pid/smaps_rollup") ))
    done
    local mib
    mib=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
    echo "$stack round $round: PSS after load $mib MiB ($(wc -w <<<"$pids") processes)"
    printf '%s\t%s\t%s\tmemory\t\t\t\t\t\t\t\t%s\n' "$STAMP" "$stack" "$round" "$mib" >>"$API_TSV"
}

# Starts a server in the background (output to log file $1), waits until URL $2 answers,
# and sets SERVER_PIDS. The rest is the command; `stop_server` ends it (SIGTERM, then wait).
start_server() {
    local log=$1 ping=$2; shift 2
    "$@" >"$log" 2>&1 &
    SERVER_PIDS=$!
    if ! wait_http "$ping"; then
        stop_server
        die "the server did not answer $ping; its log ($log):$(echo; tail -20 "$log")"
    fi
}
stop_server() {
    local pid
    for pid in ${SERVER_PIDS:-}; do
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVER_PIDS=
}
