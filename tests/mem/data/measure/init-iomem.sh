#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sys /sys
echo "=====IOMEM"
/bin/busybox cat /proc/iomem
echo "=====MEMINFO"
/bin/busybox head -3 /proc/meminfo
echo "=====END"
/bin/busybox poweroff -f
