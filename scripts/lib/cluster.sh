# The pieces of a cluster on one machine, shared by scripts/cluster.sh and
# scripts/cluster-test.sh: a throwaway PostgreSQL, nodes of ocpp-server on loopback, and nginx
# in front of them as the WebSocket-aware load balancer. Source scripts/lib/common.sh first.
#
# Everything lives in one run directory, so any process (a test that kills and restarts a
# node, say) finds what it needs there:
#   cluster.env      what a node needs to start (binary, database URL, lease, ports), read by
#                    scripts/lib/cluster-node.sh
#   cluster-secret   the CLUSTER_SECRET the nodes share, random, mode 0600, never printed
#   admin-token      an admin API token, mode 0600
#   postgres/        the database cluster (the postgres user's when run as root), postgres.log
#   node-N/          node N's data/ (its DATA_DIR), server.log and pid
#   nginx/           nginx.conf, error.log, access.log, nginx.pid and temp/
# shellcheck shell=bash
# shellcheck disable=SC2154 # cluster_* variables come from the sourced DIR/cluster.env

# cluster_prepare DIR: the run directory (created if missing; readable by the postgres and
# nginx worker users, which run from inside it) and a new random shared secret.
cluster_prepare() {
    local dir=$1
    mkdir -p "$dir"
    chmod 755 "$dir"
    (
        umask 077
        # 64 hex digits: 32 random bytes.
        od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$dir/cluster-secret"
    )
}

