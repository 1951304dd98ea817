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
"$build/consumer/tls_consumer"
for program in main:reactor co_main:reactor tls_main:reactor-tls; do
  source=${program%%:*} package=${program#*:}
  PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
    g++ -O1 -o "$build/consumer/$source-pc" "tests/consumer/$source.cc" \
    $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs "$package")
  "$build/consumer/$source-pc"
done
# The tutorial's examples, built as a reader builds them against the installed package.
cmake -S examples/standalone -B "$build/examples-standalone" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$build/examples-standalone" -j "$(nproc)" >/dev/null
echo "test-install: find_package and pkg-config consumers (TLS included) and the examples passed"
