/* The multiboot memory map, sanitised and trimmed like Linux's e820/memblock, and a top-down
 * bootmem-style allocator. No printing or pointer tricks outside memmap_from_multiboot, so the
 * rest builds on the host too (tests cross-check it against driverkit.mem's memblock model). */
#include "fw.h"

#define PAGE_SIZE 4096ull
#define MB_FLAG_MMAP (1u << 6)

struct mb_mmap_entry {
    uint32_t size;           /* of the rest of this entry */
    uint64_t addr;
    uint64_t len;
    uint32_t type;           /* 1 = usable RAM */
} __attribute__((packed));

static void sort_ranges(struct range *r, int n, int descending)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0; j--) {
            int swap = descending ? r[j].start > r[j - 1].start : r[j].start < r[j - 1].start;
            if (!swap)
                break;
            struct range t = r[j]; r[j] = r[j - 1]; r[j - 1] = t;
        }
}

/* ranges[] minus [rs, re); returns the new count (at most cap). */
static int subtract(struct range *r, int n, int cap, uint64_t rs, uint64_t re)
{
    struct range out[MAX_RANGES * 4];
    int m = 0;
    for (int i = 0; i < n && m < MAX_RANGES * 4 - 1; i++) {
        if (re <= r[i].start || rs >= r[i].end) {
            out[m++] = r[i];
            continue;
        }
        if (rs > r[i].start)
            out[m++] = (struct range){ r[i].start, rs };
        if (re < r[i].end)
            out[m++] = (struct range){ re, r[i].end };
    }
    if (m > cap)
        m = cap;
    memcpy(r, out, sizeof(struct range) * (size_t)m);
    return m;
}

void memmap_add(struct memmap *mm, uint64_t addr, uint64_t len, uint32_t type)
{
    if (len == 0 || addr + len < addr)
        return;
    if (type == 1 && mm->nr_ram < MAX_RANGES)
        mm->ram[mm->nr_ram++] = (struct range){ addr, addr + len };
    else if (type != 1 && mm->nr_other < MAX_RANGES)
        mm->other[mm->nr_other++] = (struct range){ addr, addr + len };
}

void memmap_finish(struct memmap *mm, uint64_t limit)
{
    for (int i = 0; i < mm->nr_other; i++)
        mm->nr_ram = subtract(mm->ram, mm->nr_ram, MAX_RANGES, mm->other[i].start, mm->other[i].end);
    mm->nr_ram = subtract(mm->ram, mm->nr_ram, MAX_RANGES, limit, ~0ull);   /* x86 mem= */
    sort_ranges(mm->ram, mm->nr_ram, 0);
    int n = 0;
    for (int i = 0; i < mm->nr_ram; i++) {                 /* merge overlapping/adjacent */
        if (n && mm->ram[i].start <= mm->ram[n - 1].end) {
            if (mm->ram[i].end > mm->ram[n - 1].end)
                mm->ram[n - 1].end = mm->ram[i].end;
        } else {
            mm->ram[n++] = mm->ram[i];
        }
    }
    int m = 0;
    for (int i = 0; i < n; i++) {                          /* whole pages only */
        uint64_t s = (mm->ram[i].start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        uint64_t e = mm->ram[i].end & ~(PAGE_SIZE - 1);
        if (s < e)
            mm->ram[m++] = (struct range){ s, e };
    }
    mm->nr_ram = m;
}

int memmap_from_multiboot(struct memmap *mm, const void *mbi_ptr, uint64_t limit)
{
    const uint32_t *mbi = mbi_ptr;
    mm->nr_ram = mm->nr_other = 0;
    if (!(mbi[0] & MB_FLAG_MMAP))
        return -1;
    uint32_t len = mbi[11], addr = mbi[12];
    for (uint32_t off = 0; off + sizeof(struct mb_mmap_entry) <= len;) {
        const struct mb_mmap_entry *e = (const void *)(uintptr_t)(addr + off);
        puts("  mmap ");
        put_hex(e->addr);
        puts("-");
        put_hex(e->addr + e->len - 1);
        puts(e->type == 1 ? " usable\n" : " reserved\n");
        memmap_add(mm, e->addr, e->len, e->type);
        off += e->size + 4;
    }
    memmap_finish(mm, limit);
    return 0;
}

/* Free pieces = RAM minus reserved ranges; then, highest piece first, the memblock rule
 * cand = round_down(min(end, limit) - size, align), taken if cand >= piece start. */
uint64_t alloc_top_down(const struct memmap *mm, const struct range *reserved, int nr_reserved,
                        uint64_t size, uint64_t align, uint64_t limit)
{
    struct range pieces[MAX_RANGES * 4];
    int n = mm->nr_ram;
    memcpy(pieces, mm->ram, sizeof(struct range) * (size_t)n);
    for (int r = 0; r < nr_reserved; r++)
        n = subtract(pieces, n, MAX_RANGES * 4, reserved[r].start, reserved[r].end);
    sort_ranges(pieces, n, 1);
    for (int i = 0; i < n; i++) {
        uint64_t end = pieces[i].end < limit ? pieces[i].end : limit;
        if (end < size || end <= pieces[i].start)
            continue;
        uint64_t cand = (end - size) & ~(align - 1);
        if (cand >= pieces[i].start)
            return cand;
    }
    return 0;    /* no room (address 0 is never handed out: [0, 1 MiB) is reserved) */
}
