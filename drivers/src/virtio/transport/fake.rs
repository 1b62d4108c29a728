//! A fake transport for host tests, where the test plays the device.
//!
//! [`FakeTransport`] is a register file in a `Mutex` shared with the test: it records what the
//! driver wrote (status sequence, accepted features, each queue's addresses, notifications) and
//! lets the test set what the driver reads (device type, offered features, queue sizes,
//! configuration space, interrupt status). The device side of a queue is a [`DeviceQueue`]:
//! it reads the available ring and descriptors and writes the used ring through the addresses
//! the driver gave, which are pointers because the tests use
//! [`HeapHal`](crate::virtio::hal::HeapHal) (phys == virt).
//!
//! The device can run inline, as a hook called on every notification
//! ([`FakeState::on_notify`]), or in a thread that polls the rings.

extern crate std;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Mutex, MutexGuard};

use super::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use crate::virtio::Error;

/// Where the driver put a queue (what `queue_set` was given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Entries.
    pub size: u16,
    /// Descriptor table address.
    pub desc: u64,
    /// Driver area (available ring) address.
    pub driver: u64,
    /// Device area (used ring) address.
    pub device: u64,
}

/// One queue of the fake device.
#[derive(Clone, Copy, Debug, Default)]
pub struct FakeQueue {
    /// What the device offers as the maximum size (0: no such queue).
    pub max_size: u16,
    /// Set by `queue_set`.
    pub config: Option<QueueConfig>,
    /// Notifications received.
    pub notifications: u32,
}

/// A hook the fake calls, with the state locked, on each notification (queue index).
pub type NotifyHook = Box<dyn FnMut(u16, &mut FakeState) + Send>;

/// The fake device's registers.
pub struct FakeState {
    /// The device type the transport reports.
    pub device_type: DeviceType,
    /// The features the device offers.
    pub device_features: u64,
    /// What the driver last wrote as its features.
    pub driver_features: u64,
    /// The current status.
    pub status: DeviceStatus,
    /// Every status the driver wrote, in order.
    pub status_writes: Vec<u8>,
    /// Clear FEATURES_OK when the driver sets it (the device refuses the features).
    pub refuse_features: bool,
    /// The queues.
    pub queues: Vec<FakeQueue>,
    /// Device-specific configuration space.
    pub config: Vec<u8>,
    /// The configuration generation.
    pub generation: u32,
    /// Configuration reads that bump the generation (to simulate racing changes).
    pub generation_bumps: u32,
    /// InterruptStatus / ISR bits pending.
    pub interrupt_status: u8,
    /// Called on each notification, with the state.
    pub on_notify: Option<NotifyHook>,
}

impl fmt::Debug for FakeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeState")
            .field("device_type", &self.device_type)
            .field("device_features", &self.device_features)
            .field("driver_features", &self.driver_features)
            .field("status", &self.status)
            .field("status_writes", &self.status_writes)
            .field("queues", &self.queues)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl FakeState {
    /// The device side of queue `queue`, once the driver has set it up.
    pub fn device_queue(&self, queue: u16) -> Option<DeviceQueue> {
        let config = self.queues.get(usize::from(queue))?.config?;
        // SAFETY: the fake's tests use `HeapHal`, so the addresses are pointers to the queue's
        // DMA memory, which the driver keeps alive while the queue exists; each test stops using
        // its `DeviceQueue` before dropping the driver.
        Some(unsafe { DeviceQueue::new(config) })
    }
}

/// A transport whose device is the test.
#[derive(Clone, Debug)]
pub struct FakeTransport {
    /// The registers, shared with the test (and a device thread, if any).
    pub state: Arc<Mutex<FakeState>>,
}

