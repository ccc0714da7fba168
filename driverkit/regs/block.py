"""RegisterBlock / RegisterMap: a class whose attributes declare registers, arrays and sub-blocks.

The layout is flattened and validated when the class is defined (overlaps, alignment,
declared size), so a wrong map fails at import, not on the device. Subclasses inherit
the layout and may override (same name), add, or remove (`name = None`) members.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import BoundsError, LayoutError, RegisterError
from .register import BoundRegister, Register, read_logical_many

if TYPE_CHECKING:
    from .findings import CheckReport
    from .target import RegisterIo


@dataclass(frozen=True)
class Slot:
    """One register of a flattened layout: its path ("timers[1].config"), offset, declaration."""

    path: str
    offset: int
    reg: Register

    @property
    def end(self) -> int:
        return self.offset + self.reg.width


class RegisterArray:
    """`count` copies of `register`, `stride` bytes apart (default: the register's width)."""

    def __init__(self, register: Register, count: int, stride: int | None = None) -> None:
        if not isinstance(register, Register):
            raise LayoutError(f"RegisterArray needs a Register, got {register!r}")
        if not isinstance(count, int) or count < 1:
            raise LayoutError(f"array count {count!r} must be >= 1")
        stride = register.width if stride is None else stride
        if stride < register.width:
            raise LayoutError(
                f"array stride {stride:#x} is smaller than the register's {register.width} bytes"
            )
        self.register = register
        self.count = count
        self.stride = stride
        self.offset = register.offset
        self.name = ""
        self.elements = tuple(register.at(register.offset + i * stride) for i in range(count))

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else instance._bind_member(self)

    def slots(self, path: str, base: int) -> Iterator[Slot]:
        for i, reg in enumerate(self.elements):
            yield Slot(f"{path}[{i}]", base + reg.offset, reg)

    def __repr__(self) -> str:
        return (
            f"<RegisterArray {self.name} {self.count} x {self.register!r} stride {self.stride:#x}>"
        )


class Block:
    """A sub-block of registers at `offset`, optionally repeated `count` times every `stride`."""

    def __init__(
        self,
        block: type[RegisterBlock],
        offset: int,
        count: int | None = None,
        stride: int | None = None,
    ) -> None:
        if not (isinstance(block, type) and issubclass(block, RegisterBlock)):
            raise LayoutError(f"Block needs a RegisterBlock subclass, got {block!r}")
        if not isinstance(offset, int) or offset < 0:
            raise LayoutError(f"block offset {offset!r} must be a non-negative int")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise LayoutError(f"block count {count!r} must be >= 1")
        extent = block.extent()
        if stride is None:
            stride = block.size or extent
        if count is not None and stride < extent:
            raise LayoutError(
                f"block stride {stride:#x} is smaller than {block.__name__}'s extent {extent:#x}:"
                " the copies would overlap"
            )
        self.block = block
        self.offset = offset
        self.count = count
        self.stride = stride
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        return self if instance is None else instance._bind_member(self)

    def bases(self) -> list[int]:
        if self.count is None:
            return [self.offset]
        return [self.offset + i * self.stride for i in range(self.count)]

    def slots(self, path: str, base: int) -> Iterator[Slot]:
        for i, b in enumerate(self.bases()):
            sub = path if self.count is None else f"{path}[{i}]"
            for s in self.block.layout():
                yield Slot(f"{sub}.{s.path}", base + b + s.offset, s.reg)

    def __repr__(self) -> str:
        rep = "" if self.count is None else f" x{self.count} stride {self.stride:#x}"
        return f"<Block {self.name} {self.block.__name__} @{self.offset:#x}{rep}>"


Member = Register | RegisterArray | Block


class BoundArray:
    """Indexable bound registers or blocks of an array."""

    def __init__(self, name: str, items: list[Any]) -> None:
        self.name = name
        self._items = items

    def __getitem__(self, i: int) -> Any:
        if not isinstance(i, int):
            raise TypeError(f"{self.name}: index must be an int, got {i!r}")
        if not -len(self._items) <= i < len(self._items):
            raise BoundsError(f"{self.name}[{i}]: the array has {len(self._items)} elements")
        return self._items[i]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._items)

    def __repr__(self) -> str:
        return f"<{self.name}: {len(self._items)} elements>"


class _hybridmethod:
    """A method that works on the class (explicit iomem) and on an instance (its own iomem)."""

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, instance: Any, owner: type) -> Callable[..., Any]:
        return functools.partial(self.func, owner, instance)


