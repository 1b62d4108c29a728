//! The TSC as the monotonic clock, and where its frequency comes from.
//!
//! [`Tsc::detect`] tries, in order (the first that answers wins):
//!
//! 1. CPUID leaf 0x15, "Time Stamp Counter and Nominal Core Crystal Clock Information" (Intel SDM
//!    vol. 2A, CPUID; vol. 3B §19.7.3 "Determining the Processor Base Frequency"): TSC Hz =
//!    crystal Hz (ECX) × EBX / EAX, used only when the crystal frequency is enumerated.
//! 2. CPUID leaf 0x16, "Processor Frequency Information": EAX = base frequency in MHz, which is
//!    the TSC's frequency on processors with an invariant TSC.
//! 3. The hypervisor timing leaf 0x40000010 (VMware's convention, also used by QEMU/KVM with
//!    `vmware-cpuid-freq`): EAX = TSC kHz. Read only when `CPUID.1:ECX[31]` (hypervisor present) is
//!    set and the hypervisor's maximum leaf (0x40000000.EAX) reaches it.
//! 4. kvmclock (Linux `Documentation/virt/kvm/x86/msr.rst`, `MSR_KVM_SYSTEM_TIME_NEW` and
//!    `struct pvclock_vcpu_time_info`): the hypervisor's own TSC-to-nanoseconds scale.
//! 5. Calibration against the 8254 PIT (Intel 8254 datasheet; channel 2, whose gate and output
//!    are on port 0x61 on PCs): the TSC is read across ~10 ms of PIT counts.
//!
//! The TSC is assumed invariant (constant rate, `CPUID.80000007H:EDX[8]`); every hypervisor we run
//! under provides that, and a single-core kernel has no cross-core skew to care about.

use core::arch::x86_64::{__cpuid, __cpuid_count, _rdtsc};
use core::sync::atomic::{AtomicU32, Ordering};

use x86_64::instructions::port::Port;
use x86_64::registers::model_specific::Msr;

/// The PIT's input clock: 105/88 MHz = 1,193,181.8 Hz (8254 on PCs), as a fraction.
const PIT_HZ_NUM: u128 = 105_000_000;
const PIT_HZ_DEN: u128 = 88;

/// Frequencies outside this range are taken as a broken source and the next one is tried.
const PLAUSIBLE_HZ: core::ops::RangeInclusive<u64> = 1_000_000..=100_000_000_000;

/// Frequency assumed when no source answers (no CPUID leaf, no kvmclock, no PIT). Time then runs
/// at the wrong rate, and the boot log says so through [`Tsc::source`].
const FALLBACK_HZ: u64 = 1_000_000_000;

/// Reads the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC reads a counter and has no side effects; it is available on every x86_64
    // CPU and CR4.TSD is clear (we never set it), so it does not fault at CPL 0.
    unsafe { _rdtsc() }
}

/// The TSC's frequency and where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tsc {
    /// Ticks per second.
    pub hz: u64,
    /// Which source gave [`Tsc::hz`], for the boot log: `"cpuid 0x15"`, `"cpuid 0x16"`,
    /// `"hypervisor leaf 0x40000010"`, `"kvmclock"` or `"pit calibration"` (or, when nothing
    /// answered, a sentence saying the frequency is a guess).
    pub source: &'static str,
}

impl Tsc {
    /// Finds the TSC's frequency from the first source that gives a plausible one (see the
    /// module documentation for the order). PIT calibration, the last resort, takes ~2 ms;
    /// `window` is told when its measuring window opens and closes (true, then false), so that
    /// the LAPIC timer can be measured in the same wait.
    pub fn detect(window: &mut dyn FnMut(bool)) -> Tsc {
        // CPUID exits to the hypervisor, so each leaf is asked once.
        let max_leaf = __cpuid(0).eax;
        let hypervisor = hypervisor_info();
        let found = [
            ("cpuid 0x15", cpuid_15(max_leaf)),
            ("cpuid 0x16", cpuid_16(max_leaf)),
            (
                "hypervisor leaf 0x40000010",
                hypervisor.and_then(hypervisor_leaf),
            ),
        ]
        .into_iter()
        .find_map(|(source, hz)| plausible(hz).map(|hz| Tsc { hz, source }));
        if let Some(tsc) = found {
            return tsc;
        }
        if let Some(hz) = plausible(hypervisor.and_then(kvmclock)) {
            return Tsc {
                hz,
                source: "kvmclock",
            };
        }
        if let Some(hz) = plausible(pit_calibrate(window)) {
            return Tsc {
                hz,
                source: "pit calibration",
            };
        }
        Tsc {
            hz: FALLBACK_HZ,
            source: "none answered: assuming 1 GHz, time will run at the wrong rate",
        }
    }

