//! The local APIC (xAPIC or x2APIC), its one-shot timer, MSI messages, the I/O APIC, and the
//! legacy 8259 PICs (masked).
//!
//! References: Intel SDM vol. 3A chapter 11 "Advanced Programmable Interrupt Controller (APIC)":
//! §11.4.3-11.4.4 (IA32_APIC_BASE, enabling), §11.5.1 (local vector table), §11.5.4 (the timer,
//! §11.5.4.1 TSC-deadline mode), §11.8.5 (EOI), §11.9 (spurious interrupt vector), §11.11
//! (message signalled interrupts: address and data format), §11.12 (x2APIC: MSR 0x800 + offset
//! / 16); Intel 82093AA I/O APIC datasheet §3.2 (IOREGSEL/IOWIN, IOAPICVER, IOREDTBL); Intel
//! 8259A datasheet (OCW1, the interrupt mask register).
//!
//! All state is in atomics: the APIC is per core and Morgana runs on one, so there is nothing to
//! lock, and [`eoi`] can run in an interrupt handler.

use core::arch::x86_64::__cpuid;
use core::sync::atomic::{AtomicU8, AtomicU64, Ordering, fence};

use x86_64::instructions::interrupts;
use x86_64::registers::model_specific::Msr;

use super::time::{Tsc, rdtsc};

/// The vector of the local APIC timer's interrupt.
pub const TIMER_VECTOR: u8 = 0x30;
/// The spurious-interrupt vector (its low four bits must be ones on older APICs: 0xff is safe).
/// A handler for it must not send an EOI (SDM §11.9).
pub const SPURIOUS_VECTOR: u8 = 0xff;

/// IA32_APIC_BASE (SDM §11.4.4): bit 11 global enable, bit 10 x2APIC mode, bits 51:12 base.
const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;
const APIC_BASE_ADDRESS: u64 = 0x000f_ffff_ffff_f000;
/// IA32_TSC_DEADLINE (SDM §11.5.4.1): the TSC value at which the timer fires; 0 disarms.
const IA32_TSC_DEADLINE: u32 = 0x6e0;
/// The first x2APIC MSR; register at xAPIC offset `o` is MSR `X2APIC_MSR_BASE + o / 16`.
const X2APIC_MSR_BASE: u32 = 0x800;

/// Local APIC register offsets in the xAPIC page (SDM table 11-1).
mod reg {
    pub const ID: u32 = 0x020;
    pub const VERSION: u32 = 0x030;
    pub const TPR: u32 = 0x080;
    pub const EOI: u32 = 0x0b0;
    pub const SVR: u32 = 0x0f0;
    pub const ESR: u32 = 0x280;
    pub const LVT_CMCI: u32 = 0x2f0;
    pub const LVT_TIMER: u32 = 0x320;
    pub const LVT_THERMAL: u32 = 0x330;
    pub const LVT_PERF: u32 = 0x340;
    pub const LVT_LINT0: u32 = 0x350;
    pub const LVT_LINT1: u32 = 0x360;
    pub const LVT_ERROR: u32 = 0x370;
    pub const TIMER_INITIAL: u32 = 0x380;
    pub const TIMER_CURRENT: u32 = 0x390;
    pub const TIMER_DIVIDE: u32 = 0x3e0;
}

/// SVR bit 8: APIC software enable.
const SVR_ENABLE: u32 = 1 << 8;
/// LVT bit 16: masked.
const LVT_MASKED: u32 = 1 << 16;
/// LVT delivery mode NMI (bits 10:8 = 100).
const LVT_NMI: u32 = 0b100 << 8;
/// LVT timer mode (bits 18:17): 00 one-shot, 10 TSC-deadline.
const LVT_TIMER_ONE_SHOT: u32 = 0b00 << 17;
const LVT_TIMER_TSC_DEADLINE: u32 = 0b10 << 17;
/// Divide configuration register value for divide by 16 (bits 3,1:0 = 0,11).
const TIMER_DIVIDE_BY_16: u32 = 0b0011;
/// How long the LAPIC timer is measured against the TSC when there is no TSC-deadline mode.
const LAPIC_CALIBRATION_NANOS: u64 = 1_000_000;

