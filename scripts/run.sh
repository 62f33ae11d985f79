#!/usr/bin/env bash
# Runs ocpp-server on the embedded defaults (SQLite ./ocpp_server.db, time series in ./data,
# http://localhost:8000). Extra arguments go to `ocpp-server serve`, e.g. --port 9000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/common.sh

ensure_swift
ensure_apt_packages liblz4-dev pkg-config python3

# --- Swagger UI for /docs: a pinned copy from PyPI, served by the server itself -----------
# flask-swagger-ui ships Swagger UI's files in its dist folder; only those are used, so its
# dependencies are not installed.
venv=.build/python-venv
if [ ! -x "$venv/bin/python" ]; then
    log "creating a Python virtual environment for Swagger UI's files in $venv"
    python3 -m venv "$venv" 2>/dev/null || { ensure_apt_packages python3-venv; python3 -m venv "$venv"; }
fi
if "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps 'flask-swagger-ui==5.34.0'; then
    SWAGGER_UI_DIR="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/flask_swagger_ui/dist"
    export SWAGGER_UI_DIR
else
    log "installing Swagger UI failed; /docs will say how to install it"
fi

log "building ocpp-server (release)"
swift build -c release --product ocpp-server
exec "$(swift build -c release --show-bin-path)/ocpp-server" serve "$@"
