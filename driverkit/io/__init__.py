"""ioremap -> IoMem, the resource tree (request_mem_region), DMA buffers."""

from .iomem import IoMem

__all__ = ["IoMem"]