impl FakeTransport {
    /// A device of `device_type` offering `device_features`, with one queue per entry of
    /// `queue_sizes` (its maximum size) and no configuration space.
    pub fn new(device_type: DeviceType, device_features: u64, queue_sizes: &[u16]) -> Self {
        let queues = queue_sizes
            .iter()
            .map(|&max_size| FakeQueue {
                max_size,
                ..FakeQueue::default()
            })
            .collect();
        FakeTransport {
            state: Arc::new(Mutex::new(FakeState {
                device_type,
                device_features,
                driver_features: 0,
                status: DeviceStatus::empty(),
                status_writes: Vec::new(),
                refuse_features: false,
                queues,
                config: Vec::new(),
                generation: 0,
                generation_bumps: 0,
                interrupt_status: 0,
                on_notify: None,
            })),
        }
    }

    /// Locks the registers.
    pub fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn config_read<const N: usize>(&self, offset: usize) -> Result<[u8; N], Error> {
        let mut state = self.state();
        if state.generation_bumps > 0 {
            state.generation_bumps -= 1;
            state.generation += 1;
        }
        let bytes = offset
            .checked_add(N)
            .filter(|_| offset % N == 0)
            .and_then(|end| state.config.get(offset..end))
            .ok_or(Error::ConfigOutOfRange { offset, width: N })?;
        Ok(bytes.try_into().unwrap_or([0; N]))
    }

    fn config_write(&mut self, offset: usize, value: &[u8]) -> Result<(), Error> {
        let width = value.len();
        let mut state = self.state();
        let bytes = offset
            .checked_add(width)
            .filter(|_| offset % width == 0)
            .and_then(|end| state.config.get_mut(offset..end))
            .ok_or(Error::ConfigOutOfRange { offset, width })?;
        bytes.copy_from_slice(value);
        Ok(())
    }
}

impl Transport for FakeTransport {
    fn device_type(&self) -> DeviceType {
        self.state().device_type
    }

    fn read_device_features(&mut self) -> u64 {
        self.state().device_features
    }

    fn write_driver_features(&mut self, features: u64) {
        self.state().driver_features = features;
    }

    fn status(&self) -> DeviceStatus {
        self.state().status
    }

    fn set_status(&mut self, status: DeviceStatus) {
        let mut state = self.state();
        state.status_writes.push(status.bits());
        if status == DeviceStatus::empty() {
            // Reset: queues, features and interrupts forgotten.
            state.driver_features = 0;
            state.interrupt_status = 0;
            for queue in &mut state.queues {
                queue.config = None;
            }
        }
        let refused = state.refuse_features || state.driver_features & !state.device_features != 0;
        state.status = if status.contains(DeviceStatus::FEATURES_OK) && refused {
            DeviceStatus::from_bits(status.bits() & !DeviceStatus::FEATURES_OK.bits())
        } else {
            status
        };
    }

    fn max_queue_size(&mut self, queue: u16) -> u16 {
        self.state()
            .queues
            .get(usize::from(queue))
            .map_or(0, |q| q.max_size)
    }

    fn queue_set(
        &mut self,
        queue: u16,
        size: u16,
        desc: u64,
        driver: u64,
        device: u64,
    ) -> Result<(), Error> {
        let mut state = self.state();
        let q = state
            .queues
            .get_mut(usize::from(queue))
            .ok_or(Error::QueueUnavailable(queue))?;
        assert!(
            size <= q.max_size,
            "driver exceeded the queue's maximum size"
        );
        assert_eq!(desc % 16, 0, "descriptor table alignment");
        assert_eq!(driver % 2, 0, "available ring alignment");
        assert_eq!(device % 4, 0, "used ring alignment");
        q.config = Some(QueueConfig {
            size,
            desc,
            driver,
            device,
        });
        Ok(())
    }

    fn queue_used(&mut self, queue: u16) -> bool {
        self.state()
            .queues
            .get(usize::from(queue))
            .is_some_and(|q| q.config.is_some())
    }

    fn notify(&mut self, queue: u16) {
        let mut state = self.state();
        assert!(
            state.status.contains(DeviceStatus::DRIVER_OK),
            "notification before DRIVER_OK (virtio 1.2, 3.1.1)"
        );
        if let Some(q) = state.queues.get_mut(usize::from(queue)) {
            q.notifications += 1;
        }
        if let Some(mut hook) = state.on_notify.take() {
            hook(queue, &mut state);
            state.on_notify = Some(hook);
        }
    }

