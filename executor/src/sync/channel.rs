//! Channels between the tasks of one executor: many [`Sender`]s, one [`Receiver`], [`bounded`]
//! (a send waits while the channel is full) or [`unbounded`].
//!
//! Dropping every `Sender` closes the channel: the receiver drains what is queued, then gets
//! `None`. Dropping the `Receiver` makes every send fail and hand its value back.

use alloc::collections::VecDeque;
use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use futures::Stream;

use super::waitlist::{WaitKey, WaitList};

/// A channel whose queue holds at most `capacity` values.
///
/// # Panics
///
/// When `capacity` is zero (a rendezvous is an [`super::Mvar`]).
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    assert!(
        capacity > 0,
        "channel::bounded: capacity must be at least 1"
    );
    make(Some(capacity))
}

/// A channel whose queue grows as needed. Sends never wait.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    make(None)
}

fn make<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Rc::new(RefCell::new(Chan {
        queue: VecDeque::new(),
        capacity,
        senders: 1,
        receiver: true,
        recv_waiters: WaitList::default(),
        send_waiters: WaitList::default(),
    }));
    (Sender { chan: chan.clone() }, Receiver { chan, key: None })
}

struct Chan<T> {
    queue: VecDeque<T>,
    capacity: Option<usize>,
    senders: usize,
    receiver: bool,
    recv_waiters: WaitList,
    send_waiters: WaitList,
}

impl<T> Chan<T> {
    fn is_full(&self) -> bool {
        self.capacity.is_some_and(|c| self.queue.len() >= c)
    }
}

/// Why a send failed: the receiver is gone. Holds the value that was not sent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SendError<T>(pub T);

impl<T> fmt::Debug for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SendError(..)")
    }
}

impl<T> fmt::Display for SendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the receiver of the channel is gone")
    }
}

/// Why [`Sender::try_send`] failed. Holds the value that was not sent.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum TrySendError<T> {
    /// The channel is at capacity.
    Full(T),
    /// The receiver is gone.
    Closed(T),
}

impl<T> fmt::Debug for TrySendError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySendError::Full(_) => f.write_str("Full(..)"),
            TrySendError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

/// Why [`Receiver::try_recv`] returned nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryRecvError {
    /// Nothing is queued now.
    Empty,
    /// Nothing is queued and every sender is gone.
    Closed,
}

/// The sending side. Clone it to send from several tasks.
pub struct Sender<T> {
    chan: Rc<RefCell<Chan<T>>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while a bounded channel is full.
    pub fn send(&self, value: T) -> Send<'_, T> {
        Send {
            sender: self,
            value: Some(value),
            key: None,
        }
    }

    /// Sends `value` if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let mut chan = self.chan.borrow_mut();
        if !chan.receiver {
            return Err(TrySendError::Closed(value));
        }
        if chan.is_full() {
            return Err(TrySendError::Full(value));
        }
        chan.queue.push_back(value);
        let waker = chan.recv_waiters.pop();
        drop(chan);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        !self.chan.borrow().receiver
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.borrow_mut().senders += 1;
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let mut chan = self.chan.borrow_mut();
        chan.senders -= 1;
        if chan.senders == 0 {
            let waker = chan.recv_waiters.pop();
            drop(chan);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct Send<'a, T> {
    sender: &'a Sender<T>,
    value: Option<T>,
    key: Option<WaitKey>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut chan = this.sender.chan.borrow_mut();
        let value = this.value.take().expect("Send polled after completion");
        if !chan.receiver {
            return Poll::Ready(Err(SendError(value)));
        }
        if chan.is_full() {
            this.value = Some(value);
            chan.send_waiters.register(&mut this.key, cx.waker());
            return Poll::Pending;
        }
        chan.queue.push_back(value);
        if let Some(key) = this.key.take() {
            chan.send_waiters.remove(key);
        }
        let waker = chan.recv_waiters.pop();
        drop(chan);
        if let Some(w) = waker {
            w.wake();
        }
        Poll::Ready(Ok(()))
    }
}

impl<T> Drop for Send<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Woken for a free place we will not use? Pass it on.
            let waker = self.sender.chan.borrow_mut().send_waiters.cancel(key);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> fmt::Debug for Send<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Send").finish_non_exhaustive()
    }
}

/// The receiving side. Also a [`Stream`].
pub struct Receiver<T> {
    chan: Rc<RefCell<Chan<T>>>,
    key: Option<WaitKey>,
}

impl<T> Receiver<T> {
    /// Receives the next value, or `None` once every sender is gone and the queue is drained.
    pub async fn recv(&mut self) -> Option<T> {
        core::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives a value if one is queued.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut chan = self.chan.borrow_mut();
        match chan.queue.pop_front() {
            Some(v) => {
                let waker = chan.send_waiters.pop();
                drop(chan);
                if let Some(w) = waker {
                    w.wake();
                }
                Ok(v)
            }
            None if chan.senders == 0 => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }

    /// Polls for the next value (the [`Stream`] implementation).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut chan = self.chan.borrow_mut();
        if let Some(v) = chan.queue.pop_front() {
            if let Some(key) = self.key.take() {
                chan.recv_waiters.remove(key);
            }
            let waker = chan.send_waiters.pop();
            drop(chan);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(Some(v));
        }
        if chan.senders == 0 {
            return Poll::Ready(None);
        }
        chan.recv_waiters.register(&mut self.key, cx.waker());
        Poll::Pending
    }

    /// Values queued now.
    pub fn len(&self) -> usize {
        self.chan.borrow().queue.len()
    }

    /// Whether nothing is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Stream for Receiver<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.get_mut().poll_recv(cx)
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let mut chan = self.chan.borrow_mut();
        chan.receiver = false;
        if let Some(key) = self.key.take() {
            chan.recv_waiters.remove(key);
        }
        let queued = core::mem::take(&mut chan.queue);
        let mut waiters = core::mem::take(&mut chan.send_waiters);
        drop(chan);
        drop(queued);
        waiters.wake_all();
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("queued", &self.len())
            .finish()
    }
}
