#!/usr/bin/env bash
# Once, as root, on Debian or Ubuntu: what the benchmarks of bench/ need. PostgreSQL and
# Redis on 127.0.0.1 (installed and started when missing), wrk, a `bench` role (password
# `bench`, may create databases) and the original's database `bench_original` with its
# 1,000 persons, and the original stack's virtualenv in the work folder ($BENCH_WORK).
# Safe to run again.
#
#   bench/original/setup.sh
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source-path=SCRIPTDIR
. ../lib.sh

[ "$(id -u)" = 0 ] || die "run as root: it installs packages and creates a PostgreSQL role"
need=()
command -v pg_lsclusters >/dev/null || need+=(postgresql)
command -v psql >/dev/null || need+=(postgresql-client)
command -v pgbench >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
python3 -c 'import ensurepip' 2>/dev/null || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    read -r version cluster _ < <(pg_lsclusters -h | head -n 1)
    pg_ctlcluster "$version" "$cluster" start
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
    for _ in $(seq 1 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 1; done
fi

# The role, by the cluster's superuser over its local socket (peer authentication).
as_postgres() { (cd / && su postgres -c "psql -X -q -At -c \"$1\""); }
if [ -z "$(as_postgres "SELECT 1 FROM pg_roles WHERE rolname = 'bench'")" ]; then
    as_postgres "CREATE ROLE bench LOGIN CREATEDB PASSWORD 'bench'"
fi
ensure_database bench_original

if [ ! -x "$VENV/bin/gunicorn" ] || ! cmp -s requirements.txt "$VENV/requirements.txt"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt
    cp requirements.txt "$VENV/requirements.txt"
fi
DATABASE_URL="postgresql+psycopg2://${BENCH_PG#postgres://}/bench_original" "$VENV/bin/python" schema.py
seed_persons bench_original persons created_at
echo "ready: work folder $BENCH_WORK"
