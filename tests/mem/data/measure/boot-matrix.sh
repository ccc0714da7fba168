#!/bin/bash
# Re-measure the figures in ../boots_6.1.0-56.json: boot the Debian cloud kernel straight from
# QEMU (no root fs; it panics after printing the memory map) once per configuration.
#   apt-get download linux-image-6.1.0-56-cloud-amd64 && dpkg-deb -x linux-image-*.deb root
#   ./boot-matrix.sh root/boot/vmlinuz-6.1.0-56-cloud-amd64 OUTDIR
# With an initramfs (init-*.sh as /init plus a static busybox, and memprobe.ko built against
# linux-headers-6.1.0-56-cloud-amd64 for init-gates.sh) add: -initrd FILE and rdinit=/init.
set -eu
KERNEL=$1; OUT=$2; mkdir -p "$OUT"
boot() {  # name machine memory cmdline
  timeout 40 qemu-system-x86_64 -M "$2" -m "$3" -accel tcg -nographic -no-reboot -kernel "$KERNEL" \
    -append "console=ttyS0 ignore_loglevel log_buf_len=8M memblock=debug panic=-1 $4" \
    > "$OUT/$1.log" 2>&1 || true
}
for m in pc q35; do for s in 128M 256M 512M 1G 2G 2816M 3G 3584M 4G 5G; do boot "${m}_$s" $m $s ""; done; done
boot pc_256M_mem248M pc 256M "mem=248M"
boot pc_256M_mem250000K pc 256M "mem=250000K"
boot pc_256M_memhex pc 256M "mem=0xF800000"
boot pc_256M_memoct pc 256M "mem=0248M"
boot pc_256M_memmapdollar pc 256M 'memmap=8M$248M'
boot pc_256M_memmapbang6 pc 256M 'memmap=6M!248M'
boot pc_256M_exactmap pc 256M 'memmap=exactmap memmap=636K@0 memmap=200M@1M'
boot pc_256M_crash64 pc 256M 'crashkernel=64M'
boot pc_5G_crashhigh pc 5G 'crashkernel=256M,high'
# ... the full list of cases is the key set of ../boots_6.1.0-56.json (name = machine_memory_what)
