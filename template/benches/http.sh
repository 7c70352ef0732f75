#!/usr/bin/env bash
# HTTP benchmark of the API with wrk (2 threads, 32 connections), as in the starter's
# targets: ping, GET one person, a page of 20, POST; requests/s, p99 latency, the API's
# peak memory, and the time from start to the first answer. Calls send an API key made for
# the run (reused, as real clients do); AUTH=off runs the service open instead, to compare.
#
#   BENCH_DATABASE_URL=postgres://postgres:postgres@127.0.0.1:5432/postgres benches/http.sh
#
# Needs wrk (Debian: apt-get install wrk) and a PostgreSQL; builds in release mode; a
# database of its own is created and dropped. DURATION (seconds, default 10) per route;
# POOL, the service's database connections (default: the service's own default). The
# service runs with its defaults otherwise (on loopback it connects without TLS unless the
# URL asks for it).
set -euo pipefail
cd "$(dirname "$0")/.."

: "${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a PostgreSQL server URL}"
duration=${DURATION:-10}
port=${PORT:-18080}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql is needed (apt-get install postgresql-client)" >&2; exit 1; }

# shellcheck source-path=SCRIPTDIR/..
. benches/scratch_database.sh
scratch_database "bench_$$"
work=$(mktemp -d)
cleanup() {
    [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    drop_scratch_database
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --quiet --bin foo
binary="${CARGO_TARGET_DIR:-target}/release/foo"
export APP_ENV=prod APP__DATABASE__URL="$database_url" APP__TASKS__EAGER=true \
    APP__SERVER__HOST=127.0.0.1 APP__SERVER__PORT="$port"
if [ -n "${POOL:-}" ]; then export APP__DATABASE__MAX_CONNECTIONS="$POOL"; fi
"$binary" db upgrade >/dev/null
if [ "${AUTH:-on}" = off ]; then
    export APP__AUTH__ENABLED=false APP__AUTH__ALLOW_OPEN_IN_PROD=true
    auth=()
else
    key=$("$binary" keys create --name "bench-$$" --scope persons:read --scope persons:write 2>/dev/null)
    auth=(-H "Authorization: Bearer $key")
fi

# Ready: from the start of the process to its first answer.
started=$(date +%s%N)
"$binary" serve >"$work/serve.log" 2>&1 &
pid=$!
until curl -sf "http://127.0.0.1:$port/mon/ping" >/dev/null; do sleep 0.001; done
ready_ms=$(( ($(date +%s%N) - started) / 1000000 ))

base="http://127.0.0.1:$port"
for _ in $(seq 1 200); do
    curl -sf -X POST "$base/v1/persons" -H 'content-type: application/json' "${auth[@]}" \
        -d '{"name": "Ada Lovelace", "age": 36}' >/dev/null
done
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"name": "Grace Hopper", "age": 85}'
wrk.headers["Content-Type"] = "application/json"
LUA

echo "wrk -t2 -c32 -d${duration}s; pool ${POOL:-default}; prod config (logs at info); auth ${AUTH:-on}"
printf '%-22s %12s %10s\n' route "requests/s" "p99"
run() {
    local label=$1; shift
    local out
    out=$(wrk -t2 -c32 -d"${duration}s" --latency "${auth[@]}" "$@")
    local rps p99
    rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$label: some answers were not 2xx:" >&2
        echo "$out" >&2
        exit 1
    fi
    printf '%-22s %12s %10s\n' "$label" "$rps" "$p99"
}
run "GET /mon/ping" "$base/mon/ping"
run "GET /v1/persons/{id}" "$base/v1/persons/100"
run "GET /v1/persons (20)" "$base/v1/persons?page=2&per_page=20"
run "POST /v1/persons" -s "$work/post.lua" "$base/v1/persons"

peak_kib=$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")
echo "ready in ${ready_ms} ms; peak memory (VmHWM) $(( peak_kib / 1024 )) MiB"
