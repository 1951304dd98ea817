#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, skipping apt when all are present.
# HAProxy, Prometheus and systemd's socket activation are real peers the tests start.
# Usage: scripts/setup.sh [bench|docs]   ("bench" adds the peer servers and tools for bench/,
# "docs" the tools that draw docs/diagrams/: Graphviz and gnuplot).
set -euo pipefail
pkgs=(cmake make g++ clang pkg-config libssl-dev openssl libgtest-dev libgmock-dev libbenchmark-dev
  libcli11-dev curl wrk python3 procps haproxy prometheus systemd)
if [[ "${1:-}" == bench ]]; then
  pkgs+=(libev-dev libuv1-dev libevent-dev libasio-dev nginx-light h2o gnuplot-nox python3-uvloop valgrind util-linux linux-perf)
fi
if [[ "${1:-}" == docs ]]; then
  pkgs+=(graphviz gnuplot-nox)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0
echo "setup: installing ${missing[*]}" >&2
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
