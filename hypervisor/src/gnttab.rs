//! Grant tables, version 1: letting another domain (the network backend) read or write a page
//! of ours.
//!
//! Ref: `grant_table.h`. The table is an array of 8-byte entries in frames that Xen maps into
//! our physical address space (`XENMEM_add_to_physmap`, `XENMAPSPACE_grant_table`, on PVH):
//!
//! ```text
//! struct grant_entry_v1 { u16 flags; u16 domid; u32 frame; }
//! ```
//!
//! To grant: write `domid` and `frame`, then (after a write barrier) `flags` =
//! `GTF_permit_access` [| `GTF_readonly`]. To end: atomically swap `flags` to 0 unless the
//! backend has the page mapped or is copying it (`GTF_reading` / `GTF_writing` set by Xen).
//! Entries 0-7 are reserved (the toolstack uses 0 for the console and 1 for xenstore).

use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU16, AtomicU32, Ordering, fence};

/// The first reference handed out (`GNTTAB_NR_RESERVED_ENTRIES`).
pub const FIRST_FREE_REF: u32 = 8;
/// v1 entries per 4 KiB frame.
pub const ENTRIES_PER_FRAME: u32 = 4096 / 8;

const GTF_PERMIT_ACCESS: u16 = 1;
const GTF_READONLY: u16 = 1 << 2;
const GTF_READING: u16 = 1 << 3;
const GTF_WRITING: u16 = 1 << 4;

/// A grant reference: what the other domain is told.
pub type GrantRef = u32;

/// Why a grant operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrantError {
    /// Every reference is in use.
    Exhausted,
    /// The backend still has the page mapped or is copying it: try again later.
    InUse,
    /// The reference is not one of ours in use (double end, or never granted).
    NotGranted,
}

impl fmt::Display for GrantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GrantError::Exhausted => "grant table: no free reference",
            GrantError::InUse => "grant table: the other domain still uses the page",
            GrantError::NotGranted => "grant table: reference not granted",
        })
    }
}

/// The free references of a table, as a stack, with a per-reference "in use" flag that turns
/// a double free into an error rather than a corrupted list.
#[derive(Debug)]
pub struct FreeList {
    free: Vec<GrantRef>,
    in_use: Vec<bool>,
}

impl FreeList {
    /// References `FIRST_FREE_REF..count` free; handed out lowest first.
    pub fn new(count: u32) -> FreeList {
        FreeList {
            free: (FIRST_FREE_REF..count.max(FIRST_FREE_REF)).rev().collect(),
            in_use: alloc::vec![false; count as usize],
        }
    }

    /// Takes a free reference.
    pub fn alloc(&mut self) -> Option<GrantRef> {
        let r = self.free.pop()?;
        self.in_use[r as usize] = true;
        Some(r)
    }

    /// Returns `r`; false (and nothing changes) unless it was handed out and not yet returned.
    pub fn release(&mut self, r: GrantRef) -> bool {
        match self.in_use.get_mut(r as usize) {
            Some(used) if *used && r >= FIRST_FREE_REF => {
                *used = false;
                self.free.push(r);
                true
            }
            _ => false,
        }
    }

    /// Whether `r` is handed out.
    pub fn is_in_use(&self, r: GrantRef) -> bool {
        self.in_use.get(r as usize).copied().unwrap_or(false)
    }

    /// How many references are free.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }
}

/// A v1 grant table.
#[derive(Debug)]
pub struct GrantTable {
    entries: *mut u8,
    free: FreeList,
}

impl GrantTable {
    /// The table of `frames` frames mapped contiguously at `entries`.
    ///
    /// # Safety
    ///
    /// `entries` points to `frames * 4096` bytes, 8-aligned, that stay mapped: the grant
    /// frames Xen mapped for us (or ordinary memory in tests); no other `GrantTable` uses them.
    pub unsafe fn new(entries: *mut u8, frames: u32) -> GrantTable {
        GrantTable {
            entries,
            free: FreeList::new(frames * ENTRIES_PER_FRAME),
        }
    }

