//! Is this Xen? The hypervisor CPUID leaves.
//!
//! Ref: Xen `xen/include/public/arch-x86/cpuid.h`. Xen answers CPUID leaves from a base of
//! 0x4000_0000, or a multiple of 0x100 above it when it also offers another hypervisor's
//! interface (Viridian) at 0x4000_0000; the first leaf whose signature is "XenVMMXenVMM"
//! (EBX, ECX, EDX) is Xen's:
//!
//! - base + 0: EAX = the largest Xen leaf; EBX:ECX:EDX = the signature;
//! - base + 1: EAX = the version, major in bits 16-31, minor in bits 0-15;
//! - base + 2: EAX = the number of hypercall pages, EBX = the MSR that installs them (write
//!   the page's physical address, plus the page index in the low 12 bits).
//!
//! [`detect`] takes the CPUID instruction as a function, so the host tests feed it tables.

use core::fmt;

/// The signature in EBX, ECX, EDX of Xen's base leaf.
pub const SIGNATURE: [u8; 12] = *b"XenVMMXenVMM";

/// The first and (inclusive) last base leaf looked at.
const FIRST_BASE: u32 = 0x4000_0000;
const LAST_BASE: u32 = 0x4001_0000;

/// What Xen's CPUID leaves say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XenInfo {
    /// The base leaf (0x4000_0000, or 0x4000_0100 with Viridian in front).
    pub base: u32,
    /// Xen's major version.
    pub major: u16,
    /// Xen's minor version.
    pub minor: u16,
    /// The MSR that installs the hypercall page.
    pub hypercall_msr: u32,
    /// How many hypercall pages Xen writes (one is enough for every hypercall below 128).
    pub hypercall_pages: u32,
}

impl fmt::Display for XenInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Xen {}.{} (CPUID base {:#x})",
            self.major, self.minor, self.base
        )
    }
}

/// Finds Xen's leaves with `cpuid(leaf, subleaf) -> [eax, ebx, ecx, edx]`. `None` when no base
/// carries the signature, or when Xen's leaves stop before the hypercall leaf.
pub fn detect(cpuid: impl Fn(u32, u32) -> [u32; 4]) -> Option<XenInfo> {
    // CPUID.1:ECX[31]: "a hypervisor is present". Without it the 0x4000_00xx leaves are the
    // CPU's own (usually a copy of its highest basic leaf), not a hypervisor's.
    if cpuid(1, 0)[2] & (1 << 31) == 0 {
        return None;
    }
    let mut base = FIRST_BASE;
    while base <= LAST_BASE {
        let [max, b, c, d] = cpuid(base, 0);
        let mut signature = [0u8; 12];
        signature[0..4].copy_from_slice(&b.to_le_bytes());
        signature[4..8].copy_from_slice(&c.to_le_bytes());
        signature[8..12].copy_from_slice(&d.to_le_bytes());
        if signature == SIGNATURE {
            if max < base + 2 {
                return None;
            }
            let version = cpuid(base + 1, 0)[0];
            let [pages, msr, _, _] = cpuid(base + 2, 0);
            if pages == 0 {
                return None;
            }
            return Some(XenInfo {
                base,
                major: (version >> 16) as u16,
                minor: version as u16,
                hypercall_msr: msr,
                hypercall_pages: pages,
            });
        }
        base += 0x100;
    }
    None
}

/// The CPUID instruction, for [`detect`] on x86_64.
#[cfg(target_arch = "x86_64")]
pub fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    [r.eax, r.ebx, r.ecx, r.edx]
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn words(s: &[u8; 12]) -> [u32; 3] {
        let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
        [w(0), w(4), w(8)]
    }

    /// A CPU with a hypervisor bit and Xen's leaves at `base`.
    fn xen_at(base: u32, leaf: u32) -> [u32; 4] {
        let [b, c, d] = words(&SIGNATURE);
        match leaf {
            1 => [0, 0, 1 << 31, 0],
            l if l == base => [base + 5, b, c, d],
            l if l == base + 1 => [(4 << 16) | 17, 0, 0, 0],
            l if l == base + 2 => [1, 0x4000_0000, 0, 0],
            _ => [0; 4],
        }
    }

    #[test]
    fn finds_xen_at_the_first_base() {
        let info = detect(|l, _| xen_at(0x4000_0000, l)).unwrap();
        assert_eq!(
            info,
            XenInfo {
                base: 0x4000_0000,
                major: 4,
                minor: 17,
                hypercall_msr: 0x4000_0000,
                hypercall_pages: 1,
            }
        );
        assert_eq!(info.to_string(), "Xen 4.17 (CPUID base 0x40000000)");
    }

    #[test]
    fn finds_xen_behind_viridian() {
        let viridian = |l: u32, _: u32| {
            if l == 0x4000_0000 {
                let [b, c, d] = words(b"Microsoft Hv");
                [0x4000_0006, b, c, d]
            } else {
                xen_at(0x4000_0100, l)
            }
        };
        assert_eq!(detect(viridian).unwrap().base, 0x4000_0100);
    }

    #[test]
    fn kvm_and_bare_metal_are_not_xen() {
        let kvm = |l: u32, _| match l {
            1 => [0, 0, 1 << 31, 0],
            0x4000_0000 => {
                let [b, c, d] = words(b"KVMKVMKVM\0\0\0");
                [0x4000_0001, b, c, d]
            }
            _ => [0; 4],
        };
        assert_eq!(detect(kvm), None);
        // The signature without the hypervisor bit: leaves of a bare CPU, ignored.
        let bare = |l: u32, _: u32| {
            if l == 1 {
                [0; 4]
            } else {
                xen_at(0x4000_0000, l)
            }
        };
        assert_eq!(detect(bare), None);
    }

    #[test]
    fn too_few_leaves_is_no_xen() {
        let short = |l: u32, _| {
            let mut r = xen_at(0x4000_0000, l);
            if l == 0x4000_0000 {
                r[0] = 0x4000_0001;
            }
            r
        };
        assert_eq!(detect(short), None);
    }
}
