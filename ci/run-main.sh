#!/usr/bin/env bash
# `make run`: the main job. For now the reference programs and the benchmarks;
# later the scenario suite.
set -euo pipefail
BUILD=${BUILD:-build}
ran=0
for prog in ipcrig-demo ipcrig-b2g; do
    if [ -x "$BUILD/bin/$prog" ]; then
        echo "== $prog"
        "$BUILD/bin/$prog"
        ran=1
    fi
done
echo "== benchmarks"
make --no-print-directory bench
