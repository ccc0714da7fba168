#!/usr/bin/env bash
# Build driverkit's arm64 Linux guest: Debian 12's cloud-arm64 kernel (a raw Image), the
# dkprobe module cross-built for it, and a busybox-static:arm64 initramfs, into
# ${DRIVERKIT_CACHE:-$HOME/.cache/driverkit}/guest-aarch64/.
#
# The arm64 packages come through a PRIVATE apt configuration (its own lists and cache under
# guest-aarch64/work/apt, APT::Architectures=amd64,arm64, the sources copied from the
# system's): the system's apt lists, sources and dpkg architectures are left alone and the
# packages are only downloaded and unpacked (dpkg-deb -x), never installed. The cross
# compiler (gcc-aarch64-linux-gnu) comes from the system's apt; the kernel headers and
# linux-kbuild (its host tools) are downloaded and unpacked like the kernel. If the cross
# build cannot run, the guest is built without dkprobe and manifest.json says so
# ("dkprobe": false); memcheck then lists what it leaves out.
#
# Idempotent: a stamp of the inputs makes a second run a no-op (no network).
# Outputs per release: vmlinuz (the Image) initramfs.cpio.gz config dkprobe.ko manifest.json stamp
# Environment:
#   DRIVERKIT_CACHE       cache root (default ~/.cache/driverkit)
#   DK_GUEST_ARM64_ABI    force the kernel ABI, e.g. "6.1.0-57" (default: the newest 6.1
#                         cloud-arm64 kernel in the private lists)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${DRIVERKIT_CACHE:-$HOME/.cache/driverkit}
BASE=$CACHE/guest-aarch64
WORK=$BASE/work
LINKED=(vmlinuz config initramfs.cpio.gz dkprobe.ko manifest.json)
APTDIR=$WORK/apt
SRC=$ROOT/guest/linux
FLAVOUR=cloud-arm64
CROSS=aarch64-linux-gnu-

say() { echo "build-arm64: $*"; }
die() { echo "build-arm64: error: $*" >&2; exit 1; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
hash_files() { sha256sum "$@" | sha256sum | cut -d' ' -f1; }

# the system's apt installs what the host needs (never arm64 packages)
host_install() {
    local missing=() p
    for p in "$@"; do installed "$p" || missing+=("$p"); done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $EUID -ne 0 ]]; then say "not root: cannot install ${missing[*]}"; return 1; fi
    say "installing ${missing[*]} (system apt)"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
        --no-install-recommends "${missing[@]}" || {
        say "install failed; apt-get update and retry"
        apt-get -o DPkg::Lock::Timeout=300 update
        DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y \
            --no-install-recommends "${missing[@]}"
    }
}

