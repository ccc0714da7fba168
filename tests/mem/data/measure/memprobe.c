// Throwaway verification module: for each (start,size) try ioremap, memremap(WB),
// request_mem_region and report; init returns -EAGAIN so nothing stays loaded.
#include <linux/module.h>
#include <linux/io.h>
#include <linux/ioport.h>
static unsigned long probes[32];
static int nprobes;
module_param_array(probes, ulong, &nprobes, 0);
static int __init memprobe_init(void)
{
	int i;
	for (i = 0; i + 1 < nprobes; i += 2) {
		unsigned long s = probes[i], n = probes[i + 1];
		void __iomem *io = ioremap(s, n);
		void *wb = memremap(s, n, MEMREMAP_WB);
		struct resource *r = request_mem_region(s, n, "memprobe");
		pr_info("MEMPROBE %#lx %#lx ioremap=%s memremap=%s rmr=%s\n", s, n,
			io ? "ok" : "fail", wb ? "ok" : "fail", r ? "ok" : "fail");
		if (r) release_mem_region(s, n);
		if (wb) memunmap(wb);
		if (io) iounmap(io);
	}
	return -EAGAIN;
}
module_init(memprobe_init);
MODULE_LICENSE("GPL");
