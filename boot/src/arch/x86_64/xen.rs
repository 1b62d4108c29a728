//! The same PVH image as a Xen PVH domU: what changes when start-up finds Xen.
//!
//! [`detect_early`] runs first thing (before the console): CPUID says whether this is Xen; if
//! so, the hypercall page is installed and early output goes to Xen (`console_io`, which a
//! release Xen refuses to a domU, else the HVM debug port 0xe9, which Xen prints on its own
//! console as `(dN) ...`). COM1 is not touched: under Xen a PVH guest has no UART.
//!
//! `start` then replaces the emulated devices with Xen's, after the common steps (GDT, IDT,
//! `hvm_start_info`, paging, heap):
//!
//! - shared_info: a heap page handed to `XENMEM_add_to_physmap`;
//! - console: the PV console ring (`HVM_PARAM_CONSOLE_PFN/EVTCHN`), which `xl console` and
//!   `xl create -c` show;
//! - event channels: upcalls on a vector set with `HVMOP_set_evtchn_upcall_vector` (the
//!   2-level scan in the interrupt handler marks each pending port's event slot, see
//!   [`upcall`]);
//! - clock: pvclock (vCPU 0's `vcpu_time_info`), zero at the first instruction's TSC; wall
//!   clock: shared_info's `wc_*` plus system time;
//! - alarm: `VCPUOP_set_singleshot_timer`, whose `VIRQ_TIMER` port marks the alarm's slot;
//! - exit: the status line `morgana: exit code N`, then `SCHEDOP_shutdown` (poweroff for 0,
//!   crash otherwise).
//!
//! Under Xen nested in QEMU TCG, CR2 reads as 0 in the guest (a QEMU nested-SVM bug), so
//! nothing here relies on page faults: everything is mapped up front, and the crash report
//! says CR2 cannot be trusted.

use alloc::rc::Rc;
use alloc::string::String;
use core::alloc::Layout;
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, AtomicU32, AtomicU64, Ordering};

use morgana_executor::{EntropyError, EventId, EventTable, Instant, Platform, UtcTime};
use morgana_hypervisor::abi::{VIRQ_TIMER, hvm_param};
use morgana_hypervisor::console::PvConsole;
use morgana_hypervisor::evtchn::{self, PortEvents};
use morgana_hypervisor::hypercall::MapSpace;
use morgana_hypervisor::shared_info::SharedInfo;
use morgana_hypervisor::{XenError, XenInfo};

use super::idt::{self, EVENTS};
pub use super::xen_common::{active, xen};
use super::xen_common::{pv_console, shutdown_reason};
use super::{apic, paging, rng, time};
use crate::bootinfo::BootInfo;
use crate::machine::Machine;

/// What CPUID said (major << 16 | minor), for the boot line.
static VERSION: AtomicU32 = AtomicU32::new(0);
/// The shared_info page, once mapped.
static SHARED: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
/// The PV console page, once found; and its port.
static CONSOLE: AtomicPtr<u8> = AtomicPtr::new(core::ptr::null_mut());
static CONSOLE_PORT: AtomicU32 = AtomicU32::new(0);
/// Whether `console_io` works (1), fails (2) or is untried (0).
static CONSOLE_IO: AtomicU8 = AtomicU8::new(0);
/// The upcall vector (0: none yet).
static UPCALL_VECTOR: AtomicU8 = AtomicU8::new(0);
/// Xen system time at the first instruction: the monotonic clock's zero.
static BOOT_SYSTEM_NS: AtomicU64 = AtomicU64::new(0);

/// Which executor event each event-channel port marks.
pub static PORTS: PortEvents = PortEvents::new();

fn shared() -> Option<SharedInfo> {
    let p = SHARED.load(Ordering::Acquire);
    // SAFETY: a non-null pointer is the shared_info page `start` mapped, never unmapped.
    (!p.is_null()).then(|| unsafe { SharedInfo::new(p) })
}

/// Looks for Xen; on Xen installs the hypercall page and returns what CPUID said. First thing
/// at boot, before any output.
pub fn detect_early() -> Option<XenInfo> {
    let info = super::xen_common::detect_early()?;
    VERSION.store(
        u32::from(info.major) << 16 | u32::from(info.minor),
        Ordering::Relaxed,
    );
    Some(info)
}

