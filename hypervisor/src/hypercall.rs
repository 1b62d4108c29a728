//! The way into Xen: the [`Hypercall`] trait, the x86_64 hypercall page behind it, and [`Xen`],
//! typed wrappers for the hypercalls Morgana makes.
//!
//! Ref: `xen.h` (numbers, the x86_64 calling convention: RAX = number, RDI, RSI, RDX, R10, R8
//! = arguments, RAX = result, RCX and R11 clobbered), `arch-x86/cpuid.h` (the hypercall page),
//! and for each wrapper the header named in its documentation.
//!
//! A guest does not hard-code `vmcall` or `vmmcall`: it asks Xen to write a hypercall page (an
//! MSR write naming a page of its memory), and calls entry `32 * number` of that page, where
//! Xen put the right instruction for this CPU.

use core::fmt;

use crate::abi::{DOMID_SELF, ShutdownReason, op};

/// Makes hypercalls.
///
/// # Safety
///
/// An implementation really enters Xen with `op` and `args` as the ABI says (or, in a test,
/// behaves as Xen would for the hypercalls it accepts).
pub unsafe trait Hypercall {
    /// Makes hypercall `op` with up to five arguments; returns Xen's result (negative: an
    /// errno).
    ///
    /// # Safety
    ///
    /// The arguments must be what hypercall `op` expects: pointers must point to live, writable
    /// structures of the right layout, and the call's effect on the guest (memory replaced,
    /// interrupts delivered, the domain shut down) must be one the caller is ready for.
    unsafe fn call(&self, op: u32, args: [u64; 5]) -> i64;
}

/// A hypercall's failure: Xen's negative errno.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct XenError(pub i64);

impl XenError {
    /// `-EAGAIN`: retry (a xenstore transaction conflict uses the same name).
    pub const EAGAIN: XenError = XenError(-11);

    /// The errno's symbolic name, where it is one Xen commonly returns.
    pub fn name(self) -> Option<&'static str> {
        Some(match -self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            11 => "EAGAIN",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            28 => "ENOSPC",
            38 => "ENOSYS",
            62 => "ETIME",
            _ => return None,
        })
    }
}

impl fmt::Debug for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for XenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "error {}", self.0),
        }
    }
}

fn check(rc: i64) -> Result<i64, XenError> {
    if rc < 0 { Err(XenError(rc)) } else { Ok(rc) }
}

/// Where a page goes with `XENMEM_add_to_physmap` (`memory.h`, `XENMAPSPACE_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapSpace {
    /// The shared_info page (index 0).
    SharedInfo,
    /// A frame of the grant table (index = frame number).
    GrantTable,
}

/// Typed hypercalls over an implementation of [`Hypercall`].
#[derive(Clone, Copy, Debug)]
pub struct Xen<H>(pub H);

// Argument structures, laid out as the public headers say (x86_64).

/// `memory.h`: `struct xen_add_to_physmap`.
#[repr(C)]
struct AddToPhysmap {
    domid: u16,
    size: u16,
    space: u32,
    idx: u64,
    gpfn: u64,
}

/// `hvm/hvm_op.h`: `struct xen_hvm_param`.
#[repr(C)]
struct HvmParam {
    domid: u16,
    index: u32,
    value: u64,
}

/// `hvm/hvm_op.h`: `struct xen_hvm_evtchn_upcall_vector`.
#[repr(C)]
struct UpcallVector {
    vcpu: u32,
    vector: u8,
}

/// `vcpu.h`: `struct vcpu_set_singleshot_timer`.
#[repr(C)]
struct SingleshotTimer {
    timeout_abs_ns: u64,
    flags: u32,
}

/// `grant_table.h`: `struct gnttab_query_size`.
#[repr(C)]
struct QuerySize {
    dom: u16,
    nr_frames: u32,
    max_nr_frames: u32,
    status: i16,
}

