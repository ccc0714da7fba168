"""Stepping firmware: a parked CPU that runs exactly the instruction count it is told, then
stops the VM itself.

Under `-icount shift=S,sleep=off` QEMU_CLOCK_VIRTUAL advances by 2**S ns per guest
instruction and by nothing else while a CPU runs, so "advance N ns" is "execute N >> S
instructions". The firmware reads a count from a RAM mailbox (q blocks of `block`
instructions, then r single instructions through a nop sled), runs it, and stops the VM from
the guest: x86 writes the pvpanic port (with `-action panic=pause`), Arm M-profile makes a
semihosting call that QEMU hands to its gdbstub (`-semihosting-config target=gdb`). Every
step executes `overhead` instructions besides q * block + r; the counts follow from the code
below and are checked against device timers in tests/clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ConfigError

X86_MAILBOX = 0x500  # low RAM, unused by a machine without BIOS
X86_BLOCK_NOPS = 2000
M_BLOCK_NOPS = 100  # a Thumb conditional branch reaches back 256 bytes
PVPANIC_PORT = 0x505


@dataclass(frozen=True)
class StepFirmware:
    """An image and the arithmetic of its step loop."""

    image: bytes
    mailbox: int  # guest-physical: LE u32 q, LE u32 r
    block: int  # instructions per block iteration
    overhead: int  # instructions per step besides q * block + r
    stop: str  # "pvpanic" or "semihost"

    @property
    def min_insns(self) -> int:
        return self.overhead

    def split(self, insns: int) -> tuple[int, int]:
        """(q, r) so that overhead + q * block + r == insns (r < block: the sled is that long)."""
        q, r = divmod(insns - self.overhead, self.block)
        return q, r

    def mailbox_bytes(self, insns: int) -> bytes:
        q, r = self.split(insns)
        return struct.pack("<II", q, r)

    @property
    def max_insns(self) -> int:
        return self.overhead + 0xFFFFFFFF * self.block + self.block - 1


def x86_step_rom() -> StepFirmware:
    """64 KiB real-mode ROM (F000:0000, reset vector at F000:FFF0)."""
    b = X86_BLOCK_NOPS
    code = bytearray()
    top = 0
    code += bytes.fromhex("668b0e") + struct.pack("<H", X86_MAILBOX)  # mov ecx, [mailbox]
    code += bytes.fromhex("668b1e") + struct.pack("<H", X86_MAILBOX + 4)  # mov ebx, [mailbox+4]
    code += bytes.fromhex("6685c9")  # test ecx, ecx
    jz_at = len(code)
    code += bytes.fromhex("0f840000")  # jz rem (patched)
    blk = len(code)
    code += b"\x90" * b  # nops
    code += bytes.fromhex("6649")  # dec ecx
    code += bytes.fromhex("0f85") + struct.pack("<h", blk - (len(code) + 4))  # jnz blk
    rem = len(code)
    code[jz_at + 2:jz_at + 4] = struct.pack("<h", rem - (jz_at + 4))
    sled = b + 1  # r < block = b + 2
    done = rem + 3 + 2 + 2 + sled
    code += b"\xb8" + struct.pack("<H", done)  # mov ax, done
    code += bytes.fromhex("29d8")  # sub ax, bx
    code += bytes.fromhex("ffe0")  # jmp ax
    code += b"\x90" * sled
    assert len(code) == done
    code += b"\xba" + struct.pack("<H", PVPANIC_PORT)  # mov dx, 0x505
    code += bytes.fromhex("b001")  # mov al, 1 (PVPANIC_PANICKED)
    code += b"\xee"  # out dx, al: the VM stops here
    code += b"\xe9" + struct.pack("<h", top - (len(code) + 3))  # jmp top
    rom = bytearray(b"\xf4" * 0x10000)
    rom[: len(code)] = code
    rom[0xFFF0:0xFFF3] = b"\xe9" + struct.pack("<H", (top - 0xFFF3) & 0xFFFF)  # reset: jmp top
    # Per step: jmp, mov, mov, test, jz, [q * (b + 2)], mov, sub, jmp, [r nops], mov, mov, out.
    return StepFirmware(bytes(rom), X86_MAILBOX, b + 2, 11, "pvpanic")


def _thumb_branch(at: int, target: int, cond: int | None = None) -> int:
    off = target - (at + 4)
    if off % 2:
        raise ValueError("Thumb branch target must be halfword aligned")
    if cond is None:
        if not -2048 <= off < 2048:
            raise ValueError("b out of range")
        return 0xE000 | ((off >> 1) & 0x7FF)
    if not -256 <= off < 256:
        raise ValueError("b<cond> out of range")
    return 0xD000 | (cond << 8) | ((off >> 1) & 0xFF)


def m_profile_step_image(mailbox: int, stack_top: int) -> StepFirmware:
    """A Cortex-M image for address 0 (ARMv6-M Thumb only, so it runs on an M0 too)."""
    if mailbox % 4 or stack_top % 8:
        raise ConfigError(f"mailbox {mailbox:#x} / stack {stack_top:#x} misaligned")
    b = M_BLOCK_NOPS
    sled = b + 1
    base = 0x40  # after 16 vectors
    h: list[int] = []  # halfwords from `base`

    def here() -> int:
        return base + 2 * len(h)

    top = here()
    lit_mb_at = len(h)
    h.append(0)  # ldr r3, [pc, #lit_mb] (patched)
    h += [0x6818, 0x6859, 0x2800]  # ldr r0,[r3]; ldr r1,[r3,#4]; cmp r0,#0
    beq_at = len(h)
    h.append(0)  # beq rem (patched)
    blk = here()
    h += [0xBF00] * b
    h.append(0x3801)  # subs r0, #1
    h.append(_thumb_branch(here(), blk, cond=1))  # bne blk
    rem = here()
    h[beq_at] = _thumb_branch(base + 2 * beq_at, rem, cond=0)
    lit_done_at = len(h)
    h.append(0)  # ldr r2, [pc, #lit_done] (patched)
    h += [0x0049, 0x1A52, 0x4710]  # lsls r1,r1,#1; subs r2,r2,r1; bx r2
    h += [0xBF00] * sled
    done = here()
    h += [0x2003, 0x4619, 0xBEAB]  # movs r0,#3 (SYS_WRITEC); mov r1,r3; bkpt 0xab: stop
    entry = here()
    h.append(_thumb_branch(entry, top))  # b top
    hang = here()
    h.append(0xE7FE)  # b .
    if len(h) % 2:
        h.append(0xBF00)
    lits = here()
    for at, lit in ((lit_mb_at, lits), (lit_done_at, lits + 4)):
        pc = (base + 2 * at + 4) & ~3
        h[at] = (0x4B00 if at == lit_mb_at else 0x4A00) | ((lit - pc) // 4)
    body = struct.pack(f"<{len(h)}H", *h) + struct.pack("<II", mailbox, done | 1)
    vectors = [stack_top, entry | 1] + [hang | 1] * 14
    image = struct.pack("<16I", *vectors) + body
    # Per step: b top, ldr, ldr, ldr, cmp, beq, [q * (b + 2)], ldr, lsls, subs, bx,
    # [r nops], movs, mov, bkpt.
    return StepFirmware(image, mailbox, b + 2, 13, "semihost")
