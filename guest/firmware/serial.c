/* COM1 (0x3f8) console: 115200 8N1, polled. */
#include "fw.h"
#include "io.h"

#define COM1 0x3f8

void serial_init(void)
{
    outb(COM1 + 1, 0x00);   /* no interrupts */
    outb(COM1 + 3, 0x80);   /* DLAB */
    outb(COM1 + 0, 0x01);   /* divisor 1 = 115200 */
    outb(COM1 + 1, 0x00);
    outb(COM1 + 3, 0x03);   /* 8N1 */
    outb(COM1 + 2, 0xc7);   /* FIFO on, cleared */
    outb(COM1 + 4, 0x03);   /* DTR, RTS */
}

static void putc_raw(char c)
{
    for (int i = 0; i < 100000 && !(inb(COM1 + 5) & 0x20); i++)
        ;
    outb(COM1, (uint8_t)c);
}

void puts(const char *s)
{
    for (; *s; s++) {
        if (*s == '\n')
            putc_raw('\r');
        putc_raw(*s);
    }
}

void put_hex(uint64_t v)
{
    char buf[19];
    int i = 18;
    buf[i] = 0;
    do {
        unsigned nib = (unsigned)v & 0xf;
        buf[--i] = (char)(nib < 10 ? '0' + nib : 'a' + nib - 10);
        v >>= 4;
    } while (v);
    buf[--i] = 'x';
    buf[--i] = '0';
    puts(&buf[i]);
}

void put_dec(uint32_t v)
{
    char buf[11];
    int i = 10;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    puts(&buf[i]);
}
