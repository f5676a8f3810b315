#!/usr/bin/env bash
# `make run`: the main job. The reference programs (the Gecko Demo sample with
# its message log, from main and from a content process, and the B2G fork
# server flow), then the benchmarks. Later the scenario suite joins them.
set -euo pipefail
BUILD=${BUILD:-build}
bin="$BUILD/bin"

section() { printf '\n== %s\n' "$*"; }

section "ipcrig-demo --from main (IPC_LOG=PDemo,PDemoHelpline)"
IPC_LOG=PDemo,PDemoHelpline "$bin/ipcrig-demo" --from main
section "ipcrig-demo --from content"
"$bin/ipcrig-demo" --from content
section "ipcrig-b2g --spares 2 --apps 3 --delay-ms 200"
"$bin/ipcrig-b2g" --spares 2 --apps 3 --delay-ms 200
section "benchmarks"
make --no-print-directory bench
