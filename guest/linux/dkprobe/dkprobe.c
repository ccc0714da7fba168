// SPDX-License-Identifier: GPL-2.0
/*
 * dkprobe: measure what the running kernel's allocators and mapping calls
 * really allow, so driverkit's allocator model can be checked against it.
 *
 * Every result is one line "DKPROBE <topic> key=value ..." (or a summary
 * "DKPROBE name=value"), printed to the kernel log and collected in
 * /sys/kernel/debug/dkprobe/report.  The host parses these lines
 * (driverkit/guest/report.py); keep the format stable.
 *
 * Parameters (all optional):
 *   tests=all|gfp,kmalloc,vmalloc,dma,ranges   which measurements to run
 *   ranges=START:SIZE[,START:SIZE...]          physical ranges to probe with
 *                                              request_mem_region, ioremap, memremap
 *   pattern=START:SIZE                         write a pattern there through ioremap, read it back
 *   verify=START:SIZE                          only read and compare (the host wrote it)
 *   seed=N                                     pattern seed
 *   pattern_ram=1                              let pattern= write into System RAM too
 *   roundtrip=0                                skip the writel/readl at offset 0 of each range
 *   vmalloc_cap_mb=N                           cap the vmalloc attempt (default 256 MiB)
 * pattern= refuses ranges that overlap System RAM: ioremap succeeds on reserved RAM pages
 * (memblock allocations such as the struct page array), and writing there crashes the kernel.
 * The pattern's 32-bit word at physical address A is (u32)((A >> 2) * 0x9E3779B1) ^ seed.
 */

#include <linux/module.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/vmalloc.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/string.h>
#include <linux/platform_device.h>
#include <linux/dma-mapping.h>
#include <linux/debugfs.h>
#include <linux/utsname.h>
#include <linux/sizes.h>

#define DK_MAX_RANGES 16
#define DK_REPORT_CAP (64 * 1024)
#define DK_GFP_TRY_MAX 12
#define DK_RT_VALUE 0xA5C3F00Du

static char *tests = "all";
module_param(tests, charp, 0444);
MODULE_PARM_DESC(tests, "comma list of gfp,kmalloc,vmalloc,dma,ranges or 'all'");
static char *ranges = "";
module_param(ranges, charp, 0444);
MODULE_PARM_DESC(ranges, "START:SIZE[,START:SIZE...] physical ranges to probe");
static char *pattern = "";
module_param(pattern, charp, 0444);
MODULE_PARM_DESC(pattern, "START:SIZE: write the pattern through ioremap and read it back");
static char *verify = "";
module_param(verify, charp, 0444);
MODULE_PARM_DESC(verify, "START:SIZE: compare the range with the pattern without writing");
static bool roundtrip = true;
module_param(roundtrip, bool, 0444);
MODULE_PARM_DESC(roundtrip, "writel/readl/restore at offset 0 of each ioremapped range (N for MMIO with side effects)");
static uint vmalloc_cap_mb = 256;
module_param(vmalloc_cap_mb, uint, 0444);
MODULE_PARM_DESC(vmalloc_cap_mb, "upper bound of the vmalloc attempt in MiB (it starts at half of MemAvailable)");
static bool pattern_ram;
module_param(pattern_ram, bool, 0444);
MODULE_PARM_DESC(pattern_ram, "allow pattern writes into System RAM (corrupts whatever the kernel keeps there)");
static uint seed = 0x5eed1234;
module_param(seed, uint, 0444);
MODULE_PARM_DESC(seed, "pattern seed");

static char *report;
static size_t report_len;
static struct debugfs_blob_wrapper report_blob;
static struct dentry *dk_dir;
static struct platform_device *dk_pdev;

/* One result line: to the kernel log and to the debugfs report. */
static __printf(1, 2) void emit(const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vscnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pr_info("DKPROBE %s\n", line);
	if (report && report_len < DK_REPORT_CAP)
		report_len += scnprintf(report + report_len, DK_REPORT_CAP - report_len,
					"DKPROBE %s\n", line);
}

static bool want(const char *name)
{
	return !strcmp(tests, "all") || strstr(tests, name);
}

static const char *ok(bool v)
{
	return v ? "ok" : "fail";
}

/* ---- page allocator ---------------------------------------------------- */

static void probe_gfp(void)
{
	int order, max = -1;

	for (order = 0; order <= DK_GFP_TRY_MAX; order++) {
		unsigned long p = __get_free_pages(GFP_KERNEL | __GFP_NOWARN, order);

		emit("gfp order=%d result=%s", order, ok(p));
		if (p) {
			free_pages(p, order);
			max = order;
		}
	}
	emit("gfp_max_order=%d", max);
}

/* ---- kmalloc ------------------------------------------------------------ */

