#!/usr/bin/env bash
# nginx "hello" peer: run_nginx.sh [--port P] [--host H]
# Writes its config into a temp dir and runs nginx there in the foreground.
source "$(dirname "${BASH_SOURCE[0]}")/wrapper_lib.sh"
parse_args "$@"
render "$PEERS_DIR/nginx.conf.in" "$WORK/nginx.conf"
# -e: the startup error log, before the config is read, goes to stderr too.
serve nginx -p "$WORK" -c "$WORK/nginx.conf" -e stderr
