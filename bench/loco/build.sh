#!/usr/bin/env bash
# Builds loco (loco-rs 1.2) the way its guide starts an API, in the work folder
# ($BENCH_WORK/loco; nothing of loco's goes into this repository):
#
#   cargo install loco --locked; cargo install sea-orm-cli --version 2.0.4 --locked
#   loco new --name loco_anchor --db postgres --bg queue-redis --assets none
#   cargo loco generate scaffold person name:string age:int --no-auth
#
# and a second app, loco_anchor_jwt, the same but scaffolded without `--no-auth`: its
# routes then take loco's `auth::JWT` extractor and answer 401 without a bearer token, which
# a registered user gets by logging in (`POST /api/auth/login`, see bench/compare.sh). Both
# are built in release mode and migrated on their databases (bench_loco, bench_loco_jwt);
# they serve with `start -e production` and a pool of 10 (loco's production default).
#
#   bench/original/setup.sh          # once, as root: PostgreSQL, Redis, the bench role
#   nice -n 19 bench/loco/build.sh   # about an hour on 2 busy cores; later runs reuse it
#
# Needs cargo (Rust 1.94 or later) and the crate registry. Safe to run again: what is
# built is kept; a scaffold that failed half way is started again.
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source-path=SCRIPTDIR
. ../lib.sh

started=$(date +%s)
tools=$LOCO_WORK/tools
mkdir -p "$tools"
export PATH="$tools/bin:$PATH"
# Tools and apps each keep one target folder, so that a second run compiles nothing again.
CARGO_TARGET_DIR=$LOCO_WORK/tools-target cargo install --quiet --locked --root "$tools" loco
CARGO_TARGET_DIR=$LOCO_WORK/tools-target cargo install --quiet --locked --root "$tools" \
    sea-orm-cli --version 2.0.4
export CARGO_TARGET_DIR=$LOCO_WORK/target
echo "loco $(loco --version | awk '{print $2}'), sea-orm-cli $(sea-orm-cli --version | awk '{print $2}')"

for variant in open jwt; do
    app=$(loco_app "$variant")
    ensure_database "$(loco_database "$variant")"
    loco_environment "$variant"
    if [ ! -f "$LOCO_WORK/$app/.scaffolded" ]; then
        rm -rf "${LOCO_WORK:?}/$app"
        (cd "$LOCO_WORK" && loco new --name "$app" --db postgres --bg queue-redis --assets none \
            --allow-in-git-repo)
        auth=(--no-auth)
        if [ "$variant" = jwt ]; then auth=(); fi
        # Generating runs the app (development config) to migrate and to write the entities;
        # its 500 ms to connect is too short on a busy machine.
        (cd "$LOCO_WORK/$app" && DB_CONNECT_TIMEOUT=30000 \
            cargo loco generate scaffold person name:string age:int "${auth[@]}")
        touch "$LOCO_WORK/$app/.scaffolded"
    fi
    (cd "$LOCO_WORK/$app" && cargo build --release --quiet)
    # Production migrates on start (auto_migrate); do it once now, so that the tables exist.
    (cd "$LOCO_WORK/$app" && DB_CONNECT_TIMEOUT=30000 "$(loco_binary "$variant")" db migrate -e production >/dev/null)
    echo "$app: $(loco_binary "$variant")"
done
echo "built in $(( ($(date +%s) - started) / 60 )) min"
