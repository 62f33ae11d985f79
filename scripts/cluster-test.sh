#!/usr/bin/env bash
# The cluster end to end: a throwaway PostgreSQL, three ocpp-server nodes on loopback and
# nginx in front (scripts/lib/cluster.sh, as scripts/cluster.sh runs them, with a 5 s lease),
# driven by scripts/lib/cluster_e2e.py: chargers through the balancer, a command through each
# node, kill -9 of a node mid-ingest, its chargers booted elsewhere, its lease lapsing, its
# restart, and every acknowledged value read back. On a failure: the driver's message, then
# the end of every node's log, nginx's and PostgreSQL's, and a non-zero exit.
# scripts/test.sh runs it after the Swift tests; alone: scripts/cluster-test.sh
# [SERVER_BINARY_DIR] (default: the debug build, built first). Extra arguments after the
# directory go to the driver (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh
source scripts/lib/cluster.sh

started=$(date +%s)
ensure_apt_packages nginx postgresql curl python3
venv=${OCPP_TEST_VENV:-/tmp/ocpp-server-test-venv}
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv; python3 -m venv "$venv"; }
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'ocpp==2.1.0' 'websockets>=13'

bin_dir=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$bin_dir" ]; then
    ensure_swift
    swift build --product ocpp-server >/dev/null
    bin_dir="$(swift build --show-bin-path)"
fi

dir=$(mktemp -d /tmp/ocpp-test-cluster.XXXXXX)
# Five distinct free ports: the balancer, three nodes, PostgreSQL.
ports=()
while [ ${#ports[@]} -lt 5 ]; do
    port=$(free_port)
    case " ${ports[*]} " in *" $port "*) ;; *) ports+=("$port") ;; esac
done
trap 'cluster_stop "$dir"' EXIT

cluster_prepare "$dir"
cluster_start_postgres "$dir" "${ports[4]}"
cluster_write_env "$dir" "$bin_dir/ocpp-server" "$cluster_database_url" 5 "${ports[1]}" "${ports[2]}" "${ports[3]}"
cluster_create_admin_token "$dir"
export LOG_LEVEL=info
for index in 1 2 3; do cluster_start_node "$dir" "$index"; done
for index in 1 2 3; do
    cluster_wait_ready "$(cluster_node_url "$dir" "$index")" "$dir/node-$index/server.log" ||
        { cluster_logs_tail "$dir"; exit 1; }
done
cluster_write_nginx_conf "$dir" "${ports[0]}" 2
cluster_start_nginx "$dir"
cluster_wait_balancer "http://127.0.0.1:${ports[0]}" || { cluster_logs_tail "$dir"; exit 1; }
log "the cluster is up in $(($(date +%s) - started)) s: balancer 127.0.0.1:${ports[0]}, nodes ${ports[*]:1:3}"

if ! "$venv/bin/python" scripts/lib/cluster_e2e.py --dir "$dir" --balancer "http://127.0.0.1:${ports[0]}" "$@"; then
    cluster_logs_tail "$dir" 40
    log "the cluster end-to-end test failed (run directory kept: $dir)"
    exit 1
fi
# The shared secret is written in no log (the nodes', nginx's, PostgreSQL's).
if grep -rlF "$(cat "$dir/cluster-secret")" "$dir"/node-*/server.log "$dir/nginx" "$dir/postgres/postgres.log"; then
    log "the cluster secret appears in the logs above (run directory kept: $dir)"
    exit 1
fi
cluster_stop "$dir"
trap - EXIT
rm -rf "$dir"
log "cluster end-to-end test done in $(($(date +%s) - started)) s"