    fn ack_interrupt_status(&mut self) -> InterruptStatus {
        let mut state = self.state();
        InterruptStatus::from_bits(core::mem::take(&mut state.interrupt_status))
    }

    fn config_generation(&self) -> u32 {
        self.state().generation
    }

    fn read_config_u8(&self, offset: usize) -> Result<u8, Error> {
        Ok(self.config_read::<1>(offset)?[0])
    }

    fn read_config_u16(&self, offset: usize) -> Result<u16, Error> {
        Ok(u16::from_le_bytes(self.config_read(offset)?))
    }

    fn read_config_u32(&self, offset: usize) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.config_read(offset)?))
    }

    fn write_config_u8(&mut self, offset: usize, value: u8) -> Result<(), Error> {
        self.config_write(offset, &[value])
    }

    fn write_config_u16(&mut self, offset: usize, value: u16) -> Result<(), Error> {
        self.config_write(offset, &value.to_le_bytes())
    }

    fn write_config_u32(&mut self, offset: usize, value: u32) -> Result<(), Error> {
        self.config_write(offset, &value.to_le_bytes())
    }
}

/// A descriptor as the device read it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceDesc {
    /// Buffer address.
    pub addr: u64,
    /// Buffer length.
    pub len: u32,
    /// Whether the device may write it.
    pub writable: bool,
}

/// A chain the device took from the available ring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceChain {
    /// The head descriptor's index (the driver's token).
    pub head: u16,
    /// The descriptors, in chain order.
    pub descs: Vec<DeviceDesc>,
}

impl DeviceChain {
    /// Total device-writable bytes.
    pub fn writable_len(&self) -> u32 {
        self.descs
            .iter()
            .filter(|d| d.writable)
            .map(|d| d.len)
            .sum()
    }
}

/// The device's side of a split queue: reads what the driver published, writes used entries.
/// Plain addresses, so it can move to a device thread.
#[derive(Debug)]
pub struct DeviceQueue {
    config: QueueConfig,
    /// The next available-ring index to take.
    next_avail: u16,
    /// The device's used index.
    used_idx: u16,
}

impl DeviceQueue {
    /// The device side of a queue the driver set up with `config`.
    ///
    /// # Safety
    ///
    /// The addresses are valid pointers (phys == virt) to the queue's memory, which stays
    /// allocated for as long as this is used, and the descriptors the driver publishes point at
    /// buffers that stay allocated until the device returns them.
    pub unsafe fn new(config: QueueConfig) -> Self {
        DeviceQueue {
            config,
            next_avail: 0,
            used_idx: 0,
        }
    }

    fn ptr<T>(addr: u64) -> *mut T {
        core::ptr::with_exposed_provenance_mut::<T>(addr as usize)
    }

    fn field(&self, addr: u64) -> &AtomicU16 {
        // SAFETY: one of the rings' u16 fields (2-aligned, inside the queue memory `new`'s
        // caller keeps alive); the driver accesses these only atomically too.
        unsafe { AtomicU16::from_ptr(Self::ptr(addr)) }
    }

    fn size(&self) -> u64 {
        u64::from(self.config.size)
    }

    /// The driver's available index.
    pub fn avail_idx(&self) -> u16 {
        self.field(self.config.driver + 2).load(Ordering::Acquire)
    }

    /// The driver's available-ring flags.
    pub fn avail_flags(&self) -> u16 {
        self.field(self.config.driver).load(Ordering::Acquire)
    }

    /// The driver's `used_event`.
    pub fn used_event(&self) -> u16 {
        self.field(self.config.driver + 4 + 2 * self.size())
            .load(Ordering::Acquire)
    }

    /// Sets the used ring's flags (VIRTQ_USED_F_NO_NOTIFY).
    pub fn set_used_flags(&self, flags: u16) {
        self.field(self.config.device)
            .store(flags, Ordering::Release);
    }

    /// Sets `avail_event`.
    pub fn set_avail_event(&self, idx: u16) {
        self.field(self.config.device + 4 + 8 * self.size())
            .store(idx, Ordering::Release);
    }

