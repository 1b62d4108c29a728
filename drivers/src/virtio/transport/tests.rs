//! Device initialization (virtio 1.2, 3.1.1) and configuration reads (2.5.1) against the fake
//! transport.

extern crate std;

use super::fake::FakeTransport;
use super::*;
use std::vec;

const ACK: u8 = 1;
const DRIVER: u8 = 2;
const DRIVER_OK: u8 = 4;
const FEATURES_OK: u8 = 8;
const FAILED: u8 = 128;

#[test]
fn begin_init_negotiates_the_intersection_plus_version_1() {
    let offered = features::VERSION_1 | features::EVENT_IDX | 1 << 5 | 1 << 16;
    let mut t = FakeTransport::new(DeviceType::Network, offered, &[]);
    t.state().status = DeviceStatus::DRIVER_OK; // left over from a previous driver
    let negotiated = t.begin_init(features::EVENT_IDX | 1 << 5 | 1 << 7).unwrap();
    assert_eq!(
        negotiated,
        features::VERSION_1 | features::EVENT_IDX | 1 << 5
    );
    assert_eq!(t.state().driver_features, negotiated);
    t.finish_init();
    assert_eq!(
        t.state().status_writes,
        [
            0,
            ACK,
            ACK | DRIVER,
            ACK | DRIVER | FEATURES_OK,
            ACK | DRIVER | FEATURES_OK | DRIVER_OK
        ]
    );
}

#[test]
fn a_legacy_only_device_is_refused_with_a_hint() {
    let mut t = FakeTransport::new(DeviceType::Entropy, features::EVENT_IDX, &[]);
    let err = t.begin_init(features::EVENT_IDX).unwrap_err();
    assert!(matches!(err, Error::Legacy(hint) if hint.contains("VERSION_1")));
    assert!(t.status().contains(DeviceStatus::FAILED));
    assert_eq!(t.state().driver_features, 0, "no features accepted");
}

#[test]
fn features_ok_cleared_by_the_device_fails_initialization() {
    let mut t = FakeTransport::new(DeviceType::Block, features::VERSION_1, &[]);
    t.state().refuse_features = true;
    assert_eq!(t.begin_init(0), Err(Error::FeaturesRejected));
    assert_eq!(
        t.state().status_writes.last(),
        Some(&(ACK | DRIVER | FAILED))
    );
}

#[test]
fn reset_waits_for_status_zero_and_gives_up_eventually() {
    /// A device whose status never reads back 0.
    struct Stuck;
    impl Transport for Stuck {
        fn device_type(&self) -> DeviceType {
            DeviceType::Other(0)
        }
        fn read_device_features(&mut self) -> u64 {
            0
        }
        fn write_driver_features(&mut self, _: u64) {}
        fn status(&self) -> DeviceStatus {
            DeviceStatus::DEVICE_NEEDS_RESET
        }
        fn set_status(&mut self, _: DeviceStatus) {}
        fn max_queue_size(&mut self, _: u16) -> u16 {
            0
        }
        fn queue_set(&mut self, _: u16, _: u16, _: u64, _: u64, _: u64) -> Result<(), Error> {
            Ok(())
        }
        fn queue_used(&mut self, _: u16) -> bool {
            false
        }
        fn notify(&mut self, _: u16) {}
        fn ack_interrupt_status(&mut self) -> InterruptStatus {
            InterruptStatus::default()
        }
        fn config_generation(&self) -> u32 {
            0
        }
        fn read_config_u8(&self, _: usize) -> Result<u8, Error> {
            Ok(0)
        }
        fn read_config_u16(&self, _: usize) -> Result<u16, Error> {
            Ok(0)
        }
        fn read_config_u32(&self, _: usize) -> Result<u32, Error> {
            Ok(0)
        }
        fn write_config_u8(&mut self, _: usize, _: u8) -> Result<(), Error> {
            Ok(())
        }
        fn write_config_u16(&mut self, _: usize, _: u16) -> Result<(), Error> {
            Ok(())
        }
        fn write_config_u32(&mut self, _: usize, _: u32) -> Result<(), Error> {
            Ok(())
        }
    }
    assert_eq!(Stuck.reset(), Err(Error::ResetTimeout));
    assert_eq!(Stuck.begin_init(0), Err(Error::ResetTimeout));
}

#[test]
fn consistent_reads_retry_across_a_generation_change() {
    let t = FakeTransport::new(DeviceType::Network, features::VERSION_1, &[]);
    t.state().config = vec![
        0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
    ];
    // The first two config reads each see a change: the first attempt must be retried.
    t.state().generation_bumps = 2;
    let mut mac = [0; 6];
    t.read_config_bytes(0, &mut mac).unwrap();
    assert_eq!(mac, [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
    assert_eq!(t.state().generation, 2);
    assert_eq!(t.read_config_u64(8), Ok(0x0000_0002_0000_0001));

    // A generation that never settles is an error, not a hang.
    t.state().generation_bumps = u32::MAX;
    assert_eq!(t.read_config_u16(0).map(|_| ()), Ok(()));
    assert_eq!(t.read_config_u64(8), Err(Error::ConfigUnstable));

    t.state().generation_bumps = 0;
    assert_eq!(
        t.read_config_u32(14),
        Err(Error::ConfigOutOfRange {
            offset: 14,
            width: 4
        })
    );
    assert_eq!(
        t.read_config_u64(12),
        Err(Error::ConfigOutOfRange {
            offset: 16,
            width: 4
        })
    );
}

#[test]
fn device_types_and_status_bits() {
    for id in 0..64 {
        assert_eq!(DeviceType::from_id(id).id(), id);
    }
    assert_eq!(DeviceType::from_id(4), DeviceType::Entropy);
    let s = DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER;
    assert!(s.contains(DeviceStatus::DRIVER) && !s.contains(DeviceStatus::DRIVER_OK));
    assert_eq!(
        std::format!("{:?}", s | DeviceStatus::FAILED),
        "DeviceStatus(0x83: ACKNOWLEDGE | DRIVER | FAILED)"
    );
    let i = InterruptStatus::from_bits(0xff);
    assert_eq!(i.bits(), 3);
    assert!(i.queue() && i.config() && !i.is_empty());
}
