//! What the x86_64 image needs of Xen with or without the `xen` feature: finding Xen and
//! installing the hypercall page, the hypercalls, finding the PV console page, and the
//! shutdown reason of an exit code. [`super::xen`] (the Xen platform, or `xen_absent.rs`
//! without the feature) builds on these.

use core::sync::atomic::{AtomicBool, Ordering};

use morgana_hypervisor::abi::{ShutdownReason, hvm_param};
use morgana_hypervisor::hypercall::HypercallPage;
use morgana_hypervisor::{Xen, XenInfo};

use super::paging;
use crate::bootinfo::BootInfo;

/// Set once the hypercall page is installed: we run on Xen.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Whether start-up found Xen.
pub fn active() -> bool {
    ACTIVE.load(Ordering::Acquire)
}

/// The hypercalls.
pub fn xen() -> Xen<HypercallPage> {
    debug_assert!(active());
    // SAFETY: only called once `detect_early` installed the page (ACTIVE is set after it).
    Xen(unsafe { HypercallPage::installed() })
}

/// Looks for Xen; on Xen installs the hypercall page and returns what CPUID said. First thing
/// at boot, before any output.
pub fn detect_early() -> Option<XenInfo> {
    let info = morgana_hypervisor::detect(morgana_hypervisor::detect::cpuid)?;
    // SAFETY: Xen is present (CPUID) and names this MSR; the image is identity-mapped.
    unsafe { HypercallPage::install(info.hypercall_msr) };
    ACTIVE.store(true, Ordering::Release);
    Some(info)
}

/// Whether the page at `addr` is mapped by our page tables (RAM, or the device window where
/// Xen's special pages live).
fn page_mapped(info: &BootInfo, addr: u64) -> bool {
    let (lo, hi) = paging::DEVICE_WINDOW;
    (lo..hi).contains(&addr)
        || info
            .regions()
            .iter()
            .any(|r| r.start <= addr && addr + 4096 <= r.end())
}

/// The PV console's page address and event channel port, when Xen names a page we map.
pub fn pv_console(info: &BootInfo) -> Option<(u64, u32)> {
    match (
        xen().hvm_get_param(hvm_param::CONSOLE_PFN),
        xen().hvm_get_param(hvm_param::CONSOLE_EVTCHN),
    ) {
        (Ok(pfn), Ok(port)) if pfn != 0 && page_mapped(info, pfn << 12) => {
            Some((pfn << 12, port as u32))
        }
        _ => None,
    }
}

/// `SCHEDOP_shutdown`'s reason for exit code `code`: poweroff for 0, crash for anything else.
pub fn shutdown_reason(code: i32) -> ShutdownReason {
    if code == 0 {
        ShutdownReason::Poweroff
    } else {
        ShutdownReason::Crash
    }
}
