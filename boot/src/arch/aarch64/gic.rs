//! The Arm Generic Interrupt Controller, v3 (system-register CPU interface, per-CPU
//! redistributors) and v2 (memory-mapped CPU interface), and the interrupt handler: acknowledge,
//! mark the interrupt's event in the executor's table, end. Nothing else.
//!
//! Ref: Arm IHI 0069 (GICv3/v4 architecture specification): 12.9 (GICD registers), 12.10
//! (GICR), 12.11 (ICC system registers); Arm IHI 0048B (GICv2): 4.3 (GICD), 4.4 (GICC).
//!
//! One CPU, one security state as QEMU `virt` and Xen present it: every interrupt Morgana uses
//! is Group 1 (v3) or Group 0 signalled as IRQ (v2), at one priority, routed to this CPU.
//! A level-triggered SPI is masked by the handler (its line stays asserted until the driver has
//! acknowledged the device) and unmasked by the driver with [`unmask`].

use core::sync::atomic::{AtomicU8, AtomicU16, AtomicU64, Ordering};

use morgana_executor::{EventId, EventTable};

use crate::dtb::{Gic, Irq};

/// The executor's event table: the one thing interrupt handlers write.
pub static EVENTS: EventTable = EventTable::new();

/// The slot the alarm (the virtual timer's PPI) marks: the first one allocated, by [`init`].
pub fn alarm_event() -> EventId {
    EventId::from_index(0).expect("slot 0 exists")
}

/// GIC interrupt IDs handled (SGIs, PPIs and the first SPIs; QEMU `virt` uses SPIs below 96).
const MAX_INTID: usize = 1020;
/// The priority of every interrupt (any value below the priority mask 0xff passes).
const PRIORITY: u8 = 0xa0;

/// Per interrupt ID: 0 if unbound, else the event slot + 1, with bit 15 set if level-triggered.
static BINDINGS: [AtomicU16; MAX_INTID] = [const { AtomicU16::new(0) }; MAX_INTID];
const LEVEL: u16 = 1 << 15;

/// 0: none yet, 2 or 3: the version.
static VERSION: AtomicU8 = AtomicU8::new(0);
/// The distributor's registers.
static GICD: AtomicU64 = AtomicU64::new(0);
/// v2: the CPU interface; v3: this CPU's redistributor SGI/PPI frame.
static LOCAL: AtomicU64 = AtomicU64::new(0);
/// The virtual timer's interrupt ID.
static TIMER_INTID: AtomicU16 = AtomicU16::new(u16::MAX);

fn read32(addr: u64) -> u32 {
    // SAFETY: callers pass an address inside a GIC register block found in the device tree and
    // mapped as device memory by paging; GIC registers are 32-bit readable.
    unsafe { (addr as *const u32).read_volatile() }
}

fn write32(addr: u64, value: u32) {
    // SAFETY: as `read32`; writes only go to enable, priority, group, configuration and
    // acknowledge registers, whose effects are the interrupt plumbing this module owns.
    unsafe { (addr as *mut u32).write_volatile(value) }
}

fn read64(addr: u64) -> u64 {
    // SAFETY: as `read32`, for the 64-bit GICR_TYPER.
    unsafe { (addr as *const u64).read_volatile() }
}

fn write64(addr: u64, value: u64) {
    // SAFETY: as `write32`, for the 64-bit GICD_IROUTER<n>.
    unsafe { (addr as *mut u64).write_volatile(value) }
}

/// Sets the byte at `index` of a byte-per-interrupt register array at `base`, with a 32-bit
/// read-modify-write (GICv2 does not promise byte access to every register).
fn set_byte(base: u64, index: u32, value: u8) {
    let reg = base + u64::from(index & !3);
    let shift = (index & 3) * 8;
    write32(
        reg,
        (read32(reg) & !(0xff << shift)) | (u32::from(value) << shift),
    );
}

fn mpidr() -> u64 {
    let v: u64;
    // SAFETY: reading MPIDR_EL1 has no side effect.
    unsafe { core::arch::asm!("mrs {}, mpidr_el1", out(reg) v, options(nomem, nostack)) };
    v
}

macro_rules! sysreg_write {
    ($name:literal, $value:expr) => {
        // SAFETY: a GICv3 CPU interface register, written during init or to end an interrupt;
        // `init` checked that the system-register interface exists.
        unsafe {
            core::arch::asm!(concat!("msr ", $name, ", {}"), in(reg) $value, options(nostack));
        }
    };
}