    /// `ticks` TSC ticks in nanoseconds, rounded down (saturating at `u64::MAX`, 584 years).
    pub fn ticks_to_nanos(&self, ticks: u64) -> u64 {
        mul_div(ticks, 1_000_000_000, self.hz)
    }

    /// `nanos` nanoseconds in TSC ticks, rounded down (saturating at `u64::MAX`).
    pub fn nanos_to_ticks(&self, nanos: u64) -> u64 {
        mul_div(nanos, self.hz, 1_000_000_000)
    }
}

fn plausible(hz: Option<u64>) -> Option<u64> {
    hz.filter(|hz| PLAUSIBLE_HZ.contains(hz))
}

/// `a * b / c` in 128 bits, saturating; `c == 0` gives `u64::MAX`.
fn mul_div(a: u64, b: u64, c: u64) -> u64 {
    if c == 0 {
        return u64::MAX;
    }
    let q = u128::from(a) * u128::from(b) / u128::from(c);
    u64::try_from(q).unwrap_or(u64::MAX)
}

/// What leaf 0x40000000 says: the hypervisor's maximum leaf and its 12-byte signature.
#[derive(Clone, Copy)]
struct Hypervisor {
    max_leaf: u32,
    signature: [u8; 12],
}

/// The hypervisor's leaf 0x40000000, when `CPUID.1:ECX[31]` ("reserved for use by hypervisor to
/// indicate guest status") is set and the answer looks like a hypervisor range. (A CPU without
/// one answers out-of-range leaves with its highest basic leaf, whose EAX is no 0x400000xx.)
fn hypervisor_info() -> Option<Hypervisor> {
    if __cpuid(1).ecx & (1 << 31) == 0 {
        return None;
    }
    let r = __cpuid(0x4000_0000);
    if !(0x4000_0000..=0x4000_00ff).contains(&r.eax) {
        return None;
    }
    let mut signature = [0u8; 12];
    signature[..4].copy_from_slice(&r.ebx.to_le_bytes());
    signature[4..8].copy_from_slice(&r.ecx.to_le_bytes());
    signature[8..].copy_from_slice(&r.edx.to_le_bytes());
    Some(Hypervisor {
        max_leaf: r.eax,
        signature,
    })
}

/// CPUID 0x15: TSC = crystal × EBX / EAX, when all three are enumerated (non-zero).
fn cpuid_15(max_leaf: u32) -> Option<u64> {
    if max_leaf < 0x15 {
        return None;
    }
    let r = __cpuid_count(0x15, 0);
    let (den, num, crystal) = (u64::from(r.eax), u64::from(r.ebx), u64::from(r.ecx));
    if den == 0 || num == 0 || crystal == 0 {
        return None;
    }
    Some(mul_div(crystal, num, den))
}

/// CPUID 0x16: `EAX[15:0]` = processor base frequency in MHz.
fn cpuid_16(max_leaf: u32) -> Option<u64> {
    if max_leaf < 0x16 {
        return None;
    }
    let mhz = u64::from(__cpuid_count(0x16, 0).eax & 0xffff);
    (mhz != 0).then_some(mhz * 1_000_000)
}

/// Leaf 0x40000010: EAX = TSC frequency in kHz.
fn hypervisor_leaf(hv: Hypervisor) -> Option<u64> {
    if hv.max_leaf < 0x4000_0010 {
        return None;
    }
    let khz = u64::from(__cpuid(0x4000_0010).eax);
    (khz != 0).then_some(khz * 1000)
}

/// `"KVMKVMKVM\0\0\0"`, KVM's signature at 0x40000000.
const KVM_SIGNATURE: &[u8; 12] = b"KVMKVMKVM\0\0\0";
/// 0x40000001.EAX bit 3: `MSR_KVM_SYSTEM_TIME_NEW` is available.
const KVM_FEATURE_CLOCKSOURCE2: u32 = 1 << 3;
const MSR_KVM_SYSTEM_TIME_NEW: u32 = 0x4b56_4d01;

/// `struct pvclock_vcpu_time_info`, as eight 32-bit words that the hypervisor writes:
/// word 0 version, 1 pad, 2-3 tsc_timestamp, 4-5 system_time, 6 tsc_to_system_mul,
/// 7 = tsc_shift (i8, byte 0), flags (byte 1), pad (bytes 2-3).
///
/// Aligned to its size so that it never straddles a page, as the ABI requires. Atomics because
/// the hypervisor writes it behind the compiler's back, like another thread would.
#[repr(C, align(32))]
struct PvclockTimeInfo([AtomicU32; 8]);