const CONSOLEIO_WRITE: u64 = 0;
const SCHEDOP_YIELD: u64 = 0;
const SCHEDOP_SHUTDOWN: u64 = 2;
const XENMEM_ADD_TO_PHYSMAP: u64 = 7;
const HVMOP_SET_PARAM: u64 = 0;
const HVMOP_GET_PARAM: u64 = 1;
const HVMOP_SET_EVTCHN_UPCALL_VECTOR: u64 = 23;
const VCPUOP_STOP_PERIODIC_TIMER: u64 = 7;
const VCPUOP_SET_SINGLESHOT_TIMER: u64 = 8;
const VCPUOP_STOP_SINGLESHOT_TIMER: u64 = 9;
const GNTTABOP_QUERY_SIZE: u64 = 6;
const EVTCHNOP_BIND_INTERDOMAIN: u64 = 0;
const EVTCHNOP_BIND_VIRQ: u64 = 1;
const EVTCHNOP_CLOSE: u64 = 3;
const EVTCHNOP_SEND: u64 = 4;
const EVTCHNOP_ALLOC_UNBOUND: u64 = 6;
const EVTCHNOP_UNMASK: u64 = 9;

impl<H: Hypercall> Xen<H> {
    fn ptr<T>(arg: &mut T) -> u64 {
        arg as *mut T as u64
    }

    /// `xen_version(XENVER_version)`: (major, minor).
    pub fn version(&self) -> (u16, u16) {
        // SAFETY: XENVER_version (0) takes no buffer.
        let v = unsafe { self.0.call(op::XEN_VERSION, [0; 5]) };
        ((v >> 16) as u16, v as u16)
    }

    /// `console_io(CONSOLEIO_write)`: writes to Xen's own console. Xen refuses it to an
    /// unprivileged domain (`EPERM`) unless it was built with verbose debugging.
    pub fn console_write(&self, bytes: &[u8]) -> Result<(), XenError> {
        // SAFETY: the buffer is live and `len` long; Xen only reads it.
        let rc = unsafe {
            self.0.call(
                op::CONSOLE_IO,
                [
                    CONSOLEIO_WRITE,
                    bytes.len() as u64,
                    bytes.as_ptr() as u64,
                    0,
                    0,
                ],
            )
        };
        check(rc).map(drop)
    }

    /// `sched_op(SCHEDOP_yield)`: lets Xen run someone else.
    pub fn sched_yield(&self) {
        // SAFETY: takes no argument.
        unsafe { self.0.call(op::SCHED_OP, [SCHEDOP_YIELD, 0, 0, 0, 0]) };
    }

    /// `sched_op(SCHEDOP_shutdown)` (`sched.h`): ends the domain with `reason`. Returns only if
    /// Xen refused.
    pub fn shutdown(&self, reason: ShutdownReason) -> XenError {
        let mut arg = reason as u32;
        // SAFETY: `struct sched_shutdown { unsigned int reason; }`, live on our stack.
        let rc = unsafe {
            self.0.call(
                op::SCHED_OP,
                [SCHEDOP_SHUTDOWN, Self::ptr(&mut arg), 0, 0, 0],
            )
        };
        XenError(rc.min(-1))
    }

    /// `memory_op(XENMEM_add_to_physmap)` (`memory.h`): puts page `idx` of `space` at guest
    /// frame `gpfn`.
    ///
    /// # Safety
    ///
    /// Whatever was at `gpfn` (usually a page of RAM) is replaced: the caller must own that
    /// page and never use it as RAM again.
    pub unsafe fn add_to_physmap(
        &self,
        space: MapSpace,
        idx: u64,
        gpfn: u64,
    ) -> Result<(), XenError> {
        let mut arg = AddToPhysmap {
            domid: DOMID_SELF,
            size: 0,
            space: match space {
                MapSpace::SharedInfo => 0,
                MapSpace::GrantTable => 1,
            },
            idx,
            gpfn,
        };
        // SAFETY: the argument is live; the replacement is the caller's contract.
        let rc = unsafe {
            self.0.call(
                op::MEMORY_OP,
                [XENMEM_ADD_TO_PHYSMAP, Self::ptr(&mut arg), 0, 0, 0],
            )
        };
        check(rc).map(drop)
    }

