#!/usr/bin/env bash
# h2o "hello" peer: run_h2o.sh [--port P] [--host H]
# Writes its config and the body file into a temp dir and runs h2o in the foreground.
source "$(dirname "${BASH_SOURCE[0]}")/wrapper_lib.sh"
parse_args "$@"
render "$PEERS_DIR/h2o.conf.in" "$WORK/h2o.conf"
printf 'Hello, world!' >"$WORK/hello.txt"
serve h2o -m worker -c "$WORK/h2o.conf"
