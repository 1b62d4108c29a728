//! The IDT, one assembly stub per vector, and what runs in interrupt context.
//!
//! Ref: Intel SDM vol. 3, 6.10-6.14 (IDT, 64-bit interrupt gates and stack frames).
//!
//! Each stub pushes a dummy error code where the CPU pushes none, then the vector, and jumps to
//! `isr_common`, which saves the general registers, calls `dispatch` with a pointer to the
//! [`TrapFrame`] and returns with `iretq`. The target has no SSE, so there is no vector state
//! to save.
//!
//! In interrupt context exactly this happens: an exception prints a crash report and exits;
//! the timer vector only acknowledges (it exists to end `hlt`); a device vector marks its event
//! in the executor's table, masks its line first if it is level-triggered (the driver unmasks
//! it once it has acknowledged the device), and acknowledges at the local APIC. Nothing else.

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU16, AtomicU32, Ordering};

use morgana_executor::{EventId, EventTable};

use super::gdt::{self, DescriptorTablePointer, KERNEL_CODE};
use super::{apic, crash};

/// Vectors with an error code pushed by the CPU (the stubs' `.if` says the same in assembly).
const fn has_error_code(vector: usize) -> bool {
    matches!(vector, 8 | 10..=14 | 17 | 21 | 29 | 30)
}

global_asm!(
    r#"
    .pushsection .text.isr, "ax"
    .balign 16
    .global __isr_stubs
    __isr_stubs:
    .set vector, 0
    .rept 256
        .balign 16
        .if (vector == 8) || ((vector >= 10) && (vector <= 14)) || (vector == 17) || (vector == 21) || (vector == 29) || (vector == 30)
        .else
            pushq $0
        .endif
        pushq $vector
        jmp isr_common
        .set vector, vector + 1
    .endr

    isr_common:
        pushq %rax
        pushq %rbx
        pushq %rcx
        pushq %rdx
        pushq %rsi
        pushq %rdi
        pushq %rbp
        pushq %r8
        pushq %r9
        pushq %r10
        pushq %r11
        pushq %r12
        pushq %r13
        pushq %r14
        pushq %r15
        movq %rsp, %rdi     /* the TrapFrame; rsp is 16-byte aligned here (SDM 6.14.2) */
        cld
        call {dispatch}
        popq %r15
        popq %r14
        popq %r13
        popq %r12
        popq %r11
        popq %r10
        popq %r9
        popq %r8
        popq %rbp
        popq %rdi
        popq %rsi
        popq %rdx
        popq %rcx
        popq %rbx
        popq %rax
        addq $16, %rsp      /* vector and error code */
        iretq
    .popsection
    "#,
    dispatch = sym dispatch,
    options(att_syntax)
);

unsafe extern "C" {
    static __isr_stubs: u8;
}

/// The registers saved on interrupt entry, in stack order.
#[repr(C)]
#[derive(Debug)]
#[allow(missing_docs)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

/// First vector handed to devices (below: exceptions, and the APIC timer at 0x30).
pub const FIRST_DEVICE_VECTOR: u8 = 0x31;
/// Last vector handed to devices (above: reserved for the APIC, spurious at 0xff).
pub const LAST_DEVICE_VECTOR: u8 = 0xef;

/// Per vector: 0 if unused, else the event slot index + 1.
static VECTOR_EVENT: [AtomicU16; 256] = [const { AtomicU16::new(0) }; 256];
/// Per vector: the IOAPIC input + 1 if the vector is a level-triggered line, else 0.
static VECTOR_LEVEL_GSI: [AtomicU32; 256] = [const { AtomicU32::new(0) }; 256];

/// The executor's event table: the one thing interrupt handlers write.
pub static EVENTS: EventTable = EventTable::new();

/// The slot the alarm (timer vector) marks: the first one allocated, by [`init`].
fn alarm_event() -> EventId {
    EventId::from_index(0).expect("slot 0 exists")
}

