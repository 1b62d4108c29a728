//! [`ExitStatus`]: what an appliance's `main` returns and the exit code it becomes.

use core::fmt::Debug;

/// A value `main` may return. `()` is success (0); an integer is the exit code itself; an `Err`
/// prints `error: {:?}` on the console and exits with 1.
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
