/* The mailbox protocol shared by the firmware and the host (see README.md).
 *
 * The mailbox sits at the start of the carve-out (symbol carveout_base).
 * The host fills cmd/arg/data, then writes doorbell = done + 1 (last).
 * The firmware answers in status/ret/data and then sets done = doorbell.
 * Built with -g, so `struct mailbox` is in DWARF and driverkit.elf can read it.
 */
#ifndef MAILBOX_H
#define MAILBOX_H

#include <stdint.h>

#define MBOX_MAGIC      0x424d4b44u /* "DKMB" in memory order */
#define MBOX_VERSION    1
#define MBOX_DATA_SIZE  256         /* inline payload bytes (echo) */

/* Commands */
#define MBOX_CMD_ECHO          0x01 /* ret[i] = arg[i]; data[0..data_len) left as written */
#define MBOX_CMD_CRC32         0x02 /* arg0 = offset in carve-out, arg1 = length -> ret0 = CRC-32 (IEEE) */
#define MBOX_CMD_EDU_FACTORIAL 0x03 /* arg0 = n -> ret0 = n! (edu, 32-bit), ret1 = BAR0, ret2 = edu ID, ret3 = BDF | assigned<<16 */
#define MBOX_CMD_INFO          0x04 /* ret0 = carve-out base, ret1 = size, ret2 = usable limit, ret3 = align */

/* Status codes: 0 or a negated Linux errno */
#define MBOX_OK         0
#define MBOX_ENODEV     (-19)
#define MBOX_EINVAL     (-22)
#define MBOX_ERANGE     (-34)
#define MBOX_ENOSYS     (-38)       /* unknown command */
#define MBOX_ETIMEDOUT  (-110)

struct mailbox {
    uint32_t magic;        /* 0x00 MBOX_MAGIC once the firmware serves */
    uint16_t version;      /* 0x04 MBOX_VERSION */
    uint16_t header_size;  /* 0x06 sizeof(struct mailbox) */
    uint32_t doorbell;     /* 0x08 host: sequence number of the request just written */
    uint32_t done;         /* 0x0c firmware: sequence number of the last request answered */
    uint32_t cmd;          /* 0x10 MBOX_CMD_* */
    int32_t  status;       /* 0x14 MBOX_OK or a negative errno */
    uint32_t arg[4];       /* 0x18 request arguments */
    uint32_t ret[4];       /* 0x28 reply values */
    uint32_t data_len;     /* 0x38 valid bytes in data[] */
    uint32_t reserved;     /* 0x3c zero */
    uint64_t served;       /* 0x40 requests answered since boot */
    uint8_t  data[MBOX_DATA_SIZE]; /* 0x48 inline payload */
};

#endif
