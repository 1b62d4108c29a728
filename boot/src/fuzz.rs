//! Fuzz bodies for the parsers that read what a loader, the firmware or the user hands the
//! image: `hvm_start_info` (and the memory map behind it), CMOS clock registers, and the
//! command line's device and network words, and a device tree blob. `boot/fuzz/` runs them
//! under cargo-fuzz; the tests below run them over seeded random inputs on stable.

use alloc::string::String;

use crate::bootinfo::BootInfo;
use crate::cmos::{CmosRegisters, decode};
use crate::pvh::{self, PhysRead};

/// `data` is physical memory from address 0, with the start info at its start: every pointer
/// in the structure lands somewhere in (or outside) `data`.
pub fn pvh_start_info(data: &[u8]) {
    struct Memory<'a>(&'a [u8]);
    impl PhysRead for Memory<'_> {
        fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
            let Ok(start) = usize::try_from(addr) else {
                return false;
            };
            match self.0.get(start..start.saturating_add(buf.len())) {
                Some(src) if src.len() == buf.len() => {
                    buf.copy_from_slice(src);
                    true
                }
                _ => false,
            }
        }
    }
    if let Ok(info) = pvh::parse(&Memory(data), 0) {
        exercise(&info);
    }
}

fn exercise(info: &BootInfo) {
    let ranges = info.usable_ranges();
    let mut previous_end = 0;
    for &(start, end) in ranges.as_slice() {
        assert!(start < end, "usable ranges are not empty");
        assert!(
            start >= previous_end,
            "usable ranges are disjoint and in order"
        );
        previous_end = end;
    }
    let _ = (
        info.usable_bytes(),
        info.cmdline().len(),
        info.modules().len(),
    );
}

/// The CMOS clock's registers, one byte each, and a century register when there is a byte for
/// it.
pub fn cmos(data: &[u8]) {
    let byte = |i: usize| data.get(i).copied().unwrap_or(0);
    let registers = CmosRegisters {
        seconds: byte(0),
        minutes: byte(1),
        hours: byte(2),
        day: byte(3),
        month: byte(4),
        year: byte(5),
        century: data.get(6).copied(),
        status_b: byte(7),
    };
    if let Some(t) = decode(&registers) {
        let _ = t.civil();
    }
}

/// A device tree blob as a loader would hand it over: parsed, and what it yields checked.
pub fn device_tree(data: &[u8]) {
    if let Ok(machine) = crate::dtb::parse(data) {
        exercise(&machine.boot);
        for reg in machine.device_ranges() {
            let _ = reg.base.checked_add(reg.size);
        }
        assert!(machine.rng_seed().len() <= 64);
    }
}

/// A kernel command line: its virtio-mmio device words and its IPv4 configuration.
pub fn cmdline(data: &[u8]) {
    let line = String::from_utf8_lossy(data);
    for spec in morgana_drivers::virtio::transport::mmio::parse_cmdline_devices(&line) {
        assert!(spec.size > 0 && spec.base.checked_add(spec.size).is_some());
    }
    let _ = morgana_netstack::iface::parse_cmdline(&line);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn random_inputs(seed: u64, count: usize, max_len: usize) -> impl Iterator<Item = Vec<u8>> {
        let mut state = seed | 1;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count).map(move |_| {
            let len = (next() % max_len as u64) as usize;
            (0..len).map(|_| next() as u8).collect()
        })
    }

    #[test]
    fn the_start_info_parser_survives_random_memory() {
        for data in random_inputs(1, 10_000, 512) {
            pvh_start_info(&data);
        }
        // And memory that starts with the right magic, so the parse goes deeper.
        for mut data in random_inputs(2, 10_000, 512) {
            if data.len() >= 8 {
                data[..4].copy_from_slice(&pvh::START_INFO_MAGIC.to_le_bytes());
                data[4..8].copy_from_slice(&1u32.to_le_bytes());
            }
            pvh_start_info(&data);
        }
    }

    #[test]
    fn the_device_tree_parser_survives_hostile_blobs() {
        const VIRT: &[u8] = include_bytes!("../testdata/qemu-virt-gicv3.dtb");
        for data in random_inputs(5, 2_000, 256) {
            device_tree(&data);
        }
        // QEMU's blob with random bytes flipped, and cut at random lengths.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3_000 {
            let mut blob = VIRT.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let at = (next() % blob.len() as u64) as usize;
                blob[at] ^= 1 << (next() % 8);
            }
            device_tree(&blob);
            let cut = (next() % VIRT.len() as u64) as usize;
            device_tree(&VIRT[..cut]);
        }
    }

    #[test]
    fn the_cmos_and_command_line_parsers_survive_random_input() {
        for data in random_inputs(3, 10_000, 9) {
            cmos(&data);
        }
        for data in random_inputs(4, 10_000, 200) {
            cmdline(&data);
        }
        cmdline(b"virtio_mmio.device=512@0xfeb00e00:12 ip=10.0.2.15/24 gw=10.0.2.2");
    }
}
