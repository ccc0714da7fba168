/* Declarations shared by the firmware's modules. */
#ifndef FW_H
#define FW_H

#include <stdint.h>
#include <stddef.h>

/* serial.c: COM1 console */
void serial_init(void);
void puts(const char *s);
void put_hex(uint64_t v);
void put_dec(uint32_t v);

/* cmdline.c */
uint64_t memparse(const char *s, const char **end);
/* Value of the last `key=` token, copied into buf (NUL-terminated); 0 if absent. */
int cmdline_get(const char *cmdline, const char *key, char *buf, size_t len);

/* interrupts.c: IDT, masked PIC, LAPIC periodic timer (1 ms ticks) */
extern volatile uint32_t fw_ticks;
void interrupts_init(void);

/* memmap.c: multiboot memory map -> usable RAM ranges -> top-down allocation */
#define MAX_RANGES 32
struct range { uint64_t start, end; };   /* [start, end) */
struct memmap {
    struct range ram[MAX_RANGES];        /* usable RAM: after memmap_finish, sorted, merged,
                                            below the limit, whole pages */
    int nr_ram;
    struct range other[MAX_RANGES];      /* every non-RAM entry (reserved, ACPI, ...) */
    int nr_other;
};
void memmap_add(struct memmap *mm, uint64_t addr, uint64_t len, uint32_t type);
/* e820-style sanitising: other types win over RAM where they overlap; then the mem= cut,
 * merging of adjacent RAM (memblock_add) and memblock_trim_memory() to whole pages. */
void memmap_finish(struct memmap *mm, uint64_t limit);
int memmap_from_multiboot(struct memmap *mm, const void *mbi, uint64_t limit);
/* Top-down like memblock: highest free range below limit, round_down(end - size, align). */
uint64_t alloc_top_down(const struct memmap *mm, const struct range *reserved, int nr_reserved,
                        uint64_t size, uint64_t align, uint64_t limit);

/* pci.c: config mechanism #1 and the edu device */
struct edu_result { uint32_t value, bar0, id, bdf_flags; };
int edu_factorial(uint32_t n, struct edu_result *out);

/* crc32.c */
uint32_t crc32_ieee(const volatile uint8_t *p, uint32_t len);

void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
size_t strlen(const char *s);

#endif
