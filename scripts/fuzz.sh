#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs them over their seed
# corpora for $1 seconds in all, split evenly between the targets. New inputs go to a
# scratch copy, never into the committed corpus.
set -euo pipefail
seconds=${1:-20}
targets=(http_parser proxy_header)
each=$((seconds / ${#targets[@]}))
((each > 0)) || each=1
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DREACTOR_BUILD_FUZZ=ON -DREACTOR_BUILD_APPS=OFF -DREACTOR_BUILD_BENCH=OFF \
  -DREACTOR_SANITIZE=address,undefined >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/%/_fuzz}"
for target in "${targets[@]}"; do
  work=build-fuzz/corpus-$target
  rm -rf "$work" && mkdir -p "$work"
  cp tests/fuzz/corpus/"$target"/* "$work"/
  build-fuzz/bin/"$target"_fuzz -max_total_time="$each" -print_final_stats=1 "$work" 2>&1 |
    tail -n 5
  echo "fuzz: $target ran ${each}s without a finding"
done