class RegisterBlock:
    """Base of register layouts; instances are bound to an IoMem at `base`."""

    size: ClassVar[int | None] = None
    _members: ClassVar[dict[str, Member]] = {}
    _member_names: ClassVar[dict[int, str]] = {}
    _slots: ClassVar[tuple[Slot, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        members: dict[str, Member] = {}
        for base in reversed(cls.__mro__[1:]):
            members.update(base.__dict__.get("_members", {}))
        for name, value in cls.__dict__.items():
            if isinstance(value, (Register, RegisterArray, Block)):
                members[name] = value
            elif value is None and name in members:
                del members[name]  # a variant without this register
        cls._members = members
        cls._member_names = {id(m): n for n, m in members.items()}
        slots: list[Slot] = []
        for name, m in members.items():
            if isinstance(m, Register):
                slots.append(Slot(name, m.offset, m))
            else:
                slots.extend(m.slots(name, 0))
        slots.sort(key=lambda s: (s.offset, s.path))
        cls._slots = tuple(slots)
        cls._validate()

    @classmethod
    def _validate(cls) -> None:
        prev: Slot | None = None
        for s in cls._slots:
            if s.offset % s.reg.width:
                raise LayoutError(
                    f"{cls.__name__}.{s.path}: offset {s.offset:#x} is misaligned for a "
                    f"{s.reg.width * 8}-bit register"
                )
            if prev is not None and s.offset < prev.end and not (s.reg.alias or prev.reg.alias):
                raise LayoutError(
                    f"{cls.__name__}: registers {prev.path} [{prev.offset:#x}..{prev.end - 1:#x}] "
                    f"and {s.path} [{s.offset:#x}..{s.end - 1:#x}] overlap"
                )
            if prev is None or s.end > prev.end:
                prev = s
            if cls.size is not None and s.end > cls.size:
                raise LayoutError(
                    f"{cls.__name__}.{s.path} [{s.offset:#x}..{s.end - 1:#x}] lies outside the "
                    f"declared size {cls.size:#x}"
                )

    @classmethod
    def layout(cls) -> tuple[Slot, ...]:
        """Every register of the layout, flattened, in offset order."""
        return cls._slots

    @classmethod
    def extent(cls) -> int:
        """Bytes the layout spans from offset 0 (its declared size, if larger)."""
        end = max((s.end for s in cls._slots), default=0)
        return max(end, cls.size or 0)

    def __init__(self, iomem: RegisterIo, *, base: int = 0, path: str = "") -> None:
        need = base + max((s.end for s in self._slots), default=0)
        if need > iomem.size:
            raise LayoutError(
                f"{type(self).__name__} needs {need:#x} bytes from the mapping's start "
                f"(base {base:#x}) but {iomem!r} is only {iomem.size:#x} bytes"
            )
        self.iomem = iomem
        self.base = base
        self.path = path

    def __setattr__(self, name: str, value: Any) -> None:
        # `regs.id = 5` would silently replace the register's accessor with an int.
        if name in type(self)._member_names.values():
            raise RegisterError(
                f"{type(self).__name__}.{name} is a register, not an attribute: write it "
                f"with .{name}.write({value!r})")
        object.__setattr__(self, name, value)

    def _bind_member(self, member: Member) -> Any:
        name = type(self)._member_names.get(id(member))
        if name is None:  # a member this class removed or never had
            raise AttributeError(f"{type(self).__name__} has no such register {member!r}")
        prefix = f"{self.path}.{name}" if self.path else name
        bound: Any
        if isinstance(member, Register):
            bound = BoundRegister(member, self.iomem, self.base + member.offset, prefix)
        elif isinstance(member, RegisterArray):
            bound = BoundArray(
                prefix,
                [
                    BoundRegister(r, self.iomem, self.base + r.offset, f"{prefix}[{i}]")
                    for i, r in enumerate(member.elements)
                ],
            )
        else:
            blocks = [
                member.block(
                    self.iomem,
                    base=self.base + b,
                    path=prefix if member.count is None else f"{prefix}[{i}]",
                )
                for i, b in enumerate(member.bases())
            ]
            bound = blocks[0] if member.count is None else BoundArray(prefix, blocks)
        self.__dict__[name] = bound  # later lookups skip the descriptor
        return bound

    def read_all(self, *, destructive: bool = False) -> dict[str, Any]:
        """Every readable register decoded, by path, read pipelined on the wire (one round
        trip per window, not per register). Reads with side effects (RC, side_effects=True)
        are skipped unless destructive=True."""
        chosen = [r for r in self.registers() if r.decl.readable
                  and (destructive or not r.decl.destructive_read)]
        values = read_logical_many(chosen)
        return {r.path: r.decl.shape.decode(v) for r, v in zip(chosen, values)}

    def registers(self) -> list[BoundRegister]:
        """Every register of this block bound to the device, in offset order."""
        prefix = f"{self.path}." if self.path else ""
        return [
            BoundRegister(s.reg, self.iomem, self.base + s.offset, prefix + s.path)
            for s in self._slots
        ]

    def __repr__(self) -> str:
        where = f"+{self.base:#x}" if self.base else ""
        return f"<{type(self).__name__} on {self.iomem!r}{where}>"

    def __str__(self) -> str:
        """A decoded dump of every register that can be read without side effects."""
        from .dump import dump, format_dump

        return format_dump(dump(self))


class RegisterMap(RegisterBlock):
    """A device's register layout. `RegisterMap.check(iomem)` tests it against the device."""

    @_hybridmethod
    def check(
        cls: type[RegisterMap],
        instance: RegisterMap | None,
        iomem: RegisterIo | None = None,
        *,
        destructive: bool = False,
        base: int | None = None,
    ) -> CheckReport:
        """Register layout test against the live device; see driverkit.regs.check."""
        from .check import run_check

        if instance is not None:
            regs = instance if iomem is None else cls(iomem, base=base or 0)
        else:
            if iomem is None:
                raise TypeError(f"{cls.__name__}.check(iomem): the IoMem of the device is required")
            regs = cls(iomem, base=base or 0)
        return run_check(regs, destructive=destructive)