# --- the private apt configuration --------------------------------------------------------
setup_private_apt() {
    mkdir -p "$APTDIR"/{sources.list.d,lists/partial,cache/archives/partial}
    : >"$APTDIR/empty.list"
    : >"$APTDIR/status"
    rm -f "$APTDIR"/sources.list.d/*
    local f n=0
    # the machine's own mirrors: the enabled .list/.sources files, copied unchanged
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] || continue
        grep -qE '^[[:space:]]*(deb |Types:)' "$f" || continue
        n=$((n + 1))
        cp "$f" "$APTDIR/sources.list.d/$n-$(basename "$f")"
    done
    [[ $n -gt 0 ]] || die "no apt sources in /etc/apt to copy"
}
APT_OPTS=(
    -o "Dir::Etc::SourceList=$APTDIR/empty.list"
    -o "Dir::Etc::SourceParts=$APTDIR/sources.list.d"
    -o "Dir::State::Lists=$APTDIR/lists"
    -o "Dir::Cache=$APTDIR/cache"
    -o "Dir::State::status=$APTDIR/status"
    -o "APT::Architecture=amd64"
    -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64"
    -o "Acquire::Languages=none"
)
papt() { apt-get "${APT_OPTS[@]}" "$@"; }
pcache() { apt-cache "${APT_OPTS[@]}" "$@"; }

newest_abi() {
    pcache pkgnames "linux-image-6.1.0-" 2>/dev/null \
        | sed -n "s/^linux-image-\(6\.1\.0-[0-9]*\)-$FLAVOUR\$/\1/p" | sort -t- -k2 -n -r \
        | while read -r abi; do
            if pcache show "linux-headers-$abi-$FLAVOUR:arm64" >/dev/null 2>&1; then
                echo "$abi"; break
            fi
        done
}

# one .deb into $WORK/debs (skipped when a file for that package is there)
fetch_deb() {
    local spec=$1 name=${1%%[:=]*}
    local have
    have=$(ls "$WORK/debs/${name}_"*.deb 2>/dev/null | head -n1 || true)
    if [[ -n $have ]]; then echo "$have"; return; fi
    (cd "$WORK/debs" && papt download "$spec" 2>&1 | grep -v 'unsandboxed' >&2) \
        || die "apt-get download $spec failed (private lists in $APTDIR)"
    ls "$WORK/debs/${name}_"*.deb | head -n1
}

# ---------------------------------------------------------------------------------------
say "cache: $BASE"
mkdir -p "$BASE" "$WORK/debs"
host_install cpio gzip binutils || die "cpio/gzip/binutils are missing"
CROSS_OK=1
host_install gcc-aarch64-linux-gnu make || CROSS_OK=0
command -v ${CROSS}gcc >/dev/null 2>&1 || CROSS_OK=0

SELF_HASH=$(hash_files "${BASH_SOURCE[0]}")
SRC_HASH=$(cd "$SRC" && find . -type f ! -name '*.o' ! -name '*.ko' ! -name '.*' -print0 | sort -z \
    | xargs -0 sha256sum | sha256sum | cut -d' ' -f1)

# Fast path without apt: the stamp names the packages it was built from; same script,
# same sources, same cross compiler and those packages still here -> nothing to do.
fresh() {
    local OUT=$BASE/default
    [[ -f $OUT/stamp && -s $OUT/manifest.json && -L $BASE/vmlinuz ]] || return 1
    [[ $(sed -n 1p "$OUT/stamp") == "script=$SELF_HASH" ]] || return 1
    [[ $(sed -n 2p "$OUT/stamp") == "src=$SRC_HASH" ]] || return 1
    [[ $(sed -n 4p "$OUT/stamp") == "cross=$CROSS_OK" ]] || return 1
    local debs d
    debs=$(sed -n 's/^debs=//p' "$OUT/stamp")
    if [[ -n ${DK_GUEST_ARM64_ABI:-} && $debs != *"linux-image-$DK_GUEST_ARM64_ABI-"* ]]; then
        return 1
    fi
    for d in $debs; do [[ -f $WORK/debs/$d ]] || return 1; done
}
if fresh; then
    say "up to date (stamp matches): $BASE/default -> $(readlink "$BASE/default")"
    exit 0
fi

setup_private_apt
ABI=${DK_GUEST_ARM64_ABI:-}
if [[ -z $ABI ]]; then
    ABI=$(newest_abi)
    if [[ -z $ABI ]]; then
        say "updating the private arm64 package lists"
        papt update >/dev/null
        ABI=$(newest_abi)
    fi
fi
[[ -n $ABI ]] || die "no linux-image-6.1.0-N-$FLAVOUR in the private lists"
RELEASE=$ABI-$FLAVOUR
OUT=$BASE/$RELEASE
mkdir -p "$OUT"
say "guest kernel: $RELEASE"

fetch_or_update() {
    local deb
    deb=$(fetch_deb "$1" 2>/dev/null) || {
        papt update >/dev/null
        deb=$(fetch_deb "$1")
    }
    echo "$deb"
}
IMAGE_DEB=$(fetch_or_update "linux-image-$RELEASE:arm64")
BUSYBOX_DEB=$(fetch_or_update "busybox-static:arm64")
KVER=$(dpkg-deb -f "$IMAGE_DEB" Version)
HEADER_DEBS=()
if [[ $CROSS_OK == 1 ]]; then
    HEADER_DEBS+=("$(fetch_or_update "linux-headers-$RELEASE:arm64")")
    HEADER_DEBS+=("$(fetch_or_update "linux-headers-$ABI-common")")
    # the headers' scripts/ link to linux-kbuild's host tools, which must be at least as new
    HEADER_DEBS+=("$(fetch_or_update "linux-kbuild-6.1:amd64=$KVER")")
fi

STAMP_TEXT="script=$SELF_HASH
src=$SRC_HASH
debs=$(for d in "$IMAGE_DEB" "$BUSYBOX_DEB" "${HEADER_DEBS[@]}"; do basename "$d"; done | tr '\n' ' ')
cross=$CROSS_OK"

make_default() {
    local f
    ln -sfn "$RELEASE" "$BASE/default.tmp" && mv -T "$BASE/default.tmp" "$BASE/default"
    # (the files of the layout before one directory per release are replaced here, so a
    # guest booting meanwhile still finds them)
    for f in "${LINKED[@]}"; do
        if [[ -e $OUT/$f ]]; then
            ln -sfn "default/$f" "$BASE/$f.tmp" && mv -T "$BASE/$f.tmp" "$BASE/$f"
        else
            rm -f "$BASE/$f"
        fi
    done
    rm -f "$BASE/stamp"
    say "default arm64 guest: $RELEASE"
}
if [[ -f $OUT/stamp && $(cat "$OUT/stamp") == "$STAMP_TEXT" && -s $OUT/manifest.json ]]; then
    make_default
    say "up to date (stamp matches): $OUT"
    exit 0
fi
rm -f "$OUT/stamp"

# --- unpack --------------------------------------------------------------------------------
EXTRACT=$WORK/root
FROM=$(for d in "$IMAGE_DEB" "$BUSYBOX_DEB" "${HEADER_DEBS[@]}"; do basename "$d"; done)
if [[ ! -f $EXTRACT/.from || $(cat "$EXTRACT/.from") != "$FROM" ]]; then
    say "unpacking $(echo "$FROM" | wc -l) packages (dpkg-deb -x)"
    rm -rf "$EXTRACT"
    mkdir -p "$EXTRACT"
    for d in "$IMAGE_DEB" "$BUSYBOX_DEB" "${HEADER_DEBS[@]}"; do dpkg-deb -x "$d" "$EXTRACT"; done
    echo "$FROM" >"$EXTRACT/.from"
fi
install -m 0644 "$EXTRACT/boot/vmlinuz-$RELEASE" "$OUT/vmlinuz"
install -m 0644 "$EXTRACT/boot/config-$RELEASE" "$OUT/config"
BUSYBOX=$EXTRACT/bin/busybox
[[ -x $BUSYBOX ]] || die "busybox-static:arm64 has no /bin/busybox"

# --- dkprobe, cross-built ------------------------------------------------------------------
DKPROBE=0
DKPROBE_WHY=""
BUILD=$WORK/dkprobe
rm -rf "$BUILD" "$OUT/dkprobe.ko"
if [[ $CROSS_OK == 1 ]]; then
    KDIR=$EXTRACT/usr/src/linux-headers-$RELEASE
    # the flavour's Makefile includes the common tree by its installed (absolute) path
    sed -i "s#^include /usr/src/#include $EXTRACT/usr/src/#" "$KDIR/Makefile"
    mkdir -p "$BUILD"
    cp "$SRC/dkprobe/dkprobe.c" "$SRC/dkprobe/Kbuild" "$BUILD/"
    say "cross-building dkprobe.ko against $KDIR"
    if make -s -C "$KDIR" M="$BUILD" CROSS_COMPILE=$CROSS modules 2>&1 \
        | grep -v 'Skipping BTF generation'; then :; fi
    if [[ -f $BUILD/dkprobe.ko ]]; then
        # (objcopy cannot write the section to a pipe)
        ${CROSS}objcopy -O binary --only-section=.modinfo "$BUILD/dkprobe.ko" "$BUILD/modinfo"
        VERMAGIC=$(tr '\0' '\n' <"$BUILD/modinfo" | sed -n 's/^vermagic=//p' | cut -d' ' -f1)
        [[ $VERMAGIC == "$RELEASE" ]] || die "dkprobe.ko vermagic $VERMAGIC != kernel $RELEASE"
        ${CROSS}strip --strip-debug "$BUILD/dkprobe.ko"
        install -m 0644 "$BUILD/dkprobe.ko" "$OUT/dkprobe.ko"
        DKPROBE=1
    else
        DKPROBE_WHY="the cross build failed (see the compiler output above)"
    fi
else
    DKPROBE_WHY="no cross compiler (gcc-aarch64-linux-gnu) on this host"
fi
[[ $DKPROBE == 1 ]] || say "building the guest WITHOUT dkprobe: $DKPROBE_WHY"

# --- initramfs -------------------------------------------------------------------------------
say "assembling initramfs"
STAGE=$WORK/initramfs
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc}
install -m 0755 "$BUSYBOX" "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"
mknod -m 600 "$STAGE/dev/console" c 5 1
install -m 0755 "$SRC/init" "$STAGE/init"
install -m 0755 "$SRC/dkprobe-run" "$STAGE/bin/dkprobe-run"
MODDIR=$STAGE/lib/modules/$RELEASE
mkdir -p "$MODDIR/extra"
[[ $DKPROBE == 1 ]] && install -m 0644 "$OUT/dkprobe.ko" "$MODDIR/extra/dkprobe.ko"
echo "$RELEASE" >"$STAGE/etc/dk-release"
find "$STAGE" -exec touch -h -d @0 {} +
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort \
    | cpio --quiet --reproducible -o -H newc -R 0:0) | gzip -9 -n >"$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"

INITRD_SIZE=$(stat -c %s "$OUT/initramfs.cpio.gz")
BUSYBOX_VERSION=$(dpkg-deb -f "$BUSYBOX_DEB" Version)
cat >"$OUT/manifest.json" <<EOF
{
  "arch": "aarch64",
  "kernel_release": "$RELEASE",
  "kernel_package": "linux-image-$RELEASE",
  "kernel_version": "$KVER",
  "busybox_version": "$BUSYBOX_VERSION",
  "dkprobe": $([[ $DKPROBE == 1 ]] && echo true || echo false),
  "dkprobe_missing_reason": "$DKPROBE_WHY",
  "dkprobe_sha256": "$([[ $DKPROBE == 1 ]] && sha256sum "$OUT/dkprobe.ko" | cut -d' ' -f1 || true)",
  "vmlinuz_sha256": "$(sha256sum "$OUT/vmlinuz" | cut -d' ' -f1)",
  "initramfs_sha256": "$(sha256sum "$OUT/initramfs.cpio.gz" | cut -d' ' -f1)",
  "initramfs_bytes": $INITRD_SIZE,
  "source_sha256": "$SRC_HASH",
  "built_at": "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
}
EOF
printf '%s' "$STAMP_TEXT" >"$OUT/stamp"
make_default
say "initramfs: $INITRD_SIZE bytes; kernel $RELEASE ($KVER); dkprobe $([[ $DKPROBE == 1 ]] && echo built || echo MISSING)"
say "built: $OUT"
