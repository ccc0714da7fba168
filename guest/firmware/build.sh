#!/bin/sh
# Build the bare-metal firmware into CACHE_DIR/firmware/fw.elf (idempotent: make rebuilds only
# what changed). Usage: guest/firmware/build.sh [CACHE_DIR]  (default ${DRIVERKIT_CACHE:-~/.cache/driverkit})
set -eu
here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${DRIVERKIT_CACHE:-$HOME/.cache/driverkit}}
out="$cache/firmware"

need() { command -v "$1" >/dev/null 2>&1; }
# apt-get install; on a fresh machine the package lists are empty, so update and retry once.
apt_install() {
    echo "build.sh: installing $*" >&2
    sudo_cmd=""; [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo_cmd apt-get install -y -q "$@" >&2 \
        || { $sudo_cmd apt-get update -q >&2 && $sudo_cmd apt-get install -y -q "$@" >&2; }
}
if ! need gcc || ! need ld || ! need make; then
    apt_install gcc binutils make
fi
# -m32 -ffreestanding needs no 32-bit libc or libgcc (the firmware avoids 64-bit division);
# gcc-multilib is only needed if a probe compile fails.
if ! echo 'int x;' | gcc -m32 -ffreestanding -c -x c - -o /dev/null 2>/dev/null; then
    echo "build.sh: gcc cannot target -m32" >&2
    apt_install gcc-multilib
fi
mkdir -p "$out"
# Serialise concurrent builds into the same cache (pytest-xdist workers, parallel scripts).
if command -v flock >/dev/null 2>&1; then
    flock "$out/.build.lock" make -s -C "$here" OUT="$out" "$out/fw.elf" >&2
else
    make -s -C "$here" OUT="$out" "$out/fw.elf" >&2
fi
echo "$out/fw.elf"