    /// `hvm_op(HVMOP_get_param)`: one of our HVM parameters (`crate::abi::hvm_param`).
    pub fn hvm_get_param(&self, index: u32) -> Result<u64, XenError> {
        let mut arg = HvmParam {
            domid: DOMID_SELF,
            index,
            value: 0,
        };
        // SAFETY: the argument is live; Xen writes `value`.
        let rc = unsafe {
            self.0
                .call(op::HVM_OP, [HVMOP_GET_PARAM, Self::ptr(&mut arg), 0, 0, 0])
        };
        check(rc).map(|_| arg.value)
    }

    /// `hvm_op(HVMOP_set_param)`.
    ///
    /// # Safety
    ///
    /// Parameters change how Xen treats the domain (`CALLBACK_IRQ` starts interrupts): the
    /// caller must be ready for the effect.
    pub unsafe fn hvm_set_param(&self, index: u32, value: u64) -> Result<(), XenError> {
        let mut arg = HvmParam {
            domid: DOMID_SELF,
            index,
            value,
        };
        // SAFETY: the argument is live; the effect is the caller's contract.
        let rc = unsafe {
            self.0
                .call(op::HVM_OP, [HVMOP_SET_PARAM, Self::ptr(&mut arg), 0, 0, 0])
        };
        check(rc).map(drop)
    }

    /// `hvm_op(HVMOP_set_evtchn_upcall_vector)`: event-channel upcalls for `vcpu` arrive as
    /// local APIC interrupts on `vector` (each one wants an EOI).
    ///
    /// # Safety
    ///
    /// An IDT entry must handle `vector` from now on.
    pub unsafe fn set_evtchn_upcall_vector(&self, vcpu: u32, vector: u8) -> Result<(), XenError> {
        let mut arg = UpcallVector { vcpu, vector };
        // SAFETY: the argument is live; the handler is the caller's contract.
        let rc = unsafe {
            self.0.call(
                op::HVM_OP,
                [HVMOP_SET_EVTCHN_UPCALL_VECTOR, Self::ptr(&mut arg), 0, 0, 0],
            )
        };
        check(rc).map(drop)
    }

    /// `vcpu_op(VCPUOP_set_singleshot_timer)` (`vcpu.h`): `VIRQ_TIMER` fires at Xen system
    /// time `abs_ns` (at once if that has passed).
    pub fn set_singleshot_timer(&self, vcpu: u32, abs_ns: u64) -> Result<(), XenError> {
        let mut arg = SingleshotTimer {
            timeout_abs_ns: abs_ns,
            flags: 0,
        };
        // SAFETY: the argument is live; Xen only reads it.
        let rc = unsafe {
            self.0.call(
                op::VCPU_OP,
                [
                    VCPUOP_SET_SINGLESHOT_TIMER,
                    u64::from(vcpu),
                    Self::ptr(&mut arg),
                    0,
                    0,
                ],
            )
        };
        check(rc).map(drop)
    }

    /// `vcpu_op(VCPUOP_stop_singleshot_timer)`.
    pub fn stop_singleshot_timer(&self, vcpu: u32) -> Result<(), XenError> {
        // SAFETY: takes no structure.
        let rc = unsafe {
            self.0.call(
                op::VCPU_OP,
                [VCPUOP_STOP_SINGLESHOT_TIMER, u64::from(vcpu), 0, 0, 0],
            )
        };
        check(rc).map(drop)
    }

