"""The one error hierarchy of driverkit: every failure a user can act on is a DriverkitError.

Bad input is refused in Python with the reason and the numbers, before anything
reaches QEMU. Modules add subclasses here (append, keep the tree shallow).
"""

from __future__ import annotations

from typing import Sequence


class DriverkitError(Exception):
    """Root of every error driverkit raises on purpose."""


# --- configuration and input -------------------------------------------------------------


class ConfigError(DriverkitError, ValueError):
    """A MachineSpec, size string, command-line option or other input is malformed."""


class ArgumentTypeError(DriverkitError, TypeError):
    """A public call got an argument of the wrong type (bools are not ints, strings not lists)."""


class SizeSyntaxError(ConfigError):
    """A size such as "256M" could not be parsed."""


# --- memory access ------------------------------------------------------------------------


class AccessError(DriverkitError):
    """An MMIO/RAM/port access was refused before it reached QEMU."""


class BoundsError(AccessError, IndexError):
    """An offset or length falls outside the mapping or address space."""


class AlignmentError(AccessError):
    """An access is not naturally aligned for its width."""


class WidthError(AccessError):
    """An access width is not one of 1, 2, 4, 8 bytes (8/16/32/64 bits)."""


class ValueRangeError(AccessError, ValueError):
    """A value does not fit the access width (or is negative)."""


class ReadbackMismatch(AccessError):
    """A write read back differently and the caller asked for verification (poke --verify)."""


