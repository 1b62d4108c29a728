//! PCI configuration space through the legacy mechanism #1 ports (0xcf8/0xcfc), and a scan of
//! the functions behind the host bridge, following PCI-to-PCI bridges.
//!
//! Ref: PCI Local Bus Specification 3.0, 3.2.2.3.2 (configuration mechanism #1), 6.1 (header
//! types 0 and 1), 6.2.5 (base address registers).

use alloc::vec::Vec;
use core::fmt;

use ::x86_64::instructions::interrupts::without_interrupts;
use ::x86_64::instructions::port::Port;

/// A function's bus, device and function numbers.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PciAddress {
    /// Bus 0-255.
    pub bus: u8,
    /// Device 0-31.
    pub device: u8,
    /// Function 0-7.
    pub function: u8,
}

impl fmt::Debug for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}:{:02x}.{}", self.bus, self.device, self.function)
    }
}

impl fmt::Display for PciAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl PciAddress {
    fn port_address(self, offset: u16) -> u32 {
        0x8000_0000
            | u32::from(self.bus) << 16
            | u32::from(self.device & 0x1f) << 11
            | u32::from(self.function & 0x7) << 8
            | u32::from(offset & 0xfc)
    }

    /// Reads the aligned dword at `offset` (0-255) of the function's configuration space.
    pub fn read32(self, offset: u16) -> u32 {
        let address = self.port_address(offset);
        without_interrupts(|| {
            // SAFETY: 0xcf8/0xcfc are the configuration mechanism's ports; selecting a register
            // and reading it has no side effect (no PCI register we read is read-to-clear), and
            // with interrupts off nothing can interleave another selection.
            unsafe {
                Port::<u32>::new(0xcf8).write(address);
                Port::<u32>::new(0xcfc).read()
            }
        })
    }

    /// Writes the aligned dword at `offset` of the function's configuration space.
    pub fn write32(self, offset: u16, value: u32) {
        let address = self.port_address(offset);
        without_interrupts(|| {
            // SAFETY: as in `read32`; the caller writes a register of a function it drives.
            unsafe {
                Port::<u32>::new(0xcf8).write(address);
                Port::<u32>::new(0xcfc).write(value);
            }
        })
    }
}

/// A function found by [`scan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciFunction {
    /// Where it is.
    pub address: PciAddress,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Class, subclass, programming interface.
    pub class: (u8, u8, u8),
}

impl PciFunction {
    /// The physical address that memory BAR `bar` (0-5) decodes, if it is an enabled memory
    /// BAR (a 64-bit BAR takes `bar` and `bar + 1`). Firmware (SeaBIOS, Xen's hvmloader)
    /// assigned it; I/O BARs give `None`.
    pub fn memory_bar(&self, bar: u8) -> Option<u64> {
        if bar > 5 {
            return None;
        }
        let offset = 0x10 + 4 * u16::from(bar);
        let low = self.address.read32(offset);
        if low & 1 != 0 {
            return None; // I/O space
        }
        let base = u64::from(low & !0xf);
        let address = match (low >> 1) & 0x3 {
            0 => base,
            2 if bar < 5 => base | u64::from(self.address.read32(offset + 4)) << 32,
            _ => return None,
        };
        (address != 0).then_some(address)
    }

    /// Turns on memory decoding and bus mastering (DMA) in the command register.
    pub fn enable_memory_and_dma(&self) {
        let command = self.address.read32(0x04);
        self.address.write32(0x04, (command & 0xffff) | 0b110);
    }
}

/// The most buses visited: a loop in a broken bridge configuration cannot make us scan forever.
const MAX_BUSES: usize = 32;

/// Every function on bus 0 and behind the bridges reachable from it.
pub fn scan() -> Vec<PciFunction> {
    let mut found = Vec::new();
    let mut buses = Vec::from([0u8]);
    let mut seen = 0usize;
    while let Some(bus) = buses.pop() {
        seen += 1;
        if seen > MAX_BUSES {
            break;
        }
        for device in 0..32 {
            let first = PciAddress {
                bus,
                device,
                function: 0,
            };
            if first.read32(0) & 0xffff == 0xffff {
                continue;
            }
            let multi = first.read32(0x0c) >> 16 & 0x80 != 0;
            for function in 0..if multi { 8 } else { 1 } {
                let address = PciAddress {
                    bus,
                    device,
                    function,
                };
                let id = address.read32(0);
                if id & 0xffff == 0xffff {
                    continue;
                }
                let class = address.read32(0x08);
                found.push(PciFunction {
                    address,
                    vendor: id as u16,
                    device: (id >> 16) as u16,
                    class: ((class >> 24) as u8, (class >> 16) as u8, (class >> 8) as u8),
                });
                // Header type 1: a PCI-to-PCI bridge; its secondary bus is byte 1 of 0x18.
                if address.read32(0x0c) >> 16 & 0x7f == 1 {
                    let secondary = (address.read32(0x18) >> 8) as u8;
                    if secondary > bus {
                        buses.push(secondary);
                    }
                }
            }
        }
    }
    found
}