/// How the local APIC is reached: not yet initialised, memory-mapped, or through MSRs.
const MODE_NONE: u8 = 0;
const MODE_XAPIC: u8 = 1;
const MODE_X2APIC: u8 = 2;
static MODE: AtomicU8 = AtomicU8::new(MODE_NONE);
/// The xAPIC page's address (identity-mapped, so virtual = physical).
static XAPIC_BASE: AtomicU64 = AtomicU64::new(0);

/// Which one-shot timer [`set_alarm`] programs.
const TIMER_NONE: u8 = 0;
const TIMER_TSC_DEADLINE: u8 = 1;
const TIMER_LAPIC: u8 = 2;
static TIMER: AtomicU8 = AtomicU8::new(TIMER_NONE);
/// For the LAPIC timer: its count rate (after the divider) and the TSC's, in Hz.
static LAPIC_TIMER_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);

fn mode() -> u8 {
    MODE.load(Ordering::Relaxed)
}

/// Reads local APIC register `offset` in the current mode.
fn read(offset: u32) -> u32 {
    match mode() {
        MODE_X2APIC => {
            let msr = Msr::new(X2APIC_MSR_BASE + offset / 16);
            // SAFETY: x2APIC mode is enabled (MODE says so, set by `init` after the WRMSR to
            // IA32_APIC_BASE), and callers only pass offsets of registers that exist in it.
            unsafe { msr.read() as u32 }
        }
        MODE_XAPIC => {
            let addr = XAPIC_BASE.load(Ordering::Relaxed) + u64::from(offset);
            // SAFETY: `init` stored the xAPIC page's address from IA32_APIC_BASE; that page is
            // identity-mapped uncached by the paging code, and `offset` is a register in it
            // (16-byte aligned, so the u32 access is aligned). APIC registers must be accessed
            // as whole aligned u32s, which a volatile u32 read is.
            unsafe { core::ptr::read_volatile(addr as *const u32) }
        }
        _ => 0,
    }
}

/// Writes local APIC register `offset` in the current mode.
fn write(offset: u32, value: u32) {
    match mode() {
        MODE_X2APIC => {
            let mut msr = Msr::new(X2APIC_MSR_BASE + offset / 16);
            // SAFETY: as in `read`; these registers take 32-bit values, upper half zero.
            unsafe { msr.write(u64::from(value)) }
        }
        MODE_XAPIC => {
            let addr = XAPIC_BASE.load(Ordering::Relaxed) + u64::from(offset);
            // SAFETY: as in `read`.
            unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
        }
        _ => {}
    }
}

