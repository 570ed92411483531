#!/bin/sh
# A private PostgreSQL for the tests: initdb + pg_ctl in DIR, listening only on a Unix
# socket in DIR (no TCP, no system service). Runs the server as the `postgres` user when
# called as root (PostgreSQL refuses to run as root).
#   tools/pgtest.sh start DIR    create (if needed) and start; prints the postgres:// URL
#   tools/pgtest.sh stop DIR     stop (fast shutdown)
#   tools/pgtest.sh url DIR      print the URL
#   tools/pgtest.sh destroy DIR  stop and remove DIR
set -eu
cmd=${1:?usage: pgtest.sh start|stop|url|destroy DIR}
dir=${2:?usage: pgtest.sh start|stop|url|destroy DIR}
port=${PGTEST_PORT:-5432}
# Tests run without fsync (speed); benchmarks set PGTEST_FSYNC=on so that a commit means
# what it means on a real server.
fsync=${PGTEST_FSYNC:-off}

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
    echo "pgtest.sh: PostgreSQL server binaries not found (install the Debian package postgresql)" >&2
    exit 2
fi

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

user() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }

case "$cmd" in
start)
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        as_owner "$bindir/initdb" -D "$dir/data" -U "$(user)" --auth=trust --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 \
            || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses='' -c unix_socket_directories='$dir' -p $port -c fsync=$fsync -c max_connections=100" start >/dev/null \
        || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://$(user)@/postgres?host=$dir"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null; fi
    ;;
url)
    echo "postgres://$(user)@/postgres?host=$dir"
    ;;
destroy)
    if [ -f "$dir/data/postmaster.pid" ]; then as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null || true; fi
    rm -rf "$dir"
    ;;
*)
    echo "pgtest.sh: unknown command $cmd" >&2
    exit 1
    ;;
esac
