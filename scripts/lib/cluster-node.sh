#!/usr/bin/env bash
# Runs node N of the cluster in run directory DIR (scripts/lib/cluster.sh) in place of this
# shell: `scripts/lib/cluster-node.sh DIR N`. The node listens on 127.0.0.1 at its port from
# DIR/cluster.env, is node-N at http://127.0.0.1:PORT, keeps its time series in
# DIR/node-N/data and appends its output to DIR/node-N/server.log; its pid (this shell's,
# kept by exec) goes to DIR/node-N/pid. Run again with the same N, it is the same node
# restarted on the same data. Other server settings (LOG_LEVEL, OCPP_*, ...) come from the
# environment.
# shellcheck disable=SC2154 # cluster_* variables come from the sourced DIR/cluster.env
set -euo pipefail
dir=$1
index=$2
# shellcheck source=/dev/null
source "$dir/cluster.env"
port_variable="cluster_node_port_$index"
port=${!port_variable:?"node $index is not in $dir/cluster.env"}
mkdir -p "$dir/node-$index/data"
exec >>"$dir/node-$index/server.log" 2>&1
export HOST=127.0.0.1 PORT="$port" NODE_ID="node-$index" NODE_URL="http://127.0.0.1:$port"
export DATA_DIR="$dir/node-$index/data" DATABASE_URL="$cluster_database_url"
export CLUSTER_LEASE_SECONDS="$cluster_lease_seconds"
CLUSTER_SECRET=$(cat "$dir/cluster-secret")
export CLUSTER_SECRET
echo $$ >"$dir/node-$index/pid"
exec "$cluster_server_bin" serve
