//! virtio-pci against a configuration space and BARs in plain memory, laid out as QEMU does:
//! MSI-X table in BAR 1; common, ISR, device and notify structures at 0x0000, 0x1000, 0x2000
//! and 0x3000 of BAR 4. (Plain memory has no select side effects: a select register holds the
//! last value written, and every queue sees the same queue fields.)

extern crate std;

use core::cell::RefCell;

use super::config::PciConfig;
use super::*;
use std::vec;
use std::vec::Vec;

/// 256 bytes of configuration space, with a log of writes.
struct FakeConfig {
    space: RefCell<[u32; 64]>,
    writes: RefCell<Vec<(u16, u32)>>,
}

impl PciConfig for FakeConfig {
    fn read32(&self, offset: u16) -> u32 {
        assert_eq!(offset % 4, 0, "unaligned config read");
        self.space
            .borrow()
            .get(usize::from(offset / 4))
            .copied()
            .unwrap_or(u32::MAX)
    }

    fn write32(&self, offset: u16, value: u32) {
        assert_eq!(offset % 4, 0, "unaligned config write");
        self.writes.borrow_mut().push((offset, value));
        if let Some(slot) = self.space.borrow_mut().get_mut(usize::from(offset / 4)) {
            *slot = match offset {
                // The status register is read-only or write-1-to-clear; none of its bits here
                // clear.
                0x04 => *slot & 0xffff_0000 | value & 0xffff,
                _ => value,
            };
        }
    }
}

impl FakeConfig {
    fn set32(&self, offset: u16, value: u32) {
        self.space.borrow_mut()[usize::from(offset / 4)] = value;
    }

    fn set8(&self, offset: u16, value: u8) {
        let shift = (offset % 4) * 8;
        let mut space = self.space.borrow_mut();
        let slot = &mut space[usize::from(offset / 4)];
        *slot = *slot & !(0xff << shift) | u32::from(value) << shift;
    }

    /// A virtio capability at `at`.
    fn virtio_cap(&self, at: u8, next: u8, kind: u8, bar: u8, offset: u32, length: u32) {
        let len = if kind == 2 { 20 } else { 16 };
        let at = u16::from(at);
        self.set32(at, u32::from_le_bytes([0x09, next, len, kind]));
        self.set32(at + 4, u32::from(bar));
        self.set32(at + 8, offset);
        self.set32(at + 12, length);
        if kind == 2 {
            self.set32(at + 16, 4);
        }
    }

    /// QEMU's layout for device id `device`.
    fn qemu(device: u16) -> Self {
        let cfg = FakeConfig {
            space: RefCell::new([0; 64]),
            writes: RefCell::new(Vec::new()),
        };
        cfg.set32(0x00, u32::from(device) << 16 | 0x1af4);
        cfg.set32(0x04, 0x0010_0000); // status: capability list; command: 0
        cfg.set8(0x34, 0x40);
        // MSI-X: 3 entries, table at BAR 1 offset 0, PBA at BAR 1 offset 0x800.
        cfg.set32(0x40, u32::from_le_bytes([0x11, 0x4c, 2, 0]));
        cfg.set32(0x44, 1);
        cfg.set32(0x48, 0x801);
        cfg.virtio_cap(0x4c, 0x5c, 1, 4, 0x0000, 0x1000);
        cfg.virtio_cap(0x5c, 0x6c, 3, 4, 0x1000, 0x1000);
        cfg.virtio_cap(0x6c, 0x7c, 4, 4, 0x2000, 0x1000);
        cfg.virtio_cap(0x7c, 0x00, 2, 4, 0x3000, 0x1000);
        cfg
    }
}

/// The two BARs' memory.
struct Bars {
    bar1: Vec<u32>,
    bar4: Vec<u32>,
}

impl Bars {
    fn new() -> Self {
        let mut bars = Bars {
            bar1: vec![0; 0x1000 / 4],
            bar4: vec![0; 0x4000 / 4],
        };
        bars.set16(common::NUM_QUEUES, 2);
        bars.set16(common::QUEUE_SIZE, 256);
        bars
    }

    fn get(&self, offset: usize) -> u32 {
        self.bar4[offset / 4]
    }

    fn get16(&self, offset: usize) -> u16 {
        (self.bar4[offset / 4] >> ((offset % 4) * 8)) as u16
    }

