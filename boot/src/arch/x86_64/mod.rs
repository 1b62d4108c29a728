//! x86_64 PVH: the image that boots under QEMU (`microvm`, `q35`) with `-kernel`, and as a Xen
//! PVH domU.
//!
//! Start-up, in order: `entry` (32-bit PVH entry to long mode) calls `start`, which brings
//! up the console (COM1), the GDT and IDT, parses `hvm_start_info` into a
//! [`crate::bootinfo::BootInfo`], builds the W^X page tables, gives the rest of RAM
//! to the heap, finds the clock (TSC), the alarm (local APIC), the wall clock (CMOS) and
//! entropy (RDSEED/RDRAND), prints what it found and how long boot took, and runs the
//! appliance.
//!
//! Under Xen (CPUID says so before anything else runs) the same image takes another path after
//! the heap: see [`xen`] (PV console, event channels, pvclock, Xen's timer, `SCHEDOP_shutdown`)
//! and `xen_net` (netfront instead of virtio-net). Both are there with the crate's `xen`
//! feature only; without it [`xen`] is `xen_absent.rs`, which on Xen says that the image was
//! built without Xen support and shuts the domain down.

pub mod apic;
mod crash;
mod entry;
mod gdt;
pub mod idt;
pub mod irq;
pub mod net;
mod paging;
pub mod pci;
pub mod platform;
pub mod rng;
pub mod rtc;
pub mod serial;
pub mod time;
pub mod virtio;
#[cfg(feature = "xen")]
pub mod xen;
#[cfg(not(feature = "xen"))]
#[path = "xen_absent.rs"]
pub mod xen;
mod xen_common;
#[cfg(feature = "xen")]
pub mod xen_net;

/// The image's NIC: virtio-net, or netfront on Xen with the `xen` feature.
#[cfg(not(feature = "xen"))]
pub use net::BootNet as Nic;
#[cfg(feature = "xen")]
pub use xen_net::Nic;

use alloc::rc::Rc;
use alloc::string::String;
use core::fmt::{self, Write};

use crate::bootinfo::{BootInfo, UsableRanges};
use crate::machine::Machine;
use crate::pvh::{self, PhysRead};

/// Physical memory, identity-mapped by the boot page tables (the first GiB).
struct IdentityMemory;

impl PhysRead for IdentityMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > 1 << 30 {
            return false; // outside what the boot page tables map
        }
        // SAFETY: [addr, end) lies in the first GiB, which the boot page tables map (page 0
        // included: SeaBIOS's PVH option ROM puts the memory map there), and nothing else runs
        // yet; reading RAM has no side effects.
        unsafe {
            core::ptr::copy_nonoverlapping(addr as *const u8, buf.as_mut_ptr(), buf.len());
        }
        true
    }
}

unsafe extern "Rust" {
    /// Written by `#[morgana::main]` in the appliance crate.
    fn __morgana_appliance_entry(machine: Machine) -> i32;
}

