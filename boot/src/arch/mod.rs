//! Architecture code: the only place (with the hypervisor crate's hypercall instructions) where
//! `asm!`, registers and page tables appear.

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub mod x86_64;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub use self::x86_64::{EarlyConsole, early_write, exit};
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub mod aarch64;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
pub use self::aarch64::{EarlyConsole, early_write, exit};