    /// `vcpu_op(VCPUOP_stop_periodic_timer)`: no periodic `VIRQ_TIMER` (an idle guest should
    /// not be woken 100 times a second).
    pub fn stop_periodic_timer(&self, vcpu: u32) -> Result<(), XenError> {
        // SAFETY: takes no structure.
        let rc = unsafe {
            self.0.call(
                op::VCPU_OP,
                [VCPUOP_STOP_PERIODIC_TIMER, u64::from(vcpu), 0, 0, 0],
            )
        };
        check(rc).map(drop)
    }

    /// `set_timer_op`: the older single-shot timer of the current vCPU (0 stops it).
    pub fn set_timer_op(&self, abs_ns: u64) -> Result<(), XenError> {
        // SAFETY: one integer argument on x86_64.
        let rc = unsafe { self.0.call(op::SET_TIMER_OP, [abs_ns, 0, 0, 0, 0]) };
        check(rc).map(drop)
    }

    /// `grant_table_op(GNTTABOP_query_size)` (`grant_table.h`): (frames in use, most frames).
    pub fn gnttab_query_size(&self) -> Result<(u32, u32), XenError> {
        let mut arg = QuerySize {
            dom: DOMID_SELF,
            nr_frames: 0,
            max_nr_frames: 0,
            status: 0,
        };
        // SAFETY: one live structure (count 1); Xen writes its outputs.
        let rc = unsafe {
            self.0.call(
                op::GRANT_TABLE_OP,
                [GNTTABOP_QUERY_SIZE, Self::ptr(&mut arg), 1, 0, 0],
            )
        };
        check(rc)?;
        if arg.status != 0 {
            return Err(XenError(i64::from(arg.status)));
        }
        Ok((arg.nr_frames, arg.max_nr_frames))
    }

    fn evtchn_op<T>(&self, cmd: u64, arg: &mut T) -> Result<(), XenError> {
        // SAFETY: every `EVTCHNOP_*` argument is a small structure, live here; the wrappers
        // below pass the one their command expects.
        let rc = unsafe {
            self.0
                .call(op::EVENT_CHANNEL_OP, [cmd, Self::ptr(arg), 0, 0, 0])
        };
        check(rc).map(drop)
    }

    /// `EVTCHNOP_bind_virq` (`event_channel.h`): a port for virtual interrupt `virq` on `vcpu`.
    pub fn bind_virq(&self, virq: u32, vcpu: u32) -> Result<u32, XenError> {
        let mut arg = [virq, vcpu, 0];
        self.evtchn_op(EVTCHNOP_BIND_VIRQ, &mut arg)?;
        Ok(arg[2])
    }

    /// `EVTCHNOP_alloc_unbound`: a port that domain `remote` may bind to.
    pub fn alloc_unbound(&self, remote: u16) -> Result<u32, XenError> {
        #[repr(C)]
        struct AllocUnbound {
            dom: u16,
            remote_dom: u16,
            port: u32,
        }
        let mut arg = AllocUnbound {
            dom: DOMID_SELF,
            remote_dom: remote,
            port: 0,
        };
        self.evtchn_op(EVTCHNOP_ALLOC_UNBOUND, &mut arg)?;
        Ok(arg.port)
    }

    /// `EVTCHNOP_bind_interdomain`: a local port connected to `remote_port` of `remote`.
    pub fn bind_interdomain(&self, remote: u16, remote_port: u32) -> Result<u32, XenError> {
        #[repr(C)]
        struct BindInterdomain {
            remote_dom: u16,
            remote_port: u32,
            local_port: u32,
        }
        let mut arg = BindInterdomain {
            remote_dom: remote,
            remote_port,
            local_port: 0,
        };
        self.evtchn_op(EVTCHNOP_BIND_INTERDOMAIN, &mut arg)?;
        Ok(arg.local_port)
    }

    /// `EVTCHNOP_send`: notifies the other end of `port`.
    pub fn send(&self, port: u32) -> Result<(), XenError> {
        let mut arg = port;
        self.evtchn_op(EVTCHNOP_SEND, &mut arg)
    }