/// Rust's first function, called by `_start64` on the boot stack with interrupts off.
extern "C" fn start(start_info: u64) -> ! {
    let mut stages = Stages::new();
    // On Xen there is no UART and no PIC: output goes to Xen until the PV console is up.
    if xen::detect_early().is_none() {
        serial::init();
        remap_legacy_pic();
    }
    // SAFETY: once, at boot, interrupts off, in this order.
    unsafe {
        gdt::init();
        idt::init();
    }
    stages.mark("console+idt");
    let info = match pvh::parse(&IdentityMemory, start_info) {
        Ok(info) => info,
        Err(e) => {
            let _ = writeln!(EarlyConsole, "morgana: cannot boot: {e}");
            exit(crate::EXIT_BOOT_FAILED);
        }
    };
    let image = paging::ImageLayout::get();
    let (stack_guard, _, _) = entry::boot_stack();
    let [ist0, ist1] = gdt::ist_guard_pages();
    let mut free = free_ram(&info, image.span());
    // The page tables take RAM from the first free range above the image.
    let frames = free
        .as_slice()
        .iter()
        .copied()
        .find(|&(_, end)| end > image.span().1)
        .unwrap_or((0, 0));
    // SAFETY: once, at boot, on the boot page tables; the guard pages are never used; `frames`
    // is free RAM.
    let mapped = unsafe { paging::init(&info, image, &[stack_guard, ist0, ist1], frames) };
    stages.mark("paging");
    free.remove(mapped.tables.0, mapped.tables.1);
    for &(start, end) in free.as_slice() {
        claim(start, end);
    }
    stages.mark("heap");
    if xen::active() {
        xen::start(&info, entry::boot_tsc(), &mut stages);
    }
    let tsc_deadline = apic::enable();
    let mut lapic = apic::Stopwatch::default();
    let tsc = time::Tsc::detect(&mut |open| match (tsc_deadline, open) {
        (true, _) => {}
        (false, true) => lapic.start(),
        (false, false) => lapic.stop(),
    });
    stages.mark("clock");
    let alarm = apic::init_timer(&tsc, &lapic);
    irq::init();
    stages.mark("apic");
    let boot_tsc = entry::boot_tsc();
    let name = machine_name();
    // Devices are looked for when first needed (a driver's `virtio::take`), except when the
    // CPU has no entropy instruction: then virtio-rng is needed from the start.
    virtio::defer_discovery(info.cmdline(), name == "qemu-q35");
    let mut rng_location = None;
    let mut virtio_rng = None;
    if rng::source().is_none()
        && let Some(found) = virtio::take(morgana_drivers::virtio::DeviceType::Entropy)
    {
        stages.mark("devices");
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
    }
    let platform = platform::Pvh {
        tsc,
        boot_tsc,
        wall: core::cell::OnceCell::new(),
        name,
        virtio_rng: core::cell::RefCell::new(virtio_rng),
    };
    let _ = writeln!(
        EarlyConsole,
        "morgana: x86_64 PVH on {}, {} MiB RAM, {} KiB heap; clock: TSC {}.{:03} MHz ({}); \
         alarm: {alarm}; wall clock: CMOS RTC (read on first use); entropy: {}",
        platform.name,
        info.usable_bytes() >> 20,
        crate::heap::size() >> 10,
        platform.tsc.hz / 1_000_000,
        platform.tsc.hz / 1000 % 1000,
        platform.tsc.source,
        EntropyName(rng::source(), rng_location),
    );
    let machine = Machine {
        cmdline: String::from(info.cmdline()),
        events: &idt::EVENTS,
        platform: Rc::new(platform),
    };
    let to_main = morgana_executor::Platform::now(&*machine.platform);
    let _ = write!(
        EarlyConsole,
        "boot: entry to main in {} us (",
        to_main.as_nanos() / 1000
    );
    stages.report(&tsc, boot_tsc);
    ::x86_64::instructions::interrupts::enable();
    // SAFETY: `#[morgana::main]` defines this symbol with exactly this signature; an image
    // without an appliance does not link.
    let code = unsafe { __morgana_appliance_entry(machine) };
    exit(code)
}

/// The entropy source, for the boot line: the CPU's instruction, else virtio-rng, else none.
struct EntropyName(Option<&'static str>, Option<virtio::Location>);

impl fmt::Display for EntropyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntropyName(Some(instruction), _) => f.write_str(instruction),
            EntropyName(None, Some(location)) => write!(f, "virtio-rng ({location})"),
            EntropyName(None, None) => f.write_str("NONE (entropy requests will fail)"),
        }
    }
}

