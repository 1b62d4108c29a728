//! virtio-mmio against a register block in plain memory: the probe's checks, and that each
//! operation lands in the register the spec names. (Plain memory has no select side effects,
//! so a select register simply holds the last value written.)

extern crate std;

use super::*;
use std::vec;
use std::vec::Vec;

/// 0x200 bytes of "registers".
struct Regs(Vec<u32>);

impl Regs {
    fn new(magic: u32, version: u32, device_id: u32) -> Self {
        let mut r = Regs(vec![0; DEFAULT_SIZE / 4]);
        r.set(reg::MAGIC_VALUE, magic);
        r.set(reg::VERSION, version);
        r.set(reg::DEVICE_ID, device_id);
        r.set(reg::VENDOR_ID, 0x554d_4551);
        r
    }

    fn get(&self, offset: usize) -> u32 {
        self.0[offset / 4]
    }

    fn set(&mut self, offset: usize, value: u32) {
        self.0[offset / 4] = value;
    }

    fn probe(&mut self) -> Result<MmioTransport, Error> {
        let base = NonNull::new(self.0.as_mut_ptr().cast::<u8>()).unwrap();
        // SAFETY: `self.0` is DEFAULT_SIZE bytes that each test keeps alive, and touches only
        // between transport calls, while the transport is in use.
        unsafe { MmioTransport::new(base) }
    }
}

#[test]
fn probe_checks_magic_version_and_device_id() {
    assert_eq!(
        Regs::new(0x1234_5678, 2, 4).probe().unwrap_err(),
        Error::BadMagic(0x1234_5678)
    );
    let legacy = Regs::new(MAGIC, 1, 4).probe().unwrap_err();
    assert!(matches!(legacy, Error::Legacy(m) if m.contains("force-legacy=false")));
    assert_eq!(
        Regs::new(MAGIC, 3, 4).probe().unwrap_err(),
        Error::UnsupportedVersion(3)
    );
    assert_eq!(Regs::new(MAGIC, 2, 0).probe().unwrap_err(), Error::NoDevice);

    let mut regs = Regs::new(MAGIC, 2, 4);
    let t = regs.probe().unwrap();
    assert_eq!(t.device_type(), DeviceType::Entropy);
    assert_eq!(t.vendor_id(), 0x554d_4551);
    assert_eq!(
        Regs::new(MAGIC, 2, 1).probe().unwrap().device_type(),
        DeviceType::Network
    );
    assert_eq!(
        Regs::new(MAGIC, 2, 42).probe().unwrap().device_type(),
        DeviceType::Other(42)
    );
}

#[test]
fn too_small_a_window_is_refused() {
    let mut mem = vec![0u32; 0x40];
    let base = NonNull::new(mem.as_mut_ptr().cast::<u8>()).unwrap();
    // SAFETY: `mem` is 0x100 bytes the test owns; the probe refuses before any access.
    let err = unsafe { MmioTransport::with_size(base, 0xfc) }.unwrap_err();
    assert_eq!(err, Error::RegionTooSmall);
}

#[test]
fn registers_land_where_the_spec_says() {
    let mut regs = Regs::new(MAGIC, 2, 1);
    let mut t = regs.probe().unwrap();

    t.write_driver_features(0x0000_0001_0000_0020);
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    t.queue_set(3, 256, 0x1_2345_6000, 0x1_2345_7000, 0x1_2345_8000)
        .unwrap();
    t.notify(3);

    assert_eq!(regs.get(reg::DRIVER_FEATURES_SEL), 1);
    assert_eq!(regs.get(reg::DRIVER_FEATURES), 1); // the high word, written last
    assert_eq!(regs.get(reg::STATUS), 3);
    assert_eq!(regs.get(reg::QUEUE_SEL), 3);
    assert_eq!(regs.get(reg::QUEUE_NUM), 256);
    assert_eq!(regs.get(0x080), 0x2345_6000);
    assert_eq!(regs.get(0x084), 1);
    assert_eq!(regs.get(0x090), 0x2345_7000);
    assert_eq!(regs.get(0x094), 1);
    assert_eq!(regs.get(0x0a0), 0x2345_8000);
    assert_eq!(regs.get(0x0a4), 1);
    assert_eq!(regs.get(reg::QUEUE_READY), 1);
    assert_eq!(regs.get(reg::QUEUE_NOTIFY), 3);

    // QueueReady is now set: a second queue_set must not touch the queue registers.
    let mut t = regs.probe().unwrap();
    assert_eq!(t.queue_set(3, 8, 0, 0, 0), Err(Error::QueueInUse(3)));
    assert_eq!(regs.get(reg::QUEUE_NUM), 256);
}

#[test]
fn queue_size_is_capped_at_the_split_ring_limit() {
    let mut regs = Regs::new(MAGIC, 2, 1);
    regs.set(reg::QUEUE_NUM_MAX, 0x1_0000);
    assert_eq!(regs.probe().unwrap().max_queue_size(0), 32768);
    regs.set(reg::QUEUE_NUM_MAX, 256);
    assert_eq!(regs.probe().unwrap().max_queue_size(0), 256);
}

#[test]
fn interrupt_ack_writes_back_only_defined_bits() {
    let mut regs = Regs::new(MAGIC, 2, 1);
    regs.set(reg::INTERRUPT_STATUS, 0xff);
    let status = regs.probe().unwrap().ack_interrupt_status();
    assert!(status.queue() && status.config());
    assert_eq!(regs.get(reg::INTERRUPT_ACK), 3);

    regs.set(reg::INTERRUPT_STATUS, 0);
    regs.set(reg::INTERRUPT_ACK, 0xdead);
    assert!(!regs.probe().unwrap().ack_interrupt());
    assert_eq!(
        regs.get(reg::INTERRUPT_ACK),
        0xdead,
        "nothing to acknowledge"
    );
}

#[test]
fn config_space_is_bounded() {
    let mut regs = Regs::new(MAGIC, 2, 1);
    regs.set(reg::CONFIG, 0x5634_1252);
    regs.set(reg::CONFIG + 4, 0x0000_9a78);
    regs.set(reg::CONFIG_GENERATION, 7);
    let mut t = regs.probe().unwrap();
    assert_eq!(t.read_config_u8(0), Ok(0x52));
    assert_eq!(t.read_config_u16(2), Ok(0x5634));
    assert_eq!(t.read_config_u32(4), Ok(0x9a78));
    assert_eq!(t.read_config_u64(0), Ok(0x0000_9a78_5634_1252));
    let mut mac = [0; 6];
    t.read_config_bytes(0, &mut mac).unwrap();
    assert_eq!(mac, [0x52, 0x12, 0x34, 0x56, 0x78, 0x9a]);
    assert_eq!(t.config_generation(), 7);

    assert_eq!(t.read_config_u32(0xfc), Ok(0));
    let out = |offset, width| Error::ConfigOutOfRange { offset, width };
    assert_eq!(t.read_config_u32(0x100), Err(out(0x100, 4)));
    assert_eq!(t.read_config_u16(0xff), Err(out(0xff, 2)));
    assert_eq!(t.read_config_u32(2), Err(out(2, 4)));
    assert_eq!(t.read_config_u8(usize::MAX), Err(out(usize::MAX, 1)));
    assert_eq!(t.write_config_u16(0x1ff, 1), Err(out(0x1ff, 2)));
    assert_eq!(t.read_config_u64(0xfc), Err(out(0x100, 4)));
    t.write_config_u8(8, 0xee).unwrap();
    assert_eq!(regs.get(reg::CONFIG + 8), 0xee);
}
