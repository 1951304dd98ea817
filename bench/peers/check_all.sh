#!/usr/bin/env bash
# Builds every peer into OUT (default: a temp dir) and runs check_peer.py on
# each over 127.0.0.1. Usage: bench/peers/check_all.sh [OUT]
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ $# -ge 1 ]]; then
  out=$1
else
  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
fi
make -s -C "$here" OUT="$out" || exit 1
py=/usr/bin/python3
peers=(
  "echo $out/echo_epoll" "echo $out/echo_libevent" "echo $out/echo_libev"
  "echo $out/echo_libuv" "echo $out/echo_asio"
  "echo $py $here/echo_selectors.py" "echo $py $here/echo_asyncio.py"
  "echo $py $here/echo_uvloop.py"
  "http $out/http_epoll" "http $out/http_evhttp"
  "http $here/run_nginx.sh" "http $here/run_h2o.sh"
)
passed=0 failed=0
for p in "${peers[@]}"; do
  # shellcheck disable=SC2086 # each entry is "kind command [args]"
  if timeout 120 "$py" "$here/check_peer.py" $p; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: $p" >&2
  fi
done
echo "$passed passed, $failed failed"
((failed == 0))
