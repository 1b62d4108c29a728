//! AArch64: the arm64 Image that boots on QEMU `virt` (`-kernel`, DTB in `x0`), at EL2 or EL1.
//!
//! Start-up, in order: `entry` (Image header, EL2 to EL1, FP/SIMD, vectors, boot tables, bss,
//! stacks) calls `start`, which reads the device tree into a [`crate::dtb::ArmMachine`] (its
//! [`crate::bootinfo::BootInfo`] as PVH's), brings up the PL011 console, builds the W^X
//! translation tables, gives the rest of RAM to the heap, brings up the GIC (v3 or v2) with the
//! generic timer's PPI, finds entropy (RNDR, else virtio-rng) and the PL031 wall clock, prints
//! what it found and how long boot took, and runs the appliance.
//!
//! # Exit codes
//!
//! [`exit`] prints a status line, `morgana: exit code N`, then powers off through PSCI
//! SYSTEM_OFF; `cargo xtask run-qemu` reads the code from that line. Not semihosting: Xen on
//! Arm and real boards have none (a semihosting call there is an undefined instruction), and
//! QEMU needs `-semihosting`, which also gives the guest the host's files. A console line works
//! wherever there is a console, which is where a user looks anyway.

mod entry;
mod exceptions;
pub mod gic;
pub mod net;
mod paging;
pub mod pl011;
pub mod platform;
mod psci;
pub mod rng;
pub mod rtc;
pub mod timer;
pub mod virtio;

use alloc::rc::Rc;
use alloc::string::String;
use core::fmt::{self, Write};

use crate::bootinfo::UsableRanges;
use crate::dtb;
use crate::machine::Machine;

unsafe extern "Rust" {
    /// Written by `#[morgana::main]` in the appliance crate.
    fn __morgana_appliance_entry(machine: Machine) -> i32;
}

/// What the boot tables map as normal memory: GiB 1 to 3 (the DTB must lie there).
const BOOT_MAPPED: (u64, u64) = (1 << 30, 4 << 30);

/// The device tree blob at `address`, checked to lie where the boot tables map RAM.
fn device_tree(address: u64) -> Result<&'static [u8], dtb::DtbError> {
    let readable = |start: u64, len: usize| {
        start >= BOOT_MAPPED.0
            && start
                .checked_add(len as u64)
                .is_some_and(|end| end <= BOOT_MAPPED.1)
    };
    if !readable(address, dtb::HEADER_LEN) {
        return Err(dtb::DtbError::BadMagic(0));
    }
    // SAFETY: [address, address + HEADER_LEN) is RAM the boot tables map; nothing writes it.
    let header = unsafe { core::slice::from_raw_parts(address as *const u8, dtb::HEADER_LEN) };
    let size = dtb::total_size(header)?;
    if !readable(address, size) {
        return Err(dtb::DtbError::Truncated);
    }
    // SAFETY: as above, for the blob's full size (bounded by MAX_TOTAL_SIZE).
    Ok(unsafe { core::slice::from_raw_parts(address as *const u8, size) })
}

/// Rust's first function, called by `entry` on the boot stack with interrupts masked, the MMU
/// on (boot tables) and `.bss` clear: the DTB's address, the counter at entry, the entry EL.
extern "C" fn start(dtb_address: u64, boot_counter: u64, entry_el: u64) -> ! {
    let mut stages = Stages::new(boot_counter);
    let blob = device_tree(dtb_address);
    let machine = match blob.and_then(dtb::parse) {
        Ok(m) => m,
        Err(e) => {
            // No console known: QEMU virt's, where a user of this image most likely looks.
            pl011::init(pl011::QEMU_VIRT_UART);
            let _ = writeln!(
                EarlyConsole,
                "morgana: cannot boot: device tree at {dtb_address:#x}: {e}"
            );
            exit(crate::EXIT_BOOT_FAILED);
        }
    };
    if let Some(uart) = machine.console {
        pl011::init(uart.base);
    }
    psci::init(machine.psci);
    stages.mark("dtb");
    let blob_span = blob.map_or((0, 0), |b| (dtb_address, dtb_address + b.len() as u64));
    let ram = machine.boot.usable_ranges();
    // SAFETY: once, at boot, IRQs masked, on the boot tables.
    let tables = match unsafe { paging::init(&machine, &ram) } {
        Ok(n) => n,
        Err(e) => boot_failed(format_args!("{e}")),
    };
    stages.mark("paging");
    let mut free = ram;
    let image = paging::ImageLayout::get();
    free.remove(image.span().0, image.span().1);
    free.remove(blob_span.0, blob_span.1);
    for m in machine.boot.modules() {
        free.remove(m.start, m.start.saturating_add(m.len));
    }
    claim(&free);
    stages.mark("heap");
    let clock = timer::Clock {
        hz: timer::frequency(),
    };
    let (Some(gic), Some(timer_irq)) = (machine.gic, machine.virtual_timer) else {
        boot_failed(format_args!(
            "the device tree has no interrupt controller or no generic timer"
        ));
    };
    let gic_name = match gic::init(gic, timer_irq) {
        Ok(name) => name,
        Err(e) => boot_failed(format_args!("{e}")),
    };
    stages.mark("gic");
    virtio::defer_discovery(machine.virtio());
    let mut rng_location = None;
    let mut virtio_rng = None;
    if rng::source().is_none()
        && let Some(found) = virtio::take(morgana_drivers::virtio::DeviceType::Entropy)
    {
        match morgana_drivers::virtio::VirtioRng::new(found.transport) {
            Ok(rng) => {
                virtio_rng = Some(rng);
                rng_location = Some(found.location);
            }
            Err(e) => {
                let _ = writeln!(
                    EarlyConsole,
                    "morgana: virtio-rng at {} failed: {e}",
                    found.location
                );
            }
        }
        stages.mark("devices");
    }
    let platform = platform::Virt {
        clock,
        boot_counter,
        rtc: machine.rtc.map(|r| r.base),
        wall: core::cell::OnceCell::new(),
        name: if machine.qemu_virt {
            "qemu-virt"
        } else {
            "arm64"
        },
        virtio_rng: core::cell::RefCell::new(virtio_rng),
    };
    let _ = writeln!(
        EarlyConsole,
        "morgana: aarch64 on {} (entered at EL{entry_el}), {} MiB RAM, {} KiB heap, {tables} \
         translation tables; clock: generic timer {}.{:03} MHz; alarm: virtual timer (INTID {}); \
         interrupts: {gic_name}; wall clock: {}; entropy: {}; power: {}",
        platform.name,
        machine.boot.usable_bytes() >> 20,
        crate::heap::size() >> 10,
        clock.hz / 1_000_000,
        clock.hz / 1000 % 1000,
        timer_irq.intid,
        if platform.rtc.is_some() {
            "PL031 RTC"
        } else {
            "none"
        },
        EntropyName(rng::source(), rng_location, machine.rng_seed().len()),
        if psci::available() {
            "PSCI"
        } else {
            "none (halts at exit)"
        },
    );
    let machine = Machine {
        cmdline: String::from(machine.boot.cmdline()),
        events: &gic::EVENTS,
        platform: Rc::new(platform),
    };
    let to_main = morgana_executor::Platform::now(&*machine.platform);
    let _ = write!(
        EarlyConsole,
        "boot: entry to main in {} us (",
        to_main.as_nanos() / 1000
    );
    stages.report(clock);
    // SAFETY: unmasking IRQs: the GIC and its handler are ready, and every interrupt that can
    // arrive (the timer's; devices' once routed) only marks an event.
    unsafe { core::arch::asm!("msr daifclr, #2", options(nomem, nostack)) };
    // SAFETY: `#[morgana::main]` defines this symbol with exactly this signature; an image
    // without an appliance does not link.
    let code = unsafe { __morgana_appliance_entry(machine) };
    exit(code)
}