/// When each start-up stage ended (TSC), for the boot line.
struct Stages {
    marks: [(&'static str, u64); 8],
    count: usize,
}

impl Stages {
    fn new() -> Self {
        Stages {
            marks: [("", 0); 8],
            count: 0,
        }
    }

    fn mark(&mut self, name: &'static str) {
        if self.count < self.marks.len() {
            self.marks[self.count] = (name, time::rdtsc());
            self.count += 1;
        }
    }

    /// Prints each stage's length in microseconds: `paging 12, heap 3, ...)`.
    fn report(&self, tsc: &time::Tsc, boot_tsc: u64) {
        let mut prev = boot_tsc;
        for (i, (name, at)) in self.marks[..self.count].iter().enumerate() {
            let us = tsc.ticks_to_nanos(at.saturating_sub(prev)) / 1000;
            let sep = if i + 1 == self.count { ")\n" } else { ", " };
            let _ = write!(EarlyConsole, "{name} {us}{sep}");
            prev = *at;
        }
    }
}

/// Moves the 8259 PICs' vectors to 0x20-0x2f and masks every line. Firmware (SeaBIOS) leaves
/// them at 0x08-0x0f, where an interrupt still latched in a PIC would look like a CPU exception;
/// at 0x20 a stray one is an unbound device vector, acknowledged and ignored. Morgana routes
/// devices through the IOAPIC and MSI, never the PICs. Ref: Intel 8259A datasheet (ICW1-4).
fn remap_legacy_pic() {
    use ::x86_64::instructions::port::Port;
    let (mut cmd1, mut data1) = (Port::<u8>::new(0x20), Port::<u8>::new(0x21));
    let (mut cmd2, mut data2) = (Port::<u8>::new(0xa0), Port::<u8>::new(0xa1));
    // SAFETY: the PICs' command and data ports; the ICW sequence re-initialises them with all
    // lines masked, which affects nothing but legacy interrupts (unused). Where there are no
    // PICs (microvm with pic=off) the writes go nowhere.
    unsafe {
        cmd1.write(0x11); // ICW1: initialise, ICW4 follows
        cmd2.write(0x11);
        data1.write(0x20); // ICW2: vector base
        data2.write(0x28);
        data1.write(0x04); // ICW3: slave on IRQ2
        data2.write(0x02);
        data1.write(0x01); // ICW4: 8086 mode
        data2.write(0x01);
        data1.write(0xff); // mask everything
        data2.write(0xff);
    }
}

/// The usable RAM nothing uses yet: less the first MiB (firmware and loader data, the start
/// info), the image and any boot modules.
fn free_ram(info: &BootInfo, image: (u64, u64)) -> UsableRanges {
    let mut ram = info.usable_ranges();
    ram.remove(0, 1 << 20);
    ram.remove(image.0, image.1);
    for m in info.modules() {
        ram.remove(m.start, m.start.saturating_add(m.len));
    }
    ram
}

fn claim(start: u64, end: u64) {
    let (start, end) = (start.next_multiple_of(4096), end & !4095);
    if end > start {
        // SAFETY: usable RAM per the memory map (disjoint ranges), outside the image, the page
        // tables and the modules, mapped read-write by `paging::init`, and claimed once.
        unsafe { crate::heap::claim(start, end) };
    }
}

/// QEMU's microvm has no PCI host bridge; q35 has one at 00:00.0 (vendor 0x8086, device
/// 0x29c0). Read through the legacy configuration ports.
fn machine_name() -> &'static str {
    use ::x86_64::instructions::port::Port;
    let mut address = Port::<u32>::new(0xcf8);
    let mut data = Port::<u32>::new(0xcfc);
    // SAFETY: 0xcf8/0xcfc are the PCI configuration mechanism #1 ports; selecting 00:00.0
    // register 0 and reading it has no side effect. Without PCI the read floats high.
    let id = unsafe {
        address.write(0x8000_0000);
        data.read()
    };
    match id {
        0x29c0_8086 => "qemu-q35",
        0xffff_ffff | 0 => "qemu-microvm",
        _ => "x86_64-pc",
    }
}

/// Writes to COM1 (on Xen: the PV console or Xen's debug console) directly, bypassing the
/// executor: for boot messages and crash reports.
pub fn early_write(bytes: &[u8]) {
    if xen::active() {
        return xen::write(bytes);
    }
    serial::write(bytes);
}

/// The early console as a `fmt::Write` (COM1, or Xen's console), for boot messages and crash
/// reports.
#[derive(Debug)]
pub struct EarlyConsole;

impl fmt::Write for EarlyConsole {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        early_write(s.as_bytes());
        Ok(())
    }
}

/// Ends the run with `code`: through QEMU's isa-debug-exit device (I/O port 0xf4), which makes
/// QEMU exit with status `code * 2 + 1`; codes outside 0..=127 become 127. Elsewhere (no such
/// device) the CPU halts with interrupts off.
pub fn exit(code: i32) -> ! {
    use ::x86_64::instructions::port::Port;
    if xen::active() {
        xen::exit(code); // the status line, then SCHEDOP_shutdown
    }
    let code = if (0..=127).contains(&code) { code } else { 127 };
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit (run-qemu adds it); without the device the
    // write goes nowhere.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    loop {
        ::x86_64::instructions::interrupts::disable();
        ::x86_64::instructions::hlt();
    }
}
