# shellcheck shell=bash
# Sourced by run_nginx.sh, run_nginx_tls.sh and run_h2o.sh: the peer contract for a server
# that runs from a config file. Provides parse_args, render and serve.

set -euo pipefail
# shellcheck disable=SC2034 # used by the scripts that source this
PEERS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
HOST=127.0.0.1
PORT=0
CERT=
KEY=

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --port) PORT=$2; shift 2 ;;
      --host) HOST=$2; shift 2 ;;
      --tls-cert) CERT=$(realpath "$2"); shift 2 ;;
      --tls-key) KEY=$(realpath "$2"); shift 2 ;;
      *) echo "usage: $0 [--port P] [--host H] [--tls-cert FILE --tls-key FILE]" >&2; exit 2 ;;
    esac
  done
  if [[ "$PORT" == 0 ]]; then # the kernel picks; freed again just before the server binds it
    PORT=$(/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])' "$HOST")
  fi
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/peer.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  if [[ "$HOST" == *:* ]]; then ADDR="[$HOST]:$PORT"; else ADDR="$HOST:$PORT"; fi
}

# render TEMPLATE OUT: fills @DIR@ @HOST@ @PORT@ @ADDR@ @CERT@ @KEY@.
render() {
  sed -e "s|@DIR@|$WORK|g" -e "s|@HOST@|$HOST|g" -e "s|@PORT@|$PORT|g" -e "s|@ADDR@|$ADDR|g" \
    -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" "$1" >"$2"
}

# serve CMD...: runs the server in the background (its stdout to our stderr,
# so ours carries only the listening line), announces once the port accepts,
# and exits with the server's status. SIGTERM/SIGINT are forwarded as SIGTERM.
# A server still running STOP_GRACE seconds later (h2o's graceful stop waits
# for idle keep-alive clients) is killed: it holds nothing worth saving, and
# SIGINT would not do, since bash starts background commands ignoring it.
STOP_GRACE=2
CHILD=
TIMER=
STOPPING=0

stop_child() {
  ((STOPPING)) && return
  STOPPING=1
  kill -TERM "$CHILD" 2>/dev/null || true
  ( # the timer; killed early, it takes its sleep along and leaves no orphan
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    sleep "$STOP_GRACE" &
    nap=$!
    wait "$nap"
    kill -KILL "$CHILD" 2>/dev/null
  ) </dev/null >/dev/null 2>&1 &
  TIMER=$!
}

serve() {
  "$@" >&2 &
  CHILD=$!
  trap stop_child TERM INT
  local tries=0 rc=0
  until timeout 1 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; do
    if ! kill -0 "$CHILD" 2>/dev/null; then
      echo "$1 exited before listening on $ADDR" >&2
      exit 1
    fi
    if ((++tries >= 200)); then # 200 x 50 ms: 10 s at most
      echo "$1 not listening on $ADDR after 10 s" >&2
      stop_child
      wait "$CHILD" || true
      exit 1
    fi
    sleep 0.05
  done
  echo "listening on $ADDR"
  # A trapped signal interrupts wait, so wait until the child is really gone
  # (127: no longer our child), then once more: bash keeps its exit status.
  while kill -0 "$CHILD" 2>/dev/null; do
    wait "$CHILD" || (($? != 127)) || break
  done
  wait "$CHILD" || rc=$?
  if [[ -n "$TIMER" ]]; then kill "$TIMER" 2>/dev/null || true; fi
  # Killed after the grace period we granted: still the stop that was asked for.
  if ((STOPPING && rc == 137)); then rc=0; fi
  exit "$rc"
}