/// Binds a free device vector to `event`; `level_gsi` names the IOAPIC input to mask on each
/// interrupt when the line is level-triggered. Returns the vector, or `None` when all are taken.
pub fn bind_vector(event: EventId, level_gsi: Option<u32>) -> Option<u8> {
    let encoded = event.index() as u16 + 1;
    (FIRST_DEVICE_VECTOR..=LAST_DEVICE_VECTOR).find(|&v| {
        let ok = VECTOR_EVENT[v as usize]
            .compare_exchange(0, encoded, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok();
        if ok {
            VECTOR_LEVEL_GSI[v as usize].store(level_gsi.map_or(0, |g| g + 1), Ordering::Release);
        }
        ok
    })
}

/// Frees a vector bound by [`bind_vector`].
pub fn unbind_vector(vector: u8) {
    VECTOR_LEVEL_GSI[vector as usize].store(0, Ordering::Release);
    VECTOR_EVENT[vector as usize].store(0, Ordering::Release);
}

/// The Rust side of every vector. Runs with interrupts disabled (interrupt gates).
extern "C" fn dispatch(frame: &mut TrapFrame) {
    let vector = frame.vector as usize;
    if vector < 32 {
        crash::exception(frame);
    }
    if vector == apic::SPURIOUS_VECTOR as usize {
        return; // SDM 11.9: no EOI for the spurious vector
    }
    if vector == apic::TIMER_VECTOR as usize {
        // The alarm: marking an event is what makes `idle` see it. Without it, an alarm that
        // goes off between `set_alarm` and `hlt` (a deadline already past) would be handled
        // and forgotten, and the `hlt` would wait for an interrupt that never comes.
        EVENTS.mark(alarm_event());
    } else {
        // On Xen, the event-channel upcall vector: mark each pending port's slot.
        super::xen::upcall(vector);
        let level = VECTOR_LEVEL_GSI[vector].load(Ordering::Acquire);
        if level != 0 {
            super::irq::mask_gsi_from_interrupt(level - 1);
        }
        let encoded = VECTOR_EVENT[vector].load(Ordering::Acquire);
        if let Some(id) = encoded
            .checked_sub(1)
            .and_then(|i| EventId::from_index(i as usize))
        {
            EVENTS.mark(id);
        }
    }
    apic::eoi();
}

#[repr(C, align(16))]
struct Idt(UnsafeCell<[[u64; 2]; 256]>);

// SAFETY: written only by `init`, once, on the boot core with interrupts off.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new([[0; 2]; 256]));

/// Fills and loads the IDT: an interrupt gate (interrupts off on entry) per vector, double
/// faults on their own stack, NMIs and machine checks on another. Reserves the alarm's event
/// slot.
///
/// # Safety
///
/// Once, on the boot core, with interrupts disabled, after `gdt::init`.
pub unsafe fn init() {
    assert_eq!(
        EVENTS.alloc(),
        Some(alarm_event()),
        "the alarm takes the first event slot"
    );
    let stubs = &raw const __isr_stubs as u64;
    let idt = IDT.0.get();
    for vector in 0..256 {
        let handler = stubs + 16 * vector as u64;
        let ist = match vector {
            8 => gdt::IST_DOUBLE_FAULT,
            2 | 18 => gdt::IST_NMI,
            _ => 0,
        };
        // 64-bit interrupt gate (type 0xE), present, DPL 0 (SDM vol. 3, figure 6-8).
        let low = (handler & 0xffff)
            | (u64::from(KERNEL_CODE) << 16)
            | (u64::from(ist) << 32)
            | (0x8e << 40)
            | (((handler >> 16) & 0xffff) << 48);
        // SAFETY: the caller guarantees exclusive access during init.
        unsafe { (*idt)[vector] = [low, handler >> 32] };
    }
    let ptr = DescriptorTablePointer {
        limit: (core::mem::size_of::<[[u64; 2]; 256]>() - 1) as u16,
        base: idt as u64,
    };
    // SAFETY: the IDT is 'static and fully initialised; its handlers are the stubs above.
    unsafe { core::arch::asm!("lidt [{}]", in(reg) &ptr, options(readonly, nostack)) };
}

/// The name of an exception vector.
pub fn exception_name(vector: u64) -> &'static str {
    match vector {
        0 => "divide error (#DE)",
        1 => "debug (#DB)",
        2 => "non-maskable interrupt",
        3 => "breakpoint (#BP)",
        4 => "overflow (#OF)",
        5 => "bound range exceeded (#BR)",
        6 => "invalid opcode (#UD)",
        7 => "device not available (#NM)",
        8 => "double fault (#DF)",
        10 => "invalid TSS (#TS)",
        11 => "segment not present (#NP)",
        12 => "stack-segment fault (#SS)",
        13 => "general protection fault (#GP)",
        14 => "page fault (#PF)",
        16 => "x87 floating-point error (#MF)",
        17 => "alignment check (#AC)",
        18 => "machine check (#MC)",
        19 => "SIMD floating-point exception (#XM)",
        20 => "virtualization exception (#VE)",
        21 => "control protection exception (#CP)",
        _ => "reserved exception",
    }
}

/// Whether the CPU pushed an error code for `vector` (documentation for crash reports).
pub fn pushes_error_code(vector: u64) -> bool {
    has_error_code(vector as usize)
}
