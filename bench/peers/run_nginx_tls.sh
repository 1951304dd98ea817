#!/usr/bin/env bash
# nginx HTTPS "hello" peer: run_nginx_tls.sh --tls-cert FILE --tls-key FILE [--port P] [--host H]
# As run_nginx.sh, with nginx_tls.conf.in: TLS 1.3 only, the given certificate and key.
source "$(dirname "${BASH_SOURCE[0]}")/wrapper_lib.sh"
parse_args "$@"
if [[ -z "$CERT" || -z "$KEY" ]]; then
  echo "usage: $0 --tls-cert FILE --tls-key FILE [--port P] [--host H]" >&2
  exit 2
fi
render "$PEERS_DIR/nginx_tls.conf.in" "$WORK/nginx.conf"
serve nginx -p "$WORK" -c "$WORK/nginx.conf" -e stderr
