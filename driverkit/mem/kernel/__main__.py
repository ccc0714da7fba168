"""`python -m driverkit.mem.kernel VMLINUZ [CONFIG]`: print the description as JSON.

This is how data/BUNDLED_RELEASE.json is made: the bundled default is read by the same code.
"""

import json
import sys

from . import read_kernel

if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: python -m driverkit.mem.kernel VMLINUZ [CONFIG]")
    k = read_kernel(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else None)
    print(json.dumps(k.to_dict(), indent=1))
