# Sourced by the benchmark scripts: a database of their own on the PostgreSQL server that
# BENCH_DATABASE_URL names.
#
#   scratch_database NAME    creates it; sets database_url (its URL, with the query string
#                            of BENCH_DATABASE_URL) and admin_url (BENCH_DATABASE_URL
#                            without it, where it is created and dropped)
#   drop_scratch_database    drops it (from the script's EXIT trap)
scratch_database() {
    scratch_name=$1
    database_url="${BENCH_DATABASE_URL%/*}/$scratch_name"
    case "$BENCH_DATABASE_URL" in
        *\?*) database_url="$database_url?${BENCH_DATABASE_URL#*\?}" ;;
    esac
    admin_url="${BENCH_DATABASE_URL%%\?*}"
    psql -q "$admin_url" -c "CREATE DATABASE $scratch_name"
}

drop_scratch_database() {
    psql -q "$admin_url" -c "DROP DATABASE IF EXISTS $scratch_name WITH (FORCE)" || true
}
