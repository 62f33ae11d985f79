# Shared by scripts/run.sh and scripts/test.sh: installing what the build needs.
# shellcheck shell=bash

log() { printf '==> %s\n' "$*" >&2; }

# ensure_apt_packages PACKAGE...: installs the Debian packages that are missing, through
# apt-get when running as root; otherwise prints the command to run and fails.
ensure_apt_packages() {
    local missing=()
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing system packages: ${missing[*]}"
        log "install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}"
        return 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null 2>&1 || {
        apt-get update >/dev/null
        apt-get install -y --no-install-recommends "${missing[@]}" >/dev/null
    }
}

# ensure_swift: the Swift toolchain must be on PATH (it cannot be installed from here).
ensure_swift() {
    command -v swift >/dev/null 2>&1 || {
        log "swift is not on PATH; install Swift 6.2 or later (swift.org) and try again"
        return 1
    }
}

# free_port: prints a TCP port on 127.0.0.1 that was free a moment ago.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until_healthy URL LOG: returns once URL/health answers (30 s at most); otherwise prints
# the server's LOG and exits.
wait_until_healthy() {
    for _ in $(seq 1 300); do
        curl -sf "$1/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    log "the server did not start; its log:"
    cat "$2" >&2
    exit 1
}

# stop_process PID: SIGTERM, then wait for it to end.
stop_process() {
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# release_binaries: builds ocpp-server and ocpp-loadgen in release mode (not with SKIP_BUILD=1)
# and sets server_bin and loadgen_bin (SERVER_BIN and LOADGEN_BIN override them).
release_binaries() {
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        ensure_swift
        log "building ocpp-server and ocpp-loadgen (release)"
        swift build -c release --product ocpp-server >/dev/null
        (cd Benchmarks && swift build -c release --product ocpp-loadgen >/dev/null)
    fi
    server_bin=${SERVER_BIN:-"$(pwd)/.build/release/ocpp-server"}
    loadgen_bin=${LOADGEN_BIN:-"$(pwd)/Benchmarks/.build/release/ocpp-loadgen"}
    for binary in "$server_bin" "$loadgen_bin"; do
        [ -x "$binary" ] || {
            log "$binary is missing: build it (without SKIP_BUILD=1) or set SERVER_BIN / LOADGEN_BIN"
            exit 1
        }
    done
}
