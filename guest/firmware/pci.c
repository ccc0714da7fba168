/* PCI config mechanism #1 (ports 0xcf8/0xcfc) and the edu device (1234:11e8) factorial. */
#include "fw.h"
#include "io.h"
#include "mailbox.h"

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_ID        0x00
#define EDU_FACTORIAL 0x08
#define EDU_STATUS    0x20
#define EDU_FALLBACK_BAR0 0xe0000000u   /* used only if nobody assigned BAR0 (inside the PCI hole) */
#define EDU_TIMEOUT_MS 1000

static uint32_t cfg_addr(uint32_t bdf, uint32_t off) { return 0x80000000u | (bdf << 8) | (off & 0xfc); }

static uint32_t cfg_read32(uint32_t bdf, uint32_t off)
{
    outl(0xcf8, cfg_addr(bdf, off));
    return inl(0xcfc);
}

static void cfg_write32(uint32_t bdf, uint32_t off, uint32_t v)
{
    outl(0xcf8, cfg_addr(bdf, off));
    outl(0xcfc, v);
}

/* bdf = bus << 8 | dev << 3 | fn; -1 if absent. Bus 0 is enough for q35/pc with edu on it. */
static int find_device(uint16_t vendor, uint16_t device)
{
    for (uint32_t bdf = 0; bdf < 256; bdf++) {
        uint32_t id = cfg_read32(bdf, 0);
        if ((id & 0xffff) == 0xffff)
            continue;
        if ((id & 0xffff) == vendor && (id >> 16) == device)
            return (int)bdf;
    }
    return -1;
}

/* BAR0 as programmed; if it is 0, size it and assign EDU_FALLBACK_BAR0 (aligned to its size). */
static uint32_t ensure_bar0(uint32_t bdf, int *assigned)
{
    uint32_t bar = cfg_read32(bdf, 0x10) & ~0xfu;
    *assigned = 0;
    if (bar)
        return bar;
    uint32_t cmd = cfg_read32(bdf, 0x04) & 0xffff;
    cfg_write32(bdf, 0x04, cmd & ~0x3u);            /* decode off while sizing */
    cfg_write32(bdf, 0x10, 0xffffffffu);
    uint32_t mask = cfg_read32(bdf, 0x10) & ~0xfu;
    uint32_t size = ~mask + 1;
    bar = (EDU_FALLBACK_BAR0 + size - 1) & ~(size - 1);
    cfg_write32(bdf, 0x10, bar);
    cfg_write32(bdf, 0x04, cmd);
    *assigned = 1;
    puts("driverkit-fw: edu BAR0 was unassigned (size ");
    put_hex(size);
    puts("); assigned ");
    put_hex(bar);
    puts("\n");
    return cfg_read32(bdf, 0x10) & ~0xfu;
}

int edu_factorial(uint32_t n, struct edu_result *out)
{
    int bdf = find_device(EDU_VENDOR, EDU_DEVICE);
    if (bdf < 0) {
        puts("driverkit-fw: edu (1234:11e8) not found on bus 0\n");
        return MBOX_ENODEV;
    }
    int assigned;
    uint32_t bar = ensure_bar0((uint32_t)bdf, &assigned);
    uint32_t cmd = cfg_read32((uint32_t)bdf, 0x04) & 0xffff;
    if (!(cmd & 0x2))
        cfg_write32((uint32_t)bdf, 0x04, cmd | 0x2);  /* memory space decode on */
    out->bar0 = bar;
    out->id = mmio_read32(bar + EDU_ID);
    out->bdf_flags = (uint32_t)bdf | ((uint32_t)assigned << 16);
    mmio_write32(bar + EDU_FACTORIAL, n);
    uint32_t start = fw_ticks;
    while (mmio_read32(bar + EDU_STATUS) & 1) {
        if (fw_ticks - start > EDU_TIMEOUT_MS) {
            puts("driverkit-fw: edu factorial timed out\n");
            return MBOX_ETIMEDOUT;
        }
        __asm__ volatile("hlt");
    }
    out->value = mmio_read32(bar + EDU_FACTORIAL);
    return 0;
}