    fn set16(&mut self, offset: usize, value: u16) {
        let shift = (offset % 4) * 8;
        let slot = &mut self.bar4[offset / 4];
        *slot = *slot & !(0xffff << shift) | u32::from(value) << shift;
    }

    /// A transport over `cfg` whose resolver maps BARs 1 and 4 to this memory and `missing`
    /// to nothing.
    fn probe<'c>(
        &mut self,
        cfg: &'c FakeConfig,
        missing: Option<u8>,
    ) -> Result<PciTransport<&'c FakeConfig>, Error> {
        let bar1 = self.bar1.as_mut_ptr().expose_provenance() as u64;
        let bar4 = self.bar4.as_mut_ptr().expose_provenance() as u64;
        let resolve = move |bar: u8| match bar {
            _ if Some(bar) == missing => None,
            1 => Some(bar1),
            4 => Some(bar4),
            _ => None,
        };
        // SAFETY: BARs 1 and 4 are this memory, which each test keeps alive while it uses the
        // transport; the fixture's structures lie inside them.
        unsafe { PciTransport::new(cfg, resolve) }
    }
}

#[test]
fn ids() {
    assert_eq!(virtio_pci_ids(0x1af4, 0x1041), Some(DeviceType::Network));
    assert_eq!(virtio_pci_ids(0x1af4, 0x1044), Some(DeviceType::Entropy));
    assert_eq!(virtio_pci_ids(0x1af4, 0x107f), Some(DeviceType::Other(63)));
    assert_eq!(virtio_pci_ids(0x1af4, 0x1000), Some(DeviceType::Network));
    assert_eq!(virtio_pci_ids(0x1af4, 0x1001), Some(DeviceType::Block));
    assert_eq!(virtio_pci_ids(0x1af4, 0x1003), Some(DeviceType::Console));
    assert_eq!(virtio_pci_ids(0x1af4, 0x1005), Some(DeviceType::Entropy));
    assert_eq!(virtio_pci_ids(0x1af4, 0x1009), Some(DeviceType::Other(9)));
    for device in [0x0fff, 0x1006, 0x103f, 0x1040, 0x1080, 0xffff] {
        assert_eq!(virtio_pci_ids(0x1af4, device), None, "{device:#x}");
    }
    assert_eq!(virtio_pci_ids(0x8086, 0x1041), None);
}

#[test]
fn finds_the_structures_and_enables_dma() {
    let cfg = FakeConfig::qemu(0x1044);
    let mut bars = Bars::new();
    let mut t = bars.probe(&cfg, None).unwrap();
    assert_eq!(t.device_type(), DeviceType::Entropy);
    assert_eq!(t.num_queues(), 2);
    assert_eq!(t.max_queue_size(0), 256);
    assert_eq!(t.max_queue_size(2), 0, "no such queue");
    assert_eq!(
        *cfg.writes.borrow(),
        [(0x04, 0x0000_0006)],
        "memory + bus master"
    );

    // A transitional id is driven the same way.
    let cfg = FakeConfig::qemu(0x1000);
    let t = bars.probe(&cfg, None).unwrap();
    assert_eq!(t.device_type(), DeviceType::Network);
}

#[test]
fn common_configuration_registers() {
    let cfg = FakeConfig::qemu(0x1041);
    let mut bars = Bars::new();
    bars.bar4[common::DEVICE_FEATURE / 4] = 0x8000_0001;
    bars.bar4[0x1000 / 4] = 0x0000_00ff; // ISR
    bars.bar4[0x2000 / 4] = 0x1234_5678; // device configuration
    bars.set16(common::QUEUE_NOTIFY_OFF, 3);
    let mut t = bars.probe(&cfg, None).unwrap();

    assert_eq!(t.read_device_features(), 0x8000_0001_8000_0001);
    t.write_driver_features(0x0000_0001_0000_0020);
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    t.queue_set(1, 128, 0x1_0000_1000, 0x1_0000_2000, 0x1_0000_3040)
        .unwrap();
    t.notify(1);
    let isr = t.ack_interrupt_status();
    assert_eq!(t.read_config_u32(0), Ok(0x1234_5678));
    assert_eq!(t.read_config_u8(1), Ok(0x56));
    assert_eq!(t.config_generation(), 0);
    assert_eq!(
        t.read_config_u32(0x1000),
        Err(Error::ConfigOutOfRange {
            offset: 0x1000,
            width: 4
        })
    );

    assert_eq!(bars.get(common::DRIVER_FEATURE_SELECT), 1);
    assert_eq!(bars.get(common::DRIVER_FEATURE), 1);
    assert_eq!(bars.get(common::DEVICE_STATUS) & 0xff, 3);
    assert_eq!(bars.get16(common::QUEUE_SELECT), 1);
    assert_eq!(bars.get16(common::QUEUE_SIZE), 128);
    assert_eq!(bars.get(0x20), 0x0000_1000);
    assert_eq!(bars.get(0x24), 1);
    assert_eq!(bars.get(0x28), 0x0000_2000);
    assert_eq!(bars.get(0x2c), 1);
    assert_eq!(bars.get(0x30), 0x0000_3040);
    assert_eq!(bars.get(0x34), 1);
    assert_eq!(bars.get16(common::QUEUE_ENABLE), 1);
    assert_eq!(
        bars.get16(0x3000 + 3 * 4),
        1,
        "queue 1's doorbell got its index"
    );
    assert!(isr.queue() && isr.config() && isr.bits() == 3);
}

