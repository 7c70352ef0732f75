#!/bin/sh
# STAND-IN entrypoint (.ci/docker) after the official redis image's: options alone (or a
# .conf file) go to redis-server; the server runs as `redis` with protected mode off
# (the official image builds it so), logging to stdout.
set -eu

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi
if [ "$1" = redis-server ]; then
    shift
    if [ "$#" -gt 0 ] && [ "${1%.conf}" != "$1" ]; then
        conf=$1
        shift
        set -- redis-server "$conf" --protected-mode no "$@"
    else
        set -- redis-server --protected-mode no "$@"
    fi
    if [ "$(id -u)" = 0 ]; then
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi
exec "$@"
