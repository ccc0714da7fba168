/* Host build of the firmware's pure logic (cmdline.c, memmap.c): the console is a no-op. */
#include <stdint.h>
void puts(const char *s) { (void)s; }
void put_hex(uint64_t v) { (void)v; }
void put_dec(uint32_t v) { (void)v; }
