//! The PVH boot protocol's `hvm_start_info` turned into a [`BootInfo`].
//!
//! Ref: Xen `xen/include/public/arch-x86/hvm/start_info.h`. The loader (QEMU `-kernel`, Xen's
//! domain builder) enters the image's `XEN_ELFNOTE_PHYS32_ENTRY` in 32-bit protected mode with
//! paging off and `%ebx` holding the physical address of this structure:
//!
//! ```text
//! offset  field            (version 0)
//!      0  u32 magic        0x336ec578
//!      4  u32 version
//!      8  u32 flags
//!     12  u32 nr_modules
//!     16  u64 modlist_paddr    -> nr_modules x hvm_modlist_entry { u64 paddr, size, cmdline_paddr, reserved }
//!     24  u64 cmdline_paddr    -> NUL-terminated string
//!     32  u64 rsdp_paddr
//!         (version 1)
//!     40  u64 memmap_paddr     -> memmap_entries x hvm_memmap_table_entry { u64 addr, size; u32 type, reserved }
//!     48  u32 memmap_entries
//!     52  u32 reserved
//! ```
//!
//! Parsing goes through a [`PhysRead`] so that the same code runs on a fake memory in host
//! tests. Nothing here trusts the loader: counts are bounded, reads that fail are errors, empty
//! regions are skipped and no order is assumed.

use core::fmt;

use crate::bootinfo::{BootInfo, MemoryKind, MemoryRegion, Module};

/// `hvm_start_info.magic`.
pub const START_INFO_MAGIC: u32 = 0x336e_c578;

/// Reads physical memory.
pub trait PhysRead {
    /// Fills `buf` from physical address `addr`; false if that memory cannot be read.
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;
}

/// Why the start info was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PvhError {
    /// The structure could not be read at the address in `%ebx`.
    Unreadable(u64),
    /// The magic number is wrong: the loader is not PVH.
    BadMagic(u32),
    /// Version 0 has no memory map, and we have no other source for one.
    NoMemoryMap,
    /// The memory map has no usable RAM.
    NoUsableMemory,
}

impl fmt::Display for PvhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PvhError::Unreadable(a) => write!(f, "hvm_start_info at {a:#x} is unreadable"),
            PvhError::BadMagic(m) => write!(
                f,
                "hvm_start_info magic is {m:#x}, not {START_INFO_MAGIC:#x}: not a PVH loader"
            ),
            PvhError::NoMemoryMap => f.write_str("hvm_start_info version 0 carries no memory map"),
            PvhError::NoUsableMemory => f.write_str("the memory map has no usable RAM"),
        }
    }
}

/// The most memory-map entries read (a hostile count cannot make us loop for long).
const MAX_MEMMAP_READ: u32 = 1024;

fn read_u32(mem: &dyn PhysRead, addr: u64) -> Option<u32> {
    let mut b = [0; 4];
    mem.read(addr, &mut b).then(|| u32::from_le_bytes(b))
}

fn read_u64(mem: &dyn PhysRead, addr: u64) -> Option<u64> {
    let mut b = [0; 8];
    mem.read(addr, &mut b).then(|| u64::from_le_bytes(b))
}

