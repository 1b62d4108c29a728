//! A TAP device as a [`NetDevice`]: the hosted platform's NIC, with a real Linux network
//! stack (in a namespace of the test's making) on the other side.
//!
//! `/dev/net/tun` opened with `IFF_TAP | IFF_NO_PI` passes whole Ethernet frames, one per
//! `read(2)`/`write(2)`. The descriptor is non-blocking and watched by the [`Hosted`]
//! platform, which marks the device's event when it is readable; `receive` registers on that
//! event when it finds nothing, which is the [`NetDevice`] waker rule.
//!
//! Frames are copied once each way between the kernel and our buffers (that is what `read`
//! and `write` do); the tokens lend those buffers, so the stack adds no copy of its own.
//!
//! [`open_nic`] is what the network starts on: the TAP wrapped in the netstack's [`Pcap`]
//! recorder, which writes to a file when the command line says `pcap=FILE` and to nowhere
//! otherwise.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::rc::Rc;
use std::task::Context;

use morgana_drivers::net::{Capabilities, LinkState, NetDevice, RxToken, TxToken};
use morgana_executor::event::Event;
use morgana_executor::{EventTable, Handle};
use morgana_netstack::phy::{Pcap, PcapSink};

use super::Hosted;

/// The largest frame read: an Ethernet header and a 1500-byte payload, with room to spare for
/// a VLAN tag.
const FRAME_MAX: usize = 1522;

/// `struct ifreq` as `TUNSETIFF` reads it: the name and the flags (the rest is padding).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Counters of a [`Tap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TapStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Frames sent.
    pub tx_frames: u64,
    /// Frames the kernel would not take (its queue was full) or that were too long.
    pub tx_dropped: u64,
}

/// A TAP interface. See the module docs.
#[derive(Debug)]
pub struct Tap {
    platform: Rc<Hosted>,
    events: &'static EventTable,
    fd: OwnedFd,
    name: String,
    mac: [u8; 6],
    event: Event,
    rx: Vec<u8>,
    /// Length of the frame in `rx`, when one was read and not yet consumed.
    rx_len: Option<usize>,
    tx: Vec<u8>,
    stats: TapStats,
    /// The error that ended the device (the interface was deleted, ...): the link is down.
    failed: Option<io::ErrorKind>,
}