static KVMCLOCK: PvclockTimeInfo = PvclockTimeInfo([const { AtomicU32::new(0) }; 8]);

/// kvmclock's TSC frequency: the hypervisor's nanoseconds = ((ticks << shift) or
/// (ticks >> -shift)) × mul / 2^32, so Hz = 10^9 × 2^32 / mul, shifted the other way.
fn kvmclock(hv: Hypervisor) -> Option<u64> {
    if &hv.signature != KVM_SIGNATURE || hv.max_leaf < 0x4000_0001 {
        return None;
    }
    if __cpuid(0x4000_0001).eax & KVM_FEATURE_CLOCKSOURCE2 == 0 {
        return None;
    }
    // Memory is identity-mapped, so the static's address is its guest-physical address.
    let phys = core::ptr::from_ref(&KVMCLOCK) as u64;
    let mut msr = Msr::new(MSR_KVM_SYSTEM_TIME_NEW);
    // SAFETY: CPUID advertised KVM_FEATURE_CLOCKSOURCE2, so the MSR exists. The hypervisor will
    // write 32 bytes at `phys`, which is KVMCLOCK: a static we own, 32-byte aligned (so within
    // one page), identity-mapped, writable, and only ever accessed through atomics. Bit 0
    // enables the updates.
    unsafe { msr.write(phys | 1) };

    let words = &KVMCLOCK.0;
    let mut scale = None;
    // KVM fills the structure before the guest runs again after the WRMSR; a few tries cover a
    // concurrent update (odd version, or a version change while we read).
    for _ in 0..1000 {
        let v1 = words[0].load(Ordering::Acquire);
        if v1 & 1 != 0 {
            core::hint::spin_loop();
            continue;
        }
        let mul = words[6].load(Ordering::Acquire);
        let shift = words[7].load(Ordering::Acquire) as u8 as i8;
        let v2 = words[0].load(Ordering::Acquire);
        if v1 == v2 && mul != 0 {
            scale = Some((mul, shift));
            break;
        }
        core::hint::spin_loop();
    }

    // SAFETY: as above; writing 0 (bit 0 clear) stops the hypervisor's updates, so nothing
    // writes to KVMCLOCK after this.
    unsafe { msr.write(0) };

    let (mul, shift) = scale?;
    // Any real scale has a shift of a few bits; larger ones would overflow the arithmetic.
    if !(-32..=32).contains(&shift) {
        return None;
    }
    let hz = if shift >= 0 {
        (1_000_000_000u128 << 32) / (u128::from(mul) << shift)
    } else {
        (1_000_000_000u128 << (32 - i32::from(shift))) / u128::from(mul)
    };
    u64::try_from(hz).ok()
}

/// Port 0x61 (PC "system control port B"): bit 0 gates PIT channel 2, bit 1 routes its output
/// to the speaker, bit 5 reads channel 2's OUT.
const PORT_B: u16 = 0x61;
const PORT_B_GATE2: u8 = 1 << 0;
const PORT_B_SPEAKER: u8 = 1 << 1;
/// 8254 ports: channel 2's counter and the mode/command register.
const PIT_CHANNEL2: u16 = 0x42;
const PIT_COMMAND: u16 = 0x43;
/// Command: channel 2 (bits 7:6 = 10), low then high byte (5:4 = 11), mode 0 "interrupt on
/// terminal count" (3:1 = 000), binary (0 = 0).
const PIT_CH2_MODE0_LOHI: u8 = 0b1011_0000;
/// Command: channel 2, counter latch (5:4 = 00).
const PIT_CH2_LATCH: u8 = 0b1000_0000;
/// How far the calibration counts: 2,386 PIT ticks = 2.0 ms. A tick is 838 ns and each end of
/// the window is known to within one, so the frequency is good to about 0.08 %: a 100 ms sleep
/// is off by at most ~80 µs. Longer would be more precise and slower to boot.
const PIT_CALIBRATION_TICKS: u16 = 2_386;
/// Past this many ticks (33.5 ms; the count starts near 0xffff, 55 ms from wrapping) the window
/// ends at the next sample however loose its bracket. On a loaded host a vCPU can lose 8 ms in
/// one sample: ending on such a sample once gave 1.3 GHz for a 2.45 GHz TSC.
const PIT_LOOSE_TICKS: u16 = 40_000;
/// Give up when the counter has not moved in this many consecutive reads (no PIT: the ports
/// read 0xff). A PIT tick is 838 ns, far shorter than 64 port round trips anywhere.
const PIT_STALL_READS: u32 = 64;
/// Hard bound on the number of counter reads, whatever happens.
const PIT_MAX_READS: u32 = 200_000;

