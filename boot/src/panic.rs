//! The bare-metal panic handler: the message and its location on the console, then a distinct
//! exit code — [`crate::EXIT_OUT_OF_MEMORY`] when the panic is Rust's allocation-failure path
//! (on stable Rust an allocation failure reaches the panic handler), else
//! [`crate::EXIT_PANIC`].

use core::fmt::Write;
use core::panic::PanicInfo;
use core::sync::atomic::{AtomicBool, Ordering};

use crate::arch;

static PANICKING: AtomicBool = AtomicBool::new(false);

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    if PANICKING.swap(true, Ordering::SeqCst) {
        arch::early_write(b"\nmorgana: panicked while panicking\n");
        arch::exit(crate::EXIT_PANIC);
    }
    let out_of_memory = crate::heap::ALLOC_FAILED.load(Ordering::Relaxed);
    let mut out = arch::EarlyConsole;
    if out_of_memory {
        let _ = write!(
            out,
            "\nmorgana: out of memory ({} KiB of heap): {}\n",
            crate::heap::size() / 1024,
            info.message()
        );
    } else {
        let _ = write!(out, "\nmorgana: panicked");
        if let Some(loc) = info.location() {
            let _ = write!(out, " at {}:{}:{}", loc.file(), loc.line(), loc.column());
        }
        let _ = writeln!(out, ":\n{}", info.message());
    }
    arch::exit(if out_of_memory {
        crate::EXIT_OUT_OF_MEMORY
    } else {
        crate::EXIT_PANIC
    })
}
