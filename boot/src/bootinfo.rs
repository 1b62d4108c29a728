//! [`BootInfo`]: what every boot protocol (PVH's `hvm_start_info`, an AArch64 device tree) is
//! turned into before anything else runs. Fixed capacity, no allocation: it is built before the
//! heap exists.

use core::fmt;

/// The most memory-map entries kept; more are reported and dropped.
pub const MAX_REGIONS: usize = 64;

/// Sorts a memory map's few (at most [`MAX_REGIONS`] + 1) `(start, end)` ranges, once at boot:
/// an insertion sort, a few dozen bytes where `sort_unstable` links ~2.5 KiB of quicksort,
/// heapsort and small-sort networks.
pub(crate) fn sort_ranges(ranges: &mut [(u64, u64)]) {
    for i in 1..ranges.len() {
        let mut j = i;
        while j > 0 && ranges[j - 1] > ranges[j] {
            ranges.swap(j - 1, j);
            j -= 1;
        }
    }
}
/// The most boot modules kept.
pub const MAX_MODULES: usize = 8;
/// The longest command line kept, in bytes.
pub const MAX_CMDLINE: usize = 2048;

/// What a range of physical memory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryKind {
    /// Free RAM.
    Usable,
    /// Reserved by firmware or devices.
    Reserved,
    /// ACPI tables, reclaimable once read.
    AcpiReclaimable,
    /// ACPI non-volatile storage.
    AcpiNvs,
    /// Bad RAM.
    Unusable,
    /// Another E820 type.
    Other(u32),
}

impl MemoryKind {
    /// The kind of an E820 / `hvm_memmap_table_entry` type code.
    pub fn from_e820(ty: u32) -> Self {
        match ty {
            1 => MemoryKind::Usable,
            2 => MemoryKind::Reserved,
            3 => MemoryKind::AcpiReclaimable,
            4 => MemoryKind::AcpiNvs,
            5 => MemoryKind::Unusable,
            other => MemoryKind::Other(other),
        }
    }
}

/// A range of physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryRegion {
    /// First byte.
    pub start: u64,
    /// Length in bytes (never zero in a [`BootInfo`]).
    pub len: u64,
    /// What it is.
    pub kind: MemoryKind,
}

impl MemoryRegion {
    /// One past the last byte (saturating).
    pub fn end(&self) -> u64 {
        self.start.saturating_add(self.len)
    }
}

/// A module the loader placed in memory (an initrd, a site image, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Module {
    /// Physical address.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The machine as the boot protocol described it.
#[derive(Clone)]
pub struct BootInfo {
    regions: [MemoryRegion; MAX_REGIONS],
    region_count: usize,
    /// Memory-map entries dropped because there were more than [`MAX_REGIONS`].
    pub regions_dropped: usize,
    modules: [Module; MAX_MODULES],
    module_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    /// Whether the command line was cut at [`MAX_CMDLINE`].
    pub cmdline_truncated: bool,
    /// Physical address of the ACPI RSDP, if the loader gave one.
    pub rsdp: Option<u64>,
}

impl BootInfo {
    /// An empty description.
    pub const fn new() -> Self {
        BootInfo {
            regions: [MemoryRegion {
                start: 0,
                len: 0,
                kind: MemoryKind::Reserved,
            }; MAX_REGIONS],
            region_count: 0,
            regions_dropped: 0,
            modules: [Module { start: 0, len: 0 }; MAX_MODULES],
            module_count: 0,
            cmdline: [0; MAX_CMDLINE],
            cmdline_len: 0,
            cmdline_truncated: false,
            rsdp: None,
        }
    }

    /// Adds a memory region; empty ones are skipped, extra ones counted in `regions_dropped`.
    pub fn push_region(&mut self, region: MemoryRegion) {
        if region.len == 0 {
            return;
        }
        if self.region_count == MAX_REGIONS {
            self.regions_dropped += 1;
            return;
        }
        self.regions[self.region_count] = region;
        self.region_count += 1;
    }

    /// Adds a module (extra ones are dropped).
    pub fn push_module(&mut self, module: Module) -> bool {
        if self.module_count == MAX_MODULES {
            return false;
        }
        self.modules[self.module_count] = module;
        self.module_count += 1;
        true
    }

    /// Sets the command line, cut at [`MAX_CMDLINE`] bytes (on a character boundary) and
    /// with invalid UTF-8 replaced by `?`.
    pub fn set_cmdline(&mut self, bytes: &[u8]) {
        let mut n = bytes.len().min(MAX_CMDLINE);
        self.cmdline_truncated = n < bytes.len();
        self.cmdline[..n].copy_from_slice(&bytes[..n]);
        for b in &mut self.cmdline[..n] {
            if !b.is_ascii() || b.is_ascii_control() {
                *b = if *b == b'\t' || *b == b'\n' {
                    b' '
                } else {
                    b'?'
                };
            }
        }
        while n > 0 && self.cmdline[n - 1] == b' ' {
            n -= 1;
        }
        self.cmdline_len = n;
    }

    /// The memory map, in the loader's order.
    pub fn regions(&self) -> &[MemoryRegion] {
        &self.regions[..self.region_count]
    }

    /// The modules.
    pub fn modules(&self) -> &[Module] {
        &self.modules[..self.module_count]
    }