/// Measures the TSC against PIT channel 2 counting down from 0xffff in mode 0.
///
/// Each sample latches the counter (one port write) between two RDTSCs and takes the midpoint as
/// the instant of the latch, so the error is half a port round trip at each end rather than a
/// whole polling period: it matters where port I/O is slow (~70 µs each under PVM), and costs
/// three port accesses per sample. The window runs from a tight sample to the first tight one
/// at least [`PIT_CALIBRATION_TICKS`] later (tight: its RDTSCs at most twice the narrowest gap
/// seen apart), so a vCPU descheduled mid-sample on a loaded host does not skew it.
fn pit_calibrate(window: &mut dyn FnMut(bool)) -> Option<u64> {
    let mut port_b = Port::<u8>::new(PORT_B);
    let mut command = Port::<u8>::new(PIT_COMMAND);
    let mut channel2 = Port::<u8>::new(PIT_CHANNEL2);

    // SAFETY: ports 0x61, 0x42 and 0x43 are the PC's PIT channel 2 and its gate. Channel 2 only
    // drives the speaker (whose enable we clear), so reprogramming it disturbs nothing else; on
    // a machine without a PIT the writes are dropped and reads return 0xff, which the stall
    // check below turns into `None`.
    let saved_port_b = unsafe {
        let saved = port_b.read();
        port_b.write((saved & !PORT_B_SPEAKER) | PORT_B_GATE2);
        command.write(PIT_CH2_MODE0_LOHI);
        channel2.write(0xff);
        channel2.write(0xff);
        saved
    };

    // (midpoint TSC of the latch command, the count it latched, the TSC ticks between the two
    // RDTSCs around the latch: how well the midpoint is known)
    let mut sample = || -> (u64, u16, u64) {
        let before = rdtsc();
        // SAFETY: as above; latching and reading channel 2's count has no other effect.
        unsafe { command.write(PIT_CH2_LATCH) };
        let after = rdtsc();
        // SAFETY: as above.
        let (lo, hi) = unsafe { (channel2.read(), channel2.read()) };
        let bracket = after.wrapping_sub(before);
        (before + bracket / 2, u16::from_le_bytes([lo, hi]), bracket)
    };
    // A sample counts as an end of the window only when its bracket is at most twice the
    // tightest seen: a vCPU descheduled between the two RDTSCs (a loaded host under TCG)
    // widens it, and half of it would be error. Past `PIT_LOOSE_TICKS` any sample does.
    let mut tightest = u64::MAX;
    fn tight(bracket: u64, tightest: &mut u64) -> bool {
        *tightest = (*tightest).min(bracket);
        bracket <= tightest.saturating_mul(2)
    }

    // Start at the first change of the count: a latch right after programming may catch the
    // counter before it loaded (the 8254 loads it on the next clock edge) and read a stale
    // value. On a machine without a PIT the count never changes.
    let (_, first, bracket) = sample();
    tight(bracket, &mut tightest);
    let mut start = None;
    for _ in 0..PIT_STALL_READS {
        let (t, c, bracket) = sample();
        let is_tight = tight(bracket, &mut tightest);
        if c != first && (is_tight || start.is_none()) {
            start = Some((t, c));
            if is_tight {
                break;
            }
        }
    }
    let Some((t0, c0)) = start else {
        // SAFETY: as above; restores port 0x61's gate and speaker bits as they were.
        unsafe { port_b.write(saved_port_b) };
        return None;
    };
    window(true);

    let mut result = None;
    let (mut last, mut stalled) = (c0, 0u32);
    for _ in 0..PIT_MAX_READS {
        let (t, c, bracket) = sample();
        let is_tight = tight(bracket, &mut tightest);
        // Mode 0 counts down from 0xffff; the window ends before it wraps.
        let elapsed = c0.wrapping_sub(c);
        if c0 >= c && elapsed >= PIT_CALIBRATION_TICKS && (is_tight || elapsed >= PIT_LOOSE_TICKS) {
            let hz =
                u128::from(t.wrapping_sub(t0)) * PIT_HZ_NUM / (u128::from(elapsed) * PIT_HZ_DEN);
            result = u64::try_from(hz).ok();
            window(false);
            break;
        }
        if c > c0 {
            // The count went up: not a counter running down, so not a PIT.
            break;
        }
        if c == last {
            stalled += 1;
            if stalled >= PIT_STALL_READS {
                break;
            }
        } else {
            (last, stalled) = (c, 0);
        }
    }

    // SAFETY: as above; restores port 0x61's gate and speaker bits as they were.
    unsafe { port_b.write(saved_port_b) };
    result
}
