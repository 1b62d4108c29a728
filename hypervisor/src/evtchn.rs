//! Event channels, 2-level ABI: what an upcall does, and which executor event each port marks.
//!
//! Ref: `xen.h` (the comment on `struct shared_info`'s pending and mask bits) and
//! `event_channel.h`. When a port becomes pending and is not masked, Xen sets its bit in
//! `evtchn_pending`, the word's bit in the vCPU's `evtchn_pending_sel`, and
//! `evtchn_upcall_pending` (and on a 0-to-1 change of that flag, injects the upcall vector).
//!
//! [`scan`] is the upcall: clear `evtchn_upcall_pending` *first* (so an event that arrives
//! during the scan raises a new upcall instead of being lost), take the selector, and for each
//! pending unmasked port clear its pending bit and report it. The platform's interrupt handler
//! runs it with a callback that marks the port's slot in the executor's event table
//! ([`PortEvents`]); nothing else happens in interrupt context. A masked pending port is left
//! pending: `EVTCHNOP_unmask` re-delivers it.

use core::sync::atomic::{AtomicU16, Ordering};

use morgana_executor::EventId;

use crate::shared_info::{EVTCHN_WORDS, SharedInfo};

/// Ports in the 2-level ABI on x86_64.
pub const NR_PORTS: usize = EVTCHN_WORDS * 64;

/// The upcall for `vcpu`: reports every pending, unmasked port to `on_port` (once per
/// notification: the pending bit is cleared first) and returns how many there were.
pub fn scan(shared: &SharedInfo, vcpu: usize, mut on_port: impl FnMut(u32)) -> usize {
    shared.upcall_pending(vcpu).store(0, Ordering::SeqCst);
    let mut count = 0;
    let mut sel = shared.pending_sel(vcpu).swap(0, Ordering::SeqCst);
    while sel != 0 {
        let w = sel.trailing_zeros() as usize;
        sel &= sel - 1;
        let mut bits = shared.evtchn_pending(w).load(Ordering::Acquire)
            & !shared.evtchn_mask(w).load(Ordering::Acquire);
        while bits != 0 {
            let port = w as u32 * 64 + bits.trailing_zeros();
            bits &= bits - 1;
            clear_pending(shared, port);
            on_port(port);
            count += 1;
        }
    }
    count
}

/// Masks every port (before any is bound: each is unmasked when bound).
pub fn mask_all(shared: &SharedInfo) {
    for w in 0..EVTCHN_WORDS {
        shared.evtchn_mask(w).store(u64::MAX, Ordering::SeqCst);
    }
}

/// Sets `port`'s mask bit (no upcalls for it until it is unmasked with `EVTCHNOP_unmask`).
pub fn mask(shared: &SharedInfo, port: u32) {
    let (w, b) = split(port);
    shared.evtchn_mask(w).fetch_or(1 << b, Ordering::SeqCst);
}

/// Whether `port` is pending (for polling before the upcall is set up).
pub fn is_pending(shared: &SharedInfo, port: u32) -> bool {
    let (w, b) = split(port);
    shared.evtchn_pending(w).load(Ordering::Acquire) & (1 << b) != 0
}

/// Clears `port`'s pending bit.
pub fn clear_pending(shared: &SharedInfo, port: u32) {
    let (w, b) = split(port);
    shared
        .evtchn_pending(w)
        .fetch_and(!(1 << b), Ordering::AcqRel);
}

fn split(port: u32) -> (usize, u32) {
    ((port as usize / 64) % EVTCHN_WORDS, port % 64)
}

/// Which executor event slot each port marks: written when a port is bound (task context),
/// read by the upcall (interrupt context). Lock-free; a `static` on bare metal.
#[derive(Debug)]
pub struct PortEvents {
    /// Per port: 0 if unbound, else the slot index + 1.
    slots: [AtomicU16; NR_PORTS],
}

impl PortEvents {
    /// No port bound.
    pub const fn new() -> PortEvents {
        PortEvents {
            slots: [const { AtomicU16::new(0) }; NR_PORTS],
        }
    }

    /// From now on `port` marks `event`. False for a port outside the 2-level range.
    pub fn bind(&self, port: u32, event: EventId) -> bool {
        match self.slots.get(port as usize) {
            Some(slot) => {
                slot.store(event.index() as u16 + 1, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// `port` marks nothing any more.
    pub fn unbind(&self, port: u32) {
        if let Some(slot) = self.slots.get(port as usize) {
            slot.store(0, Ordering::Release);
        }
    }

    /// The slot `port` marks, if bound.
    pub fn event(&self, port: u32) -> Option<EventId> {
        let encoded = self.slots.get(port as usize)?.load(Ordering::Acquire);
        EventId::from_index(usize::from(encoded.checked_sub(1)?))
    }
}

impl Default for PortEvents {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    #[repr(C, align(4096))]
    struct Page([u8; 4096]);

    /// A shared_info page of ordinary memory, leaked (tests only).
    fn shared() -> SharedInfo {
        let page = Box::leak(Box::new(Page([0; 4096])));
        // SAFETY: a leaked, aligned page of our own.
        unsafe { SharedInfo::new(page.0.as_mut_ptr()) }
    }

    /// What Xen does when `port` fires (2-level `evtchn_2l_set_pending`).
    fn xen_fires(s: &SharedInfo, port: u32) {
        let (w, b) = split(port);
        let was = s.evtchn_pending(w).fetch_or(1 << b, Ordering::SeqCst) & (1 << b) != 0;
        if !was && s.evtchn_mask(w).load(Ordering::SeqCst) & (1 << b) == 0 {
            s.pending_sel(0).fetch_or(1 << w, Ordering::SeqCst);
            s.upcall_pending(0).store(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn scan_reports_pending_unmasked_ports_once() {
        let s = shared();
        mask_all(&s);
        for port in [3u32, 64, 65, 4095] {
            let (w, b) = split(port);
            s.evtchn_mask(w).fetch_and(!(1 << b), Ordering::SeqCst);
        }
        for port in [3u32, 65, 4095, 7] {
            xen_fires(&s, port);
        }
        let mut seen = Vec::new();
        assert_eq!(scan(&s, 0, |p| seen.push(p)), 3);
        assert_eq!(seen, [3, 65, 4095]);
        assert_eq!(s.upcall_pending(0).load(Ordering::SeqCst), 0);
        // Port 7 is masked: still pending, not reported; nothing new.
        assert!(is_pending(&s, 7));
        assert!(!is_pending(&s, 3));
        assert_eq!(scan(&s, 0, |_| panic!("nothing is pending")), 0);
        // Fired again: reported again.
        xen_fires(&s, 64);
        let mut again = Vec::new();
        scan(&s, 0, |p| again.push(p));
        assert_eq!(again, [64]);
    }

    #[test]
    fn ports_map_to_event_slots() {
        let table = PortEvents::new();
        let e = EventId::from_index(9).unwrap();
        assert_eq!(table.event(5), None);
        assert!(table.bind(5, e));
        assert_eq!(table.event(5), Some(e));
        assert!(!table.bind(NR_PORTS as u32, e));
        assert_eq!(table.event(u32::MAX), None);
        table.unbind(5);
        assert_eq!(table.event(5), None);
        // Slot 0 (the alarm's) is a real slot, distinct from "unbound".
        table.bind(1, EventId::from_index(0).unwrap());
        assert_eq!(table.event(1), EventId::from_index(0));
    }
}
