#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
PROBES="0x0f800000 0x0f900000 0x0fdff000 0x0ffe0000 0x0fff0000 0x08000000 0xfe000000 0x00001000 0x0c800000"
echo "=====PROBES"
for a in $PROBES; do
  v=$($B devmem $a 32 2>&1); echo "devmem $a: rc=$? $v"
done
for a in $PROBES; do
  n=$(( a / 4096 ))
  v=$($B dd if=/dev/mem bs=4096 skip=$n count=1 2>&1 | $B tail -1); echo "dd $a: $v"
done
echo "=====END"
$B poweroff -f