/// Brings up the GIC the device tree described, with the virtual timer's PPI enabled (level,
/// marking [`alarm_event`]). Returns a description for the boot line.
pub fn init(gic: Gic, timer: Irq) -> Result<&'static str, &'static str> {
    assert_eq!(
        EVENTS.alloc(),
        Some(alarm_event()),
        "the alarm takes the first event slot"
    );
    TIMER_INTID.store(timer.intid as u16, Ordering::Relaxed);
    match gic {
        Gic::V3 {
            distributor,
            redistributors,
        } => {
            let pfr0: u64;
            // SAFETY: reading an ID register has no side effect.
            unsafe {
                core::arch::asm!("mrs {}, id_aa64pfr0_el1", out(reg) pfr0, options(nomem, nostack));
            }
            if (pfr0 >> 24) & 0xf == 0 {
                return Err("GICv3 in the device tree, but the CPU has no GIC system registers");
            }
            let d = distributor.base;
            GICD.store(d, Ordering::Relaxed);
            // Disable, then enable with affinity routing and Group 1 (GICD_CTLR.ARE, EnableGrp1).
            write32(d, 0);
            wait_rwp(d);
            write32(d, (1 << 4) | (1 << 1));
            wait_rwp(d);
            let sgi = find_redistributor(redistributors.base, redistributors.size)
                .ok_or("no GICv3 redistributor for this CPU")?;
            LOCAL.store(sgi, Ordering::Relaxed);
            // Wake the redistributor: clear GICR_WAKER.ProcessorSleep, wait for ChildrenAsleep.
            let waker = sgi - 0x1_0000 + 0x14;
            write32(waker, read32(waker) & !(1 << 1));
            while read32(waker) & (1 << 2) != 0 {
                core::hint::spin_loop();
            }
            write32(sgi + 0x80, u32::MAX); // GICR_IGROUPR0: SGIs and PPIs in Group 1
            write32(sgi + 0x180, u32::MAX); // GICR_ICENABLER0: all off
            // SAFETY: the CPU has the system-register interface (checked above); enabling it
            // at EL1 (ICC_SRE_EL1.SRE) is what the EL2 entry code allowed.
            unsafe {
                core::arch::asm!(
                    "mrs {t}, S3_0_C12_C12_5",
                    "orr {t}, {t}, #1",
                    "msr S3_0_C12_C12_5, {t}",
                    "isb",
                    t = out(reg) _,
                    options(nostack)
                );
            }
            sysreg_write!("S3_0_C4_C6_0", 0xffu64); // ICC_PMR_EL1: let every priority through
            sysreg_write!("S3_0_C12_C12_3", 0u64); // ICC_BPR1_EL1
            sysreg_write!("S3_0_C12_C12_4", 0u64); // ICC_CTLR_EL1: EOI also deactivates
            sysreg_write!("S3_0_C12_C12_7", 1u64); // ICC_IGRPEN1_EL1: Group 1 on
            // SAFETY: an instruction barrier has no other effect.
            unsafe { core::arch::asm!("isb", options(nostack)) };
            VERSION.store(3, Ordering::Release);
        }
        Gic::V2 { distributor, cpu } => {
            let d = distributor.base;
            GICD.store(d, Ordering::Relaxed);
            LOCAL.store(cpu.base, Ordering::Relaxed);
            write32(d, 0);
            write32(d + 0x180, u32::MAX); // GICD_ICENABLER0: banked SGIs/PPIs off
            write32(d, 1); // GICD_CTLR: forward Group 0
            write32(cpu.base + 0x4, 0xff); // GICC_PMR
            write32(cpu.base + 0x8, 0); // GICC_BPR
            write32(cpu.base, 1); // GICC_CTLR: signal Group 0 as IRQ
            VERSION.store(2, Ordering::Release);
        }
    }
    BINDINGS[timer.intid as usize].store(alarm_event().index() as u16 + 1, Ordering::Release);
    configure(timer.intid, true);
    unmask(timer.intid);
    Ok(match gic {
        Gic::V3 { .. } => "GICv3",
        Gic::V2 { .. } => "GICv2",
    })
}

/// Waits for GICD_CTLR.RWP: the distributor has taken a write.
fn wait_rwp(d: u64) {
    while read32(d) & (1 << 31) != 0 {
        core::hint::spin_loop();
    }
}

/// Finds this CPU's redistributor in `[base, base + size)`: the frame whose GICR_TYPER affinity
/// is this CPU's MPIDR affinity. Returns its SGI/PPI frame (RD_base + 64 KiB).
fn find_redistributor(base: u64, size: u64) -> Option<u64> {
    let m = mpidr();
    let affinity = (m & 0xff_ffff) | ((m >> 8) & 0xff00_0000);
    let mut frame = base;
    while frame + 0x2_0000 <= base.saturating_add(size) {
        let typer = read64(frame + 0x8);
        if typer >> 32 == affinity {
            return Some(frame + 0x1_0000);
        }
        if typer & (1 << 4) != 0 {
            return None; // GICR_TYPER.Last
        }
        // Two 64 KiB frames each, four with virtual LPIs (GICv4).
        frame += if typer & (1 << 1) != 0 {
            0x4_0000
        } else {
            0x2_0000
        };
    }
    None
}