    /// The device's used index.
    pub fn used_idx(&self) -> u16 {
        self.used_idx
    }

    /// Takes the next published chain, if any. Panics on a malformed chain: that is a driver
    /// bug, which is what these tests look for.
    pub fn pop_avail(&mut self) -> Option<DeviceChain> {
        if self.avail_idx() == self.next_avail {
            return None;
        }
        let slot = u64::from(self.next_avail % self.config.size);
        self.next_avail = self.next_avail.wrapping_add(1);
        // SAFETY: inside the available ring (slot < size), published before the index we read
        // with acquire ordering.
        let head = unsafe { Self::ptr::<u16>(self.config.driver + 4 + 2 * slot).read_volatile() };
        let mut descs = Vec::new();
        let mut index = head;
        loop {
            assert!(index < self.config.size, "descriptor index out of range");
            assert!(
                descs.len() < usize::from(self.config.size),
                "descriptor chain loops"
            );
            let at = self.config.desc + 16 * u64::from(index);
            // SAFETY: inside the descriptor table (index < size), 8-aligned, written by the
            // driver before it published the chain.
            let (addr, len, flags, next) = unsafe {
                (
                    Self::ptr::<u64>(at).read_volatile(),
                    Self::ptr::<u32>(at + 8).read_volatile(),
                    Self::ptr::<u16>(at + 12).read_volatile(),
                    Self::ptr::<u16>(at + 14).read_volatile(),
                )
            };
            let writable = flags & 2 != 0;
            if let Some(prev) = descs.last() {
                let prev: &DeviceDesc = prev;
                assert!(!prev.writable || writable, "readable after writable");
            }
            descs.push(DeviceDesc {
                addr,
                len,
                writable,
            });
            if flags & 1 == 0 {
                break;
            }
            index = next;
        }
        Some(DeviceChain { head, descs })
    }

    /// The chain's device-readable bytes, concatenated.
    pub fn read(&self, chain: &DeviceChain) -> Vec<u8> {
        let mut out = Vec::new();
        for d in chain.descs.iter().filter(|d| !d.writable) {
            let mut buf = vec![0; d.len as usize];
            // SAFETY: a buffer the driver published for the device to read, alive until
            // returned (`new`'s contract).
            unsafe {
                core::ptr::copy_nonoverlapping(Self::ptr::<u8>(d.addr), buf.as_mut_ptr(), buf.len())
            };
            out.extend_from_slice(&buf);
        }
        out
    }

    /// Writes `data` into the chain's device-writable buffers, in order; returns the bytes
    /// written (at most the writable length).
    pub fn write(&self, chain: &DeviceChain, data: &[u8]) -> u32 {
        let mut data = data;
        let mut written = 0;
        for d in chain.descs.iter().filter(|d| d.writable) {
            let n = data.len().min(d.len as usize);
            // SAFETY: a buffer the driver published for the device to write, alive and not
            // accessed by the driver until returned (`new`'s contract).
            unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), Self::ptr::<u8>(d.addr), n) };
            data = &data[n..];
            written += n as u32;
        }
        written
    }

    /// Writes a used entry (any id and length: tests play hostile devices too) and publishes
    /// it.
    pub fn push_used(&mut self, id: u32, len: u32) {
        let slot = u64::from(self.used_idx % self.config.size);
        let at = self.config.device + 4 + 8 * slot;
        // SAFETY: inside the used ring (slot < size), 4-aligned; the driver reads it only after
        // the release store below.
        unsafe {
            Self::ptr::<u32>(at).write_volatile(id);
            Self::ptr::<u32>(at + 4).write_volatile(len);
        }
        self.used_idx = self.used_idx.wrapping_add(1);
        self.field(self.config.device + 2)
            .store(self.used_idx, Ordering::Release);
    }

    /// Publishes a used index without writing entries (a hostile device).
    pub fn set_used_idx(&mut self, idx: u16) {
        self.used_idx = idx;
        self.field(self.config.device + 2)
            .store(idx, Ordering::Release);
    }
}
