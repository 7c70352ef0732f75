#!/bin/sh
# The container's entrypoint: one image, several roles.
#
#   api                 serve the HTTP API (runs `db upgrade` first if MIGRATE_ON_START=true)
#   worker              run background tasks from Redis
#   beat                fire the cron schedules (run one or more)
#   main COMMAND ...    any command of the service: `main db upgrade`, `main config` ...
#
# Configuration comes from the environment: APP_ENV (prod by default in the image),
# APP__SECTION__KEY variables, a file named by APP_CONFIG, or a whole YAML document in
# APP_CONFIG_YAML, which the service reads itself (no file is written). Where a platform
# mangles multi-line values, give the document base64-encoded in APP_CONFIG_YAML_B64.
set -eu

bin=${APP_BIN:-foo}

usage() {
    echo "usage: entrypoint.sh api | worker | beat | main COMMAND [ARGS...]" >&2
}

if [ -n "${APP_CONFIG_YAML_B64:-}" ]; then
    if ! APP_CONFIG_YAML=$(printf '%s' "$APP_CONFIG_YAML_B64" | base64 -d 2>/dev/null); then
        echo "entrypoint: APP_CONFIG_YAML_B64 is not valid base64" >&2
        exit 64
    fi
    export APP_CONFIG_YAML
    unset APP_CONFIG_YAML_B64
fi

role=${1:-api}
if [ "$#" -gt 0 ]; then
    shift
fi

case "$role" in
    api)
        if [ "${MIGRATE_ON_START:-false}" = "true" ]; then
            "$bin" db upgrade
        fi
        exec "$bin" serve "$@"
        ;;
    worker | beat)
        exec "$bin" "$role" "$@"
        ;;
    main)
        if [ "$#" -eq 0 ]; then
            echo "entrypoint: main needs a command, e.g. main db upgrade" >&2
            usage
            exit 64
        fi
        exec "$bin" "$@"
        ;;
    -h | --help | help)
        usage
        exit 0
        ;;
    *)
        echo "entrypoint: unknown role \"$role\"" >&2
        usage
        exit 64
        ;;
esac
