#!/usr/bin/env bash
# Installs the library from build dir $1 into a scratch prefix, then builds and runs a
# consumer project against it twice: through find_package, and through pkg-config.
set -euo pipefail
build=${1:-build}
prefix=$(realpath -m "$build/install-test")
rm -rf "$prefix" "$build/consumer"
cmake --install "$build" --prefix "$prefix" >/dev/null
cmake -S tests/consumer -B "$build/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/consumer" >/dev/null
"$build/consumer/consumer"
"$build/consumer/co_consumer"
for program in main co_main; do
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
    g++ -O1 -o "$build/consumer/$program-pc" "tests/consumer/$program.cc" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs reactor)
  "$build/consumer/$program-pc"
done
# The tutorial's examples, built as a reader builds them against the installed package.
cmake -S examples/standalone -B "$build/examples-standalone" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/examples-standalone" -j "$(nproc)" >/dev/null
echo "test-install: find_package and pkg-config consumers and the examples passed"
