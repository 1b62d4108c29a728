//! [`Mvar`]: a slot that is empty or holds one value, as Lwt's `Lwt_mvar`.

use alloc::rc::Rc;
use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use super::waitlist::{WaitKey, WaitList};

/// A one-value slot shared by the tasks of one executor. [`Mvar::put`] waits while it is full,
/// [`Mvar::take`] waits while it is empty; waiters are served oldest first.
///
/// Cloning an `Mvar` clones the handle, not the value.
pub struct Mvar<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

struct Inner<T> {
    value: Option<T>,
    takers: WaitList,
    putters: WaitList,
}

impl<T> Mvar<T> {
    /// An `Mvar` holding `value`.
    pub fn new(value: T) -> Self {
        Self::with(Some(value))
    }

    /// An empty `Mvar`.
    pub fn new_empty() -> Self {
        Self::with(None)
    }

    fn with(value: Option<T>) -> Self {
        Mvar {
            inner: Rc::new(RefCell::new(Inner {
                value,
                takers: WaitList::default(),
                putters: WaitList::default(),
            })),
        }
    }

    /// Puts `value` in, waiting while the slot is full.
    pub fn put(&self, value: T) -> Put<'_, T> {
        Put {
            mvar: self,
            value: Some(value),
            key: None,
        }
    }

    /// Takes the value out, waiting while the slot is empty.
    pub fn take(&self) -> Take<'_, T> {
        Take {
            mvar: self,
            key: None,
        }
    }

    /// Puts `value` in if the slot is empty, else gives it back.
    pub fn try_put(&self, value: T) -> Result<(), T> {
        let mut inner = self.inner.borrow_mut();
        if inner.value.is_some() {
            return Err(value);
        }
        inner.value = Some(value);
        let waker = inner.takers.pop();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Takes the value if there is one (Lwt's `take_available`).
    pub fn try_take(&self) -> Option<T> {
        let mut inner = self.inner.borrow_mut();
        let value = inner.value.take()?;
        let waker = inner.putters.pop();
        drop(inner);
        if let Some(w) = waker {
            w.wake();
        }
        Some(value)
    }

    /// Whether the slot is empty.
    pub fn is_empty(&self) -> bool {
        self.inner.borrow().value.is_none()
    }
}

impl<T> Clone for Mvar<T> {
    fn clone(&self) -> Self {
        Mvar {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for Mvar<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mvar")
            .field("empty", &self.is_empty())
            .finish()
    }
}

/// The future of [`Mvar::put`].
#[must_use = "futures do nothing unless awaited"]
pub struct Put<'a, T> {
    mvar: &'a Mvar<T>,
    value: Option<T>,
    key: Option<WaitKey>,
}

impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut inner = this.mvar.inner.borrow_mut();
        if inner.value.is_none() {
            inner.value = this.value.take();
            if let Some(key) = this.key.take() {
                inner.putters.remove(key);
            }
            let waker = inner.takers.pop();
            drop(inner);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(());
        }
        inner.putters.register(&mut this.key, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            pass_on(&self.mvar.inner, |i| &mut i.putters, key);
        }
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("done", &self.value.is_none())
            .finish()
    }
}

/// The future of [`Mvar::take`].
#[must_use = "futures do nothing unless awaited"]
pub struct Take<'a, T> {
    mvar: &'a Mvar<T>,
    key: Option<WaitKey>,
}

impl<T> Future for Take<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let mut inner = this.mvar.inner.borrow_mut();
        if let Some(value) = inner.value.take() {
            if let Some(key) = this.key.take() {
                inner.takers.remove(key);
            }
            let waker = inner.putters.pop();
            drop(inner);
            if let Some(w) = waker {
                w.wake();
            }
            return Poll::Ready(value);
        }
        inner.takers.register(&mut this.key, cx.waker());
        Poll::Pending
    }
}

impl<T> Drop for Take<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            pass_on(&self.mvar.inner, |i| &mut i.takers, key);
        }
    }
}

impl<T> fmt::Debug for Take<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Take").finish_non_exhaustive()
    }
}

/// Withdraws a dropped waiter from `list`, passing on a wake it had already been given.
fn pass_on<T>(
    inner: &RefCell<Inner<T>>,
    list: impl Fn(&mut Inner<T>) -> &mut WaitList,
    key: WaitKey,
) {
    let waker = list(&mut inner.borrow_mut()).cancel(key);
    if let Some(w) = waker {
        w.wake();
    }
}