static void probe_kmalloc(void)
{
	static const size_t sizes[] = {
		SZ_4K, SZ_8K, SZ_8K + 1, SZ_16K, SZ_32K, SZ_64K, SZ_128K, SZ_256K, SZ_512K,
		SZ_1M, SZ_2M, SZ_2M + 1, SZ_4M - 1, SZ_4M, SZ_4M + 1, SZ_8M, SZ_16M,
	};
	size_t max = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		/* volatile: keep the size out of kmalloc's compile-time checks */
		volatile size_t size = sizes[i];
		void *p = kmalloc(size, GFP_KERNEL | __GFP_NOWARN);

		emit("kmalloc size=%zu result=%s", (size_t)size, ok(p));
		if (p) {
			kfree(p);
			if (size > max)
				max = size;
		}
	}
	emit("kmalloc_max=%zu", max);
}

/* ---- vmalloc ------------------------------------------------------------ */

static void probe_vmalloc(void)
{
	unsigned long avail = si_mem_available() << PAGE_SHIFT;
	unsigned long size = min(avail / 2, (unsigned long)vmalloc_cap_mb * SZ_1M) & ~(SZ_1M - 1UL);
	unsigned long over = (totalram_pages() + 1) << PAGE_SHIFT;
	unsigned long off, runs = 0, prev = 0, done = 0;
	void *p = NULL;

	for (; size >= SZ_1M; size /= 2) {
		p = __vmalloc(size, GFP_KERNEL | __GFP_NOWARN);
		emit("vmalloc size=%lu result=%s", size, ok(p));
		if (p)
			break;
	}
	if (p) {
		for (off = 0; off < size; off += PAGE_SIZE) {
			unsigned long pfn = vmalloc_to_pfn(p + off);

			if (!off || pfn != prev + 1)
				runs++;
			prev = pfn;
		}
		vfree(p);
		done = size;
	}
	emit("vmalloc_max=%lu", done);
	emit("vmalloc_runs=%lu", runs);
	emit("vmalloc_pages=%lu", done >> PAGE_SHIFT);
	/* More than all RAM: vmalloc refuses up front, without reclaim or OOM. */
	p = __vmalloc(over, GFP_KERNEL | __GFP_NOWARN);
	emit("vmalloc_over size=%lu result=%s", over, ok(p));
	vfree(p);
}

/* ---- dma_alloc_coherent ------------------------------------------------- */

static void probe_dma_mask(int bits)
{
	static const size_t sizes[] = {
		SZ_4K, SZ_64K, SZ_1M, SZ_2M, SZ_4M, SZ_4M + PAGE_SIZE, SZ_8M, SZ_16M, SZ_32M,
	};
	struct device *dev = &dk_pdev->dev;
	size_t max = 0;
	int i, ret;

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(bits));
	if (ret) {
		emit("dma mask=%d set_mask=%d", bits, ret);
		return;
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		dma_addr_t handle = 0;
		void *p = dma_alloc_coherent(dev, sizes[i], &handle, GFP_KERNEL | __GFP_NOWARN);

		if (p) {
			emit("dma mask=%d size=%zu result=ok addr=%#llx", bits, sizes[i],
			     (unsigned long long)handle);
			dma_free_coherent(dev, sizes[i], p, handle);
			max = sizes[i];
		} else {
			emit("dma mask=%d size=%zu result=fail", bits, sizes[i]);
		}
	}
	emit("dma_coherent_max_%d=%zu", bits, max);
}

static void probe_dma(void)
{
	dk_pdev = platform_device_register_simple("dkprobe", PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(dk_pdev)) {
		emit("dma device=fail err=%ld", PTR_ERR(dk_pdev));
		dk_pdev = NULL;
		return;
	}
	probe_dma_mask(24);
	probe_dma_mask(32);
}

/* ---- physical ranges ---------------------------------------------------- */

static const char *ram_kind(resource_size_t start, resource_size_t size)
{
	switch (region_intersects(start, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE)) {
	case REGION_INTERSECTS: return "all";
	case REGION_DISJOINT: return "none";
	default: return "mixed";
	}
}

static void probe_range(resource_size_t start, resource_size_t size)
{
	struct resource *res;
	void __iomem *io;
	void *wb;
	const char *rt = "skip";
	u32 got = 0;

	res = request_mem_region(start, size, "dkprobe");
	if (res)
		release_mem_region(start, size);

	io = ioremap(start, size);
	if (io && roundtrip) {
		u32 old = readl(io);

		writel(DK_RT_VALUE, io);
		got = readl(io);
		writel(old, io);
		rt = got == DK_RT_VALUE ? "ok" : "mismatch";
	}
	if (io)
		iounmap(io);

	wb = memremap(start, size, MEMREMAP_WB);
	if (wb)
		memunmap(wb);

	emit("range start=%#llx size=%#llx ram=%s request=%s ioremap=%s rw=%s rw_read=%#x memremap=%s",
	     (unsigned long long)start, (unsigned long long)size, ram_kind(start, size),
	     res ? "ok" : "ebusy", ok(io), rt, got, ok(wb));
}