class InvalidWidth(AccessError):
    """The device at this address does not accept this access width (QEMU would answer 0).

    `rejected`: QEMU's own lines for the refused accesses (transport.guest_errors
    RejectedAccess: op, region-relative addr, size, region, reason), when it logged them."""

    rejected: Sequence[object] = ()  # also on one rebuilt from a session's reply

    def __init__(self, message: str, rejected: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.rejected = list(rejected)


class RejectedAccessWarning(UserWarning):
    """QEMU did not perform an access (a width the device refuses, nothing mapped there): the
    value read is not the device's (Machine.check_accesses("warn")); also, under any policy,
    a refusal that was not driverkit's checked access (the guest's CPU, a raw qtest call)."""


class UnbackedError(AccessError):
    """Nothing (RAM, ROM, MMIO) backs the requested physical range."""


class MappingError(AccessError):
    """ioremap/iounmap misuse: size 0, wraparound, double unmap, use after unmap."""


class ResourceBusy(DriverkitError):
    """request_mem_region conflict, as the kernel's -EBUSY."""


# --- the QEMU machine --------------------------------------------------------------------


class MachineError(DriverkitError):
    """Something went wrong with the QEMU process or its channels."""


class MachineStateError(MachineError):
    """A call the machine's current state does not allow (before start, after close...)."""


class ClockError(MachineError, ValueError):
    """A virtual-clock request that cannot be honoured (no stepped clock, a bad step size)."""


class BoardError(ConfigError):
    """A board (or QOM path, or GPIO line) that the installed QEMU does not have."""


class QemuNotFound(MachineError):
    """The QEMU binary for the requested architecture is not installed."""


class MachineDied(MachineError):
    """QEMU exited or was killed; carries exit status, signal and its stderr tail."""

    def __init__(
        self,
        message: str,
        *,
        returncode: int | None = None,
        signal: int | None = None,
        stderr_tail: str = "",
    ) -> None:
        self.returncode = returncode
        self.signal = signal
        self.stderr_tail = stderr_tail
        detail = message
        if returncode is not None:
            detail += f" (exit status {returncode}"
            detail += f", signal {signal})" if signal is not None else ")"
        if stderr_tail:
            detail += "\n--- QEMU stderr (tail) ---\n" + stderr_tail
        super().__init__(detail)


class SessionError(DriverkitError):
    """A CLI session is unknown, its name is taken, or its supervisor or QEMU is gone."""


class MachineTimeout(MachineError, TimeoutError):
    """A wait on the machine passed its deadline; says what was being waited for."""

    def __init__(self, what: str, timeout: float) -> None:
        self.what = what
        self.timeout = timeout
        super().__init__(f"timed out after {timeout:g} s waiting for {what}")


class QtestError(MachineError):
    """QEMU answered a qtest command with FAIL or something unparsable."""


class QmpError(MachineError):
    """A QMP command failed."""


# --- PCI ----------------------------------------------------------------------------------


class PciError(DriverkitError):
    """PCI enumeration, BAR assignment or enable failed."""


class DeviceNotFound(PciError, LookupError):
    """No device matched the search."""


# --- registers -----------------------------------------------------------------------------


class RegisterError(DriverkitError):
    """Register map misuse."""


class LayoutError(RegisterError):
    """A register map declaration is inconsistent (overlap, overflow, misalignment)."""


class DescriptionError(RegisterError, ConfigError):
    """A register description file (CMSIS-SVD, SystemRDL, a fixes YAML) is malformed or
    describes something a RegisterMap cannot hold; names the file and the element."""


class UnknownPeripheral(DescriptionError, LookupError):
    """The description has no peripheral / block of that name; lists the ones it has."""


class AccessDenied(RegisterError):
    """The register's access kind forbids the operation (write to RO, read of WO)."""


# --- allocator model ---------------------------------------------------------------------


class MemModelError(DriverkitError):
    """The allocator model cannot answer for this input."""


class CmdlineError(MemModelError, ConfigError):
    """A kernel command-line parameter is malformed; names the parameter."""


class PoolError(MemModelError):
    """gen_pool misuse: out of memory, double free, foreign address."""


class OutOfMemory(PoolError):
    """The pool or allocator has no block of the requested size and alignment."""


# --- ELF images and guests -------------------------------------------------------------------


class ElfError(DriverkitError):
    """An ELF file is missing, corrupt or truncated."""


class SymbolNotFound(ElfError, KeyError):
    """The ELF has no symbol of that name."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the plain message
        return str(self.args[0]) if self.args else ""


class GuestError(DriverkitError):
    """A guest artifact is missing or the guest did not behave as expected."""


class ArtifactMissing(GuestError):
    """A built guest artifact (kernel, initramfs, firmware) is not in the cache; build it first."""


class GuestCommandFailed(GuestError):
    """A command run in the guest's shell exited non-zero; carries status and output."""

    def __init__(self, command: str, status: int, output: str) -> None:
        self.command = command
        self.status = status
        self.output = output
        tail = output[-500:]
        super().__init__(f"guest command {command!r} exited with status {status}"
                         + (f"; output (tail):\n{tail}" if tail else ""))


# --- device drivers (devices/*) ------------------------------------------------------------


class DriverError(DriverkitError):
    """A device driver cannot do what was asked (see the message for the device's limits)."""


class UnknownDriver(DriverError, LookupError):
    """No driver of that name is registered in the driverkit.devices entry-point group."""

    def __str__(self) -> str:  # LookupError subclasses quote their argument; keep the message
        return str(self.args[0]) if self.args else ""


class DeviceRefused(DriverError, ValueError):
    """The driver refused a request the device cannot do safely (e.g. edu DMA out of range)."""


# --- replay and the pytest plugin ------------------------------------------------------------


class ReplayError(DriverkitError):
    """A recorded trace cannot serve this replay (missing, malformed, or lacking data)."""


class ReplayDivergence(ReplayError):
    """The driver's access differs from the recorded one; names the index, expected and actual."""

    def __init__(self, index: int, expected: str | None, actual: str) -> None:
        self.index = index
        self.expected = expected
        self.actual = actual
        super().__init__(f"replay diverged at trace event #{index}: expected "
                         f"{expected or 'the end of the trace'}, the driver did {actual}")


class MachineLeftUnusable(MachineError):
    """A test left a shared machine dead or unresettable; names the test (the next gets a fresh one)."""


# --- DMA buffers ----------------------------------------------------------------------------


class DmaError(DriverkitError):
    """DMA buffer misuse: no pool region, a region that is not free RAM, use after free,
    a buffer outside the device's DMA mask."""


# --- the bare-metal test firmware (driverkit.firmware) ------------------------------------------


class FirmwareError(GuestError):
    """The test firmware did not come up: it reported FAILED (with its reason) or has no mailbox."""


class MailboxError(FirmwareError):
    """The firmware answered a mailbox request with an error; `.code` is its negative errno."""

    def __init__(self, command: str, code: int, ret: tuple[int, ...] = ()) -> None:
        import errno as _errno

        self.command = command
        self.code = code
        self.ret = tuple(ret)
        name = _errno.errorcode.get(-code, "?")
        super().__init__(f"the firmware refused {command}: status {code} (-{name})")


class ProbeRangeError(MemModelError, ConfigError):
    """A probe range is not START:SIZE or (start, size), or is empty, negative or past 64 bits."""


class DeviceTreeError(MemModelError, ConfigError):
    """A device tree blob that is not one (bad magic, truncated, corrupt), or lacks a node
    the model needs; names the file and libfdt's reason."""


class ReservedMemoryError(DeviceTreeError):
    """A /reserved-memory region the kernel cannot honour as asked: outside RAM, over the
    kernel image, initrd or DTB, overlapping another region, or misaligned for CMA."""


class KernelImageError(MemModelError):
    """A kernel image (or its config) cannot be read; names the file and what was expected."""


class NotAKernelImage(KernelImageError):
    """The file is not a kernel image of any kind the model reads."""


class KernelImageCorrupt(KernelImageError):
    """A kernel image that is truncated or whose payload does not decompress to an ELF."""


class UnknownCompression(KernelImageError):
    """The image's payload is compressed with a method the reader does not know."""


class KernelArchMismatch(KernelImageError):
    """The image is a kernel for another architecture than the one asked for."""


class KernelConfigMismatch(KernelImageError):
    """The config file belongs to another kernel build than the image."""
