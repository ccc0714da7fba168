/* CRC-32 (IEEE 802.3, reflected, poly 0xedb88320): the same value as Python's zlib.crc32. */
#include "fw.h"

uint32_t crc32_ieee(const volatile uint8_t *p, uint32_t len)
{
    uint32_t crc = 0xffffffffu;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}