/// Parses the `hvm_start_info` at `addr`.
pub fn parse(mem: &dyn PhysRead, addr: u64) -> Result<BootInfo, PvhError> {
    let field32 =
        |off: u64| read_u32(mem, addr.wrapping_add(off)).ok_or(PvhError::Unreadable(addr));
    let field64 =
        |off: u64| read_u64(mem, addr.wrapping_add(off)).ok_or(PvhError::Unreadable(addr));
    let magic = field32(0)?;
    if magic != START_INFO_MAGIC {
        return Err(PvhError::BadMagic(magic));
    }
    let version = field32(4)?;
    let nr_modules = field32(12)?;
    let modlist = field64(16)?;
    let cmdline = field64(24)?;
    let rsdp = field64(32)?;

    let mut info = BootInfo::new();
    info.rsdp = (rsdp != 0).then_some(rsdp);
    if cmdline != 0 {
        let mut buf = [0u8; crate::bootinfo::MAX_CMDLINE + 1];
        let mut len = 0;
        while len < buf.len() {
            let mut b = [0u8];
            if !mem.read(cmdline.wrapping_add(len as u64), &mut b) || b[0] == 0 {
                break;
            }
            buf[len] = b[0];
            len += 1;
        }
        info.set_cmdline(&buf[..len]);
    }
    for i in 0..u64::from(nr_modules.min(crate::bootinfo::MAX_MODULES as u32)) {
        let entry = modlist.wrapping_add(i * 32);
        let (Some(start), Some(len)) = (read_u64(mem, entry), read_u64(mem, entry.wrapping_add(8)))
        else {
            break;
        };
        if len != 0 {
            info.push_module(Module { start, len });
        }
    }

    if version < 1 {
        return Err(PvhError::NoMemoryMap);
    }
    let memmap = field64(40)?;
    let entries = field32(48)?;
    for i in 0..u64::from(entries.min(MAX_MEMMAP_READ)) {
        let entry = memmap.wrapping_add(i * 24);
        let (Some(start), Some(len), Some(ty)) = (
            read_u64(mem, entry),
            read_u64(mem, entry.wrapping_add(8)),
            read_u32(mem, entry.wrapping_add(16)),
        ) else {
            break;
        };
        info.push_region(MemoryRegion {
            start,
            len,
            kind: MemoryKind::from_e820(ty),
        });
    }
    if info.usable_bytes() == 0 {
        return Err(PvhError::NoUsableMemory);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;

    /// A sparse fake physical memory: (base, bytes) pieces.
    struct Fake(Vec<(u64, Vec<u8>)>);

    impl PhysRead for Fake {
        fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
            self.0.iter().any(|(base, bytes)| {
                let Some(off) = addr.checked_sub(*base) else {
                    return false;
                };
                let Ok(off) = usize::try_from(off) else {
                    return false;
                };
                match bytes.get(off..off.saturating_add(buf.len())) {
                    Some(src) => {
                        buf.copy_from_slice(src);
                        true
                    }
                    None => false,
                }
            })
        }
    }

    /// What QEMU 10's PVH loader wrote for `-m 32M -append "log=debug"`, as literal bytes:
    /// start_info at 0x6000, the command line at 0x6100, the memory map at 0x6200.
    fn qemu_like() -> Fake {
        let mut si = vec![];
        si.extend_from_slice(&0x336e_c578u32.to_le_bytes()); // magic
        si.extend_from_slice(&1u32.to_le_bytes()); // version
        si.extend_from_slice(&0u32.to_le_bytes()); // flags
        si.extend_from_slice(&0u32.to_le_bytes()); // nr_modules
        si.extend_from_slice(&0u64.to_le_bytes()); // modlist
        si.extend_from_slice(&0x6100u64.to_le_bytes()); // cmdline
        si.extend_from_slice(&0u64.to_le_bytes()); // rsdp
        si.extend_from_slice(&0x6200u64.to_le_bytes()); // memmap
        si.extend_from_slice(&4u32.to_le_bytes()); // entries
        si.extend_from_slice(&0u32.to_le_bytes());
        let mut map = vec![];
        // Out of order, with an empty entry: neither must matter.
        for (addr, size, ty) in [
            (0x10_0000u64, 0x1f0_0000u64, 1u32),
            (0, 0x9fc00, 1),
            (0xfeff_c000, 0, 2),
            (0xf0000, 0x10000, 2),
        ] {
            map.extend_from_slice(&addr.to_le_bytes());
            map.extend_from_slice(&size.to_le_bytes());
            map.extend_from_slice(&ty.to_le_bytes());
            map.extend_from_slice(&0u32.to_le_bytes());
        }
        Fake(vec![
            (0x6000, si),
            (0x6100, b"log=debug\0".to_vec()),
            (0x6200, map),
        ])
    }

    #[test]
    fn parses_what_qemu_hands_over() {
        let info = parse(&qemu_like(), 0x6000).unwrap();
        assert_eq!(info.cmdline(), "log=debug");
        assert_eq!(info.regions().len(), 3, "the empty entry is skipped");
        assert_eq!(info.usable_bytes(), 0x1f0_0000 + 0x9fc00);
        assert_eq!(info.rsdp, None);
        assert!(info.modules().is_empty());
    }

    #[test]
    fn rejects_a_wrong_magic_and_a_missing_structure() {
        let mut mem = qemu_like();
        mem.0[0].1[0] ^= 1;
        assert!(matches!(parse(&mem, 0x6000), Err(PvhError::BadMagic(_))));
        assert_eq!(
            parse(&qemu_like(), 0x9000).unwrap_err(),
            PvhError::Unreadable(0x9000)
        );
    }

    #[test]
    fn version_0_has_no_memory_map() {
        let mut mem = qemu_like();
        mem.0[0].1[4] = 0;
        assert_eq!(parse(&mem, 0x6000).unwrap_err(), PvhError::NoMemoryMap);
    }

    #[test]
    fn hostile_counts_and_addresses_do_not_panic() {
        let mut mem = qemu_like();
        mem.0[0].1[12..16].copy_from_slice(&u32::MAX.to_le_bytes()); // nr_modules
        mem.0[0].1[16..24].copy_from_slice(&(u64::MAX - 8).to_le_bytes()); // modlist
        mem.0[0].1[48..52].copy_from_slice(&u32::MAX.to_le_bytes()); // memmap entries
        let info = parse(&mem, 0x6000).unwrap();
        assert!(info.modules().is_empty());
        // Every byte of the structure flipped in turn: an error or a BootInfo, never a panic.
        let base = qemu_like();
        for i in 0..base.0[0].1.len() {
            for v in [0u8, 0xff, 0x80] {
                let mut m = qemu_like();
                m.0[0].1[i] = v;
                let _ = parse(&m, 0x6000);
            }
        }
    }
}
