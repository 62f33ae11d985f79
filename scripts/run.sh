#!/usr/bin/env bash
# Runs ocpp-server on the embedded defaults (SQLite ./ocpp_server.db, time series in ./data,
# http://localhost:8000). Extra arguments go to `ocpp-server serve`, e.g. --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

ensure_swift
ensure_apt_packages liblz4-dev pkg-config
log "building ocpp-server (release)"
swift build -c release --product ocpp-server
exec "$(swift build -c release --show-bin-path)/ocpp-server" serve "$@"
