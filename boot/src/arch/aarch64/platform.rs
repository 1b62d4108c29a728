//! The AArch64 machine as the executor sees it: the generic timer's virtual counter as the
//! clock and its virtual timer as the alarm, `wfi` idle, the PL031 wall clock, RNDR entropy
//! (virtio-rng where the CPU has none), the PL011 console and PSCI power-off.

use core::cell::{OnceCell, RefCell};

use morgana_drivers::virtio::{HeapHal, VirtioRng};
use morgana_executor::{EntropyError, EventTable, Instant, Platform, UtcTime};

use super::timer::{self, Clock};
use super::virtio::BootTransport;
use super::{pl011, rng, rtc};

/// The AArch64 platform (QEMU `virt`, and whatever else boots an arm64 Image with a DTB).
#[derive(Debug)]
pub struct Virt {
    /// The counter's frequency.
    pub clock: Clock,
    /// The counter at the first instruction: the clock's zero.
    pub boot_counter: u64,
    /// The PL031's registers, if the device tree has one.
    pub rtc: Option<u64>,
    /// Wall-clock time and the monotonic time it was read at (read on first use).
    pub wall: OnceCell<Option<(UtcTime, Instant)>>,
    /// `"qemu-virt"`, `"arm64"`.
    pub name: &'static str,
    /// The virtio entropy device, used when the CPU has no RNDR.
    pub virtio_rng: RefCell<Option<VirtioRng<HeapHal, BootTransport>>>,
}

/// How long an entropy request may wait for the virtio-rng device.
const VIRTIO_RNG_PATIENCE_NANOS: u64 = 200_000_000;

impl Virt {
    /// Fills `buf` from the virtio-rng device, polling it (as x86_64 does; entropy is asked for
    /// rarely). Never hands out a partly filled buffer.
    fn virtio_entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        let mut rng = self.virtio_rng.borrow_mut();
        let rng = rng.as_mut().ok_or(EntropyError::NoSource)?;
        let deadline =
            timer::counter().saturating_add(self.clock.nanos_to_ticks(VIRTIO_RNG_PATIENCE_NANOS));
        let mut filled = 0;
        while filled < buf.len() {
            filled += rng
                .fill(&mut buf[filled..], 10_000)
                .map_err(|_| EntropyError::Failed)?;
            if filled < buf.len() && timer::counter() > deadline {
                return Err(EntropyError::Failed);
            }
        }
        Ok(())
    }
}

impl Platform for Virt {
    fn name(&self) -> &'static str {
        self.name
    }

    fn now(&self) -> Instant {
        let ticks = timer::counter().saturating_sub(self.boot_counter);
        Instant::from_nanos(self.clock.ticks_to_nanos(ticks))
    }

    fn set_alarm(&self, deadline: Option<Instant>) {
        timer::set_alarm(deadline.map(|d| {
            self.boot_counter
                .saturating_add(self.clock.nanos_to_ticks(d.as_nanos()))
        }));
    }

    fn idle(&self, events: &EventTable) {
        // With IRQs masked, `wfi` still wakes on a pending interrupt (Arm ARM D1.6.2: masking
        // stops it being taken, not the wake-up); it is taken when they are unmasked. So an
        // event marked after the check cannot be slept through.
        // SAFETY: masking IRQs (PSTATE.I) affects only when interrupts are taken.
        unsafe { core::arch::asm!("msr daifset, #2", options(nomem, nostack)) };
        if !events.any_marked() {
            // SAFETY: waits for an interrupt; IRQs are masked, so none is taken until below.
            unsafe { core::arch::asm!("dsb sy", "wfi", options(nomem, nostack)) };
        }
        // SAFETY: unmasking IRQs lets the pending one, if any, be taken now.
        unsafe { core::arch::asm!("msr daifclr, #2", options(nomem, nostack)) };
    }

    fn wall_clock(&self) -> Option<UtcTime> {
        let (base, at) = (*self
            .wall
            .get_or_init(|| rtc::read(self.rtc?).map(|w| (w, self.now()))))?;
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
        pl011::write(bytes);
    }

    fn exit(&self, code: i32) -> ! {
        super::exit(code)
    }
}