/// Console output on Xen: the PV console once it is up, else `console_io`, else port 0xe9.
pub fn write(bytes: &[u8]) {
    let page = CONSOLE.load(Ordering::Acquire);
    if !page.is_null() {
        // SAFETY: `start` stored the console page, mapped for good.
        let console = unsafe { PvConsole::new(page) };
        pv_console_write(&console, bytes);
        return;
    }
    debug_write(bytes);
}

/// Xen's own console: `console_io`, or the HVM debug port where Xen refuses that.
fn debug_write(bytes: &[u8]) {
    if CONSOLE_IO.load(Ordering::Relaxed) != 2 {
        match xen().console_write(bytes) {
            Ok(()) => {
                CONSOLE_IO.store(1, Ordering::Relaxed);
                return;
            }
            Err(_) => CONSOLE_IO.store(2, Ordering::Relaxed),
        }
    }
    for &b in bytes {
        // SAFETY: port 0xe9 is Xen's HVM debug port (`hvm_print_line`): writing prints to
        // Xen's console and has no other effect.
        unsafe { ::x86_64::instructions::port::Port::<u8>::new(0xe9).write(b) };
    }
}

/// How long a console write waits for `xenconsoled` to make room before dropping output.
const CONSOLE_PATIENCE_NS: u64 = 500_000_000;

/// Writes all of `bytes` to the PV console, notifying its port, waiting (yielding to Xen) while
/// the ring is full; gives up if the backend takes nothing for [`CONSOLE_PATIENCE_NS`].
fn pv_console_write(console: &PvConsole, mut bytes: &[u8]) {
    let port = CONSOLE_PORT.load(Ordering::Relaxed);
    let mut stalled_since = None;
    while !bytes.is_empty() {
        let n = console.write(bytes);
        bytes = &bytes[n..];
        let _ = xen().send(port);
        if n > 0 {
            stalled_since = None;
            continue;
        }
        let now = system_time();
        let since = *stalled_since.get_or_insert(now);
        if now.saturating_sub(since) > CONSOLE_PATIENCE_NS {
            return;
        }
        xen().sched_yield();
    }
}

/// Waits (bounded) until the console backend took everything written.
fn pv_console_flush() {
    let page = CONSOLE.load(Ordering::Acquire);
    if page.is_null() {
        return;
    }
    // SAFETY: as in `write`.
    let console = unsafe { PvConsole::new(page) };
    let start = system_time();
    while console.unsent() > 0 && system_time().saturating_sub(start) < CONSOLE_PATIENCE_NS {
        let _ = xen().send(CONSOLE_PORT.load(Ordering::Relaxed));
        xen().sched_yield();
    }
}

/// Xen system time now (0 before shared_info is mapped).
fn system_time() -> u64 {
    shared().map_or(0, |s| s.time(0).system_time_at(time::rdtsc()))
}

/// Ends the run: the status line xtask reads, then `SCHEDOP_shutdown` (poweroff for 0, crash
/// for anything else, so `on_crash` applies).
pub fn exit(code: i32) -> ! {
    let mut line = heapless_line();
    let _ = writeln!(line, "morgana: exit code {code}");
    write(line.as_bytes());
    pv_console_flush();
    if !CONSOLE.load(Ordering::Acquire).is_null() {
        // Also on Xen's console, for `xl dmesg` when nobody watched the PV console.
        debug_write(line.as_bytes());
    }
    let err = xen().shutdown(shutdown_reason(code));
    let mut line = heapless_line();
    let _ = writeln!(line, "morgana: SCHEDOP_shutdown failed: {err}; halting");
    debug_write(line.as_bytes());
    loop {
        ::x86_64::instructions::interrupts::disable();
        ::x86_64::instructions::hlt();
    }
}

/// A line of text without the heap (exit may run after it failed).
struct Line {
    buf: [u8; 96],
    len: usize,
}

fn heapless_line() -> Line {
    Line {
        buf: [0; 96],
        len: 0,
    }
}