# cluster_start_postgres DIR PORT: initdb and start a PostgreSQL on 127.0.0.1:PORT in
# DIR/postgres (trust authentication on loopback, fsync off: it is thrown away), with a
# database `ocpp`; sets cluster_database_url.
cluster_start_postgres() {
    local dir=$1 port=$2 candidate pg_bin=""
    for candidate in /usr/lib/postgresql/*/bin; do
        [ -x "$candidate/initdb" ] && pg_bin="$candidate"
    done
    [ -n "$pg_bin" ] || { log "PostgreSQL's initdb was not found under /usr/lib/postgresql"; return 1; }
    local root="$dir/postgres"
    mkdir -p "$root"
    local as_postgres=()
    if [ "$(id -u)" -eq 0 ]; then
        # PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
        chown postgres:postgres "$root"
        as_postgres=(runuser -u postgres --)
    fi
    printf '%s\n' "$pg_bin" >"$root/bin"
    log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
    "${as_postgres[@]}" "$pg_bin/initdb" -D "$root/data" -U postgres -A trust -E UTF8 --no-locale >/dev/null
    "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$root/data" -l "$root/postgres.log" -w -t 60 start \
        -o "-p $port -k $root -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" >/dev/null
    "${as_postgres[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U postgres ocpp
    cluster_database_url="postgres://postgres@127.0.0.1:$port/ocpp?sslmode=disable"
}

# cluster_write_env DIR SERVER_BIN DATABASE_URL LEASE_SECONDS NODE_PORT...: DIR/cluster.env,
# which scripts/lib/cluster-node.sh reads; node N (from 1) listens on the Nth port.
cluster_write_env() {
    local dir=$1 server_bin=$2 database_url=$3 lease=$4
    shift 4
    local index=1 port
    {
        printf 'cluster_server_bin=%q\n' "$server_bin"
        printf 'cluster_database_url=%q\n' "$database_url"
        printf 'cluster_lease_seconds=%q\n' "$lease"
        printf 'cluster_node_count=%q\n' "$#"
        for port in "$@"; do
            printf 'cluster_node_port_%d=%q\n' "$index" "$port"
            index=$((index + 1))
        done
    } >"$dir/cluster.env"
}

# cluster_create_admin_token DIR: an admin API token in DIR/admin-token (0600), made with
# `ocpp-server token create` against the cluster's database (which it migrates).
cluster_create_admin_token() {
    local dir=$1 token
    # shellcheck source=/dev/null
    source "$dir/cluster.env"
    token=$(DATABASE_URL="$cluster_database_url" "$cluster_server_bin" token create --role admin \
        --name cluster-admin 2>"$dir/token-create.log" | tail -1)
    [ -n "$token" ] || {
        log "ocpp-server token create printed no token:"
        cat "$dir/token-create.log" >&2
        return 1
    }
    (
        umask 077
        printf '%s\n' "$token" >"$dir/admin-token"
    )
}

# cluster_start_node DIR N: node N in the background (scripts/lib/cluster-node.sh, which
# writes DIR/node-N/pid and appends to DIR/node-N/server.log).
cluster_start_node() {
    local dir=$1 index=$2
    mkdir -p "$dir/node-$index"
    "$(dirname "${BASH_SOURCE[0]}")/cluster-node.sh" "$dir" "$index" &
    # Out of the job table: a node killed on purpose is not reported as a job that died.
    disown
}

# cluster_node_url DIR N: where node N answers.
cluster_node_url() {
    local dir=$1 index=$2 port_variable
    # shellcheck source=/dev/null
    source "$dir/cluster.env"
    port_variable="cluster_node_port_$index"
    printf 'http://127.0.0.1:%s\n' "${!port_variable}"
}

# cluster_wait_ready URL LOG [SECONDS]: returns once URL/ready answers 200 (its database
# answers, its schema is current); otherwise prints the end of LOG and fails.
cluster_wait_ready() {
    local url=$1 logfile=$2 seconds=${3:-60} _
    for _ in $(seq 1 $((seconds * 10))); do
        curl -sf "$url/ready" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "$url did not become ready in $seconds s; the end of $logfile:"
    tail -40 "$logfile" >&2 || true
    return 1
}

# cluster_require_number WHAT VALUE: fails, saying so, unless VALUE is a whole number.
cluster_require_number() {
    case "$2" in '' | *[!0-9]*)
        log "$1 must be a number, not '$2'"
        return 1
        ;;
    esac
}

# cluster_write_nginx_conf DIR LISTEN_PORT WORKERS [WORKER_CONNECTIONS [REUSEPORT [SOURCES]]]:
# DIR/nginx/nginx.conf, a balancer on 127.0.0.1:LISTEN_PORT over every node of
# DIR/cluster.env. WebSocket upgrades pass through (HTTP/1.1, Upgrade and Connection),
# long-lived WebSockets and Server-Sent Events are neither timed out nor buffered, and a node
# that refuses connections is skipped for 5 s. WORKER_CONNECTIONS (8192) is each worker's
# limit; a proxied charger takes two (its own and the one to its node), so more than the
# default also raises the workers' open-file limit to it plus 100 (worker_rlimit_nofile, at
# most the hard limit). REUSEPORT=1 gives each worker its own listening socket, so the kernel
# spreads new connections evenly over them (for tens of thousands of chargers over several
# workers). SOURCES=N (0: none) makes nginx connect to the nodes from 127.0.1.1 to 127.0.1.N,
# chosen per client (proxy_bind): from one address, the kernel runs out of ephemeral ports
# towards a node at about 14,600 connections here (connect() fails with EADDRNOTAVAIL).
cluster_write_nginx_conf() {
    local dir=$1 listen_port=$2 workers=$3 worker_connections=${4:-8192} reuseport=${5:-0} sources=${6:-0}
    local index port_variable
    cluster_require_number "nginx worker connections" "$worker_connections" || return 1
    local rlimit_line="" listen_options=""
    if [ "$worker_connections" -gt 8192 ]; then
        local files=$((worker_connections + 100)) hard
        hard=$(ulimit -Hn)
        [ "$hard" != unlimited ] && [ "$files" -gt "$hard" ] && files=$hard
        rlimit_line="worker_rlimit_nofile $files;"
    fi
    [ "$reuseport" = 1 ] && listen_options=" reuseport"
    cluster_require_number "nginx source addresses" "$sources" || return 1
    local sources_block="" bind_line=""
    if [ "$sources" -gt 0 ]; then
        local source share
        # split_clients takes percentages; the last address takes what the others leave.
        share=$(awk -v n="$sources" 'BEGIN { printf "%.2f", 100 / n }')
        sources_block="    split_clients \"\$remote_addr:\$remote_port\" \$ocpp_upstream_source {"$'\n'
        for source in $(seq 1 $((sources - 1))); do
            sources_block+="        $share% 127.0.1.$source;"$'\n'
        done
        sources_block+="        * 127.0.1.$sources;"$'\n'"    }"$'\n'
        bind_line="            proxy_bind \$ocpp_upstream_source;"
    fi
    # shellcheck source=/dev/null
    source "$dir/cluster.env"
    local root="$dir/nginx"
    mkdir -p "$root/temp"
    local user_line=""
    # Workers drop root: the master (root) opens the logs, the workers only need temp/.
    [ "$(id -u)" -eq 0 ] && id www-data >/dev/null 2>&1 && user_line="user www-data;"
    local servers=""
    for index in $(seq 1 "$cluster_node_count"); do
        port_variable="cluster_node_port_$index"
        servers+="        server 127.0.0.1:${!port_variable} max_fails=1 fail_timeout=5s;"$'\n'
    done
    cat >"$root/nginx.conf" <<EOF
# Generated by scripts/lib/cluster.sh: a balancer in front of the cluster's nodes.
$user_line
worker_processes $workers;
$rlimit_line
daemon off;
pid $root/nginx.pid;
error_log $root/error.log warn;

events {
    worker_connections $worker_connections;
}

http {
    access_log $root/access.log;
    client_body_temp_path $root/temp/client_body;
    proxy_temp_path $root/temp/proxy;
    fastcgi_temp_path $root/temp/fastcgi;
    uwsgi_temp_path $root/temp/uwsgi;
    scgi_temp_path $root/temp/scgi;

    # A WebSocket upgrade goes on as one; any other request closes its upstream connection.
    # No upstream keepalive: a node upgrades only the first request of a connection, so an
    # upgrade must never travel on a connection an earlier request used.
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        '' close;
    }
$sources_block
    upstream ocpp_nodes {
        # Shared by the workers, so round robin and failed nodes are the same for all.
        zone ocpp_nodes 64k;
$servers    }

    server {
        listen 127.0.0.1:$listen_port$listen_options;

        # The nodes' internal API is for the nodes, on their own addresses, never through here.
        location /cluster/ {
            return 404;
        }

        location / {
            proxy_pass http://ocpp_nodes;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_connect_timeout 2s;
            # A charger's WebSocket and a live stream stay open for hours: the server pings
            # chargers and sends streams a comment every 15 s, well within this.
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_buffering off;
            proxy_request_buffering off;
$bind_line
        }
    }
}
EOF
}

# cluster_start_nginx DIR: checks DIR/nginx/nginx.conf and runs nginx (master in the
# foreground of a background job) with it; its pid goes to DIR/nginx/nginx.pid.
cluster_start_nginx() {
    local dir=$1 root="$1/nginx"
    nginx -t -q -p "$root" -e "$root/error.log" -c "$root/nginx.conf" || {
        log "nginx refused $root/nginx.conf"
        return 1
    }
    nginx -p "$root" -e "$root/error.log" -c "$root/nginx.conf" &
}

# cluster_wait_balancer URL [SECONDS]: returns once URL/health answers through the balancer.
cluster_wait_balancer() {
    local url=$1 seconds=${2:-30} _
    for _ in $(seq 1 $((seconds * 10))); do
        curl -sf "$url/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "the balancer at $url did not answer in $seconds s"
    return 1
}

# cluster_stop_pid PID: SIGTERM, up to 10 s for it to end, then SIGKILL. The pid need not be
# a child of this shell (a test may have restarted the node).
cluster_stop_pid() {
    local pid=$1 _
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        # Gone, or a zombie waiting for its parent: either way it has stopped.
        [ -e "/proc/$pid" ] || break
        grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# cluster_stop DIR: stops nginx, every node and PostgreSQL of DIR (whatever is still running).
cluster_stop() {
    local dir=$1 pidfile pid
    # nginx removes its pid file as it exits (on a Ctrl-C, which reaches it too): read it once.
    if pid=$(cat "$dir/nginx/nginx.pid" 2>/dev/null) && [ -n "$pid" ]; then
        cluster_stop_pid "$pid"
    fi
    for pidfile in "$dir"/node-*/pid; do
        [ -s "$pidfile" ] && cluster_stop_pid "$(cat "$pidfile")"
    done
    if [ -s "$dir/postgres/bin" ] && [ -d "$dir/postgres/data" ]; then
        local as_postgres=()
        [ "$(id -u)" -eq 0 ] && as_postgres=(runuser -u postgres --)
        "${as_postgres[@]}" "$(cat "$dir/postgres/bin")/pg_ctl" -D "$dir/postgres/data" -m immediate stop \
            >/dev/null 2>&1 || true
    fi
}

# cluster_logs_tail DIR [LINES]: the end of every node's log, nginx's error log and
# PostgreSQL's log, for a failure report.
cluster_logs_tail() {
    local dir=$1 lines=${2:-30} file
    for file in "$dir"/node-*/server.log "$dir/nginx/error.log" "$dir/postgres/postgres.log"; do
        [ -f "$file" ] || continue
        printf '\n--- the last %d lines of %s ---\n' "$lines" "$file" >&2
        tail -n "$lines" "$file" >&2
    done
}
