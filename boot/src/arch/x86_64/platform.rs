//! The x86_64 machine as the executor sees it: the TSC clock, the local APIC alarm, `sti; hlt`
//! idle, the CMOS wall clock, RDSEED/RDRAND entropy (virtio-rng where the CPU has neither), the
//! COM1 console and isa-debug-exit.

use morgana_executor::{EntropyError, EventTable, Instant, Platform, UtcTime};

use core::cell::{OnceCell, RefCell};

use morgana_drivers::virtio::{HeapHal, VirtioRng};

use super::virtio::BootTransport;
use super::{apic, rng, rtc, serial, time::Tsc};

/// The x86_64 PVH platform.
#[derive(Debug)]
pub struct Pvh {
    /// The TSC's frequency and where it came from.
    pub tsc: Tsc,
    /// The TSC at the first instruction: the clock's zero.
    pub boot_tsc: u64,
    /// Wall-clock time and the monotonic time it was read at: read from the CMOS RTC on first
    /// use (a read waits for the RTC's update cycle, which boot should not).
    pub wall: OnceCell<Option<(UtcTime, Instant)>>,
    /// `"qemu-microvm"`, `"qemu-q35"`, ...
    pub name: &'static str,
    /// The virtio entropy device, used when the CPU has no RDSEED/RDRAND.
    pub virtio_rng: RefCell<Option<VirtioRng<HeapHal, BootTransport>>>,
}

/// How long an entropy request may wait for the virtio-rng device.
const VIRTIO_RNG_PATIENCE_NANOS: u64 = 200_000_000;

impl Pvh {
    /// Fills `buf` from the virtio-rng device, polling it: `Platform::entropy` is synchronous,
    /// and entropy is asked for rarely (secrets at start-up), so a short wait beats a second,
    /// asynchronous path. Never hands out a partly filled buffer.
    fn virtio_entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        let mut rng = self.virtio_rng.borrow_mut();
        let rng = rng.as_mut().ok_or(EntropyError::NoSource)?;
        let deadline =
            super::time::rdtsc().saturating_add(self.tsc.nanos_to_ticks(VIRTIO_RNG_PATIENCE_NANOS));
        let mut filled = 0;
        while filled < buf.len() {
            filled += rng
                .fill(&mut buf[filled..], 10_000)
                .map_err(|_| EntropyError::Failed)?;
            if filled < buf.len() && super::time::rdtsc() > deadline {
                return Err(EntropyError::Failed);
            }
        }
        Ok(())
    }
}

impl Platform for Pvh {
    fn name(&self) -> &'static str {
        self.name
    }

    fn now(&self) -> Instant {
        let ticks = super::time::rdtsc().saturating_sub(self.boot_tsc);
        Instant::from_nanos(self.tsc.ticks_to_nanos(ticks))
    }

    fn set_alarm(&self, deadline: Option<Instant>) {
        apic::set_alarm(deadline.map(|d| {
            self.boot_tsc
                .saturating_add(self.tsc.nanos_to_ticks(d.as_nanos()))
        }));
    }

    fn idle(&self, events: &EventTable) {
        halt_unless_marked(events);
    }

    fn wall_clock(&self) -> Option<UtcTime> {
        let (base, at) = (*self
            .wall
            .get_or_init(|| rtc::read().map(|w| (w, self.now()))))?;
        let since = self.now().saturating_duration_since(at);
        Some(UtcTime::from_unix_nanos(
            base.unix_nanos() + since.as_nanos(),
        ))
    }

    fn entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        match rng::fill(buf) {
            Err(EntropyError::NoSource) => self.virtio_entropy(buf),
            other => other,
        }
    }

    fn console_write(&self, bytes: &[u8]) {
        serial::write(bytes);
    }

    fn exit(&self, code: i32) -> ! {
        super::exit(code)
    }
}

/// Halts until the next interrupt unless an event is already marked. `sti` takes effect after
/// the next instruction, so `sti; hlt` cannot lose an interrupt (or, under Xen, an upcall) that
/// arrives after the check: it ends the `hlt` (SDM vol. 2, STI). Under Xen `hlt` blocks the
/// vCPU until the next upcall.
pub(super) fn halt_unless_marked(events: &EventTable) {
    use ::x86_64::instructions::interrupts;
    interrupts::disable();
    if events.any_marked() {
        interrupts::enable();
        return;
    }
    interrupts::enable_and_hlt();
}
