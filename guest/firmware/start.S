/* Multiboot v1 entry: header, stack, GDT, IDT stubs; then fw_main(magic, mbi). */

#define MB_MAGIC  0x1BADB002
#define MB_FLAGS  0x00000003           /* page-align modules, want mem_* and mmap */

        .section .multiboot, "a"
        .align 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .section .text
        .globl _start
        .type _start, @function
_start:
        cli
        cld
        movl $stack_top, %esp
        pushl %ebx                     /* multiboot info (physical) */
        pushl %eax                     /* 0x2BADB002 when loaded by a multiboot loader */
        lgdt gdt_desc
        ljmp $0x08, $1f
1:      movw $0x10, %cx
        movw %cx, %ds
        movw %cx, %es
        movw %cx, %fs
        movw %cx, %gs
        movw %cx, %ss
        call fw_main
2:      cli
        hlt
        jmp 2b
        .size _start, . - _start

/* Exceptions 0-31: push (error code,) vector, then report and halt. */
        .macro exc vec, has_err
        .globl exc_stub_\vec
exc_stub_\vec:
        .if \has_err == 0
        pushl $0
        .endif
        pushl $\vec
        jmp exc_common
        .endm

        exc 0,0;  exc 1,0;  exc 2,0;  exc 3,0;  exc 4,0;  exc 5,0;  exc 6,0;  exc 7,0
        exc 8,1;  exc 9,0;  exc 10,1; exc 11,1; exc 12,1; exc 13,1; exc 14,1; exc 15,0
        exc 16,0; exc 17,1; exc 18,0; exc 19,0; exc 20,0; exc 21,1; exc 22,0; exc 23,0
        exc 24,0; exc 25,0; exc 26,0; exc 27,0; exc 28,0; exc 29,1; exc 30,1; exc 31,0

exc_common:
        /* stack: vector, error, eip, cs, eflags */
        call fw_exception              /* never returns */
3:      cli
        hlt
        jmp 3b

        .globl timer_stub
timer_stub:
        pushal
        call fw_timer_tick
        popal
        iret

        .globl spurious_stub
spurious_stub:
        iret

        .globl other_irq_stub
other_irq_stub:
        pushal
        call fw_other_irq
        popal
        iret

        .globl exc_stub_table
        .section .rodata
        .align 4
exc_stub_table:
        .irp v,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
        .long exc_stub_\v
        .endr

        .align 8
gdt:
        .quad 0
        .quad 0x00cf9a000000ffff       /* 0x08: code, flat 4 GiB */
        .quad 0x00cf92000000ffff       /* 0x10: data, flat 4 GiB */
gdt_desc:
        .word gdt_desc - gdt - 1
        .long gdt

        .section .note.GNU-stack, "", @progbits

        .section .bss
        .align 16
stack_bottom:
        .skip 16384
stack_top:
