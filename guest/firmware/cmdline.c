/* Kernel-style command-line parsing: memparse() with Linux semantics, key=value lookup. */
#include "fw.h"

static int digit_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 99;
}

/* simple_strtoull(s, end, 0): "0x" + hex digit means hex, a leading 0 means octal (the trap:
 * "0248M" parses as octal 024 = 20 and stops at '8'), otherwise decimal. */
static uint64_t strtoull_base0(const char *s, const char **end)
{
    unsigned base = 10;
    if (s[0] == '0') {
        if ((s[1] == 'x' || s[1] == 'X') && digit_value(s[2]) < 16) {
            base = 16;
            s += 2;
        } else {
            base = 8;
        }
    }
    uint64_t v = 0;
    for (; digit_value(*s) < (int)base; s++)
        v = v * base + (uint64_t)digit_value(*s);
    *end = s;
    return v;
}

/* Linux lib/cmdline.c memparse(): a number, then an optional K/M/G/T/P/E (either case),
 * each a shift by 10. Parsing stops at the first other character. */
uint64_t memparse(const char *s, const char **end)
{
    const char *e;
    uint64_t v = strtoull_base0(s, &e);
    int shift = 0;
    switch (*e) {
    case 'E': case 'e': shift += 10; /* fallthrough */
    case 'P': case 'p': shift += 10; /* fallthrough */
    case 'T': case 't': shift += 10; /* fallthrough */
    case 'G': case 'g': shift += 10; /* fallthrough */
    case 'M': case 'm': shift += 10; /* fallthrough */
    case 'K': case 'k': shift += 10; e++; break;
    default: break;
    }
    if (end)
        *end = e;
    return v << shift;
}

int cmdline_get(const char *cmdline, const char *key, char *buf, size_t len)
{
    size_t klen = strlen(key);
    int found = 0;
    const char *p = cmdline;
    while (p && *p) {
        while (*p == ' ')
            p++;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        size_t tlen = (size_t)(p - tok);
        if (tlen > klen && tok[klen] == '=') {
            int match = 1;
            for (size_t i = 0; i < klen; i++)
                if (tok[i] != key[i]) { match = 0; break; }
            if (match) {
                size_t n = tlen - klen - 1;
                if (n >= len)
                    n = len - 1;
                memcpy(buf, tok + klen + 1, n);
                buf[n] = 0;
                found = 1;     /* keep scanning: the last occurrence wins, as for early params */
            }
        }
    }
    return found;
}
