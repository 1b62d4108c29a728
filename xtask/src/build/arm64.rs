//! The arm64 Image: the ELF's loadable segments laid out from the lowest physical address, as
//! `objcopy -O binary` would (a boot loader copies the file to RAM and jumps to its start; the
//! header at the start says how much memory it needs, `.bss` included).
//!
//! Written here rather than by `rust-objcopy -O binary`: that needs the toolchain's `libLLVM`
//! on the loader path (there under `cargo run`, not when xtask's binary runs any other way) and
//! its fallback, binutils' `objcopy` on an x86_64 host, does not know AArch64 ELF files.
//! Reading program headers is a page of code.

use std::path::{Path, PathBuf};

use crate::util::{self, Error};

/// `PT_LOAD`.
const PT_LOAD: u32 = 1;
/// Where the header's magic (`ARM\x64`) is.
const MAGIC_OFFSET: usize = 0x38;

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(data.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(data.get(at..at + 8)?.try_into().ok()?))
}

/// The raw image of an ELF64 little-endian file: each `PT_LOAD` segment's file bytes at its
/// physical address minus the lowest one, gaps zero-filled.
pub fn flatten(elf: &[u8]) -> Result<Vec<u8>, String> {
    if elf.get(..4) != Some(b"\x7fELF") || elf.get(4) != Some(&2) || elf.get(5) != Some(&1) {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let bad = || "truncated ELF program headers".to_owned();
    let phoff = u64_at(elf, 0x20).ok_or_else(bad)? as usize;
    let phentsize = usize::from(u16_at(elf, 0x36).ok_or_else(bad)?);
    let phnum = usize::from(u16_at(elf, 0x38).ok_or_else(bad)?);
    let mut segments = Vec::new();
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        if u32_at(elf, ph).ok_or_else(bad)? != PT_LOAD {
            continue;
        }
        let offset = u64_at(elf, ph + 8).ok_or_else(bad)? as usize;
        let paddr = u64_at(elf, ph + 24).ok_or_else(bad)?;
        let filesz = u64_at(elf, ph + 32).ok_or_else(bad)? as usize;
        if filesz == 0 {
            continue;
        }
        let bytes = elf
            .get(offset..offset + filesz)
            .ok_or_else(|| format!("segment {i} lies outside the file"))?;
        segments.push((paddr, bytes));
    }
    let base = segments
        .iter()
        .map(|&(paddr, _)| paddr)
        .min()
        .ok_or("no loadable segment")?;
    let end = segments
        .iter()
        .map(|&(paddr, bytes)| paddr + bytes.len() as u64)
        .max()
        .unwrap_or(base);
    let mut image = vec![0u8; (end - base) as usize];
    for (paddr, bytes) in segments {
        let at = (paddr - base) as usize;
        image[at..at + bytes.len()].copy_from_slice(bytes);
    }
    if image.get(MAGIC_OFFSET..MAGIC_OFFSET + 4) != Some(b"ARM\x64") {
        return Err("the image does not start with an arm64 Image header".into());
    }
    Ok(image)
}

/// Writes `<elf>.Image` and returns its path.
pub fn write_image(elf: &Path) -> Result<PathBuf, Error> {
    let data = std::fs::read(elf)
        .map_err(|err| Error::new(format!("cannot read {}: {err}", elf.display())))?;
    let image =
        flatten(&data).map_err(|why| Error::new(format!("{}: {why}", util::display_path(elf))))?;
    let mut path = elf.as_os_str().to_owned();
    path.push(".Image");
    let path = PathBuf::from(path);
    std::fs::write(&path, image)
        .map_err(|err| Error::new(format!("cannot write {}: {err}", path.display())))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ELF with two PT_LOAD segments 0x1000 apart, the first starting with an Image header.
    fn elf() -> Vec<u8> {
        let mut f = vec![0u8; 0x400];
        f[..6].copy_from_slice(b"\x7fELF\x02\x01");
        f[0x20..0x28].copy_from_slice(&0x40u64.to_le_bytes());
        f[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        f[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
        for (i, (offset, paddr, size)) in
            [(0x200u64, 0x4020_0000u64, 0x40u64), (0x300, 0x4020_1000, 4)]
                .into_iter()
                .enumerate()
        {
            let ph = 0x40 + 56 * i;
            f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            f[ph + 8..ph + 16].copy_from_slice(&offset.to_le_bytes());
            f[ph + 24..ph + 32].copy_from_slice(&paddr.to_le_bytes());
            f[ph + 32..ph + 40].copy_from_slice(&size.to_le_bytes());
        }
        f[0x200 + MAGIC_OFFSET..0x200 + MAGIC_OFFSET + 4].copy_from_slice(b"ARM\x64");
        f[0x300..0x304].copy_from_slice(b"data");
        f
    }

    #[test]
    fn segments_are_laid_out_by_physical_address() {
        let image = flatten(&elf()).unwrap();
        assert_eq!(image.len(), 0x1004);
        assert_eq!(&image[MAGIC_OFFSET..MAGIC_OFFSET + 4], b"ARM\x64");
        assert_eq!(&image[0x1000..], b"data");
        assert!(image[0x40..0x1000].iter().all(|&b| b == 0));
    }

    #[test]
    fn a_file_without_the_header_is_refused() {
        let mut f = elf();
        f[0x200 + MAGIC_OFFSET] = 0;
        assert!(flatten(&f).unwrap_err().contains("arm64 Image header"));
        assert!(flatten(b"\x7fELF").is_err());
        assert!(flatten(&f[..0x300]).is_err());
    }
}