#[test]
fn queue_setup_refuses_a_doorbell_outside_the_notify_structure() {
    let cfg = FakeConfig::qemu(0x1041);
    let mut bars = Bars::new();
    bars.set16(common::QUEUE_NOTIFY_OFF, 0x400); // * 4 = 0x1000: one past the end
    let mut t = bars.probe(&cfg, None).unwrap();
    assert!(matches!(
        t.queue_set(0, 64, 0x1000, 0x2000, 0x3000),
        Err(Error::BadCapability(_))
    ));
    assert_eq!(bars.get16(common::QUEUE_ENABLE), 0, "not enabled");
    t.notify(0); // dropped, no panic

    bars.set16(common::QUEUE_ENABLE, 1);
    let mut t = bars.probe(&cfg, None).unwrap();
    assert_eq!(t.queue_set(0, 64, 0, 0, 0), Err(Error::QueueInUse(0)));
    assert_eq!(t.queue_set(7, 64, 0, 0, 0), Err(Error::QueueUnavailable(7)));
}

#[test]
fn msix_table_and_vectors() {
    let cfg = FakeConfig::qemu(0x1041);
    let mut bars = Bars::new();
    let mut t = bars.probe(&cfg, None).unwrap();
    assert_eq!(t.msix_table_entries(), 3);
    assert_eq!(t.msix_table_location(), Some((1, 0)));

    t.set_msix_entry(1, 0x0000_0001_fee0_1000, 0x41).unwrap();
    assert_eq!(bars.bar1[4..8], [0xfee0_1000, 1, 0x41, 0]);
    t.mask_msix_entry(1, true).unwrap();
    assert_eq!(bars.bar1[7], 1);
    assert_eq!(
        t.set_msix_entry(3, 0, 0),
        Err(Error::MsixIndexOutOfRange(3))
    );

    t.enable_msix(true).unwrap();
    assert_eq!(
        cfg.read32(0x40) >> 16,
        0x8002,
        "enable set, function mask clear"
    );
    cfg.set32(0x40, cfg.read32(0x40) | 0x4000_0000);
    t.enable_msix(false).unwrap();
    assert_eq!(cfg.read32(0x40), u32::from_le_bytes([0x11, 0x4c, 2, 0]));

    t.set_msix_config_vector(0).unwrap();
    t.set_queue_msix_vector(1, 2).unwrap();
    assert_eq!(bars.get16(common::QUEUE_SELECT), 1);
    assert_eq!(bars.get16(common::QUEUE_MSIX_VECTOR), 2);
    t.set_queue_msix_vector(0, NO_VECTOR).unwrap();
    assert_eq!(
        t.set_queue_msix_vector(0, 3),
        Err(Error::MsixIndexOutOfRange(3))
    );
    assert_eq!(
        t.set_queue_msix_vector(2, 0),
        Err(Error::QueueUnavailable(2))
    );
}

#[test]
fn msix_absent_or_unmapped() {
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x34, 0x4c); // the list now starts after the MSI-X capability
    let mut bars = Bars::new();
    let mut t = bars.probe(&cfg, None).unwrap();
    assert_eq!(t.msix_table_entries(), 0);
    assert_eq!(t.msix_table_location(), None);
    assert_eq!(t.set_msix_entry(0, 0, 0), Err(Error::NoMsix));
    assert_eq!(t.enable_msix(true), Err(Error::NoMsix));
    assert_eq!(
        t.set_msix_config_vector(0),
        Err(Error::MsixIndexOutOfRange(0))
    );
    t.set_msix_config_vector(NO_VECTOR).unwrap();

    let cfg = FakeConfig::qemu(0x1041);
    let mut t = bars.probe(&cfg, Some(1)).unwrap();
    assert_eq!(t.msix_table_entries(), 3);
    assert_eq!(t.set_msix_entry(0, 0, 0), Err(Error::NoMsix));
}

