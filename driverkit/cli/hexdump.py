"""Bytes as `hexdump -C` prints them: 16 per line in two groups of 8, the ASCII column,
repeated lines folded into "*", the end offset on the last line."""

from __future__ import annotations


def hexdump_c(data: bytes, base: int = 0) -> str:
    lines: list[str] = []
    prev: bytes | None = None
    folded = False
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        if chunk == prev and len(chunk) == 16:
            if not folded:
                lines.append("*")
                folded = True
            continue
        prev, folded = chunk, False
        hexes = [f"{b:02x}" for b in chunk] + ["  "] * (16 - len(chunk))
        left, right = " ".join(hexes[:8]), " ".join(hexes[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        lines.append(f"{base + off:08x}  {left}  {right}  |{text}|")
    lines.append(f"{base + len(data):08x}")
    return "\n".join(lines)
