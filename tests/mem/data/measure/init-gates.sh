#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B insmod /memprobe.ko probes=$mp 2>/dev/null
c=$($B grep "Crash kernel" /proc/iomem | $B sed 's/^ *\([0-9a-f]*\)-.*/\1/')
[ -n "$c" ] && $B insmod /memprobe.ko probes=0x$c,0x1000,0x$c,0x4000000 2>/dev/null
echo "=====PROBES"
$B dmesg | $B grep -E "MEMPROBE|ioremap|memremap|x86/PAT|memtype" 
echo "=====IOMEM"
$B cat /proc/iomem
echo "=====END"
$B poweroff -f
