"""Flattened device trees (DTB) through pylibfdt: read what the arm64 model needs, add
/reserved-memory nodes.

pylibfdt binds libfdt, the same C library the kernel uses to read the blob at boot, so a
blob it refuses is one the kernel would refuse too; the pure-Python `fdt` package (last
release 2022) re-implements the format and checks less. On virt the blob is QEMU's: dump it
with `qemu-system-aarch64 -M virt,dumpdtb=FILE` (driverkit.machine.dtb.virt_dtb), edit it
here, boot it with `-dtb`. Binding rules: Documentation/devicetree/bindings/
reserved-memory/reserved-memory.yaml and shared-dma-pool.yaml.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Iterator

from ..errors import DeviceTreeError, ReservedMemoryError

FDT_MAGIC = b"\xd0\x0d\xfe\xed"


def _libfdt():  # imported late: only the arm64 model needs it
    try:
        import libfdt
    except ImportError:  # pragma: no cover - a dependency of the package
        raise DeviceTreeError("pylibfdt is not installed (pip install pylibfdt)") from None
    return libfdt


@dataclass(frozen=True)
class ReservedRegion:
    """One /reserved-memory child as the kernel reads it (drivers/of/of_reserved_mem.c).

    `start` is None for a dynamic region (`size`, optional `alignment` and `alloc-ranges`),
    which the kernel allocates from memblock. `kind` says what the kernel makes of it.
    """

    name: str
    size: int
    start: int | None = None
    no_map: bool = False
    reusable: bool = False
    compatible: tuple[str, ...] = ()
    alignment: int | None = None
    alloc_ranges: tuple[tuple[int, int], ...] = ()
    cma_default: bool = False
    dma_default: bool = False

    @property
    def shared_dma_pool(self) -> bool:
        return "shared-dma-pool" in self.compatible

    @property
    def kind(self) -> str:
        """"cma" (reusable shared-dma-pool), "dma-pool" (a per-device coherent pool),
        "no-map" (out of the linear map) or "reserved" (memblock_reserve'd, still mapped)."""
        if self.shared_dma_pool and self.reusable and not self.no_map:
            return "cma"
        if self.shared_dma_pool and not self.reusable:
            return "dma-pool"
        return "no-map" if self.no_map else "reserved"

    def to_dict(self) -> dict:
        return {"name": self.name, "start": self.start, "size": self.size, "kind": self.kind,
                "no_map": self.no_map, "reusable": self.reusable,
                "compatible": list(self.compatible), "alignment": self.alignment,
                "alloc_ranges": [list(r) for r in self.alloc_ranges]}


@dataclass(frozen=True)
class DtDevice:
    """A node with `reg` (CPU addresses, root cells) and `compatible`."""

    path: str
    name: str
    compatible: tuple[str, ...]
    reg: tuple[tuple[int, int], ...]
    ranges: tuple[tuple[int, int, int], ...] = field(default=())  # (flags, cpu addr, size)


class DeviceTree:
    """A parsed blob. `DeviceTree.load(bytes | path)` checks it as libfdt does."""

    def __init__(self, blob: bytes, name: str = "dtb") -> None:
        lib = _libfdt()
        self.name = name
        if len(blob) < 40 or blob[:4] != FDT_MAGIC:
            raise DeviceTreeError(
                f"{name}: not a device tree blob (magic {blob[:4].hex() or 'none'}, expected "
                f"{FDT_MAGIC.hex()}; {len(blob)} bytes)")
        try:
            self._fdt = lib.Fdt(bytes(blob))
            self._fdt.check_header() if hasattr(self._fdt, "check_header") else None
            total = self._fdt.totalsize()
        except lib.FdtException as exc:
            raise DeviceTreeError(f"{name}: libfdt refuses the blob: {exc}") from None
        if total > len(blob):
            raise DeviceTreeError(f"{name}: header says {total} bytes, the file has "
                                  f"{len(blob)} (truncated)")
        self.blob = bytes(blob[:total])
        self._lib = lib
        try:
            self.address_cells = self._cells(0, "#address-cells", 2)
            self.size_cells = self._cells(0, "#size-cells", 1)
            list(self.walk())
        except lib.FdtException as exc:
            raise DeviceTreeError(f"{name}: corrupt structure block: {exc}") from None

    @classmethod
    def load(cls, source: "bytes | str | os.PathLike[str] | DeviceTree") -> "DeviceTree":
        if isinstance(source, DeviceTree):
            return source
        if isinstance(source, (bytes, bytearray, memoryview)):
            return cls(bytes(source))
        path = os.fspath(source)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise DeviceTreeError(f"dtb {path}: {exc.strerror}") from None
        return cls(data, path)

    # --- reading ---------------------------------------------------------------------------
    @property
    def totalsize(self) -> int:
        return len(self.blob)

    def _cells(self, node: int, prop: str, default: int) -> int:
        p = self._fdt.getprop(node, prop, self._lib.QUIET_NOTFOUND)
        return default if isinstance(p, int) else int.from_bytes(bytes(p)[:4], "big")

    def _prop(self, node: int, name: str) -> bytes | None:
        p = self._fdt.getprop(node, name, self._lib.QUIET_NOTFOUND)
        return None if isinstance(p, int) else bytes(p)

    def _numbers(self, data: bytes, cells: tuple[int, ...], what: str) -> list[tuple[int, ...]]:
        width = 4 * sum(cells)
        if not width or len(data) % width:
            raise DeviceTreeError(f"{self.name}: {what} is {len(data)} bytes, not a multiple "
                                  f"of {width} ({'+'.join(map(str, cells))} cells)")
        out = []
        for i in range(0, len(data), width):
            vals, pos = [], i
            for c in cells:
                vals.append(int.from_bytes(data[pos:pos + 4 * c], "big"))
                pos += 4 * c
            out.append(tuple(vals))
        return out

    def walk(self, node: int = 0, path: str = "") -> Iterator[tuple[str, int]]:
        """(path, offset) of every node, depth first."""
        yield (path or "/"), node
        child = self._fdt.first_subnode(node, self._lib.QUIET_NOTFOUND)
        while child >= 0:
            yield from self.walk(child, f"{path}/{self._fdt.get_name(child)}")
            child = self._fdt.next_subnode(child, self._lib.QUIET_NOTFOUND)

    def _children(self, node: int) -> Iterator[int]:
        child = self._fdt.first_subnode(node, self._lib.QUIET_NOTFOUND)
        while child >= 0:
            yield child
            child = self._fdt.next_subnode(child, self._lib.QUIET_NOTFOUND)

    def _offset(self, path: str) -> int | None:
        off = self._fdt.path_offset(path, self._lib.QUIET_NOTFOUND)
        return None if off < 0 else off

    def _reg(self, node: int, what: str) -> list[tuple[int, int]]:
        data = self._prop(node, "reg")
        if data is None:
            return []
        pairs = self._numbers(data, (self.address_cells, self.size_cells), what)
        return [(int(a), int(s)) for a, s in pairs]

    @property
    def memory(self) -> list[tuple[int, int]]:
        """(start, size) of RAM: the `reg` of every root node with device_type "memory"."""
        out = []
        for child in self._children(0):
            if self._prop(child, "device_type") == b"memory\0":
                out += self._reg(child, f"/{self._fdt.get_name(child)} reg")
        return sorted(r for r in out if r[1])

    @property
    def memreserve(self) -> list[tuple[int, int]]:
        """The /memreserve/ entries of the header (memblock_reserve'd at boot)."""
        n = self._fdt.num_mem_rsv()
        return [tuple(self._fdt.get_mem_rsv(i)[1:3]) for i in range(n)]  # type: ignore[misc]

    @property
    def reserved_memory(self) -> list[ReservedRegion]:
        """The children of /reserved-memory, in blob order (the kernel's scan order)."""
        parent = self._offset("/reserved-memory")
        if parent is None:
            return []
        out = []
        for child in self._children(parent):
            out.append(self._region(child))
        return out

    def _region(self, node: int) -> ReservedRegion:
        name = self._fdt.get_name(node)
        what = f"/reserved-memory/{name}"
        status = self._prop(node, "status")
        if status is not None and status.rstrip(b"\0") not in (b"okay", b"ok"):
            return ReservedRegion(name, 0)  # disabled: the kernel skips it
        compat = tuple(s for s in (self._prop(node, "compatible") or b"").decode(
            "ascii", "replace").split("\0") if s)
        flags = {k: self._prop(node, k) is not None
                 for k in ("no-map", "reusable", "linux,cma-default", "linux,dma-default")}
        common = dict(no_map=flags["no-map"], reusable=flags["reusable"], compatible=compat,
                      cma_default=flags["linux,cma-default"],
                      dma_default=flags["linux,dma-default"])
        reg = self._reg(node, f"{what} reg")
        if reg:
            start, size = reg[0]
            return ReservedRegion(name, size, start, **common)  # type: ignore[arg-type]
        size_p = self._prop(node, "size")
        if size_p is None:
            raise DeviceTreeError(f"{what}: neither reg nor size (the kernel skips it)")
        (size,) = self._numbers(size_p, (self.size_cells,), f"{what} size")[0]
        align_p = self._prop(node, "alignment")
        align = self._numbers(align_p, (self.size_cells,), f"{what} alignment")[0][0] \
            if align_p is not None else None
        ranges_p = self._prop(node, "alloc-ranges")
        ranges = tuple((int(a), int(s)) for a, s in self._numbers(
            ranges_p, (self.address_cells, self.size_cells), f"{what} alloc-ranges")) \
            if ranges_p is not None else ()
        return ReservedRegion(name, int(size), None, alignment=align, alloc_ranges=ranges,
                              **common)  # type: ignore[arg-type]

    def devices(self) -> list[DtDevice]:
        """Root children with `reg` and `compatible` (the platform devices of the board)."""
        out = []
        for child in self._children(0):
            compat = self._prop(child, "compatible")
            name = self._fdt.get_name(child)
            if compat is None or self._prop(child, "device_type") == b"memory\0":
                continue
            reg = self._reg(child, f"/{name} reg")
            ranges: list[tuple[int, int, int]] = []
            rp = self._prop(child, "ranges")
            if rp:
                cells = (self._cells(child, "#address-cells", 3), self.address_cells,
                         self._cells(child, "#size-cells", 2))
                for child_addr, cpu, size in self._numbers(rp, cells, f"/{name} ranges"):
                    ranges.append((int(child_addr) >> (32 * (cells[0] - 1)), int(cpu),
                                   int(size)))
            out.append(DtDevice(f"/{name}", name, tuple(
                s for s in compat.decode("ascii", "replace").split("\0") if s),
                tuple(reg), tuple(ranges)))
        return out

    # --- editing -----------------------------------------------------------------------------
    def with_reserved_memory(
        self,
        name: str,
        size: int,
        start: int | None = None,
        *,
        no_map: bool = False,
        reusable: bool = False,
        compatible: str | None = None,
        alignment: int | None = None,
        alloc_ranges: tuple[tuple[int, int], ...] = (),
        cma_default: bool = False,
    ) -> "DeviceTree":
        """A copy with /reserved-memory/NAME added (the node is created if missing).

        `start` given: a static region (`reg`); None: a dynamic one (`size`, `alignment`,
        `alloc-ranges`) the kernel allocates. `compatible="shared-dma-pool"` with `reusable`
        makes a CMA pool, without it a coherent DMA pool. The result is packed (QEMU sizes
        the -dtb it loads from the file).
        """
        if not name or "/" in name or len(name) > 31:
            raise ReservedMemoryError(f"reserved-memory node name {name!r}: 1-31 characters, "
                                      f"no '/'")
        if size <= 0:
            raise ReservedMemoryError(f"reserved-memory {name}: size {size:#x} must be > 0")
        if start is not None and start < 0:
            raise ReservedMemoryError(f"reserved-memory {name}: start {start:#x} < 0")
        if no_map and reusable:
            raise ReservedMemoryError(f"reserved-memory {name}: no-map and reusable exclude "
                                      f"each other (the binding forbids both)")
        lib = self._lib
        f = lib.Fdt(self.blob)
        f.resize(len(self.blob) + 4096)
        parent = f.path_offset("/reserved-memory", lib.QUIET_NOTFOUND)
        if parent < 0:
            parent = f.add_subnode(0, "reserved-memory")
            f.setprop_u32(parent, "#address-cells", self.address_cells)
            f.setprop_u32(parent, "#size-cells", self.size_cells)
            f.setprop(parent, "ranges", b"")
        if f.subnode_offset(parent, name, lib.QUIET_NOTFOUND) >= 0:
            raise ReservedMemoryError(f"/reserved-memory/{name} exists already")
        node = f.add_subnode(parent, name)

        def cells(value: int, n: int) -> bytes:
            if value >> (32 * n):
                raise ReservedMemoryError(f"reserved-memory {name}: {value:#x} does not fit "
                                          f"{n} cells")
            return value.to_bytes(4 * n, "big")

        ac, sc = self.address_cells, self.size_cells
        if start is not None:
            f.setprop(node, "reg", cells(start, ac) + cells(size, sc))
        else:
            f.setprop(node, "size", cells(size, sc))
            if alignment is not None:
                f.setprop(node, "alignment", cells(alignment, sc))
            if alloc_ranges:
                f.setprop(node, "alloc-ranges",
                          b"".join(cells(a, ac) + cells(s, sc) for a, s in alloc_ranges))
        if compatible:
            f.setprop_str(node, "compatible", compatible)
        for flag, on in (("no-map", no_map), ("reusable", reusable),
                         ("linux,cma-default", cma_default)):
            if on:
                f.setprop(node, flag, b"")
        f.pack()
        return DeviceTree(bytes(f.as_bytearray()), self.name)

    def as_booted(self, bootargs: str, initrd: tuple[int, int] | None) -> "DeviceTree":
        """The tree as QEMU hands it to the kernel (arm_load_dtb): /chosen gets bootargs
        and linux,initrd-start/-end."""
        lib = self._lib
        f = lib.Fdt(self.blob)
        f.resize(len(self.blob) + 1024 + len(bootargs))
        chosen = f.path_offset("/chosen", lib.QUIET_NOTFOUND)
        if chosen < 0:
            chosen = f.add_subnode(0, "chosen")
        if bootargs:
            f.setprop_str(chosen, "bootargs", bootargs)
        if initrd is not None:
            f.setprop_u64(chosen, "linux,initrd-start", initrd[0])
            f.setprop_u64(chosen, "linux,initrd-end", initrd[1])
        f.pack()
        return DeviceTree(bytes(f.as_bytearray()), self.name)

    def write(self, path: "str | os.PathLike[str]") -> None:
        with open(path, "wb") as out:
            out.write(self.blob)


@dataclass(frozen=True)
class ReservedNode:
    """A /reserved-memory node to add (the fields of DeviceTree.with_reserved_memory)."""

    name: str
    size: int
    start: int | None = None
    no_map: bool = False
    reusable: bool = False
    compatible: str | None = None
    alignment: int | None = None
    cma_default: bool = False

    @classmethod
    def parse(cls, text: str) -> "ReservedNode":
        """NAME:SIZE[@START][,no-map][,reusable][,shared-dma-pool][,align=SIZE][,cma-default]
        e.g. "carve:8M@0x4e000000,no-map" or "pool:16M,reusable,shared-dma-pool,align=4M"."""
        from ..units import parse_size

        head, *flags = text.split(",")
        name, sep, rest = head.partition(":")
        if not sep or not name:
            raise ReservedMemoryError(f"reserved-memory {text!r}: expected NAME:SIZE[@START]"
                                      f"[,no-map][,reusable][,shared-dma-pool][,align=SIZE]")
        size_s, at, start_s = rest.partition("@")
        size = parse_size(size_s, f"reserved-memory {name} size")
        start = None
        if at:
            try:
                start = int(start_s, 0)
            except ValueError:
                raise ReservedMemoryError(f"reserved-memory {text!r}: start {start_s!r} is "
                                          f"not a number") from None
        kw: dict = {}
        for f in flags:
            if f == "no-map":
                kw["no_map"] = True
            elif f == "reusable":
                kw["reusable"] = True
            elif f == "shared-dma-pool":
                kw["compatible"] = "shared-dma-pool"
            elif f == "cma-default":
                kw["cma_default"] = True
            elif f.startswith("align="):
                kw["alignment"] = parse_size(f[6:], f"reserved-memory {name} alignment")
            else:
                raise ReservedMemoryError(f"reserved-memory {text!r}: unknown flag {f!r} "
                                          f"(no-map, reusable, shared-dma-pool, align=SIZE, "
                                          f"cma-default)")
        return cls(name if start is None or "@" in name else f"{name}@{start:x}", size, start,
                   **kw)

    def add_to(self, tree: "DeviceTree") -> "DeviceTree":
        return tree.with_reserved_memory(self.name, self.size, self.start, no_map=self.no_map,
                                         reusable=self.reusable, compatible=self.compatible,
                                         alignment=self.alignment, cma_default=self.cma_default)
