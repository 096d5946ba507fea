/* Stack switch for aarch64 (AAPCS64). Same contract as coro_x86_64.S:
 *
 *   void kiln__ctx_switch(void **save_sp, void *new_sp);
 *   void *kiln__ctx_init(void *stack_top, void (*fn)(void *), void *arg);
 *
 * The frame holds every register AAPCS64 makes callee-saved: x19-x28, the frame
 * pointer x29, the link register x30 (where the switch "returns" to), the low
 * halves d8-d15 of v8-v15, and FPCR (rounding mode). sp itself is what is
 * saved in *save_sp. 176 bytes keeps sp 16-byte aligned as the ABI demands.
 * A fresh frame has x30 = kiln__ctx_entry, x19 = arg, x20 = fn, x29 = 0.
 * Assembled only when the compiler targets aarch64. */
#if defined(__aarch64__)
    .text
    .globl kiln__ctx_switch
    .type kiln__ctx_switch, %function
    .p2align 4
kiln__ctx_switch:
    sub sp, sp, #176
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mrs x9, fpcr
    str x9, [sp, #160]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldr x9, [sp, #160]
    msr fpcr, x9
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #176
    ret
    .size kiln__ctx_switch, .-kiln__ctx_switch

/* First code a coroutine runs: fn(arg); fn never returns, so trap if it does. */
    .globl kiln__ctx_entry
    .type kiln__ctx_entry, %function
    .p2align 4
kiln__ctx_entry:
    mov x0, x19
    blr x20
    brk #0
    .size kiln__ctx_entry, .-kiln__ctx_entry

    .globl kiln__ctx_init
    .type kiln__ctx_init, %function
    .p2align 4
kiln__ctx_init:
    and x0, x0, #~15
    sub x0, x0, #176
    mov x9, #0
    stp x2, x1, [x0, #0]      /* x19 = arg, x20 = fn */
    stp x9, x9, [x0, #16]
    stp x9, x9, [x0, #32]
    stp x9, x9, [x0, #48]
    stp x9, x9, [x0, #64]
    adrp x10, kiln__ctx_entry
    add x10, x10, :lo12:kiln__ctx_entry
    stp x9, x10, [x0, #80]    /* x29 = 0, x30 = kiln__ctx_entry */
    stp x9, x9, [x0, #96]
    stp x9, x9, [x0, #112]
    stp x9, x9, [x0, #128]
    stp x9, x9, [x0, #144]
    mrs x10, fpcr
    stp x10, x9, [x0, #160]   /* inherit the creator's FPCR */
    ret
    .size kiln__ctx_init, .-kiln__ctx_init
#endif
    .section .note.GNU-stack, "", %progbits
