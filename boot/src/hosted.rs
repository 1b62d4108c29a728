//! The hosted platform: a Morgana appliance as an ordinary Linux process.
//!
//! - clock: `CLOCK_MONOTONIC` (through `std::time::Instant`), zero at start-up;
//! - alarm and idle: `ppoll(2)` on a doorbell `eventfd(2)` and on the watched file descriptors
//!   (the TAP device, ...) with the alarm as its timeout; a readable watched descriptor marks
//!   its event;
//! - wall clock: `CLOCK_REALTIME`; entropy: `getrandom(2)`;
//! - console: stdout; exit: the process's exit code.

use std::cell::{Cell, RefCell};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use morgana_executor::{Doorbell, EntropyError, EventId, EventTable, Instant, Platform, UtcTime};

use crate::{Env, ExitStatus};

mod tap;
pub use tap::{Nic, PcapFile, Tap, TapStats, open_nic};

/// The hosted platform. See the [module docs](self).
#[derive(Debug)]
pub struct Hosted {
    start: std::time::Instant,
    alarm: Cell<Option<Instant>>,
    bell: Arc<EventFd>,
    watched: RefCell<Vec<(RawFd, EventId)>>,
}

/// The doorbell: an `eventfd` that other threads write and `idle` polls.
#[derive(Debug)]
struct EventFd(OwnedFd);

impl EventFd {
    fn new() -> io::Result<EventFd> {
        // SAFETY: eventfd takes no pointers; it returns a new descriptor or -1.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a descriptor we just opened and own alone.
        Ok(EventFd(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Resets the counter to zero (the descriptor is non-blocking).
    fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: `buf` is valid for 8 bytes of writes, the size an eventfd read needs.
        let _ = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl Doorbell for EventFd {
    fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is valid for 8 bytes of reads, the size an eventfd write takes. A full
        // counter (EAGAIN) means the doorbell is already ringing, which is all we want.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }
}

impl Hosted {
    /// The platform, with its clock starting now.
    pub fn new() -> io::Result<Hosted> {
        Ok(Hosted {
            start: std::time::Instant::now(),
            alarm: Cell::new(None),
            bell: Arc::new(EventFd::new()?),
            watched: RefCell::new(Vec::new()),
        })
    }

    /// Marks `event` whenever `fd` is readable and the executor idles. The descriptor stays
    /// the caller's; call [`Hosted::unwatch`] before closing it.
    pub fn watch(&self, fd: RawFd, event: EventId) {
        self.watched.borrow_mut().push((fd, event));
    }

    /// Stops watching `fd`.
    pub fn unwatch(&self, fd: RawFd) {
        self.watched.borrow_mut().retain(|(f, _)| *f != fd);
    }
}

impl Hosted {
    /// `ppoll(2)` on the doorbell and the watched descriptors for at most `timeout` (`None`:
    /// until one is ready); marks the events of the readable ones.
    fn poll_fds(&self, events: &EventTable, timeout: Option<std::time::Duration>) {
        let watched = self.watched.borrow();
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(1 + watched.len());
        fds.push(libc::pollfd {
            fd: self.bell.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        });
        fds.extend(watched.iter().map(|(fd, _)| libc::pollfd {
            fd: *fd,
            events: libc::POLLIN,
            revents: 0,
        }));
        let timeout = timeout.map(|d| libc::timespec {
            tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(d.subsec_nanos() as i32),
        });
        let timeout_ptr = timeout
            .as_ref()
            .map_or(std::ptr::null(), |t| t as *const libc::timespec);
        // SAFETY: `fds` is a live array of `fds.len()` pollfds; `timeout_ptr` is null (wait
        // forever) or points at `timeout`, which outlives the call; no signal mask is passed.
        let n = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                timeout_ptr,
                std::ptr::null(),
            )
        };
        if n <= 0 {
            return; // the alarm, or EINTR: the run loop looks again either way
        }
        if fds[0].revents != 0 {
            self.bell.drain();
        }
        let mut broken = Vec::new();
        for (pfd, (fd, event)) in fds[1..].iter().zip(watched.iter()) {
            if pfd.revents != 0 {
                events.mark(*event);
            }
            if pfd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                broken.push(*fd);
            }
        }
        drop(watched);
        // A descriptor in error stays "ready" forever: mark its event once (its owner finds
        // the error on its next read) and stop watching it, rather than spin.
        if !broken.is_empty() {
            self.watched
                .borrow_mut()
                .retain(|(fd, _)| !broken.contains(fd));
        }
    }
}

impl Platform for Hosted {
    fn name(&self) -> &'static str {
        "hosted"
    }

    fn now(&self) -> Instant {
        let d = self.start.elapsed();
        Instant::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
    }

    fn set_alarm(&self, deadline: Option<Instant>) {
        self.alarm.set(deadline);
    }

    fn idle(&self, events: &EventTable) {
        // Another thread marks an event and then rings the doorbell, so an event marked after
        // this check still ends the poll below: check and halt are atomic as the trait asks.
        if events.any_marked() {
            return;
        }
        let timeout = self
            .alarm
            .get()
            .map(|deadline| deadline.saturating_duration_since(self.now()));
        self.poll_fds(events, timeout);
    }

