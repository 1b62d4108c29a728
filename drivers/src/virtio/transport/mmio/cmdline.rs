//! Linux's `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` command-line words.
//!
//! QEMU's x86 `microvm` has no device tree; it appends one such word per virtio-mmio slot to
//! the kernel command line, e.g. `virtio_mmio.device=512@0xfeb00e00:12`. `<size>` is a number
//! with an optional K, M or G suffix, `<base>` a number (QEMU writes hex with `0x`), `<irq>` a
//! decimal GSI; Linux also accepts a trailing `:<id>` platform-device id, accepted and ignored
//! here. Numbers are decimal or `0x` hex.
//!
//! Parsing is total: any malformed word is `None`.

/// One virtio-mmio device from the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MmioDeviceSpec {
    /// Physical address of the register block.
    pub base: u64,
    /// Size of the register block in bytes (non-zero; `base + size` does not overflow).
    pub size: u64,
    /// The interrupt line (a GSI on x86).
    pub irq: u32,
}

const KEY: &str = "virtio_mmio.device=";

/// Parses one command-line word; `None` unless it is a well-formed `virtio_mmio.device=` word.
pub fn parse_cmdline_device(word: &str) -> Option<MmioDeviceSpec> {
    let value = word.strip_prefix(KEY)?;
    let (size, rest) = value.split_once('@')?;
    let (base, rest) = rest.split_once(':')?;
    let irq = match rest.split_once(':') {
        Some((irq, id)) => {
            // The optional platform-device id: a (possibly negative) decimal, ignored.
            id.strip_prefix('-').unwrap_or(id).parse::<u32>().ok()?;
            irq
        }
        None => rest,
    };
    let size = parse_size(size)?;
    let base = parse_number(base)?;
    if size == 0 || base.checked_add(size).is_none() {
        return None;
    }
    Some(MmioDeviceSpec {
        base,
        size,
        irq: parse_decimal(irq)?,
    })
}

/// Every well-formed `virtio_mmio.device=` word of a command line, in order.
pub fn parse_cmdline_devices(cmdline: &str) -> impl Iterator<Item = MmioDeviceSpec> + '_ {
    cmdline
        .split_ascii_whitespace()
        .filter_map(parse_cmdline_device)
}

/// A number with an optional K/M/G (binary) suffix, as Linux's `memparse`.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    parse_number(digits)?.checked_mul(1 << shift)
}

/// `0x`-prefixed hex or plain decimal.
fn parse_number(s: &str) -> Option<u64> {
    let (digits, radix) = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => (hex, 16),
        None => (s, 10),
    };
    // `from_str_radix` alone would accept a leading `+`.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

/// Plain decimal digits (no sign, no spaces), fitting in u32.
fn parse_decimal(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::vec::Vec;

    fn spec(base: u64, size: u64, irq: u32) -> Option<MmioDeviceSpec> {
        Some(MmioDeviceSpec { base, size, irq })
    }

    #[test]
    fn qemu_microvm_words() {
        assert_eq!(
            parse_cmdline_device("virtio_mmio.device=512@0xfeb00e00:12"),
            spec(0xfeb0_0e00, 512, 12)
        );
        assert_eq!(
            parse_cmdline_device("virtio_mmio.device=4K@0xd0000000:5"),
            spec(0xd000_0000, 4096, 5)
        );
        assert_eq!(
            parse_cmdline_device("virtio_mmio.device=1M@0x1000:0:3"),
            spec(0x1000, 1 << 20, 0)
        );
        assert_eq!(
            parse_cmdline_device("virtio_mmio.device=0x200@4096:7:-1"),
            spec(4096, 0x200, 7)
        );
        assert_eq!(
            parse_cmdline_device("virtio_mmio.device=1g@0xABCDEF000:33"),
            spec(0xa_bcde_f000, 1 << 30, 33)
        );
    }

    #[test]
    fn whole_command_line() {
        let cmdline = "console=ttyS0 virtio_mmio.device=512@0xfeb00000:5  \
                       virtio_mmio.device=bad virtio_mmio.device=512@0xfeb00200:6 quiet";
        let found: Vec<_> = parse_cmdline_devices(cmdline).collect();
        assert_eq!(
            found,
            [
                MmioDeviceSpec {
                    base: 0xfeb0_0000,
                    size: 512,
                    irq: 5
                },
                MmioDeviceSpec {
                    base: 0xfeb0_0200,
                    size: 512,
                    irq: 6
                },
            ]
        );
    }

    #[test]
    fn garbage_is_none() {
        for word in [
            "",
            "virtio_mmio.device=",
            "virtio_mmio.device",
            "virtio_mmio.devices=512@0x1000:5",
            "xvirtio_mmio.device=512@0x1000:5",
            "virtio_mmio.device=512",
            "virtio_mmio.device=512@",
            "virtio_mmio.device=512@0x1000",
            "virtio_mmio.device=512@0x1000:",
            "virtio_mmio.device=@0x1000:5",
            "virtio_mmio.device=0@0x1000:5",
            "virtio_mmio.device=512@0x:5",
            "virtio_mmio.device=512@0xg000:5",
            "virtio_mmio.device=512@-4096:5",
            "virtio_mmio.device=+512@0x1000:5",
            "virtio_mmio.device=512@0x1000:-5",
            "virtio_mmio.device=512@0x1000:5x",
            "virtio_mmio.device=512@0x1000:5:",
            "virtio_mmio.device=512@0x1000:5:1:2",
            "virtio_mmio.device=512@0x1000:4294967296",
            "virtio_mmio.device=512K@0x1000 :5",
            "virtio_mmio.device=512T@0x1000:5",
            "virtio_mmio.device=K@0x1000:5",
            "virtio_mmio.device=512@0xffffffffffffffff:5",
            "virtio_mmio.device=0x10000000000000000@0x0:5",
            "virtio_mmio.device=99999999999G@0x0:5",
            "virtio_mmio.device=512@0x10000000000000000:5",
            "virtio_mmio.device=5é2@0x1000:5",
            "virtio_mmio.device=512@0x1000:5\u{0}",
        ] {
            assert_eq!(parse_cmdline_device(word), None, "{word:?}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: every prefix and every single-byte mutation of a good
        // word.
        let good = "virtio_mmio.device=512@0xfeb00e00:12:3";
        for end in 0..=good.len() {
            let _ = parse_cmdline_device(&good[..end]);
        }
        let alphabet = b"0123456789abcdefxXkKmMgG@:-+ \x00\xff";
        for i in 0..good.len() {
            for &b in alphabet {
                let mut bytes = good.as_bytes().to_vec();
                bytes[i] = b;
                if let Ok(word) = core::str::from_utf8(&bytes) {
                    let _ = parse_cmdline_device(word);
                }
            }
        }
    }
}