impl Line {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// The upcall, from the interrupt handler of the upcall vector: the 2-level scan, marking the
/// event slot of each pending port. Nothing else.
pub fn upcall(vector: usize) {
    if vector == 0 || vector != usize::from(UPCALL_VECTOR.load(Ordering::Relaxed)) {
        return;
    }
    if let Some(s) = shared() {
        evtchn::scan(&s, 0, |port| {
            if let Some(event) = PORTS.event(port) {
                EVENTS.mark(event);
            }
        });
    }
}

/// Connects event-channel `port` to a new executor event slot and unmasks it.
pub fn bind_port(port: u32) -> Result<EventId, String> {
    let event = EVENTS
        .alloc()
        .ok_or_else(|| String::from("no free event slot"))?;
    bind_port_to(port, event)?;
    Ok(event)
}

/// After a reconnection: `old` marks nothing any more, `new` marks `event` (and is unmasked).
pub fn rebind_port(old: u32, new: u32, event: EventId) -> Result<(), String> {
    PORTS.unbind(old);
    bind_port_to(new, event).map(drop)
}

fn bind_port_to(port: u32, event: EventId) -> Result<EventId, String> {
    if !PORTS.bind(port, event) {
        return Err(alloc::format!(
            "event channel {port} is beyond the 2-level ABI"
        ));
    }
    xen()
        .unmask(port)
        .map_err(|e| alloc::format!("EVTCHNOP_unmask({port}): {e}"))?;
    Ok(event)
}

/// The alarm's event slot: the first one allocated (by `idt::init`), which the APIC timer
/// marks on QEMU.
fn alarm_event() -> EventId {
    EventId::from_index(0).expect("slot 0 exists")
}

/// A page of RAM from the heap, zeroed, page-aligned, never freed.
pub fn alloc_page() -> *mut u8 {
    let layout = Layout::from_size_align(4096, 4096).expect("a valid layout");
    // SAFETY: the layout has a non-zero size.
    let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if p.is_null() {
        alloc::alloc::handle_alloc_error(layout);
    }
    p
}

/// What Xen start-up found, for the boot line.
struct Found {
    upcall: Result<&'static str, XenError>,
    timer_port: Result<u32, XenError>,
    console_port: Option<u32>,
    tsc_hz: u64,
}

/// The rest of start-up on Xen, after the heap: Xen's devices instead of the emulated ones,
/// then the appliance. Never returns.
pub(super) fn start(info: &BootInfo, boot_tsc: u64, stages: &mut super::Stages) -> ! {
    let mut mark = |name| stages.mark(name);
    // The local APIC stays: the upcall vector arrives through it and wants an EOI.
    apic::enable();
    // shared_info.
    let page = alloc_page();
    // SAFETY: the page is ours (leaked from the heap) and never used as RAM again; Xen puts
    // the shared_info frame at its address.
    if let Err(e) = unsafe { xen().add_to_physmap(MapSpace::SharedInfo, 0, page as u64 >> 12) } {
        let mut l = heapless_line();
        let _ = writeln!(l, "morgana: cannot map shared_info: {e}");
        debug_write(l.as_bytes());
        exit(crate::EXIT_BOOT_FAILED);
    }
    SHARED.store(page, Ordering::Release);
    // SAFETY: just mapped.
    let shared = unsafe { SharedInfo::new(page) };
    let vtime = shared.time(0);
    BOOT_SYSTEM_NS.store(vtime.system_time_at(boot_tsc), Ordering::Relaxed);
    mark("shared_info");

    // The PV console.
    let console_port = pv_console(info).map(|(addr, port)| {
        CONSOLE_PORT.store(port, Ordering::Relaxed);
        CONSOLE.store(addr as *mut u8, Ordering::Release);
        port
    });
    mark("console");

    // Event channels: everything masked until bound; upcalls on a vector of ours.
    evtchn::mask_all(&shared);
    let upcall = match EVENTS.alloc().and_then(|e| idt::bind_vector(e, None)) {
        None => Err(XenError(-28)),
        Some(vector) => {
            UPCALL_VECTOR.store(vector, Ordering::Relaxed);
            // SAFETY: the IDT's stub for `vector` reaches `idt::dispatch`, which calls
            // `upcall` for it and sends the EOI.
            match unsafe { xen().set_evtchn_upcall_vector(0, vector) } {
                Ok(()) => Ok("HVMOP_set_evtchn_upcall_vector"),
                // Older Xen: the domain-wide callback vector (type 2 in bits 56-63).
                // SAFETY: as above.
                Err(_) => unsafe {
                    xen()
                        .hvm_set_param(hvm_param::CALLBACK_IRQ, (2 << 56) | u64::from(vector))
                        .map(|()| "HVM_PARAM_CALLBACK_IRQ (vector)")
                },
            }
        }
    };
    // The alarm: VIRQ_TIMER marks the alarm's slot (the one the APIC timer marks elsewhere).
    let _ = xen().stop_periodic_timer(0);
    let timer_port = xen().bind_virq(VIRQ_TIMER, 0).inspect(|&port| {
        let _ = bind_port_to(port, alarm_event());
    });
    mark("evtchn+timer");

    let found = Found {
        upcall,
        timer_port,
        console_port,
        tsc_hz: vtime.tsc_hz(),
    };
    let platform = XenPvh {
        boot_system_ns: BOOT_SYSTEM_NS.load(Ordering::Relaxed),
    };
    let _ = writeln!(super::EarlyConsole, "{}", BootLine(info, &found));
    let machine = Machine {
        cmdline: String::from(info.cmdline()),
        events: &idt::EVENTS,
        platform: Rc::new(platform),
    };
    let to_main = Platform::now(&*machine.platform);
    let _ = write!(
        super::EarlyConsole,
        "boot: entry to main in {} us (",
        to_main.as_nanos() / 1000
    );
    let pvclock = time::Tsc {
        hz: found.tsc_hz.max(1),
        source: "pvclock",
    };
    stages.report(&pvclock, boot_tsc);
    ::x86_64::instructions::interrupts::enable();
    // SAFETY: as in `super::start`: the appliance defines this symbol.
    let code = unsafe { super::__morgana_appliance_entry(machine) };
    exit(code)
}

struct BootLine<'a>(&'a BootInfo, &'a Found);

impl fmt::Display for BootLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (info, found) = (self.0, self.1);
        let v = VERSION.load(Ordering::Relaxed);
        write!(
            f,
            "morgana: x86_64 PVH on Xen {}.{}, {} MiB RAM, {} KiB heap; clock: pvclock (TSC {}.{:03} MHz); ",
            v >> 16,
            v & 0xffff,
            info.usable_bytes() >> 20,
            crate::heap::size() >> 10,
            found.tsc_hz / 1_000_000,
            found.tsc_hz / 1000 % 1000,
        )?;
        match found.timer_port {
            Ok(port) => write!(
                f,
                "alarm: Xen single-shot timer (VIRQ_TIMER on port {port}); "
            )?,
            Err(e) => write!(f, "alarm: NONE (VIRQ_TIMER: {e}); ")?,
        }
        match found.upcall {
            Ok(how) => write!(
                f,
                "events: {how} vector {:#x}; ",
                UPCALL_VECTOR.load(Ordering::Relaxed)
            )?,
            Err(e) => write!(f, "events: NONE ({e}); ")?,
        }
        match found.console_port {
            Some(port) => write!(f, "console: PV console (port {port}); ")?,
            None => f.write_str("console: Xen debug port (no PV console); ")?,
        }
        write!(
            f,
            "wall clock: shared_info; entropy: {}",
            rng::source().unwrap_or("NONE (entropy requests will fail)")
        )
    }
}

