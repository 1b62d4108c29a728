//! [`BootInfo`]: what every boot protocol (PVH's `hvm_start_info`, an AArch64 device tree) is
//! turned into before anything else runs. Fixed capacity, no allocation: it is built before the
//! heap exists.

use core::fmt;

/// The most memory-map entries kept; more are reported and dropped.
pub const MAX_REGIONS: usize = 64;
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

    /// Total usable RAM in bytes.
    pub fn usable_bytes(&self) -> u64 {
        self.regions()
            .iter()
            .filter(|r| r.kind == MemoryKind::Usable)
            .map(|r| r.len)
            .sum()
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
    fn cmdline_is_cut_and_cleaned() {
        let mut b = BootInfo::new();
        b.set_cmdline(b"ip=10.0.0.2\tlog=debug\xff  ");
        assert_eq!(b.cmdline(), "ip=10.0.0.2 log=debug?");
        b.set_cmdline(&[b'a'; MAX_CMDLINE + 10]);
        assert!(b.cmdline_truncated);
        assert_eq!(b.cmdline().len(), MAX_CMDLINE);
    }
}
