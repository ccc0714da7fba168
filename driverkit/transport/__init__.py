"""Transports: qtest (MMIO, PIO, RAM), shared RAM (mmap), and routing by what backs an address."""

from .base import WIDTHS, Bus, MemoryBus

__all__ = ["WIDTHS", "Bus", "MemoryBus"]
