"""The main job, step one: launch q35 with edu, enumerate PCI, map the device, show what we found."""

from __future__ import annotations

import asyncio
import time

from driverkit import Machine, MachineSpec


async def main() -> None:
    t0 = time.monotonic()
    async with Machine(MachineSpec(devices=["edu"])) as m:
        print(f"launched {m!r} in {(time.monotonic() - t0) * 1000:.0f} ms (QMP + qtest + shared RAM)")
        print("\nPCI bus 0 (BARs assigned by driverkit; the firmware is a parked CPU):")
        for d in m.pci:
            bars = ", ".join(f"BAR{b.index} {b.kind} {b.address:#x}+{b.size:#x}"
                             for b in d.bars.values()) or "no BARs"
            print(f"  {d.address}  {d.vendor:04x}:{d.device:04x}  {bars}")
        edu = m.pci.find(vendor=0x1234, device=0x11E8)
        edu.enable()
        bar0 = edu.iomap(0)
        print(f"\nedu at {edu.address}: {bar0!r}")
        ident = bar0.readl(0x00)
        print(f"  ID        = {ident:#010x}  (version {ident >> 24}.{(ident >> 16) & 0xff})")
        bar0.writel(0x04, 0x12345678)
        print(f"  liveness  : wrote 0x12345678, read {bar0.readl(0x04):#010x} (the inverse)")
        bar0.writel(0x08, 10)
        while bar0.readl(0x20) & 1:
            await asyncio.sleep(0.001)
        print(f"  factorial : 10! = {bar0.readl(0x08)}")
        hpet = m.ioremap(0xFED00000, 0x400, name="hpet")
        print(f"\nHPET capabilities = {hpet.readq(0):#018x}")
        ram = m.ioremap(0x100000, 0x1000)
        ram.write(0, b"hello from the host")
        via_qtest = m.qtest.read_bytes(0x100000, 19)
        print(f"RAM at 0x100000: written through shared memory, read through qtest: {via_qtest!r}")
        print("\nResource tree (/proc/iomem style):")
        print(m.iomem(), end="")
        print(f"\n{len(m.trace)} MMIO accesses traced")


if __name__ == "__main__":
    asyncio.run(main())
