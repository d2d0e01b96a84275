# Shared by scripts/test and scripts/demo: install what is missing, run a throwaway PostgreSQL.
# Source it; it defines functions only.

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1; then sudo "$@"
    else echo "need root (or sudo) to run: $*" >&2; return 1
    fi
}

postgres_bin_dir() {
    local version
    version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1)
    [ -n "$version" ] && [ -x "/usr/lib/postgresql/$version/bin/initdb" ] && echo "/usr/lib/postgresql/$version/bin"
}

# Installs libpq-dev, pkg-config and the PostgreSQL server when any is missing.
# `ensure_packages --build-only` leaves out the server (scripts/release, the container's build stage).
ensure_packages() {
    local missing=()
    pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    [ "${1:-}" = --build-only ] || postgres_bin_dir >/dev/null || missing+=(postgresql)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q "${missing[@]}" >/dev/null
}

# free_tcp_port: a random port in 20000-39999 nothing on 127.0.0.1 listens on.
free_tcp_port() {
    local port
    for _ in $(seq 50); do
        port=$(( 20000 + RANDOM % 20000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
    done
    echo "no free TCP port found" >&2; return 1
}

# start_postgres DIR: initdb into DIR/pgdata, start on a private port and socket in DIR, export DATABASE_URL.
# PG_SETTINGS adds server settings (`-c shared_buffers=2GB`).
# With PG_LISTEN set (e.g. PG_LISTEN=127.0.0.1) it also listens on that address, on a free TCP port, and
# DATABASE_URL uses TCP (reachable from a chroot); by default it listens on the socket only.
# As root, the server runs as the postgres user (PostgreSQL refuses to run as root).
start_postgres() {
    local dir=$1 bin
    bin=$(postgres_bin_dir) || { echo "PostgreSQL server binaries not found under /usr/lib/postgresql" >&2; return 1; }
    rm -rf "$dir"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    local socket_dir=$dir
    # Unix socket paths are limited to 107 bytes; fall back to a short private folder for deep checkouts.
    if [ ${#socket_dir} -gt 80 ]; then socket_dir=$(mktemp -d /tmp/banksync-pg.XXXXXX); fi
    PG_RUN=()
    if [ "$(id -u)" -eq 0 ]; then
        chmod 1777 "$dir" "$socket_dir"
        if ! runuser -u postgres -- test -w "$dir"; then
            # The checkout is not reachable by the postgres user (e.g. under /root): keep data in /tmp.
            dir=$(mktemp -d /tmp/banksync-pgdata.XXXXXX); chmod 1777 "$dir"
        fi
        PG_RUN=(runuser -u postgres --)
    fi
    PG_DATA=$dir/pgdata
    PG_BIN=$bin
    PG_SOCKET_DIR=$socket_dir
    local listen=${PG_LISTEN:-}
    if [ -n "$listen" ]; then PG_PORT=${PG_PORT:-$(free_tcp_port)}; else PG_PORT=${PG_PORT:-$(( 20000 + RANDOM % 20000 ))}; fi
    "${PG_RUN[@]}" "$bin/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; return 1; }
    # 500 connections: the suite's parallel tests (each with its sync workers, serve pools and harnesses) peak near
    # 180, and 200 once ran out in CI ("too many clients already").
    "${PG_RUN[@]}" "$bin/pg_ctl" -D "$PG_DATA" -l "$dir/postgres.log" -w -t 30 \
        -o "-p $PG_PORT -k $socket_dir -c listen_addresses='$listen' -c fsync=off -c max_connections=500 ${PG_SETTINGS:-}" start >/dev/null \
        || { cat "$dir/postgres.log" >&2; return 1; }
    if [ -n "$listen" ]; then
        export DATABASE_URL="host=$listen port=$PG_PORT user=postgres dbname=postgres"
        log "PostgreSQL running ($listen:$PG_PORT, socket $socket_dir)"
    else
        export DATABASE_URL="host=$socket_dir port=$PG_PORT user=postgres dbname=postgres"
        log "PostgreSQL running (socket $socket_dir, port $PG_PORT)"
    fi
}

stop_postgres() {
    [ -n "${PG_DATA:-}" ] || return 0
    "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
    PG_DATA=
}