    fn poll_events(&self, events: &EventTable) {
        if !self.watched.borrow().is_empty() {
            self.poll_fds(events, Some(std::time::Duration::ZERO));
        }
    }

    fn doorbell(&self) -> Option<Arc<dyn Doorbell>> {
        Some(self.bell.clone())
    }

    fn wall_clock(&self) -> Option<UtcTime> {
        let since = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        Some(UtcTime::from_unix_nanos(since.as_nanos()))
    }

    fn entropy(&self, buf: &mut [u8]) -> Result<(), EntropyError> {
        let mut filled = 0;
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            // SAFETY: `rest` is valid for `rest.len()` bytes of writes.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(EntropyError::Failed);
            }
            filled += n as usize;
        }
        Ok(())
    }

    fn console_write(&self, bytes: &[u8]) {
        let mut out = io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn exit(&self, code: i32) -> ! {
        let _ = io::stdout().flush();
        std::process::exit(code)
    }
}

std::thread_local! {
    static CURRENT: RefCell<Option<Rc<Hosted>>> = const { RefCell::new(None) };
}

/// The hosted platform this thread's appliance runs on (set by [`start`]).
pub fn current() -> Option<Rc<Hosted>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Runs an appliance as this process: what `#[morgana::main]` calls on the hosted platform.
///
/// The command line is the process's arguments joined by spaces; `log=LEVEL` sets the log level.
pub fn start<F, Fut>(main: F) -> !
where
    F: FnOnce(Env) -> Fut,
    Fut: core::future::Future,
    Fut::Output: ExitStatus,
{
    let platform = match Hosted::new() {
        Ok(p) => Rc::new(p),
        Err(e) => {
            eprintln!("morgana: cannot start the hosted platform: {e}");
            std::process::exit(70);
        }
    };
    let cmdline = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    CURRENT.with(|c| *c.borrow_mut() = Some(platform.clone()));
    let machine = crate::Machine {
        platform: platform.clone(),
        events: Box::leak(Box::new(EventTable::new())),
        cmdline,
    };
    let code = crate::run(machine, main);
    platform.exit(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use morgana_executor::event::Event;
    use morgana_executor::{Executor, sleep, spawn};
    use std::time::Duration;

    fn executor() -> (Executor, Rc<Hosted>) {
        let p = Rc::new(Hosted::new().unwrap());
        (Executor::new(p.clone()), p)
    }

    #[test]
    fn sleep_lasts_at_least_its_duration_in_real_time() {
        let (ex, _) = executor();
        let t0 = std::time::Instant::now();
        ex.block_on(sleep(Duration::from_millis(30)));
        let took = t0.elapsed();
        assert!(took >= Duration::from_millis(30), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(ex.stats().idle >= Duration::from_millis(20));
    }

    #[test]
    fn a_readable_descriptor_marks_its_event() {
        let (ex, p) = executor();
        let mut fds = [0; 2];
        // SAFETY: `fds` is valid for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 just returned these two descriptors, owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let id = ex.events().alloc().unwrap();
        p.watch(rd.as_raw_fd(), id);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut f = std::fs::File::from(wr);
            f.write_all(b"x").unwrap();
        });
        ex.block_on(async {
            let mut ev = Event::new(id);
            ev.wait().await;
        });
        p.unwatch(rd.as_raw_fd());
        writer.join().unwrap();
        assert_eq!(ex.stats().events, 1);
    }

    #[test]
    fn a_readable_descriptor_is_seen_while_a_task_keeps_yielding() {
        let (ex, p) = executor();
        let mut fds = [0; 2];
        // SAFETY: `fds` is valid for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: pipe2 just returned these two descriptors, owned by nobody else.
        let (rd, wr) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        std::fs::File::from(wr).write_all(b"x").unwrap();
        let id = ex.events().alloc().unwrap();
        p.watch(rd.as_raw_fd(), id);
        let spins = ex.block_on(async {
            let stop = std::rc::Rc::new(std::cell::Cell::new(false));
            let s = stop.clone();
            let spinner = spawn(async move {
                let mut n = 0u64;
                while !s.get() && n < 100_000 {
                    n += 1;
                    morgana_executor::yield_now().await;
                }
                n
            });
            Event::new(id).wait().await;
            stop.set(true);
            spinner.await
        });
        p.unwatch(rd.as_raw_fd());
        assert!(
            spins < 10,
            "the readable pipe was seen only after {spins} passes"
        );
    }

    #[test]
    fn a_wake_from_another_thread_ends_the_halt() {
        let (ex, _) = executor();
        let t0 = std::time::Instant::now();
        ex.block_on(async {
            let (tx, rx) = futures::channel::oneshot::channel::<u8>();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                tx.send(9).unwrap();
            });
            let task = spawn(async move { rx.await.unwrap() });
            assert_eq!(task.await, 9);
            t.join().unwrap();
        });
        assert!(t0.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn entropy_and_wall_clock_are_real() {
        let p = Hosted::new().unwrap();
        let (mut a, mut b) = ([0u8; 32], [0u8; 32]);
        p.entropy(&mut a).unwrap();
        p.entropy(&mut b).unwrap();
        assert_ne!(a, b);
        assert!(p.wall_clock().unwrap().unix_secs() > 1_700_000_000);
    }
}
