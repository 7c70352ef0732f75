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
# APP_CONFIG_YAML, or base64-encoded in APP_CONFIG_YAML_B64 where a platform mangles
# multi-line values. The service reads them itself (no file is written), so the image's
# health check (`foo health`, run outside this script) sees the same configuration.
set -eu

bin=${APP_BIN:-foo}

usage() {
    echo "usage: entrypoint.sh api | worker | beat | main COMMAND [ARGS...]" >&2
}

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
