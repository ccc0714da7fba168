"""Vendor, device and class names from the pci.ids database, as lspci shows them.

Read from /usr/share/misc/pci.ids (Debian package pci.ids) or /usr/share/hwdata/pci.ids;
PCI_IDS overrides the path. Without a database, names fall back to lspci's own fallback
("Device 1234:11e8", "Class 00ff").
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field

PATHS = ("/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids")
MAX_SIZE = 16 << 20  # the real file is ~1.3 MiB; anything far larger is not pci.ids


@dataclass
class PciIds:
    vendors: dict[int, str] = field(default_factory=dict)
    devices: dict[tuple[int, int], str] = field(default_factory=dict)
    subsystems: dict[tuple[int, int, int, int], str] = field(default_factory=dict)
    classes: dict[tuple[int, int | None], str] = field(default_factory=dict)  # (class, sub)
    path: str | None = None

    def vendor(self, v: int) -> str | None:
        return self.vendors.get(v)

    def device_name(self, v: int, d: int) -> str:
        """lspci's "Vendor Device" text: names where known, else "Device vvvv:dddd"."""
        vn, dn = self.vendors.get(v), self.devices.get((v, d))
        if vn and dn:
            return f"{vn} {dn}"
        if vn:
            return f"{vn} Device {d:04x}"
        return f"Device {v:04x}:{d:04x}"

    def subsystem_name(self, v: int, d: int, sv: int, sd: int) -> str:
        name = self.subsystems.get((v, d, sv, sd))
        vn = self.vendors.get(sv)
        if name:
            return f"{vn} {name}" if vn else name
        return f"{vn} Device {sd:04x}" if vn else f"Device {sv:04x}:{sd:04x}"

    def class_name(self, class_code: int) -> str:
        """As lspci: "Host bridge" (0x0600xx); "Unclassified device [00ff]" when only the base
        class is known; "Class cccc" when neither is."""
        cc = class_code >> 8
        sub = self.classes.get((cc >> 8, cc & 0xFF))
        if sub:
            return sub
        base = self.classes.get((cc >> 8, None))
        return f"{base} [{cc:04x}]" if base else f"Class {cc:04x}"


def _parse(text: str, path: str) -> PciIds:
    ids = PciIds(path=path)
    vendor = device = cls = None
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        try:
            if line.startswith("C "):
                code, name = line[2:].split(None, 1)
                cls = int(code, 16)
                ids.classes[(cls, None)] = name.strip()
                vendor = None
            elif line.startswith("\t\t"):
                if vendor is not None and device is not None:
                    sv, sd, name = line[2:].split(None, 2)
                    ids.subsystems[(vendor, device, int(sv, 16), int(sd, 16))] = name.strip()
            elif line.startswith("\t"):
                code, name = line[1:].split(None, 1)
                if vendor is not None:
                    device = int(code, 16)
                    ids.devices[(vendor, device)] = name.strip()
                elif cls is not None:
                    ids.classes[(cls, int(code, 16))] = name.strip()
            else:
                code, name = line.split(None, 1)
                vendor, device, cls = int(code, 16), None, None
                ids.vendors[vendor] = name.strip()
        except ValueError:
            continue  # a malformed line is skipped, as pciutils does
    return ids


@functools.lru_cache(maxsize=1)
def pci_ids() -> PciIds:
    """The database (parsed once), or an empty one when none is installed."""
    paths = [os.environ["PCI_IDS"]] if os.environ.get("PCI_IDS") else list(PATHS)
    for path in paths:
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_SIZE + 1)
        except OSError:
            continue
        if len(data) <= MAX_SIZE:
            return _parse(data.decode("utf-8", errors="replace"), path)
    return PciIds()