/// Enables the local APIC and chooses the one-shot timer; returns a description for the boot
/// log, like `"x2apic, tsc-deadline"` or `"xapic, lapic timer (one-shot, calibrated against the
/// tsc)"`.
///
/// x2APIC when `CPUID.1:ECX[21]` says so, else xAPIC at the address in IA32_APIC_BASE (which must
/// be mapped: the paging code maps 0xFEE00000, the architectural default). The spurious vector
/// is [`SPURIOUS_VECTOR`]; LINT0 (the 8259's virtual-wire input) and the error, performance and
/// thermal LVTs are masked; LINT1 delivers NMIs, which end in the crash report. The timer is the
/// TSC-deadline timer when `CPUID.1:ECX[24]` advertises it, else the LAPIC timer in one-shot mode,
/// divided by 16 and measured against `tsc` for 1 ms. Its vector is [`TIMER_VECTOR`].
///
/// Call [`enable`] once, with interrupts disabled, then (after measuring the TSC, possibly
/// with a [`Stopwatch`] running) [`init_timer`], before [`set_alarm`].
pub fn enable() -> bool {
    let features = __cpuid(1).ecx;
    let has_x2apic = features & (1 << 21) != 0;
    let has_tsc_deadline = features & (1 << 24) != 0;

    let mut base_msr = Msr::new(IA32_APIC_BASE);
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU (all have a local APIC).
    let base = unsafe { base_msr.read() };
    let already_x2apic =
        base & (APIC_BASE_ENABLE | APIC_BASE_X2APIC) == APIC_BASE_ENABLE | APIC_BASE_X2APIC;
    if has_x2apic || already_x2apic {
        if !already_x2apic {
            // SDM §11.12.5: from disabled, go through xAPIC mode (EN) before x2APIC (EN|EXTD).
            // SAFETY: enabling the APIC (and then x2APIC mode, which CPUID advertises) at its
            // current base changes no memory mapping and delivers nothing until the LVTs and
            // SVR are programmed below, with interrupts disabled as documented.
            unsafe {
                base_msr.write(base | APIC_BASE_ENABLE);
                base_msr.write(base | APIC_BASE_ENABLE | APIC_BASE_X2APIC);
            }
        }
        MODE.store(MODE_X2APIC, Ordering::Relaxed);
    } else {
        if base & APIC_BASE_ENABLE == 0 {
            // SAFETY: as above, for xAPIC mode.
            unsafe { base_msr.write(base | APIC_BASE_ENABLE) };
        }
        XAPIC_BASE.store(base & APIC_BASE_ADDRESS, Ordering::Relaxed);
        MODE.store(MODE_XAPIC, Ordering::Relaxed);
    }

    // Accept every priority; software-enable with the spurious vector.
    write(reg::TPR, 0);
    write(reg::SVR, SVR_ENABLE | u32::from(SPURIOUS_VECTOR));

    // The LVT entries beyond the four every APIC has exist if the version register's "max LVT
    // entry" (bits 23:16) reaches them (SDM §11.5.1); in x2APIC mode touching a missing one
    // faults.
    let max_lvt = (read(reg::VERSION) >> 16) & 0xff;
    write(reg::LVT_LINT0, LVT_MASKED);
    write(reg::LVT_LINT1, LVT_NMI);
    write(reg::LVT_ERROR, LVT_MASKED);
    if max_lvt >= 4 {
        write(reg::LVT_PERF, LVT_MASKED);
    }
    if max_lvt >= 5 {
        write(reg::LVT_THERMAL, LVT_MASKED);
    }
    if max_lvt >= 6 {
        write(reg::LVT_CMCI, LVT_MASKED);
    }
    // Clear the error status (a write, then the read that would show it, SDM §11.5.3).
    write(reg::ESR, 0);
    let _ = read(reg::ESR);
    // Clear anything in service from before us.
    write(reg::EOI, 0);
    HAS_TSC_DEADLINE.store(has_tsc_deadline, Ordering::Relaxed);
    has_tsc_deadline
}

static HAS_TSC_DEADLINE: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

/// Measures the LAPIC timer against the TSC over a window that someone else times (the PIT
/// calibration of the TSC), so that one wait calibrates both.
#[derive(Debug, Default)]
pub struct Stopwatch {
    start: Option<u64>,
    result: Option<(u64, u64)>,
}

impl Stopwatch {
    /// Starts the LAPIC timer counting down (masked) from its maximum; call right after the
    /// window's first TSC sample.
    pub fn start(&mut self) {
        write(
            reg::LVT_TIMER,
            LVT_MASKED | LVT_TIMER_ONE_SHOT | u32::from(TIMER_VECTOR),
        );
        write(reg::TIMER_DIVIDE, TIMER_DIVIDE_BY_16);
        let a = rdtsc();
        write(reg::TIMER_INITIAL, u32::MAX);
        let b = rdtsc();
        self.start = Some(a + b.wrapping_sub(a) / 2);
    }

    /// The measured rate in counts per second. Each end's instant is the midpoint of the RDTSCs
    /// around the register access, so slow exits (MMIO or WRMSR traps) cost precision only
    /// through their asymmetry. At least 1 MHz: a timer that did not count (hz 0) would never
    /// fire, and 1 count per µs keeps alarms bounded in lateness if the measurement failed.
    fn hz(&self, tsc: &Tsc) -> Option<u64> {
        let (counted, elapsed) = self.result?;
        let hz = u128::from(counted) * u128::from(tsc.hz) / u128::from(elapsed);
        Some(u64::try_from(hz).unwrap_or(u64::MAX).max(1_000_000))
    }

