/* Stack switch for x86_64 (System V). Kiln's coroutines are asymmetric: a
 * coroutine is resumed by whoever runs it and switches back to that caller, so
 * one primitive is enough:
 *
 *   void kiln__ctx_switch(void **save_sp, void *new_sp);
 *
 * It pushes the callee-saved registers (rbx, rbp, r12-r15) and the x87/SSE
 * control words on the current stack, stores the stack pointer in *save_sp,
 * loads new_sp and pops the same frame from there. A fresh coroutine's stack is
 * prepared by coro.c so that this pop "returns" into kiln__ctx_entry with
 * r12 = argument and r13 = entry function. Only this file knows the frame
 * layout; coro.c builds it through kiln__ctx_init below. No signal mask is
 * touched: that is the point of not using swapcontext.
 * Assembled only when the compiler targets x86_64, so both .S files can sit in
 * the build glob. */
#if defined(__x86_64__)
    .text
    .globl kiln__ctx_switch
    .type kiln__ctx_switch, @function
    .p2align 4
kiln__ctx_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr 4(%rsp)
    fnstcw (%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr 4(%rsp)
    fldcw (%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size kiln__ctx_switch, .-kiln__ctx_switch

/* First code a coroutine runs: call fn(arg). fn never returns (coro.c switches
 * away for good when the coroutine ends), so a return is a bug: trap. */
    .globl kiln__ctx_entry
    .type kiln__ctx_entry, @function
    .p2align 4
kiln__ctx_entry:
    movq %r12, %rdi
    callq *%r13
    ud2
    .size kiln__ctx_entry, .-kiln__ctx_entry

/* void *kiln__ctx_init(void *stack_top, void (*fn)(void *), void *arg);
 * Builds the initial frame below 16-byte aligned stack_top and returns the sp
 * to pass to kiln__ctx_switch. Layout, from the returned sp upwards:
 * fpu cw + mxcsr (8), r15, r14, r13 = fn, r12 = arg, rbx, rbp = 0,
 * return address = kiln__ctx_entry; kiln__ctx_entry then starts with
 * rsp = stack_top - 16, 16-byte aligned, as the ABI wants before a call. */
    .globl kiln__ctx_init
    .type kiln__ctx_init, @function
    .p2align 4
kiln__ctx_init:
    movq %rdi, %rax
    andq $-16, %rax
    subq $16, %rax
    leaq kiln__ctx_entry(%rip), %rcx
    movq %rcx, -8(%rax)    /* return address */
    movq $0, -16(%rax)     /* rbp */
    movq $0, -24(%rax)     /* rbx */
    movq %rdx, -32(%rax)   /* r12 = arg */
    movq %rsi, -40(%rax)   /* r13 = fn */
    movq $0, -48(%rax)     /* r14 */
    movq $0, -56(%rax)     /* r15 */
    movl $0x1f80, -60(%rax) /* mxcsr: default */
    movl $0x037f, -64(%rax) /* x87 control word: default */
    subq $64, %rax
    ret
    .size kiln__ctx_init, .-kiln__ctx_init
#endif
    .section .note.GNU-stack, "", %progbits
