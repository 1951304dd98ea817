#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for $1 seconds over
# its seed corpus. New inputs go to a scratch copy, never into the committed corpus.
set -euo pipefail
seconds=${1:-20}
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DREACTOR_BUILD_FUZZ=ON -DREACTOR_BUILD_APPS=OFF -DREACTOR_BUILD_BENCH=OFF \
  -DREACTOR_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target http_parser_fuzz
work=build-fuzz/corpus-http_parser
rm -rf "$work" && mkdir -p "$work"
cp tests/fuzz/corpus/http_parser/* "$work"/
build-fuzz/bin/http_parser_fuzz -max_total_time="$seconds" -print_final_stats=1 "$work" 2>&1 | tail -n 5
echo "fuzz: http_parser ran ${seconds}s without a finding"
