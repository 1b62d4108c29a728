//! The first instructions: the PVH ELF note, the 32-bit entry, the switch to long mode.
//!
//! Ref: Xen `docs/misc/pvh.pandoc` and `xen/include/public/elfnote.h`; Intel SDM vol. 3,
//! 10.8.5 "Initializing IA-32e Mode".
//!
//! The loader enters `_start32` in 32-bit protected mode, paging off, interrupts off, with
//! `%ebx` = physical address of `hvm_start_info`. The path to 64-bit code is kept tiny and
//! short (16/32-bit code is very slow under some hypervisors, PVM's KVM among them, which
//! emulates it instruction by instruction): it reads the TSC (the boot clock's zero), writes the
//! few entries of the boot page tables that map the image (the first GiB identity-mapped,
//! with one 1 GiB page where the CPU has them), points CR3 at them, turns on PAE, long mode,
//! NX and paging, and jumps to `_start64`. There it maps the rest of the first GiB if it took
//! 2 MiB pages, clears `.bss` with `rep stosq` (the loader need not), sets the stack and calls
//! [`super::start`] with the start-info address.

use core::arch::global_asm;

global_asm!(
    r#"
    /* XEN_ELFNOTE_PHYS32_ENTRY (18): the 32-bit physical entry address. */
    .pushsection .note.Xen, "a", @note
    .balign 4
    .long 4             /* namesz */
    .long 4             /* descsz */
    .long 18            /* type   */
    .asciz "Xen"
    .balign 4
    .long _start32
    .balign 4
    .popsection

    /* Boot page tables: PML4[0] -> PDPT[0] -> the first GiB, as one 1 GiB page where the
       CPU has them, else as 512 x 2 MiB pages of boot_pd; RWX for now; super::paging replaces
       them before anything else runs. In .bss, not in the file (12 KiB less image): zeroed
       by the loader (an ELF loader zeroes a segment's memory past its file size), filled
       by _start32 and _start64, and kept out of the range _start64 clears by the linker
       script. */
    .pushsection .bss.boot_page_tables, "aw", @nobits
    .balign 4096
    boot_pml4:
        .skip 4096
    boot_pdpt:
        .skip 4096
    boot_pd:
        .skip 4096
    .popsection

    .pushsection .rodata.boot_gdt, "a"
    .balign 8
    boot_gdt:
        .quad 0
        .quad 0x00af9a000000ffff    /* 0x08: 64-bit code, DPL 0 */
        .quad 0x00cf92000000ffff    /* 0x10: data */
    boot_gdt_end:
    boot_gdt_ptr:
        .word boot_gdt_end - boot_gdt - 1
        .long boot_gdt
    .popsection

    /* The boot stack, with an unmapped guard page under it (see paging.rs). */
    .pushsection .bss.boot_stack, "aw", @nobits
    .balign 4096
    .global __boot_stack_guard
    __boot_stack_guard:
        .skip 4096
    .global __boot_stack_bottom
    __boot_stack_bottom:
        .skip 131072
    .global __boot_stack_top
    __boot_stack_top:
    .popsection

    .pushsection .text.boot32, "ax"
    .code32
    .global _start32
    _start32:
        cli
        rdtsc
        movl %eax, __boot_tsc
        movl %edx, __boot_tsc + 4
        movl %ebx, %esi                 /* hvm_start_info, kept in esi */

        /* The boot page tables' few entries (see above): with a 1 GiB page, done; else the
           2 MiB pages up to the image's end (one, unless the image is large). */
        movl $(boot_pdpt + 0x3), boot_pml4
        movl $0x80000001, %eax
        cpuid
        btl $26, %edx                   /* Page1GB */
        jnc 1f
        movl $0x83, boot_pdpt           /* PDPT[0] = 0 | PS | RW | P */
        jmp 3f
    1:  movl $(boot_pd + 0x3), boot_pdpt
        movl $boot_pd, %edi
        movl $0x83, %eax                /* PD[i] = i * 2 MiB | PS | RW | P */
    2:  movl %eax, (%edi)
        addl $8, %edi
        addl $0x200000, %eax
        cmpl $(__image_end + 0x83), %eax
        jb 2b
    3:

        movl %cr4, %eax
        orl $0x20, %eax                 /* CR4.PAE */
        movl %eax, %cr4
        movl $boot_pml4, %eax
        movl %eax, %cr3
        movl $0xC0000080, %ecx          /* IA32_EFER */
        rdmsr
        orl $0x900, %eax                /* LME | NXE */
        wrmsr
        movl %cr0, %eax
        orl $0x80010001, %eax           /* PG | WP | PE */
        movl %eax, %cr0
        lgdt boot_gdt_ptr
        ljmp $0x08, $_start64

    .code64
    _start64:
        movw $0x10, %ax
        movw %ax, %ds
        movw %ax, %es
        movw %ax, %ss
        xorw %ax, %ax
        movw %ax, %fs
        movw %ax, %gs
        movl %esi, %r12d                /* zero-extends: the start-info address */
        cld

        /* Without 1 GiB pages, the rest of the first GiB in 2 MiB pages (writing the first
           few again, unchanged). */
        testb $0x80, boot_pdpt(%rip)
        jnz 5f
        leaq boot_pd(%rip), %rdi
        movl $0x83, %eax
        movl $512, %ecx
    4:  stosq
        addq $0x200000, %rax
        decl %ecx
        jnz 4b

    5:  leaq __bss_start(%rip), %rdi
        leaq __bss_end(%rip), %rcx
        subq %rdi, %rcx
        shrq $3, %rcx
        xorl %eax, %eax
        rep stosq

        leaq __boot_stack_top(%rip), %rsp
        xorl %ebp, %ebp                 /* ends frame-pointer backtraces */
        movq %r12, %rdi
        call {start}
        ud2
    .popsection
    "#,
    start = sym super::start,
    options(att_syntax)
);

/// The TSC at the first instruction: the zero of the monotonic clock. Written by `_start32`
/// before anything else; in `.data` so that clearing `.bss` does not erase it.
#[unsafe(no_mangle)]
#[used]
static mut __boot_tsc: u64 = 1;

/// The TSC value `_start32` read first thing.
pub fn boot_tsc() -> u64 {
    // SAFETY: written once by `_start32` before any Rust code ran, only read afterwards.
    unsafe { core::ptr::addr_of!(__boot_tsc).read_volatile() }
}

unsafe extern "C" {
    static __boot_stack_guard: u8;
    static __boot_stack_bottom: u8;
    static __boot_stack_top: u8;
}

/// The boot stack: (guard page, bottom, top) addresses.
pub fn boot_stack() -> (u64, u64, u64) {
    (
        core::ptr::addr_of!(__boot_stack_guard) as u64,
        core::ptr::addr_of!(__boot_stack_bottom) as u64,
        core::ptr::addr_of!(__boot_stack_top) as u64,
    )
}