#[test]
fn refuses_what_is_not_a_modern_virtio_device() {
    let mut bars = Bars::new();
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set32(0, 0x1234_8086);
    assert_eq!(
        bars.probe(&cfg, None).unwrap_err(),
        Error::NotVirtio {
            vendor: 0x8086,
            device: 0x1234
        }
    );

    // No capability list: legacy.
    let cfg = FakeConfig::qemu(0x1000);
    cfg.set32(0x04, 0);
    assert!(matches!(bars.probe(&cfg, None), Err(Error::Legacy(_))));
    assert!(
        cfg.writes.borrow().is_empty(),
        "nothing written to a refused device"
    );

    // A capability pointer into the header ends the walk.
    let cfg = FakeConfig::qemu(0x1000);
    cfg.set8(0x34, 0x3c);
    assert!(matches!(bars.probe(&cfg, None), Err(Error::Legacy(_))));
}

#[test]
fn missing_or_malformed_structures() {
    let mut bars = Bars::new();

    let cfg = FakeConfig::qemu(0x1041);
    assert_eq!(
        bars.probe(&cfg, Some(4)).unwrap_err(),
        Error::BarUnavailable(4)
    );

    let cfg = FakeConfig::qemu(0x1041);
    cfg.set32(0x4c + 12, 0x20); // common configuration shorter than its fields
    assert!(matches!(
        bars.probe(&cfg, None),
        Err(Error::BadCapability("common configuration"))
    ));

    let cfg = FakeConfig::qemu(0x1041);
    cfg.set32(0x4c + 8, 0x2); // misaligned common configuration
    assert!(matches!(
        bars.probe(&cfg, None),
        Err(Error::BadCapability(_))
    ));

    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x7c + 2, 16); // a notify capability too short for its multiplier: ignored
    assert_eq!(
        bars.probe(&cfg, None).unwrap_err(),
        Error::MissingCapability("notification")
    );

    for (field, value) in [(3, 7u8), (4, 6u8)] {
        // A reserved cfg_type or BAR: the ISR capability is ignored.
        let cfg = FakeConfig::qemu(0x1041);
        cfg.set8(0x5c + field, value);
        assert_eq!(
            bars.probe(&cfg, None).unwrap_err(),
            Error::MissingCapability("ISR status")
        );
    }

    // No device-specific configuration is fine (not every device has one).
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x5c + 1, 0x7c); // ISR -> notify, skipping the device capability
    let t = bars.probe(&cfg, None).unwrap();
    assert_eq!(
        t.read_config_u8(0),
        Err(Error::ConfigOutOfRange {
            offset: 0,
            width: 1
        })
    );
}

#[test]
fn the_capability_walk_is_bounded_and_masks_reserved_bits() {
    let mut bars = Bars::new();

    // A loop back to the first capability: the walk stops, the structures were found.
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x7c + 1, 0x40);
    bars.probe(&cfg, None).unwrap();

    // A capability pointing at itself before any virtio capability.
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x41, 0x40);
    assert!(matches!(bars.probe(&cfg, None), Err(Error::Legacy(_))));

    // Reserved low pointer bits are masked off.
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x34, 0x43);
    cfg.set8(0x41, 0x4f);
    bars.probe(&cfg, None).unwrap();

    // A capability too close to the end of the space to hold its fields is ignored.
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x7c + 1, 0xf8);
    cfg.set32(0xf8, u32::from_le_bytes([0x09, 0, 16, 3]));
    bars.probe(&cfg, None).unwrap();

    // The first usable instance wins: an ISR capability in an unmapped BAR, then one in BAR 4.
    let cfg = FakeConfig::qemu(0x1041);
    cfg.set8(0x7c + 1, 0x90);
    cfg.virtio_cap(0x90, 0xa0, 3, 4, 0x1004, 4);
    cfg.set8(0x5c + 4, 2);
    let mut t = bars.probe(&cfg, None).unwrap();
    bars.bar4[0x1004 / 4] = 1;
    assert_eq!(t.ack_interrupt_status().bits(), 1);
}
