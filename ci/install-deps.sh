#!/usr/bin/env bash
# Installs every Debian package ipcrig needs, and only those that are missing.
# Called by the Makefile before `make check`, `make run` and `make bench`, so a
# fresh Debian machine needs nothing but this repository.
set -euo pipefail

# Build and test dependencies (always needed).
core_pkgs=(
  build-essential pkg-config
  libevent-dev check libsubunit-dev
  libprotobuf-c-dev protobuf-c-compiler
  libseccomp-dev
  python3 python3-pytest
  clang llvm libclang-rt-14-dev
  valgrind
)
# Benchmark peers: used by bench/ only.
bench_pkgs=(libzmq3-dev libnng-dev)

want=("${core_pkgs[@]}")
case "${1:-}" in
  --bench) want+=("${bench_pkgs[@]}") ;;
  --all) want+=("${bench_pkgs[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