    /// Reads how far it counted; call right after the window's last TSC sample.
    pub fn stop(&mut self) {
        let Some(start) = self.start else { return };
        let a = rdtsc();
        let current = read(reg::TIMER_CURRENT);
        let b = rdtsc();
        write(reg::TIMER_INITIAL, 0);
        let end = a + b.wrapping_sub(a) / 2;
        self.result = Some((
            u64::from(u32::MAX - current),
            end.wrapping_sub(start).max(1),
        ));
    }
}

/// Chooses and sets up the one-shot timer: TSC-deadline where the CPU has it, else the LAPIC
/// timer, whose rate comes from `measured` (a [`Stopwatch`] run during the TSC's calibration)
/// or, failing that, from 1 ms measured against `tsc` now. Returns a description for the log.
pub fn init_timer(tsc: &Tsc, measured: &Stopwatch) -> &'static str {
    let has_tsc_deadline = HAS_TSC_DEADLINE.load(Ordering::Relaxed);
    let x2 = mode() == MODE_X2APIC;
    if has_tsc_deadline {
        write(
            reg::LVT_TIMER,
            LVT_TIMER_TSC_DEADLINE | u32::from(TIMER_VECTOR),
        );
        // SDM §11.5.4.1: the MMIO write switching to TSC-deadline mode must be ordered before
        // the first WRMSR to IA32_TSC_DEADLINE (which is not serialising); MFENCE does that.
        fence(Ordering::SeqCst);
        TIMER.store(TIMER_TSC_DEADLINE, Ordering::Relaxed);
        // Switching modes disarms the timer (SDM §11.5.4.1); make sure of it.
        set_alarm(None);
        if x2 {
            "x2apic, tsc-deadline"
        } else {
            "xapic, tsc-deadline"
        }
    } else {
        TSC_HZ.store(tsc.hz, Ordering::Relaxed);
        let hz = measured
            .hz(tsc)
            .unwrap_or_else(|| calibrate_lapic_timer(tsc));
        LAPIC_TIMER_HZ.store(hz, Ordering::Relaxed);
        write(reg::LVT_TIMER, LVT_TIMER_ONE_SHOT | u32::from(TIMER_VECTOR));
        TIMER.store(TIMER_LAPIC, Ordering::Relaxed);
        match (x2, measured.result.is_some()) {
            (true, true) => "x2apic, lapic timer (one-shot, measured with the pit window)",
            (true, false) => "x2apic, lapic timer (one-shot, calibrated against the tsc)",
            (false, true) => "xapic, lapic timer (one-shot, measured with the pit window)",
            (false, false) => "xapic, lapic timer (one-shot, calibrated against the tsc)",
        }
    }
}

/// Counts of the LAPIC timer (divided by 16) per second, measured against the TSC over
/// [`LAPIC_CALIBRATION_NANOS`] (when the TSC's rate came from elsewhere than the PIT window).
fn calibrate_lapic_timer(tsc: &Tsc) -> u64 {
    let mut watch = Stopwatch::default();
    watch.start();
    let until = rdtsc().saturating_add(tsc.nanos_to_ticks(LAPIC_CALIBRATION_NANOS));
    while rdtsc() < until {
        core::hint::spin_loop();
    }
    watch.stop();
    watch.hz(tsc).unwrap_or(1_000_000)
}