/// The executor's platform on Xen.
#[derive(Debug)]
pub struct XenPvh {
    /// Xen system time at the first instruction.
    boot_system_ns: u64,
}

impl Platform for XenPvh {
    fn name(&self) -> &'static str {
        "xen-pvh"
    }

    fn now(&self) -> Instant {
        Instant::from_nanos(system_time().saturating_sub(self.boot_system_ns))
    }

    fn set_alarm(&self, deadline: Option<Instant>) {
        let _ = match deadline {
            Some(d) => {
                xen().set_singleshot_timer(0, self.boot_system_ns.saturating_add(d.as_nanos()))
            }
            None => xen().stop_singleshot_timer(0),
        };
    }

    fn idle(&self, events: &EventTable) {
        super::platform::halt_unless_marked(events);
    }

    fn wall_clock(&self) -> Option<UtcTime> {
        let base = shared()?.wall_clock_base()?;
        Some(UtcTime::from_unix_nanos(base + u128::from(system_time())))
    }

    fn entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        rng::fill(buf)
    }

    fn console_write(&self, bytes: &[u8]) {
        write(bytes);
    }

    fn exit(&self, code: i32) -> ! {
        exit(code)
    }
}

/// Claims `what`, once: the xenstore ring and the grant table each have one owner.
fn claim_once(flag: &AtomicBool, what: &str) -> Result<(), String> {
    if flag.swap(true, Ordering::AcqRel) {
        return Err(alloc::format!("{what} is already in use"));
    }
    Ok(())
}