/* "START:SIZE" with C-style bases; false on malformed input. */
static bool parse_range(char *tok, u64 *start, u64 *size)
{
	char *colon = strchr(tok, ':');

	if (!colon)
		return false;
	*colon = '\0';
	if (kstrtou64(tok, 0, start) || kstrtou64(colon + 1, 0, size) || !*size)
		return false;
	return *start + *size > *start;
}

static void probe_ranges(void)
{
	char *copy, *cur, *tok;
	int n = 0;

	if (!*ranges)
		return;
	copy = kstrdup(ranges, GFP_KERNEL);
	if (!copy)
		return;
	cur = copy;
	while ((tok = strsep(&cur, ",")) && n < DK_MAX_RANGES) {
		u64 start, size;

		if (!*tok)
			continue;
		if (!parse_range(tok, &start, &size)) {
			emit("range bad=%s", tok);
			continue;
		}
		probe_range(start, size);
		n++;
	}
	kfree(copy);
}

/* ---- pattern ------------------------------------------------------------ */

static u32 pattern_word(u64 addr)
{
	return (u32)(addr >> 2) * 0x9E3779B1u ^ seed;
}

static void run_pattern(const char *spec, bool write)
{
	char buf[64];
	u64 start, size, off, bad = 0, first_bad = 0;
	void __iomem *io;

	strscpy(buf, spec, sizeof(buf));
	if (!parse_range(buf, &start, &size) || (start | size) & 3) {
		emit("pattern bad=%s", spec);
		return;
	}
	if (write && !pattern_ram &&
	    region_intersects(start, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) != REGION_DISJOINT) {
		emit("pattern start=%#llx size=%#llx seed=%#x mode=write ioremap=refused ram=%s",
		     start, size, seed, ram_kind(start, size));
		return;
	}
	io = ioremap(start, size);
	if (!io) {
		emit("pattern start=%#llx size=%#llx seed=%#x mode=%s ioremap=fail",
		     start, size, seed, write ? "write" : "verify");
		return;
	}
	if (write)
		for (off = 0; off < size; off += 4)
			writel(pattern_word(start + off), io + off);
	for (off = 0; off < size; off += 4) {
		if (readl(io + off) != pattern_word(start + off)) {
			if (!bad)
				first_bad = off;
			bad++;
		}
	}
	iounmap(io);
	emit("pattern start=%#llx size=%#llx seed=%#x mode=%s ioremap=ok mismatches=%llu first_bad=%#llx",
	     start, size, seed, write ? "write" : "verify", bad, first_bad);
}

/* ---- module ------------------------------------------------------------- */

static int __init dkprobe_init(void)
{
	report = kzalloc(DK_REPORT_CAP, GFP_KERNEL);
	if (!report)
		return -ENOMEM;

	emit("begin version=1 release=%s page_size=%lu max_order=%d kmalloc_max_size=%lu kmalloc_max_cache_size=%lu totalram_pages=%lu free_pages=%lu available_pages=%ld",
	     init_utsname()->release, PAGE_SIZE, MAX_ORDER, (unsigned long)KMALLOC_MAX_SIZE,
	     (unsigned long)KMALLOC_MAX_CACHE_SIZE, totalram_pages(),
	     global_zone_page_state(NR_FREE_PAGES), si_mem_available());
	if (want("gfp"))
		probe_gfp();
	if (want("kmalloc"))
		probe_kmalloc();
	if (want("vmalloc"))
		probe_vmalloc();
	if (want("dma"))
		probe_dma();
	if (want("ranges"))
		probe_ranges();
	if (*pattern)
		run_pattern(pattern, true);
	if (*verify)
		run_pattern(verify, false);
	emit("end");

	report_blob.data = report;
	report_blob.size = report_len;
	dk_dir = debugfs_create_dir("dkprobe", NULL);
	debugfs_create_blob("report", 0444, dk_dir, &report_blob);
	return 0;
}

static void __exit dkprobe_exit(void)
{
	debugfs_remove_recursive(dk_dir);
	if (dk_pdev)
		platform_device_unregister(dk_pdev);
	kfree(report);
}

module_init(dkprobe_init);
module_exit(dkprobe_exit);
MODULE_LICENSE("GPL");
MODULE_AUTHOR("driverkit");
MODULE_DESCRIPTION("Measure allocator limits and mapping outcomes for driverkit");