/// Arms the one-shot timer to interrupt (on [`TIMER_VECTOR`]) when the TSC reaches
/// `tsc_deadline`, at once if it already has; `None` disarms it. Re-arming replaces the previous
/// alarm.
///
/// The LAPIC timer's 32-bit count (divided by 16) reaches tens of seconds at most; a farther
/// deadline fires early, and the caller re-arms. The count is rounded up, so the rounding errs
/// late (by under a count) rather than early; the calibration's own error (its 1 ms measured
/// against the TSC) goes either way.
pub fn set_alarm(tsc_deadline: Option<u64>) {
    match TIMER.load(Ordering::Relaxed) {
        TIMER_TSC_DEADLINE => {
            // 0 would disarm; 1 is as good as any past value.
            let value = tsc_deadline.map_or(0, |d| d.max(1));
            let mut msr = Msr::new(IA32_TSC_DEADLINE);
            // SAFETY: CPUID advertised TSC-deadline mode and `init` put the timer LVT in it;
            // the MSR only arms the timer, whose vector has a handler.
            unsafe { msr.write(value) };
        }
        TIMER_LAPIC => {
            let count = match tsc_deadline {
                None => 0,
                Some(deadline) => {
                    let ticks = deadline.saturating_sub(rdtsc());
                    let hz = LAPIC_TIMER_HZ.load(Ordering::Relaxed);
                    let tsc_hz = TSC_HZ.load(Ordering::Relaxed).max(1);
                    let count = (u128::from(ticks) * u128::from(hz)).div_ceil(u128::from(tsc_hz));
                    // 0 would stop the timer: a past deadline counts 1.
                    u32::try_from(count).unwrap_or(u32::MAX).max(1)
                }
            };
            // Writing the initial count (re)starts the one-shot countdown; 0 stops it.
            write(reg::TIMER_INITIAL, count);
        }
        _ => {}
    }
}

/// Signals the end of the interrupt being handled to the local APIC. Lock-free and
/// allocation-free: call it from interrupt handlers (not for [`SPURIOUS_VECTOR`]).
#[inline]
pub fn eoi() {
    write(reg::EOI, 0);
}

/// This CPU's local APIC ID (the full 32-bit x2APIC ID in x2APIC mode; before [`enable`], the
/// initial APIC ID from `CPUID.1:EBX[31:24]`).
pub fn id() -> u32 {
    match mode() {
        MODE_X2APIC => read(reg::ID),
        MODE_XAPIC => read(reg::ID) >> 24,
        _ => __cpuid(1).ebx >> 24,
    }
}

/// The (address, data) pair that an MSI or MSI-X entry needs to deliver `vector` to this CPU:
/// fixed delivery mode, edge-triggered, physical destination mode (SDM §11.11.1-2).
///
/// The destination field is 8 bits, enough for the one CPU of a single-core guest (APIC ID 0 in
/// practice); an x2APIC ID above 255 would need interrupt remapping or a hypervisor's extended
/// destination ID, and is truncated here.
pub fn msi_message(vector: u8) -> (u64, u32) {
    // Address: 0xFEE in bits 31:20, destination ID in 19:12, RH (bit 3) = 0, DM (bit 2) = 0.
    let address = 0xfee0_0000 | (u64::from(id() & 0xff) << 12);
    // Data: vector in 7:0, delivery mode fixed (10:8 = 000), level (14) and trigger (15) 0 = edge.
    (address, u32::from(vector))
}

/// An I/O APIC (82093AA and compatibles): routes interrupt pins (GSIs) to local APIC vectors.
///
/// Register access is an index write (IOREGSEL, offset 0x00) then a data access (IOWIN, offset
/// 0x10); each method does that pair with interrupts disabled, so an interrupt handler may mask a
/// line while task code is routing another.
#[derive(Debug)]
pub struct IoApic {
    base: u64,
    pins: u32,
}

/// The last I/O APIC [`IoApic::new`] read: its base address, with the highest entry's index in
/// the low byte; 0 for none.
static IOAPIC_PINS_CACHE: AtomicU64 = AtomicU64::new(0);

const IOREGSEL: u64 = 0x00;
const IOWIN: u64 = 0x10;
const IOAPICVER: u32 = 0x01;
const IOREDTBL: u32 = 0x10;
/// Redirection entry, low word: vector 7:0, delivery mode 10:8 (000 fixed), destination mode 11
/// (0 physical), polarity 13 (1 active low), trigger 15 (1 level), mask 16. High word: the
/// destination APIC ID in bits 31:24.
const RTE_ACTIVE_LOW: u32 = 1 << 13;
const RTE_LEVEL: u32 = 1 << 15;
const RTE_MASKED: u32 = 1 << 16;

