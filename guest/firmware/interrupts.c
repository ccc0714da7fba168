/* Interrupts: an IDT, the legacy PICs masked, and the local APIC timer at 1 kHz so the
 * firmware can `hlt` between mailbox polls instead of spinning a host CPU. */
#include "fw.h"
#include "io.h"

#define TIMER_VECTOR    0x20
#define SPURIOUS_VECTOR 0xff
#define LAPIC_EOI       0x0b0
#define LAPIC_SVR       0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0

struct idt_entry {
    uint16_t off_lo, sel;
    uint8_t zero, flags;
    uint16_t off_hi;
} __attribute__((packed));

static struct idt_entry idt[256];
static uintptr_t lapic_base;
volatile uint32_t fw_ticks;

extern const uint32_t exc_stub_table[32];
extern void timer_stub(void), spurious_stub(void), other_irq_stub(void);

static void set_gate(int v, uintptr_t handler)
{
    idt[v].off_lo = (uint16_t)handler;
    idt[v].sel = 0x08;
    idt[v].zero = 0;
    idt[v].flags = 0x8e;   /* present, ring 0, 32-bit interrupt gate */
    idt[v].off_hi = (uint16_t)(handler >> 16);
}

void fw_timer_tick(void)
{
    fw_ticks++;
    mmio_write32(lapic_base + LAPIC_EOI, 0);
}

void fw_other_irq(void)
{
    mmio_write32(lapic_base + LAPIC_EOI, 0);
}

void fw_exception(uint32_t vector, uint32_t err, uint32_t eip)
{
    puts("driverkit-fw: FATAL exception ");
    put_dec(vector);
    puts(" error ");
    put_hex(err);
    puts(" at eip ");
    put_hex(eip);
    puts("\n");
    for (;;)
        __asm__ volatile("cli; hlt");
}

void interrupts_init(void)
{
    for (int v = 0; v < 256; v++)
        set_gate(v, (uintptr_t)other_irq_stub);
    for (int v = 0; v < 32; v++)
        set_gate(v, exc_stub_table[v]);
    set_gate(TIMER_VECTOR, (uintptr_t)timer_stub);
    set_gate(SPURIOUS_VECTOR, (uintptr_t)spurious_stub);
    struct { uint16_t limit; uint32_t base; } __attribute__((packed)) desc = {
        sizeof(idt) - 1, (uint32_t)(uintptr_t)idt
    };
    __asm__ volatile("lidt %0" : : "m"(desc));

    outb(0x21, 0xff);      /* mask both 8259s: SeaBIOS left them on BIOS vectors 8-15 */
    outb(0xa1, 0xff);

    uint32_t lo, hi;
    __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x1b));   /* IA32_APIC_BASE */
    lapic_base = lo & 0xfffff000u;
    mmio_write32(lapic_base + LAPIC_SVR, 0x100 | SPURIOUS_VECTOR);
    mmio_write32(lapic_base + LAPIC_TIMER_DIV, 0x3);               /* divide by 16 */
    mmio_write32(lapic_base + LAPIC_LVT_TIMER, (1u << 17) | TIMER_VECTOR);  /* periodic */
    mmio_write32(lapic_base + LAPIC_TIMER_INIT, 62500);            /* 1 GHz / 16 / 62500 = 1 kHz */
    __asm__ volatile("sti");
}
