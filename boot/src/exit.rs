//! [`ExitStatus`]: what an appliance's `main` returns and the exit code it becomes.

use core::cell::Cell;
use core::fmt::{Debug, Display};

/// A value `main` may return. `()` is success (0); an integer is the exit code itself; an `Err`
/// prints `error: {:?}` on the console and exits with 1 (`#[morgana::main]` prints an error that
/// is also [`Display`] with `{}`: see [`Report`]).
pub trait ExitStatus {
    /// The exit code, with any report printed.
    fn exit_code(self) -> i32;
}

impl ExitStatus for () {
    fn exit_code(self) -> i32 {
        0
    }
}

impl ExitStatus for i32 {
    fn exit_code(self) -> i32 {
        self
    }
}

impl ExitStatus for u8 {
    fn exit_code(self) -> i32 {
        i32::from(self)
    }
}

impl<T: ExitStatus, E: Debug> ExitStatus for Result<T, E> {
    fn exit_code(self) -> i32 {
        match self {
            Ok(v) => v.exit_code(),
            Err(e) => {
                crate::console::print(format_args!("error: {e:?}\n"));
                1
            }
        }
    }
}

/// `#[morgana::main]`'s exit: `main`'s result, turned into its exit code by autoref
/// specialisation. An `Err` whose type is [`Display`] prints `error: {e}` ([`ReportDisplay`]):
/// the message as written, and no string escaping (`{:?}` of a `String` links in core's escaper
/// and Unicode tables, ~4 KiB of a small image). Anything else goes through [`ExitStatus`]
/// ([`ReportExitStatus`]). Not a stable API.
#[doc(hidden)]
#[allow(missing_debug_implementations)]
pub struct Report<S>(Cell<Option<S>>);

impl<S> Report<S> {
    /// Holds `main`'s result.
    pub fn new(status: S) -> Self {
        Report(Cell::new(Some(status)))
    }

    fn take(&self) -> S {
        self.0.take().expect("an exit status is reported once")
    }
}

/// The preferred case of [`Report`]: `Result<T, E>` with `E: Display`.
#[doc(hidden)]
pub trait ReportDisplay {
    /// The exit code, with any report printed.
    fn __morgana_exit_code(self) -> i32;
}

impl<T: ExitStatus, E: Display> ReportDisplay for &&Report<Result<T, E>> {
    fn __morgana_exit_code(self) -> i32 {
        match self.take() {
            Ok(v) => v.exit_code(),
            Err(e) => {
                crate::console::print(format_args!("error: {e}\n"));
                1
            }
        }
    }
}

/// The fallback case of [`Report`]: any [`ExitStatus`].
#[doc(hidden)]
pub trait ReportExitStatus {
    /// The exit code, with any report printed.
    fn __morgana_exit_code(self) -> i32;
}

impl<S: ExitStatus> ReportExitStatus for &Report<S> {
    fn __morgana_exit_code(self) -> i32 {
        self.take().exit_code()
    }
}
