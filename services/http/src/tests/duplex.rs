//! An in-memory, bounded, full-duplex byte pipe whose ends are [`Connection`]s, and a
//! [`Listener`] that hands out the server ends of such pipes.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::future::poll_fn;
use core::task::{Poll, Waker};

use embedded_io_async::{ErrorKind, ErrorType, Read, Write};

use crate::server::{Connection, Listener};

#[derive(Debug, Default)]
struct Pipe {
    buf: VecDeque<u8>,
    cap: usize,
    /// The writer closed its side.
    closed: bool,
    /// The reader is gone.
    reader_gone: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl Pipe {
    fn wake_reader(&mut self) {
        if let Some(w) = self.read_waker.take() {
            w.wake();
        }
    }
    fn wake_writer(&mut self) {
        if let Some(w) = self.write_waker.take() {
            w.wake();
        }
    }
}

/// One end of a [`duplex`] pipe.
#[derive(Debug)]
pub struct End {
    rx: Rc<RefCell<Pipe>>,
    tx: Rc<RefCell<Pipe>>,
}

/// Two connected ends, each direction buffering at most `cap` bytes.
pub fn duplex(cap: usize) -> (End, End) {
    let a = Rc::new(RefCell::new(Pipe {
        cap,
        ..Pipe::default()
    }));
    let b = Rc::new(RefCell::new(Pipe {
        cap,
        ..Pipe::default()
    }));
    (
        End {
            rx: a.clone(),
            tx: b.clone(),
        },
        End { rx: b, tx: a },
    )
}

impl End {
    /// Reads until the other end closes.
    pub async fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            match self.read(&mut buf).await {
                Ok(0) | Err(_) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Reads until `out` ends with `suffix` (or the other end closes).
    pub async fn read_until(&mut self, suffix: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut byte = [0u8; 1];
        while !out.ends_with(suffix) {
            match self.read(&mut byte).await {
                Ok(0) | Err(_) => break,
                Ok(_) => out.push(byte[0]),
            }
        }
        out
    }
}

impl ErrorType for End {
    type Error = ErrorKind;
}

impl Read for End {
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, ErrorKind> {
        poll_fn(|cx| {
            let mut p = self.rx.borrow_mut();
            if !p.buf.is_empty() {
                let n = buf.len().min(p.buf.len());
                for (o, b) in buf.iter_mut().zip(p.buf.drain(..n)) {
                    *o = b;
                }
                p.wake_writer();
                return Poll::Ready(Ok(n));
            }
            if p.closed || buf.is_empty() {
                return Poll::Ready(Ok(0));
            }
            p.read_waker = Some(cx.waker().clone());
            Poll::Pending
        })
        .await
    }
}

impl Write for End {
    async fn write(&mut self, data: &[u8]) -> Result<usize, ErrorKind> {
        poll_fn(|cx| {
            let mut p = self.tx.borrow_mut();
            if p.reader_gone || p.closed {
                return Poll::Ready(Err(ErrorKind::BrokenPipe));
            }
            let room = p.cap - p.buf.len();
            if room == 0 && !data.is_empty() {
                p.write_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let n = room.min(data.len());
            p.buf.extend(&data[..n]);
            p.wake_reader();
            Poll::Ready(Ok(n))
        })
        .await
    }

    async fn flush(&mut self) -> Result<(), ErrorKind> {
        Ok(())
    }
}

impl Connection for End {
    fn close_write(&mut self) {
        let mut p = self.tx.borrow_mut();
        p.closed = true;
        p.wake_reader();
    }
}

impl Drop for End {
    fn drop(&mut self) {
        self.close_write();
        let mut p = self.rx.borrow_mut();
        p.reader_gone = true;
        p.wake_writer();
    }
}

/// Hands the server the ends of pipes that clients [`connect`](PipeListener::connect).
#[derive(Clone, Debug, Default)]
pub struct PipeListener {
    queue: Rc<RefCell<(VecDeque<End>, Option<Waker>)>>,
}

impl PipeListener {
    /// A new connection: the client's end.
    pub fn connect(&self) -> End {
        let (client, server) = duplex(64 * 1024);
        let mut q = self.queue.borrow_mut();
        q.0.push_back(server);
        if let Some(w) = q.1.take() {
            w.wake();
        }
        client
    }
}

impl Listener for PipeListener {
    type Conn = End;
    async fn accept(&self) -> End {
        poll_fn(|cx| {
            let mut q = self.queue.borrow_mut();
            match q.0.pop_front() {
                Some(end) => Poll::Ready(end),
                None => {
                    q.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}