    /// `EVTCHNOP_unmask`: unmasks `port`, and re-delivers it if it became pending meanwhile.
    pub fn unmask(&self, port: u32) -> Result<(), XenError> {
        let mut arg = port;
        self.evtchn_op(EVTCHNOP_UNMASK, &mut arg)
    }

    /// `EVTCHNOP_close`.
    pub fn close(&self, port: u32) -> Result<(), XenError> {
        let mut arg = port;
        self.evtchn_op(EVTCHNOP_CLOSE, &mut arg)
    }
}

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
pub use page::HypercallPage;

#[cfg(all(target_arch = "x86_64", target_os = "none"))]
mod page {
    use super::Hypercall;

    core::arch::global_asm!(
        r#"
        /* The hypercall page: Xen writes it when its address goes into the MSR. Executable,
           in the text segment (Xen writes through the physical map, not our page tables),
           but not in the file: the linker script puts this section after the code, where
           the segment's memory is past its file size, so the loader zeroes it. */
        .pushsection .xen_hypercall_page, "ax", @nobits
        .balign 4096
        .global __xen_hypercall_page
        __xen_hypercall_page:
        .skip 4096
        .popsection
        "#
    );

    unsafe extern "C" {
        static __xen_hypercall_page: u8;
    }

    /// The x86_64 hypercall page, once installed.
    #[derive(Clone, Copy, Debug)]
    pub struct HypercallPage(());

    impl HypercallPage {
        /// Asks Xen to write the hypercall page, through the MSR that CPUID leaf base + 2
        /// named ([`crate::XenInfo::hypercall_msr`]).
        ///
        /// # Safety
        ///
        /// Xen must be present with that MSR (a `wrmsr` to a missing MSR faults), and the
        /// image must be identity-mapped (the page's virtual address is its physical one).
        pub unsafe fn install(msr: u32) -> HypercallPage {
            let addr = &raw const __xen_hypercall_page as u64;
            // SAFETY: the caller vouches for the MSR; the page is ours, page-aligned, and
            // its physical address is `addr`.
            unsafe {
                core::arch::asm!(
                    "wrmsr",
                    in("ecx") msr,
                    in("eax") addr as u32,
                    in("edx") (addr >> 32) as u32,
                    options(nostack)
                );
            }
            HypercallPage(())
        }

        /// The page, once [`HypercallPage::install`] ran (on an earlier boot stage).
        ///
        /// # Safety
        ///
        /// [`HypercallPage::install`] must have run.
        pub unsafe fn installed() -> HypercallPage {
            HypercallPage(())
        }
    }

    // SAFETY: entry `32 * op` of the page Xen wrote is the hypercall stub for `op`, called
    // with the x86_64 hypercall ABI below.
    unsafe impl Hypercall for HypercallPage {
        unsafe fn call(&self, op: u32, args: [u64; 5]) -> i64 {
            let entry = &raw const __xen_hypercall_page as u64 + u64::from(op) * 32;
            let ret: i64;
            // SAFETY: `entry` is Xen's stub for `op` (installed: the type's invariant); the
            // stub loads RAX and traps to Xen, which may clobber RCX, R11 and (debug builds)
            // the argument registers; the caller vouches for the arguments. The target has
            // no red zone, so the `call`'s push is harmless.
            unsafe {
                core::arch::asm!(
                    "call {entry}",
                    entry = in(reg) entry,
                    lateout("rax") ret,
                    inout("rdi") args[0] => _,
                    inout("rsi") args[1] => _,
                    inout("rdx") args[2] => _,
                    inout("r10") args[3] => _,
                    inout("r8") args[4] => _,
                    lateout("rcx") _,
                    lateout("r11") _,
                    lateout("r9") _,
                );
            }
            ret
        }
    }
}