fn boot_failed(why: fmt::Arguments<'_>) -> ! {
    let _ = writeln!(EarlyConsole, "morgana: cannot boot: {why}");
    exit(crate::EXIT_BOOT_FAILED)
}

/// The entropy source, for the boot line.
struct EntropyName(Option<&'static str>, Option<virtio::Location>, usize);

impl fmt::Display for EntropyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntropyName(Some(instruction), ..) => f.write_str(instruction),
            EntropyName(None, Some(location), _) => write!(f, "virtio-rng ({location})"),
            EntropyName(None, None, 0) => f.write_str("NONE (entropy requests will fail)"),
            EntropyName(None, None, seed) => write!(
                f,
                "NONE (entropy requests will fail; the DTB's {seed}-byte rng-seed is not \
                 stretched into a stream)"
            ),
        }
    }
}

/// When each start-up stage ended (counter), for the boot line.
struct Stages {
    boot: u64,
    marks: [(&'static str, u64); 8],
    count: usize,
}

impl Stages {
    fn new(boot: u64) -> Self {
        Stages {
            boot,
            marks: [("", 0); 8],
            count: 0,
        }
    }

    fn mark(&mut self, name: &'static str) {
        if self.count < self.marks.len() {
            self.marks[self.count] = (name, timer::counter());
            self.count += 1;
        }
    }

    /// Prints each stage's length in microseconds: `dtb 12, paging 3, ...)`.
    fn report(&self, clock: timer::Clock) {
        let mut prev = self.boot;
        for (i, (name, at)) in self.marks[..self.count].iter().enumerate() {
            let us = clock.ticks_to_nanos(at.saturating_sub(prev)) / 1000;
            let sep = if i + 1 == self.count { ")\n" } else { ", " };
            let _ = write!(EarlyConsole, "{name} {us}{sep}");
            prev = *at;
        }
    }
}

fn claim(free: &UsableRanges) {
    for &(start, end) in free.as_slice() {
        let (start, end) = (start.next_multiple_of(4096), end & !4095);
        if end > start {
            // SAFETY: usable RAM per the device tree (disjoint ranges), outside the image, the
            // DTB and any initrd, mapped read-write by `paging::init`, and claimed once.
            unsafe { crate::heap::claim(start, end) };
        }
    }
}

/// Writes to the PL011 directly, bypassing the executor: for boot messages and crash reports.
pub fn early_write(bytes: &[u8]) {
    pl011::write(bytes);
}

/// The PL011 as a `fmt::Write`, for boot messages and crash reports.
#[derive(Debug)]
pub struct EarlyConsole;

impl fmt::Write for EarlyConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        pl011::write(s.as_bytes());
        Ok(())
    }
}

/// Ends the run with `code`: prints `morgana: exit code N` (what xtask reads), then powers off
/// through PSCI. Without PSCI, or if it refuses, the CPU halts with interrupts masked.
pub fn exit(code: i32) -> ! {
    let _ = writeln!(EarlyConsole, "morgana: exit code {code}");
    psci::system_off();
    loop {
        // SAFETY: masks everything and waits; nothing is left to run.
        unsafe { core::arch::asm!("msr daifset, #0xf", "wfi", options(nomem, nostack)) };
    }
}