impl Tap {
    /// Opens (or creates) TAP interface `name` and watches it on `platform`, with `mac` as our
    /// address on it. Needs `CAP_NET_ADMIN` to create an interface; call it inside the
    /// executor (the device subscribes to its event).
    pub fn open(platform: &Rc<Hosted>, name: &str, mac: [u8; 6]) -> io::Result<Tap> {
        if name.is_empty() || name.len() >= 16 || name.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{name}` is not an interface name (1 to 15 bytes)"),
            ));
        }
        let path = CString::new("/dev/net/tun").expect("no NUL in the path");
        // SAFETY: `path` is a NUL-terminated string that outlives the call.
        let fd = unsafe {
            libc::open(
                path.as_ptr(),
                libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(e.kind(), format!("/dev/net/tun: {e}")));
        }
        // SAFETY: `fd` was just opened and is owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = IfReq {
            name: [0; 16],
            flags: (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        req.name[..name.len()].copy_from_slice(name.as_bytes());
        // SAFETY: TUNSETIFF reads and writes a `struct ifreq`, which `req` lays out (40 bytes,
        // name then flags); it lives across the call.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &mut req) } < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("TUNSETIFF {name}: {e} (creating a TAP interface needs CAP_NET_ADMIN)"),
            ));
        }
        let events = Handle::current().events();
        let id = events.alloc().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::OutOfMemory,
                "no free event slot for the TAP device",
            )
        })?;
        platform.watch(fd.as_raw_fd(), id);
        Ok(Tap {
            platform: platform.clone(),
            events,
            fd,
            name: name.to_owned(),
            mac,
            event: Event::new(id),
            rx: vec![0; FRAME_MAX],
            rx_len: None,
            tx: vec![0; FRAME_MAX],
            stats: TapStats::default(),
            failed: None,
        })
    }

    /// The interface's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The counters.
    pub fn stats(&self) -> TapStats {
        self.stats
    }

    /// Reads a frame into `rx` if the kernel has one.
    fn read_frame(&mut self) -> bool {
        // SAFETY: `rx` is valid for `rx.len()` bytes of writes.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                self.rx.as_mut_ptr().cast(),
                self.rx.len(),
            )
        };
        if n > 0 {
            self.rx_len = Some(n as usize);
            self.stats.rx_frames += 1;
            return true;
        }
        let error = io::Error::last_os_error();
        if n < 0
            && !matches!(
                error.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            )
        {
            // The interface is gone (EBADFD, EIO): the link is down for good.
            self.failed = Some(error.kind());
        }
        false
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        // Before the descriptor closes: a closed descriptor would poll as "ready" forever.
        self.platform.unwatch(self.fd.as_raw_fd());
        self.events.free(self.event.id());
    }
}

/// A frame read from the TAP device.
#[derive(Debug)]
pub struct TapRx<'a> {
    frame: &'a mut [u8],
    slot: &'a mut Option<usize>,
}

impl RxToken for TapRx<'_> {
    fn consume<R>(self, f: impl FnOnce(&mut [u8]) -> R) -> R {
        let r = f(self.frame);
        *self.slot = None;
        r
    }
}

/// Room for a frame to write to the TAP device.
#[derive(Debug)]
pub struct TapTx<'a> {
    fd: &'a OwnedFd,
    buf: &'a mut [u8],
    stats: &'a mut TapStats,
}

impl TxToken for TapTx<'_> {
    fn consume<R>(self, len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
        if len > self.buf.len() {
            self.stats.tx_dropped += 1;
            let mut scratch = vec![0; len];
            return f(&mut scratch);
        }
        let frame = &mut self.buf[..len];
        let r = f(frame);
        // SAFETY: `frame` is valid for `len` bytes of reads.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), frame.as_ptr().cast(), len) };
        if n == len as isize {
            self.stats.tx_frames += 1;
        } else {
            self.stats.tx_dropped += 1; // the kernel's queue is full, or the link is down
        }
        r
    }
}

impl NetDevice for Tap {
    type RxToken<'a> = TapRx<'a>;
    type TxToken<'a> = TapTx<'a>;

    fn receive(&mut self, cx: &mut Context<'_>) -> Option<(TapRx<'_>, TapTx<'_>)> {
        // Nothing read yet: read; when the kernel has nothing, register on the event the
        // platform marks when the descriptor turns readable. A mark that came in between
        // counts as a firing, so `poll_wait` says Ready and we read again: nothing is lost.
        while self.rx_len.is_none() && !self.read_frame() {
            if self.failed.is_some() {
                return None; // the link is down: nothing will ever arrive
            }
            if self.event.poll_wait(cx).is_pending() {
                return None;
            }
        }
        let len = self.rx_len?;
        Some((
            TapRx {
                frame: &mut self.rx[..len],
                slot: &mut self.rx_len,
            },
            TapTx {
                fd: &self.fd,
                buf: &mut self.tx,
                stats: &mut self.stats,
            },
        ))
    }

    fn transmit(&mut self, _cx: &mut Context<'_>) -> Option<TapTx<'_>> {
        // A write either goes into the kernel's queue at once or is dropped (as a NIC drops
        // when its ring is full): there is never a reason to wait.
        Some(TapTx {
            fd: &self.fd,
            buf: &mut self.tx,
            stats: &mut self.stats,
        })
    }

    fn flush(&mut self) {}

    fn hardware_address(&self) -> [u8; 6] {
        self.mac
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            mtu: 1500,
            max_burst: None,
            checksum: Default::default(),
        }
    }

    fn link_state(&mut self, _cx: &mut Context<'_>) -> LinkState {
        if self.failed.is_some() {
            LinkState::Down
        } else {
            LinkState::Up
        }
    }
}

/// The hosted NIC: a TAP device whose frames are recorded into a [`PcapFile`].
pub type Nic = Pcap<Tap, PcapFile>;

/// Opens TAP interface `name` (see [`Tap::open`]), recording its frames in pcap file `pcap`
/// (created, or truncated) when given.
pub fn open_nic(
    platform: &Rc<Hosted>,
    name: &str,
    mac: [u8; 6],
    pcap: Option<&str>,
) -> io::Result<Nic> {
    let file = match pcap {
        Some(path) => Some(
            std::fs::File::create(path)
                .map_err(|e| io::Error::new(e.kind(), format!("pcap={path}: {e}")))?,
        ),
        None => None,
    };
    Ok(Pcap::new(Tap::open(platform, name, mac)?, PcapFile(file)))
}

/// Where a [`Nic`] records: a file, unbuffered (every record is whole on disk when the
/// appliance exits, however it exits), or nowhere.
#[derive(Debug)]
pub struct PcapFile(Option<std::fs::File>);

impl PcapSink for PcapFile {
    fn write(&mut self, bytes: &[u8]) {
        use std::io::Write;
        if let Some(file) = self.0.as_mut()
            && file.write_all(bytes).is_err()
        {
            // A capture never stops the traffic: a full disk ends the capture instead.
            self.0 = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use morgana_executor::{Executor, timeout};
    use std::process::Command;
    use std::time::Duration;

    fn ip(args: &[&str]) -> bool {
        Command::new("ip")
            .args(args)
            .status()
            .is_ok_and(|s| s.success())
    }

    /// A network namespace for the duration of a test.
    struct Netns(String);

    impl Drop for Netns {
        fn drop(&mut self) {
            ip(&["netns", "del", &self.0]);
        }
    }

    /// Our TAP end talks to the Linux kernel in a namespace of its own: an ARP request for the
    /// kernel's address gets the kernel's ARP reply. Frames are literal bytes.
    #[test]
    fn the_linux_kernel_answers_arp_over_the_tap() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 || !std::path::Path::new("/dev/net/tun").exists() {
            eprintln!("skipped: creating TAP devices and namespaces needs root and /dev/net/tun");
            return;
        }
        let id = std::process::id() % 100_000;
        let (name, ns) = (format!("mgt{id}"), Netns(format!("mgtap{id}")));
        assert!(ip(&["netns", "add", &ns.0]), "ip netns add failed");
        let platform = Rc::new(Hosted::new().unwrap());
        let ex = Executor::new(platform.clone());
        let mac = [0x02, 0, 0, 0, 0, 0x01];
        let got = ex.block_on(async {
            let mut tap = Tap::open(&platform, &name, mac).expect("TAP opens");
            assert!(ip(&["link", "set", &name, "netns", &ns.0]));
            assert!(ip(&[
                "-n",
                &ns.0,
                "addr",
                "add",
                "10.213.0.1/24",
                "dev",
                &name
            ]));
            assert!(ip(&["-n", &ns.0, "link", "set", &name, "up"]));
            #[rustfmt::skip]
            let request: [u8; 42] = [
                0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // to: broadcast
                0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // from: us
                0x08, 0x06,                         // ARP
                0x00, 0x01, 0x08, 0x00, 6, 4,       // Ethernet, IPv4, sizes
                0x00, 0x01,                         // request
                0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 213, 0, 2, // sender
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 213, 0, 1, // who has 10.213.0.1?
            ];
            timeout(Duration::from_secs(10), async {
                loop {
                    // The interface may come up a moment after `ip` returns: ask again until
                    // an answer comes.
                    let sent = core::future::poll_fn(|cx| {
                        std::task::Poll::Ready(
                            tap.transmit(cx)
                                .map(|t| t.consume(request.len(), |b| b.copy_from_slice(&request))),
                        )
                    })
                    .await;
                    assert!(sent.is_some());
                    let reply = timeout(Duration::from_millis(200), async {
                        loop {
                            let frame = core::future::poll_fn(|cx| match tap.receive(cx) {
                                Some((rx, _)) => std::task::Poll::Ready(rx.consume(|f| f.to_vec())),
                                None => std::task::Poll::Pending,
                            })
                            .await;
                            // An ARP reply (opcode 2) from 10.213.0.1 to us.
                            if frame.len() >= 42
                                && frame[12..14] == [0x08, 0x06]
                                && frame[20..22] == [0, 2]
                                && frame[28..32] == [10, 213, 0, 1]
                                && frame[32..38] == mac
                            {
                                return frame;
                            }
                        }
                    })
                    .await;
                    if let Ok(frame) = reply {
                        return (frame, tap.stats());
                    }
                }
            })
            .await
        });
        let (frame, stats) = got.expect("the kernel answered within 10 s");
        assert_eq!(&frame[0..6], &mac, "the reply is addressed to us");
        assert!(stats.rx_frames >= 1 && stats.tx_frames >= 1, "{stats:?}");
    }
}