static STORE_TAKEN: AtomicBool = AtomicBool::new(false);
static GRANTS_TAKEN: AtomicBool = AtomicBool::new(false);

/// The xenstore client (once; inside the executor): the ring page and port from
/// `HVM_PARAM_STORE_PFN/EVTCHN`, the port bound to a new event slot.
pub fn xenstore() -> Result<morgana_hypervisor::xenstore::XenStore, String> {
    use morgana_hypervisor::xenstore::{XenStore, XsRing};
    claim_once(&STORE_TAKEN, "the xenstore ring")?;
    let pfn = xen()
        .hvm_get_param(hvm_param::STORE_PFN)
        .map_err(|e| alloc::format!("HVM_PARAM_STORE_PFN: {e}"))?;
    let port = xen()
        .hvm_get_param(hvm_param::STORE_EVTCHN)
        .map_err(|e| alloc::format!("HVM_PARAM_STORE_EVTCHN: {e}"))? as u32;
    let addr = pfn << 12;
    let (lo, hi) = paging::DEVICE_WINDOW;
    if pfn == 0 || !(lo..hi).contains(&addr) {
        return Err(alloc::format!(
            "the xenstore page is at {addr:#x}, outside what is mapped"
        ));
    }
    let event = bind_port(port)?;
    // SAFETY: Xen's xenstore page, mapped (device window) for good; this is its one client
    // (`claim_once`).
    let ring = unsafe { XsRing::new(addr as *mut u8) };
    let notify = alloc::boxed::Box::new(move || {
        let _ = xen().send(port);
    });
    Ok(XenStore::new(
        ring,
        notify,
        morgana_executor::event::Event::new(event),
    ))
}

/// The grant table (once): `frames` frames mapped at a heap allocation with
/// `XENMEM_add_to_physmap`.
pub fn grant_table(frames: u32) -> Result<morgana_hypervisor::gnttab::GrantTable, String> {
    claim_once(&GRANTS_TAKEN, "the grant table")?;
    let layout = Layout::from_size_align(4096 * frames as usize, 4096).map_err(|_| "layout")?;
    // SAFETY: non-zero size.
    let base = unsafe { alloc::alloc::alloc_zeroed(layout) };
    if base.is_null() {
        return Err("no memory for the grant table".into());
    }
    for i in 0..frames {
        let gpfn = (base as u64 >> 12) + u64::from(i);
        // SAFETY: the pages are ours (leaked) and never used as RAM again: Xen maps grant
        // frame `i` there.
        unsafe { xen().add_to_physmap(MapSpace::GrantTable, u64::from(i), gpfn) }
            .map_err(|e| alloc::format!("mapping grant frame {i}: {e}"))?;
    }
    // SAFETY: `frames` grant frames, just mapped contiguously at `base`, owned by this table.
    Ok(unsafe { morgana_hypervisor::gnttab::GrantTable::new(base, frames) })
}

/// A `wait` for blocking set-up code (xenstore exchanges in `Netfront::connect`): sleeps until
/// the next upcall or 1 ms, and says whether `limit_ns` since the first call is not yet over.
/// (It borrows the single-shot timer; the executor re-arms its alarm before it next idles.)
pub fn blocking_wait(limit_ns: u64) -> impl FnMut() -> bool {
    let deadline = system_time().saturating_add(limit_ns);
    move || {
        use ::x86_64::instructions::interrupts;
        // Interrupts off from before the timer is armed, so that a timer (or any upcall) that
        // fires before the `hlt` is held and ends it: `sti; hlt` takes it after the `hlt`
        // starts. (Armed with interrupts on, a 1 ms timer can fire and be handled before the
        // `hlt`, which then waits for good.)
        interrupts::disable();
        let _ = xen().set_singleshot_timer(0, system_time() + 1_000_000);
        interrupts::enable_and_hlt();
        system_time() < deadline
    }
}
