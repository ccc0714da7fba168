/* The multiboot memory map, trimmed like memblock, and a top-down bootmem-style allocator. */
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

/* Usable RAM entries, cut at `limit` (x86 mem=: RAM at or above it is removed, a range that
 * crosses it is cut) and trimmed to whole pages, as memblock_trim_memory() does. */
int memmap_from_multiboot(struct memmap *mm, const void *mbi_ptr, uint64_t limit)
{
    const uint32_t *mbi = mbi_ptr;
    mm->nr_ram = 0;
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
        if (e->type == 1 && mm->nr_ram < MAX_RANGES) {
            uint64_t s = (e->addr + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
            uint64_t t = e->addr + e->len;
            if (t > limit)
                t = limit;
            t &= ~(PAGE_SIZE - 1);
            if (t > s) {
                mm->ram[mm->nr_ram].start = s;
                mm->ram[mm->nr_ram].end = t;
                mm->nr_ram++;
            }
        }
        off += e->size + 4;
    }
    sort_ranges(mm->ram, mm->nr_ram, 0);
    return 0;
}

/* Free pieces = RAM minus reserved ranges; then, highest piece first, the memblock rule
 * cand = round_down(min(end, limit) - size, align), taken if cand >= piece start. */
uint64_t alloc_top_down(const struct memmap *mm, const struct range *reserved, int nr_reserved,
                        uint64_t size, uint64_t align, uint64_t limit)
{
    struct range pieces[MAX_RANGES * 4];
    int n = 0;
    for (int i = 0; i < mm->nr_ram; i++) {
        struct range cur[MAX_RANGES * 2];
        int nc = 1;
        cur[0] = mm->ram[i];
        for (int r = 0; r < nr_reserved; r++) {
            struct range next[MAX_RANGES * 2];
            int nn = 0;
            for (int c = 0; c < nc && nn < MAX_RANGES * 2 - 1; c++) {
                uint64_t s = cur[c].start, e = cur[c].end;
                uint64_t rs = reserved[r].start, re = reserved[r].end;
                if (re <= s || rs >= e) {
                    next[nn++] = cur[c];
                    continue;
                }
                if (rs > s)
                    next[nn++] = (struct range){ s, rs };
                if (re < e)
                    next[nn++] = (struct range){ re, e };
            }
            memcpy(cur, next, sizeof(struct range) * (size_t)nn);
            nc = nn;
        }
        for (int c = 0; c < nc && n < MAX_RANGES * 4; c++)
            pieces[n++] = cur[c];
    }
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
