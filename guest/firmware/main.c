/* driverkit bare-metal test firmware: read the multiboot map and command line, honour mem=,
 * carve out memory top-down like memblock, then serve the mailbox in the carve-out. */
#include "fw.h"
#include "io.h"
#include "mailbox.h"

#define MB_LOADER_MAGIC  0x2badb002u
#define MB_FLAG_CMDLINE  (1u << 2)
#define FOUR_GIB         0x100000000ull

enum fw_state { FW_BOOTING = 0, FW_READY = 1, FW_FAILED = 2 };

/* Published for the host (read them at their ELF symbol addresses). */
volatile uint32_t fw_state = FW_BOOTING;
volatile uint32_t fw_protocol_version = MBOX_VERSION;   /* in .data: a file-backed segment */
volatile uint64_t carveout_base;
volatile uint64_t carveout_size;
volatile uint64_t carveout_align;
volatile uint64_t mem_limit;            /* mem= value; 0 = none */
volatile struct mailbox *mailbox;       /* == carveout_base once ready */

extern char _image_start[], _image_end[];

static char cmdline[512];

static void fail(const char *why)
{
    puts("driverkit-fw: FAILED: ");
    puts(why);
    puts("\n");
    fw_state = FW_FAILED;
    for (;;)
        __asm__ volatile("cli; hlt");
}

static int is_pow2(uint64_t v) { return v && !(v & (v - 1)); }

/* A size parameter: memparse() with no trailing junk; `dflt` if absent. */
static uint64_t size_param(const char *key, uint64_t dflt)
{
    char buf[64];
    if (!cmdline_get(cmdline, key, buf, sizeof(buf)))
        return dflt;
    const char *end;
    uint64_t v = memparse(buf, &end);
    if (*end || end == buf) {
        puts("driverkit-fw: ");
        puts(key);
        puts("=");
        puts(buf);
        fail(" is not a size (memparse stopped early)");
    }
    return v;
}

static void handle(volatile struct mailbox *mb)
{
    uint32_t cmd = mb->cmd;
    int32_t status = MBOX_OK;
    uint32_t ret[4] = { 0, 0, 0, 0 };
    switch (cmd) {
    case MBOX_CMD_ECHO:
        for (int i = 0; i < 4; i++)
            ret[i] = mb->arg[i];
        if (mb->data_len > MBOX_DATA_SIZE)
            status = MBOX_EINVAL;
        break;
    case MBOX_CMD_CRC32: {
        uint64_t off = mb->arg[0], len = mb->arg[1];
        if (off + len > carveout_size) {
            status = MBOX_ERANGE;
            break;
        }
        ret[0] = crc32_ieee((const volatile uint8_t *)(uintptr_t)(carveout_base + off), (uint32_t)len);
        ret[1] = (uint32_t)len;
        break;
    }
    case MBOX_CMD_EDU_FACTORIAL: {
        struct edu_result r = { 0, 0, 0, 0 };
        status = edu_factorial(mb->arg[0], &r);
        ret[0] = r.value; ret[1] = r.bar0; ret[2] = r.id; ret[3] = r.bdf_flags;
        break;
    }
    case MBOX_CMD_INFO:
        ret[0] = (uint32_t)carveout_base; ret[1] = (uint32_t)carveout_size;
        ret[2] = (uint32_t)(mem_limit ? mem_limit : 0); ret[3] = (uint32_t)carveout_align;
        break;
    default:
        status = MBOX_ENOSYS;
        ret[0] = cmd;
        break;
    }
    for (int i = 0; i < 4; i++)
        mb->ret[i] = ret[i];
    mb->status = status;
    mb->served = mb->served + 1;
    puts("driverkit-fw: request ");
    put_dec(mb->doorbell);
    puts(" cmd ");
    put_hex(cmd);
    puts(" status ");
    put_dec((uint32_t)-status);
    puts(status ? " (error)\n" : " (ok)\n");
    barrier();
    mb->done = mb->doorbell;   /* last: the reply is complete */
}

void fw_main(uint32_t magic, const uint32_t *mbi)
{
    serial_init();
    puts("\ndriverkit-fw: start\n");
    if (magic != MB_LOADER_MAGIC)
        fail("not loaded by a multiboot loader (eax != 0x2badb002)");
    if (mbi[0] & MB_FLAG_CMDLINE) {
        const char *src = (const char *)(uintptr_t)mbi[4];
        size_t n = strlen(src);
        if (n >= sizeof(cmdline))
            n = sizeof(cmdline) - 1;
        memcpy(cmdline, src, n);
        cmdline[n] = 0;
    }
    puts("driverkit-fw: cmdline \"");
    puts(cmdline);
    puts("\"\n");

    /* x86 mem=: a maximum physical address (0 is refused, as Linux does: "mem={invalid}"). */
    uint64_t limit = FOUR_GIB;          /* no paging: only the low 4 GiB are reachable */
    char buf[64];
    if (cmdline_get(cmdline, "mem", buf, sizeof(buf))) {
        const char *end;
        uint64_t v = memparse(buf, &end);
        if (v == 0) {
            puts("driverkit-fw: mem=");
            puts(buf);
            puts(" ignored (malformed or zero, as Linux)\n");
        } else {
            mem_limit = v;
            if (v < limit)
                limit = v;
            puts("driverkit-fw: mem= limit ");
            put_hex(v);
            puts("\n");
        }
    }
    uint64_t size = size_param("carveout", 1ull << 20);
    uint64_t align = size_param("align", 4096);
    if (!is_pow2(align))
        fail("align= must be a power of two");
    if (size < sizeof(struct mailbox))
        fail("carveout= is smaller than the mailbox header");

    struct memmap mm;
    if (memmap_from_multiboot(&mm, mbi, limit))
        fail("the multiboot loader gave no memory map");
    struct range reserved[2] = {
        { 0, 0x100000 },   /* real-mode area, as x86 Linux's memblock reserves [0, 1 MiB) */
        { (uintptr_t)_image_start, (uintptr_t)_image_end },
    };
    uint64_t base = alloc_top_down(&mm, reserved, 2, size, align, limit);
    if (!base)
        fail("no usable RAM range below the limit fits the carve-out");
    carveout_size = size;
    carveout_align = align;
    carveout_base = base;
    puts("driverkit-fw: carveout ");
    put_hex(base);
    puts(" size ");
    put_hex(size);
    puts(" align ");
    put_hex(align);
    puts("\n");

    interrupts_init();

    volatile struct mailbox *mb = (volatile struct mailbox *)(uintptr_t)base;
    memset((void *)mb, 0, sizeof(*mb));
    mb->version = MBOX_VERSION;
    mb->header_size = (uint16_t)__builtin_offsetof(struct mailbox, data);
    barrier();
    mb->magic = MBOX_MAGIC;
    mailbox = mb;
    fw_state = FW_READY;
    puts("driverkit-fw: mailbox ready\n");

    for (;;) {
        if (mb->doorbell != mb->done)
            handle(mb);
        else
            __asm__ volatile("hlt");   /* the 1 kHz LAPIC timer wakes us */
    }
}