impl IoApic {
    /// The I/O APIC whose registers are at `base_phys` (from the MP table, ACPI MADT, or the
    /// platform's fixed address: 0xFEC00000 on PCs and microvm). Cheap: the input count is read
    /// from the chip the first time and remembered, so a handle may be made per use, even in an
    /// interrupt handler.
    ///
    /// # Safety
    ///
    /// `base_phys` must be an I/O APIC's register page, identity-mapped uncached, and nothing
    /// but `IoApic` handles may access that I/O APIC. Several handles to it may coexist: each
    /// index/data access pair runs with interrupts disabled, on the one core.
    pub unsafe fn new(base_phys: u64) -> IoApic {
        let cached = IOAPIC_PINS_CACHE.load(Ordering::Relaxed);
        if cached != 0 && cached & !0xff == base_phys {
            return IoApic {
                base: base_phys,
                pins: (cached & 0xff) as u32 + 1,
            };
        }
        let mut ioapic = IoApic {
            base: base_phys,
            pins: 0,
        };
        // IOAPICVER bits 23:16: the highest redirection entry's index.
        let max_entry = (ioapic.read(IOAPICVER) >> 16) & 0xff;
        ioapic.pins = max_entry + 1;
        // The register block is 1 KiB-aligned (82093AA §3.0), so the low byte is free.
        if base_phys & 0xff == 0 {
            IOAPIC_PINS_CACHE.store(base_phys | u64::from(max_entry), Ordering::Relaxed);
        }
        ioapic
    }

    /// How many interrupt inputs (redirection entries) it has: 24 on the 82093AA and in QEMU.
    pub fn gsi_count(&self) -> u32 {
        self.pins
    }

    /// Routes input `gsi` (counted from this I/O APIC's first input) to `vector` on this CPU,
    /// with fixed delivery in physical destination mode, and unmasks it. `level_triggered` and
    /// `active_low` describe the line (ISA lines are edge/active-high, PCI lines level/low).
    /// An input it does not have is ignored.
    pub fn route(&self, gsi: u32, vector: u8, level_triggered: bool, active_low: bool) {
        if gsi >= self.pins {
            return;
        }
        let mut low = u32::from(vector);
        if level_triggered {
            low |= RTE_LEVEL;
        }
        if active_low {
            low |= RTE_ACTIVE_LOW;
        }
        let high = (id() & 0xff) << 24;
        interrupts::without_interrupts(|| {
            // Mask while the two halves disagree, set the destination, then the rest (unmasked).
            self.write(IOREDTBL + 2 * gsi, RTE_MASKED);
            self.write(IOREDTBL + 2 * gsi + 1, high);
            self.write(IOREDTBL + 2 * gsi, low);
        });
    }

    /// Masks (`true`) or unmasks input `gsi`, keeping its routing. An input it does not have is
    /// ignored.
    pub fn set_masked(&self, gsi: u32, masked: bool) {
        if gsi >= self.pins {
            return;
        }
        interrupts::without_interrupts(|| {
            let low = self.read(IOREDTBL + 2 * gsi);
            let low = if masked {
                low | RTE_MASKED
            } else {
                low & !RTE_MASKED
            };
            self.write(IOREDTBL + 2 * gsi, low);
        });
    }

    fn read(&self, index: u32) -> u32 {
        interrupts::without_interrupts(|| {
            // SAFETY: `new`'s contract: `base` is an I/O APIC's mapped register page, which only
            // `IoApic` handles access; IOREGSEL and IOWIN are aligned u32 registers in it.
            // Interrupts are off on the one core, so no other handle (say, in an interrupt
            // handler) can change IOREGSEL between the two accesses.
            unsafe {
                core::ptr::write_volatile((self.base + IOREGSEL) as *mut u32, index);
                core::ptr::read_volatile((self.base + IOWIN) as *const u32)
            }
        })
    }

    fn write(&self, index: u32, value: u32) {
        interrupts::without_interrupts(|| {
            // SAFETY: as in `read`.
            unsafe {
                core::ptr::write_volatile((self.base + IOREGSEL) as *mut u32, index);
                core::ptr::write_volatile((self.base + IOWIN) as *mut u32, value);
            }
        })
    }
}
