"""Stepping firmware: a parked CPU that runs exactly the instruction count it is told, then
stops the VM itself.

Under `-icount shift=S,sleep=off` QEMU_CLOCK_VIRTUAL advances by 2**S ns per guest
instruction and by nothing else while a CPU runs, so "advance N ns" is "execute N >> S
instructions". The firmware reads a count from a RAM mailbox (q blocks of `block`
instructions, then r single instructions through a nop sled), runs it, and stops the VM from
the guest: x86 writes the pvpanic port (with `-action panic=pause`), Arm makes a semihosting
call that QEMU hands to its gdbstub (`-semihosting-config target=gdb`): Thumb `bkpt 0xab` on
M-profile, `svc 0x123456` in A32 and `hlt #0xf000` in A64 on A/R profile (QEMU 7.2 also takes
A32 `hlt 0xf000`, measured). The A/R images also store the generic timer's count (CNTVCT)
before the stop. Every step executes `overhead` instructions besides q * block + r; the
counts follow from the code below and are checked against device timers in tests/clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..errors import ConfigError

A_COUNTER_OFFSET = 8  # A/R profile: mailbox + 8 holds the LE u64 CNTVCT read before the stop
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
    counter_hz: int = 0  # A/R profile: the generic timer's frequency (0: no counter stored)
    counter_tail: int = 0  # instructions from the counter read to the stop, both included

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
    def mailbox_size(self) -> int:
        """Bytes of RAM the firmware reads and writes (the machine reserves them)."""
        return A_COUNTER_OFFSET + 8 if self.counter_hz else 8

    @property
    def counter_addr(self) -> int:
        """Where the firmware stores the generic timer count (A/R profile only)."""
        return self.mailbox + A_COUNTER_OFFSET

    def expected_count(self, now_ns: int, shift: int) -> int:
        """The count the firmware must have stored when the step ended at `now_ns`: QEMU 7.2
        counts CNTVCT in whole periods of 10**9 // cntfrq ns, and the read sees its own
        instruction executed (measured: tests/clock), so it reads the time `tail - 1`
        instructions before the stop."""
        period = max(1, 10**9 // self.counter_hz)
        return (now_ns - ((self.counter_tail - 1) << shift)) // period

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


A_MAILBOX_OFFSET = 1 << 20  # past the 1 MiB QEMU reserves for virt's DTB at the start of RAM
A_BLOCK_NOPS = 2000  # A32/A64 branches reach megabytes; x86's block size


class _A64:
    """A64 encodings (Arm ARM C6) of what the step loop needs; `at` is the instruction's
    address, registers are numbers (x0..x30, w for the 32-bit forms)."""

    lit_size = 8  # ldr x<t>, <literal> loads 64 bits
    nop = 0xD503201F

    @staticmethod
    def _off19(at: int, to: int) -> int:
        off = (to - at) >> 2
        if not -(1 << 18) <= off < 1 << 18:
            raise ValueError("A64 branch/literal out of range")
        return off & 0x7FFFF

    @staticmethod
    def b(at: int, to: int) -> int:
        return 0x14000000 | (((to - at) >> 2) & 0x3FFFFFF)

    @classmethod
    def bne(cls, at: int, to: int) -> int:
        return 0x54000001 | cls._off19(at, to) << 5  # b.ne (cond 0b0001)

    @classmethod
    def ldr_lit(cls, rt: int, at: int, lit: int) -> int:
        return 0x58000000 | cls._off19(at, lit) << 5 | rt  # ldr x<rt>, lit

    @staticmethod
    def ldr_w(rt: int, rn: int, off: int) -> int:
        return 0xB9400000 | (off // 4) << 10 | rn << 5 | rt  # ldr w<rt>, [x<rn>, #off]

    @classmethod
    def branch_if_zero(cls, rt: int, at: int, to: int) -> list[int]:
        return [0x34000000 | cls._off19(at, to) << 5 | rt]  # cbz w<rt>, to

    @staticmethod
    def subs_1(rd: int) -> int:
        return 0x71000400 | rd << 5 | rd  # subs w<rd>, w<rd>, #1

    @staticmethod
    def sub_lsl2(rd: int, rm: int) -> int:
        return 0xCB000800 | rm << 16 | rd << 5 | rd  # sub x<rd>, x<rd>, x<rm>, lsl #2

    @staticmethod
    def br(rn: int) -> int:
        return 0xD61F0000 | rn << 5

    @staticmethod
    def store_counter(rt: int, rn: int) -> list[int]:
        # mrs x<rt>, cntvct_el0 (op0 3, op1 3, CRn 14, CRm 0, op2 2); str x<rt>, [x<rn>, #8]
        return [0xD53BE040 | rt, 0xF9000000 | (A_COUNTER_OFFSET // 8) << 10 | rn << 5 | rt]

    @staticmethod
    def mov_imm(rd: int, imm: int) -> int:
        return 0x52800000 | imm << 5 | rd  # movz w<rd>, #imm

    @staticmethod
    def mov(rd: int, rm: int) -> int:
        return 0xAA0003E0 | rm << 16 | rd  # orr x<rd>, xzr, x<rm>

    semihost = 0xD45E0000  # hlt #0xf000


class _A32:
    """A32 encodings (Arm ARM F5/ARMv7 A8), condition AL unless named."""

    lit_size = 4
    nop = 0xE320F000  # the v6K hint NOP

    @staticmethod
    def _off24(at: int, to: int) -> int:
        return ((to - (at + 8)) >> 2) & 0xFFFFFF

    @classmethod
    def b(cls, at: int, to: int) -> int:
        return 0xEA000000 | cls._off24(at, to)

    @classmethod
    def bne(cls, at: int, to: int) -> int:
        return 0x1A000000 | cls._off24(at, to)

    @staticmethod
    def ldr_lit(rt: int, at: int, lit: int) -> int:
        off = lit - (at + 8)
        if not -4096 < off < 4096:
            raise ValueError("A32 literal out of range")
        up = 1 << 23 if off >= 0 else 0
        return 0xE51F0000 | up | rt << 12 | abs(off)  # ldr r<rt>, [pc, #+/-off]

    @staticmethod
    def ldr_w(rt: int, rn: int, off: int) -> int:
        return 0xE5900000 | rn << 16 | rt << 12 | off  # ldr r<rt>, [r<rn>, #off]

    @classmethod
    def branch_if_zero(cls, rt: int, at: int, to: int) -> list[int]:
        return [0xE3500000 | rt << 16, 0x0A000000 | cls._off24(at + 4, to)]  # cmp #0; beq

    @staticmethod
    def subs_1(rd: int) -> int:
        return 0xE2500001 | rd << 16 | rd << 12  # subs r<rd>, r<rd>, #1

    @staticmethod
    def sub_lsl2(rd: int, rm: int) -> int:
        return 0xE0400100 | rd << 16 | rd << 12 | rm  # sub r<rd>, r<rd>, r<rm>, lsl #2

    @staticmethod
    def br(rn: int) -> int:
        return 0xE12FFF10 | rn  # bx r<rn>

    @staticmethod
    def store_counter(rt: int, rn: int) -> list[int]:
        # mrrc p15, 1, r<rt>, r<rt+1>, c14 (CNTVCT); strd r<rt>, r<rt+1>, [r<rn>, #8]
        return [0xEC500F1E | (rt + 1) << 16 | rt << 12,
                0xE1C000F0 | rn << 16 | rt << 12 | A_COUNTER_OFFSET]

    @staticmethod
    def mov_imm(rd: int, imm: int) -> int:
        return 0xE3A00000 | rd << 12 | imm

    @staticmethod
    def mov(rd: int, rm: int) -> int:
        return 0xE1A00000 | rd << 12 | rm

    semihost = 0xEF123456  # svc 0x123456, the A32 semihosting call


def a_profile_step_image(a64: bool, mailbox: int, counter_hz: int) -> StepFirmware:
    """An A/R-profile image for address 0 (QEMU's -bios flash on `virt`), A64 or A32.

    Besides stepping it stores the generic timer's virtual count (CNTVCT) in the mailbox
    right before the stop, so each step's reached time can be read back from the CPU itself.
    Literals sit right behind an unconditional branch, in reach of A32's 4 KiB ldr offset.
    """
    if mailbox % 8:
        raise ConfigError(f"mailbox {mailbox:#x} must be 8-byte aligned")
    isa = _A64 if a64 else _A32
    b = A_BLOCK_NOPS
    sled = b + 1
    w: list[int] = []  # words from address 0

    def here() -> int:
        return 4 * len(w)

    def literal() -> int:  # room for one literal, aligned; returns its word index
        while here() % isa.lit_size:
            w.append(isa.nop)
        w.extend([0] * (isa.lit_size // 4))
        return len(w) - isa.lit_size // 4

    def put(at: int, value: int) -> None:
        w[at:at + isa.lit_size // 4] = struct.unpack(f"<{isa.lit_size // 4}I",
                                                    value.to_bytes(isa.lit_size, "little"))

    w.append(0)  # reset: b top (patched; the same branch every later step takes)
    lit_mailbox = literal()
    put(lit_mailbox, mailbox)
    top = here()
    w += [isa.ldr_lit(3, top, 4 * lit_mailbox), isa.ldr_w(0, 3, 0), isa.ldr_w(1, 3, 4)]
    skip_at = len(w)
    n_skip = len(isa.branch_if_zero(0, 0, 0))
    w += [0] * n_skip  # branch_if_zero q -> rem (patched)
    blk = here()
    w += [isa.nop] * b
    w.append(isa.subs_1(0))
    w.append(isa.bne(here(), blk))
    rem = here()
    w[skip_at:skip_at + n_skip] = isa.branch_if_zero(0, 4 * skip_at, rem)
    ldr_done = len(w)
    w += [0, isa.sub_lsl2(2, 1), isa.br(2)]  # r2 = done - 4 * r; jump into the sled
    lit_done = literal()
    w += [isa.nop] * sled
    done = here()
    put(lit_done, done)
    w[ldr_done] = isa.ldr_lit(2, 4 * ldr_done, 4 * lit_done)
    w += isa.store_counter(4, 3)
    w += [isa.mov_imm(0, 3), isa.mov(1, 3), isa.semihost]  # SYS_WRITEC: the VM stops here
    w.append(isa.b(here(), top))
    w[0] = isa.b(0, top)
    tail = len(isa.store_counter(4, 3)) + 3
    # Per step: b top, ldr, ldr, ldr, cbz (A32: cmp, beq), [q * (b + 2)], ldr, sub, br,
    # [r nops], the counter read and store, mov, mov, the semihosting call.
    overhead = 1 + 3 + n_skip + 3 + tail
    return StepFirmware(struct.pack(f"<{len(w)}I", *w), mailbox, b + 2, overhead, "semihost",
                        counter_hz=counter_hz, counter_tail=tail)
