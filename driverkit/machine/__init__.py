"""Machine layer: MachineSpec -> QEMU argv, the process, QMP, qtest, the serial console."""