    /// The command line (ASCII: anything else was replaced by `?`).
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }

    /// Total usable RAM in bytes (overlaps counted once, reserved ranges not at all).
    pub fn usable_bytes(&self) -> u64 {
        self.usable_ranges()
            .as_slice()
            .iter()
            .map(|(s, e)| e - s)
            .sum()
    }
}

/// Usable RAM as disjoint `[start, end)` ranges in address order: usable regions merged where
/// they overlap or touch, minus every range another region claims (firmware memory maps may
/// overlap; what is reserved anywhere is not usable).
#[derive(Clone, Copy, Debug)]
pub struct UsableRanges {
    ranges: [(u64, u64); 2 * MAX_REGIONS],
    count: usize,
}

impl UsableRanges {
    /// The ranges, in address order.
    pub fn as_slice(&self) -> &[(u64, u64)] {
        &self.ranges[..self.count]
    }

    /// Removes `[start, end)` from the set.
    pub fn remove(&mut self, start: u64, end: u64) {
        if start >= end {
            return;
        }
        let mut out = [(0u64, 0u64); 2 * MAX_REGIONS];
        let mut n = 0;
        for &(s, e) in self.as_slice() {
            for piece in [(s, e.min(start)), (s.max(end), e)] {
                if piece.0 < piece.1 && n < out.len() {
                    out[n] = piece;
                    n += 1;
                }
            }
        }
        self.ranges = out;
        self.count = n;
    }
}

impl BootInfo {
    /// Usable RAM as disjoint ranges; see [`UsableRanges`].
    pub fn usable_ranges(&self) -> UsableRanges {
        let mut set = UsableRanges {
            ranges: [(0, 0); 2 * MAX_REGIONS],
            count: 0,
        };
        let mut usable: [(u64, u64); MAX_REGIONS] = [(0, 0); MAX_REGIONS];
        let mut n = 0;
        for r in self
            .regions()
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
        {
            usable[n] = (r.start, r.end());
            n += 1;
        }
        let usable = &mut usable[..n];
        sort_ranges(usable);
        for &(s, e) in usable.iter() {
            match set.count.checked_sub(1).map(|i| &mut set.ranges[i]) {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => {
                    set.ranges[set.count] = (s, e);
                    set.count += 1;
                }
            }
        }
        for r in self
            .regions()
            .iter()
            .filter(|r| r.kind != MemoryKind::Usable)
        {
            set.remove(r.start, r.end());
        }
        set
    }
}

impl Default for BootInfo {
    fn default() -> Self {
        BootInfo::new()
    }
}

impl fmt::Debug for BootInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootInfo")
            .field("regions", &self.regions())
            .field("modules", &self.modules())
            .field("cmdline", &self.cmdline())
            .field("rsdp", &self.rsdp)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_sort_as_sort_unstable_does() {
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for n in 0..=MAX_REGIONS + 1 {
            let mut ranges = [(0u64, 0u64); MAX_REGIONS + 1];
            for r in &mut ranges[..n] {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *r = (seed % 8, seed >> 60);
            }
            let mut expected = ranges;
            expected[..n].sort_unstable();
            sort_ranges(&mut ranges[..n]);
            assert_eq!(ranges, expected);
        }
    }

    #[test]
    fn empty_regions_are_skipped_and_overflow_is_counted() {
        let mut b = BootInfo::new();
        b.push_region(MemoryRegion {
            start: 0,
            len: 0,
            kind: MemoryKind::Usable,
        });
        for i in 0..(MAX_REGIONS as u64 + 3) {
            b.push_region(MemoryRegion {
                start: i << 20,
                len: 4096,
                kind: MemoryKind::Usable,
            });
        }
        assert_eq!(b.regions().len(), MAX_REGIONS);
        assert_eq!(b.regions_dropped, 3);
    }

    #[test]
    fn usable_ranges_merge_overlaps_and_lose_what_is_reserved_anywhere() {
        let mut b = BootInfo::new();
        let region = |start, len, kind| MemoryRegion { start, len, kind };
        // Out of order, overlapping, touching, with a reserved hole inside usable RAM.
        b.push_region(region(0x30_0000, 0x10_0000, MemoryKind::Usable));
        b.push_region(region(0x10_0000, 0x28_0000, MemoryKind::Usable));
        b.push_region(region(0x40_0000, 0x10_0000, MemoryKind::Usable));
        b.push_region(region(0x20_0000, 0x1000, MemoryKind::Reserved));
        b.push_region(region(0x90_0000, 0x1000, MemoryKind::Usable));
        let mut set = b.usable_ranges();
        assert_eq!(
            set.as_slice(),
            [
                (0x10_0000, 0x20_0000),
                (0x20_1000, 0x50_0000),
                (0x90_0000, 0x90_1000)
            ]
        );
        set.remove(0x0, 0x18_0000);
        set.remove(0x90_0000, 0x91_0000);
        assert_eq!(
            set.as_slice(),
            [(0x18_0000, 0x20_0000), (0x20_1000, 0x50_0000)]
        );
    }

    #[test]
    fn cmdline_is_cut_and_cleaned() {
        let mut b = BootInfo::new();
        b.set_cmdline(b"ip=10.0.0.2\tlog=debug\xff  ");
        assert_eq!(b.cmdline(), "ip=10.0.0.2 log=debug?");
        b.set_cmdline(&[b'a'; MAX_CMDLINE + 10]);
        assert!(b.cmdline_truncated);
        assert_eq!(b.cmdline().len(), MAX_CMDLINE);
    }
}
