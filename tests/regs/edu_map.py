"""The edu register map the regs tests use: the driver's own (devices.edu)."""

from devices.edu import DEVICE as EDU_DEVICE  # noqa: F401
from devices.edu import VENDOR as EDU_VENDOR  # noqa: F401
from devices.edu import EduRegs  # noqa: F401