    fn flags(&self, r: GrantRef) -> &AtomicU16 {
        // SAFETY: `r` is below the entry count (checked by the callers through the free list),
        // so the entry lies in the table; entries are 8-aligned.
        unsafe { AtomicU16::from_ptr(self.entries.add(8 * r as usize).cast()) }
    }

    /// Lets domain `domid` access guest frame `frame` (read-only if `readonly`).
    pub fn grant(
        &mut self,
        domid: u16,
        frame: u64,
        readonly: bool,
    ) -> Result<GrantRef, GrantError> {
        let r = self.free.alloc().ok_or(GrantError::Exhausted)?;
        let entry = 8 * r as usize;
        // SAFETY: entry `r` lies in the table (the free list only holds valid references);
        // the fields are written before the flags make the entry valid.
        unsafe {
            AtomicU16::from_ptr(self.entries.add(entry + 2).cast()).store(domid, Ordering::Relaxed);
            AtomicU32::from_ptr(self.entries.add(entry + 4).cast())
                .store(frame as u32, Ordering::Relaxed);
        }
        fence(Ordering::Release);
        let flags = GTF_PERMIT_ACCESS | if readonly { GTF_READONLY } else { 0 };
        self.flags(r).store(flags, Ordering::Release);
        Ok(r)
    }

    /// Ends access through `r` and frees it; [`GrantError::InUse`] (the grant stays) while the
    /// other domain has the page mapped or is copying it.
    pub fn end(&mut self, r: GrantRef) -> Result<(), GrantError> {
        if !self.free.is_in_use(r) {
            return Err(GrantError::NotGranted);
        }
        let flags = self.flags(r);
        let mut current = flags.load(Ordering::Acquire);
        loop {
            if current & (GTF_READING | GTF_WRITING) != 0 {
                return Err(GrantError::InUse);
            }
            match flags.compare_exchange(current, 0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.free.release(r);
        Ok(())
    }

    /// How many references are free.
    pub fn free_count(&self) -> usize {
        self.free.free_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::boxed::Box;

    #[test]
    fn free_list_hands_out_and_takes_back() {
        let mut f = FreeList::new(12);
        assert_eq!(f.free_count(), 4);
        let got: Vec<_> = (0..4).map(|_| f.alloc().unwrap()).collect();
        assert_eq!(got, [8, 9, 10, 11]);
        assert_eq!(f.alloc(), None);
        assert!(f.release(10));
        assert!(!f.release(10), "double free refused");
        assert!(!f.release(3), "reserved entry refused");
        assert!(!f.release(99), "out of range refused");
        assert_eq!(f.alloc(), Some(10));
        assert_eq!(FreeList::new(4).free_count(), 0);
    }

    #[repr(C, align(4096))]
    struct Frame([u8; 4096]);

    #[test]
    fn grant_writes_the_entry_and_end_respects_the_backend() {
        let frame = Box::leak(Box::new(Frame([0; 4096])));
        let base = frame.0.as_mut_ptr();
        // SAFETY: a leaked page of our own.
        let mut t = unsafe { GrantTable::new(base, 1) };
        let r = t.grant(0, 0x1234_5678, true).unwrap();
        assert_eq!(r, 8);
        // SAFETY: reading back our own page.
        let entry = unsafe { core::slice::from_raw_parts(base.add(64), 8) };
        assert_eq!(entry, [0x05, 0, 0, 0, 0x78, 0x56, 0x34, 0x12]);
        // The backend maps it: GTF_reading.
        t.flags(r).fetch_or(GTF_READING, Ordering::SeqCst);
        assert_eq!(t.end(r), Err(GrantError::InUse));
        t.flags(r).fetch_and(!GTF_READING, Ordering::SeqCst);
        assert_eq!(t.end(r), Ok(()));
        assert_eq!(t.flags(r).load(Ordering::SeqCst), 0);
        assert_eq!(t.end(r), Err(GrantError::NotGranted));
        assert_eq!(t.free_count(), 504);
    }
}