/// Sets an interrupt's group, priority, trigger and (SPIs) target; leaves it masked.
fn configure(intid: u32, level: bool) {
    let d = GICD.load(Ordering::Relaxed);
    let local = LOCAL.load(Ordering::Relaxed);
    let v3 = VERSION.load(Ordering::Acquire) == 3;
    let word = 4 * u64::from(intid / 32);
    let bit = 1u32 << (intid % 32);
    let cfg_reg = 4 * u64::from(intid / 16);
    let cfg_bit = 2 << ((intid % 16) * 2);
    if v3 && intid < 32 {
        set_byte(local + 0x400, intid, PRIORITY);
        let icfgr = local + 0xc00 + cfg_reg;
        let v = read32(icfgr) & !cfg_bit;
        write32(icfgr, if level { v } else { v | cfg_bit });
        return;
    }
    if v3 {
        write32(d + 0x80 + word, read32(d + 0x80 + word) | bit); // Group 1
        write64(d + 0x6000 + 8 * u64::from(intid), mpidr() & 0xff_00ff_ffff);
    } else if intid >= 32 {
        // GICD_ITARGETSR0 reads as this CPU's own mask.
        let me = (read32(d + 0x800) & 0xff) as u8;
        set_byte(d + 0x800, intid, if me == 0 { 1 } else { me });
    }
    set_byte(d + 0x400, intid, PRIORITY);
    if intid >= 32 {
        let icfgr = d + 0xc00 + cfg_reg;
        let v = read32(icfgr) & !cfg_bit;
        write32(icfgr, if level { v } else { v | cfg_bit });
    }
}

/// The enable/disable register for `intid`: the redistributor's for a v3 SGI/PPI, else the
/// distributor's. `offset` is ISENABLER (0x100) or ICENABLER (0x180).
fn enable_register(intid: u32, offset: u64) -> u64 {
    if VERSION.load(Ordering::Acquire) == 3 && intid < 32 {
        LOCAL.load(Ordering::Relaxed) + offset
    } else {
        GICD.load(Ordering::Relaxed) + offset + 4 * u64::from(intid / 32)
    }
}

/// Unmasks an interrupt: after its driver acknowledged a level-triggered device.
pub fn unmask(intid: u32) {
    if VERSION.load(Ordering::Acquire) != 0 {
        write32(enable_register(intid, 0x100), 1 << (intid % 32));
    }
}

fn mask(intid: u32) {
    write32(enable_register(intid, 0x180), 1 << (intid % 32));
}

/// Routes a device's interrupt to a new event and unmasks it; the driver awaits the event.
pub fn route(irq: Irq) -> Option<EventId> {
    if VERSION.load(Ordering::Acquire) == 0 || !(32..MAX_INTID as u32).contains(&irq.intid) {
        return None;
    }
    let event = EVENTS.alloc()?;
    let encoded = (event.index() as u16 + 1) | if irq.level { LEVEL } else { 0 };
    if BINDINGS[irq.intid as usize]
        .compare_exchange(0, encoded, Ordering::AcqRel, Ordering::Relaxed)
        .is_err()
    {
        EVENTS.free(event);
        return None;
    }
    configure(irq.intid, irq.level);
    unmask(irq.intid);
    Some(event)
}

fn acknowledge() -> u32 {
    if VERSION.load(Ordering::Acquire) == 3 {
        let iar: u64;
        // SAFETY: reading ICC_IAR1_EL1 acknowledges the highest-priority pending interrupt,
        // which this handler then ends.
        unsafe { core::arch::asm!("mrs {}, S3_0_C12_C12_0", out(reg) iar, options(nostack)) };
        (iar & 0xff_ffff) as u32
    } else {
        read32(LOCAL.load(Ordering::Relaxed) + 0xc) & 0x3ff // GICC_IAR
    }
}

fn end(intid: u32) {
    if VERSION.load(Ordering::Acquire) == 3 {
        sysreg_write!("S3_0_C12_C12_1", u64::from(intid)); // ICC_EOIR1_EL1
    } else {
        write32(LOCAL.load(Ordering::Relaxed) + 0x10, intid); // GICC_EOIR
    }
}

/// The IRQ vector: takes every pending interrupt, marks its event, ends it.
pub fn handle_irq() {
    loop {
        let intid = acknowledge();
        if intid >= 1020 {
            return; // spurious: nothing pending
        }
        if intid == u32::from(TIMER_INTID.load(Ordering::Relaxed)) {
            // The alarm: silence the timer (its line is level) and mark the event, which is
            // what ends `idle`, even when the alarm went off between `set_alarm` and `wfi`.
            super::timer::silence();
        }
        let binding = BINDINGS
            .get(intid as usize)
            .map_or(0, |b| b.load(Ordering::Acquire));
        if binding & LEVEL != 0 {
            mask(intid);
        }
        if let Some(id) = (binding & !LEVEL)
            .checked_sub(1)
            .and_then(|i| EventId::from_index(i as usize))
        {
            EVENTS.mark(id);
        }
        end(intid);
    }
}
