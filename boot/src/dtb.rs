//! A flattened device tree (DTB), as QEMU `virt`, Xen on Arm and U-Boot hand an arm64 Image in
//! `x0`, turned into the same [`BootInfo`] as PVH's start info, plus the Arm devices the shim
//! needs: console, interrupt controller, timer, RTC, PSCI conduit, virtio-mmio slots, rng-seed.
//!
//! Ref: Devicetree Specification v0.4, chapter 5 ("Flattened Devicetree (DTB) Format") for the
//! blob, chapters 2-3 for `reg`, `#address-cells`, `/chosen`, `/aliases` and `/memory`; the
//! Linux bindings `arm/gic.yaml`, `arm/gic-v3.yaml`, `timer/arm,arch_timer.yaml` and
//! `arm/psci.yaml` for the rest.
//!
//! Our own parser, not the `fdt` crate: the blob comes from outside the image, so every read
//! is bounds-checked and every count bounded here, with a fuzz body
//! ([`crate::fuzz::device_tree`]); a hostile blob is a [`DtbError`] (boot fails with
//! [`crate::EXIT_BOOT_FAILED`]), never a panic. No allocation: it runs before the heap exists.
//! Host tests run it on DTBs dumped from QEMU 10 (`boot/testdata/`).

use core::fmt;

use crate::bootinfo::{BootInfo, MemoryKind, MemoryRegion, Module};

/// `fdt_header.magic`.
pub const FDT_MAGIC: u32 = 0xd00d_feed;
/// Size of the header we read (version 17: ten big-endian u32s).
pub const HEADER_LEN: usize = 40;
/// The largest blob accepted (QEMU's is 1 MiB with padding).
pub const MAX_TOTAL_SIZE: usize = 2 << 20;
/// Nodes nested deeper than this are refused.
pub const MAX_DEPTH: usize = 16;
/// The most virtio-mmio slots kept (QEMU `virt` has 32).
pub const MAX_VIRTIO: usize = 32;
/// The most `/memreserve/` entries read.
const MAX_RESERVE_ENTRIES: usize = 64;

const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// Why a device tree was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// The blob is shorter than its header says (or than a header).
    Truncated,
    /// No DTB at the address in `x0` (the magic is wrong).
    BadMagic(u32),
    /// A version we cannot read (we read 16 and 17, and later ones compatible with 16).
    Version(u32),
    /// `totalsize` is above [`MAX_TOTAL_SIZE`].
    TooLarge(u32),
    /// A block (structure, strings, reservations) lies outside the blob.
    BadBlock(&'static str),
    /// The structure block is malformed at this offset.
    BadStructure(usize),
    /// Nodes nest deeper than [`MAX_DEPTH`].
    TooDeep,
    /// No memory node with usable RAM.
    NoMemory,
}

impl fmt::Display for DtbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DtbError::Truncated => f.write_str("the device tree is truncated"),
            DtbError::BadMagic(m) => write!(
                f,
                "no device tree (magic {m:#x}, not {FDT_MAGIC:#x}): was the image booted as an \
                 arm64 Image with a DTB in x0?"
            ),
            DtbError::Version(v) => write!(f, "device tree version {v} is not supported"),
            DtbError::TooLarge(n) => write!(f, "device tree of {n} bytes is implausibly large"),
            DtbError::BadBlock(b) => write!(f, "the device tree's {b} block is out of bounds"),
            DtbError::BadStructure(at) => {
                write!(
                    f,
                    "the device tree's structure is malformed at offset {at:#x}"
                )
            }
            DtbError::TooDeep => write!(f, "device tree nodes nest deeper than {MAX_DEPTH}"),
            DtbError::NoMemory => f.write_str("the device tree describes no usable memory"),
        }
    }
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    let bytes = data.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

fn be64(data: &[u8], at: usize) -> Option<u64> {
    Some((u64::from(be32(data, at)?) << 32) | u64::from(be32(data, at + 4)?))
}

/// The blob's `totalsize`, from its first [`HEADER_LEN`] bytes: how much to read.
pub fn total_size(header: &[u8]) -> Result<usize, DtbError> {
    let magic = be32(header, 0).ok_or(DtbError::Truncated)?;
    if magic != FDT_MAGIC {
        return Err(DtbError::BadMagic(magic));
    }
    let size = be32(header, 4).ok_or(DtbError::Truncated)?;
    if size as usize > MAX_TOTAL_SIZE {
        return Err(DtbError::TooLarge(size));
    }
    if (size as usize) < HEADER_LEN {
        return Err(DtbError::Truncated);
    }
    Ok(size as usize)
}

/// A checked device tree blob.
#[derive(Clone, Copy, Debug)]
pub struct Fdt<'a> {
    structure: &'a [u8],
    strings: &'a [u8],
    reservations: &'a [u8],
}

/// One token of the structure block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Token<'a> {
    Begin(&'a [u8]),
    End,
    Prop(&'a [u8], &'a [u8]),
}

impl<'a> Fdt<'a> {
    /// Checks the header and the blocks' bounds.
    pub fn new(blob: &'a [u8]) -> Result<Self, DtbError> {
        let size = total_size(blob)?;
        let blob = blob.get(..size).ok_or(DtbError::Truncated)?;
        let field = |i: usize| be32(blob, 4 * i).ok_or(DtbError::Truncated);
        let (version, last_compatible) = (field(5)?, field(6)?);
        if version < 16 || last_compatible > 17 {
            return Err(DtbError::Version(version));
        }
        let block = |offset: u32, len: u32, name| {
            let start = offset as usize;
            start
                .checked_add(len as usize)
                .and_then(|end| blob.get(start..end))
                .ok_or(DtbError::BadBlock(name))
        };
        let structure = block(field(2)?, field(9)?, "structure")?;
        let strings = block(field(3)?, field(8)?, "strings")?;
        let reserve_at = field(4)? as usize;
        let reservations = blob
            .get(reserve_at..)
            .ok_or(DtbError::BadBlock("memory reservation"))?;
        Ok(Fdt {
            structure,
            strings,
            reservations,
        })
    }

    /// The `/memreserve/` entries: (address, size), up to the terminating zero entry.
    fn reservations(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        (0..MAX_RESERVE_ENTRIES)
            .map_while(|i| {
                let at = i * 16;
                Some((
                    be64(self.reservations, at)?,
                    be64(self.reservations, at + 8)?,
                ))
            })
            .take_while(|&(address, size)| address != 0 || size != 0)
    }

    /// Calls `visit` with each token, checking the structure as it goes.
    fn walk(
        &self,
        mut visit: impl FnMut(Token<'a>) -> Result<(), DtbError>,
    ) -> Result<(), DtbError> {
        let s = self.structure;
        let mut at = 0usize;
        let mut depth = 0usize;
        let mut seen_root = false;
        loop {
            let bad = DtbError::BadStructure(at);
            let token = be32(s, at).ok_or(bad)?;
            at += 4;
            match token {
                FDT_BEGIN_NODE => {
                    let rest = s.get(at..).ok_or(bad)?;
                    let len = rest.iter().position(|&b| b == 0).ok_or(bad)?;
                    if depth == 0 && seen_root {
                        return Err(bad); // a second root
                    }
                    depth += 1;
                    seen_root = true;
                    if depth > MAX_DEPTH {
                        return Err(DtbError::TooDeep);
                    }
                    visit(Token::Begin(&rest[..len]))?;
                    at = (at + len + 1).next_multiple_of(4);
                }
                FDT_END_NODE => {
                    depth = depth.checked_sub(1).ok_or(bad)?;
                    visit(Token::End)?;
                }
                FDT_PROP => {
                    let len = be32(s, at).ok_or(bad)? as usize;
                    let name_off = be32(s, at + 4).ok_or(bad)? as usize;
                    at += 8;
                    let value = s.get(at..at.checked_add(len).ok_or(bad)?).ok_or(bad)?;
                    let name = self.strings.get(name_off..).ok_or(bad)?;
                    let name = &name[..name.iter().position(|&b| b == 0).ok_or(bad)?];
                    if depth == 0 {
                        return Err(bad); // a property outside any node
                    }
                    visit(Token::Prop(name, value))?;
                    at = (at + len).next_multiple_of(4);
                }
                FDT_NOP => {}
                FDT_END if depth == 0 && seen_root => return Ok(()),
                _ => return Err(bad),
            }
        }
    }
}

/// A register block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reg {
    /// Physical address.
    pub base: u64,
    /// Length in bytes.
    pub size: u64,
}

/// The interrupt controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gic {
    /// GICv2: distributor and CPU interface.
    V2 {
        /// GICD.
        distributor: Reg,
        /// GICC.
        cpu: Reg,
    },
    /// GICv3: distributor and the redistributor region (system-register CPU interface).
    V3 {
        /// GICD.
        distributor: Reg,
        /// GICR frames, one pair per CPU.
        redistributors: Reg,
    },
}

/// An interrupt, as the GIC numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Irq {
    /// GIC interrupt ID: 16-31 for PPIs, 32 and up for SPIs.
    pub intid: u32,
    /// Level-sensitive (else edge-triggered).
    pub level: bool,
}

/// How PSCI calls reach the firmware or hypervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conduit {
    /// `hvc #0` (QEMU without EL2/EL3 firmware, Xen).
    Hvc,
    /// `smc #0` (EL3 firmware such as TF-A).
    Smc,
}

/// A virtio-mmio slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VirtioSlot {
    /// Its registers.
    pub reg: Reg,
    /// Its interrupt.
    pub irq: Irq,
}

/// What the device tree says about an Arm machine.
#[derive(Clone)]
pub struct ArmMachine {
    /// Memory, command line, initrd: what every boot protocol gives.
    pub boot: BootInfo,
    /// The PL011 that `/chosen/stdout-path` names (else the first PL011).
    pub console: Option<Reg>,
    /// The interrupt controller.
    pub gic: Option<Gic>,
    /// The generic timer's virtual-timer PPI.
    pub virtual_timer: Option<Irq>,
    /// The PL031 real-time clock.
    pub rtc: Option<Reg>,
    /// PSCI's conduit, if the tree has a PSCI node.
    pub psci: Option<Conduit>,
    /// Whether the root is `linux,dummy-virt`: QEMU's `virt` machine.
    pub qemu_virt: bool,
    rng_seed: [u8; 64],
    rng_seed_len: usize,
    virtio: [VirtioSlot; MAX_VIRTIO],
    virtio_count: usize,
    initrd: (Option<u64>, Option<u64>),
}

impl ArmMachine {
    fn new() -> Self {
        ArmMachine {
            boot: BootInfo::new(),
            console: None,
            gic: None,
            virtual_timer: None,
            rtc: None,
            psci: None,
            qemu_virt: false,
            rng_seed: [0; 64],
            rng_seed_len: 0,
            virtio: [VirtioSlot {
                reg: Reg { base: 0, size: 0 },
                irq: Irq {
                    intid: 0,
                    level: false,
                },
            }; MAX_VIRTIO],
            virtio_count: 0,
            initrd: (None, None),
        }
    }

    /// `/chosen/rng-seed` (at most 64 bytes kept).
    pub fn rng_seed(&self) -> &[u8] {
        &self.rng_seed[..self.rng_seed_len]
    }

    /// The virtio-mmio slots, in tree order (empty ones included: the device ID says).
    pub fn virtio(&self) -> &[VirtioSlot] {
        &self.virtio[..self.virtio_count]
    }

    /// Every device register block the shim or a driver touches: what paging maps as device
    /// memory.
    pub fn device_ranges(&self) -> impl Iterator<Item = Reg> + '_ {
        let gic = match self.gic {
            Some(Gic::V2 { distributor, cpu }) => [Some(distributor), Some(cpu)],
            Some(Gic::V3 {
                distributor,
                redistributors,
            }) => [Some(distributor), Some(redistributors)],
            None => [None, None],
        };
        [self.console, self.rtc]
            .into_iter()
            .chain(gic)
            .flatten()
            .chain(self.virtio().iter().map(|v| v.reg))
    }
}

impl fmt::Debug for ArmMachine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArmMachine")
            .field("boot", &self.boot)
            .field("console", &self.console)
            .field("gic", &self.gic)
            .field("virtual_timer", &self.virtual_timer)
            .field("rtc", &self.rtc)
            .field("psci", &self.psci)
            .field("rng_seed_len", &self.rng_seed_len)
            .field("virtio", &self.virtio())
            .finish()
    }
}

/// A node being read: its name and the properties we care about (properties precede child
/// nodes in a DTB, so they are all known when the first child begins).
#[derive(Clone, Copy)]
struct Node<'a> {
    name: &'a [u8],
    /// `#address-cells` / `#size-cells` for this node's children.
    address_cells: u32,
    size_cells: u32,
    /// Whether this node's `reg` addresses are CPU physical addresses (the root's children,
    /// and below them only through empty `ranges`).
    identity: bool,
    has_empty_ranges: bool,
    compatible: &'a [u8],
    device_type: &'a [u8],
    reg: &'a [u8],
    interrupts: &'a [u8],
    method: &'a [u8],
    status_ok: bool,
}

impl<'a> Node<'a> {
    fn new(name: &'a [u8], identity: bool) -> Self {
        Node {
            name,
            address_cells: 2,
            size_cells: 1,
            identity,
            has_empty_ranges: false,
            compatible: &[],
            device_type: &[],
            reg: &[],
            interrupts: &[],
            method: &[],
            status_ok: true,
        }
    }

    /// Whether the NUL-separated `compatible` list has `want`.
    fn is_compatible(&self, want: &str) -> bool {
        self.compatible
            .split(|&b| b == 0)
            .any(|c| c == want.as_bytes())
    }
}

/// A NUL-terminated string property's text (without the NUL).
fn string(value: &[u8]) -> &[u8] {
    value.split(|&b| b == 0).next().unwrap_or(&[])
}

/// A `reg` property as (address, size) pairs, given the parent's cell counts; `None` for cell
/// counts we do not read (addresses over 64 bits).
fn regs(
    value: &[u8],
    address_cells: u32,
    size_cells: u32,
) -> Option<impl Iterator<Item = Reg> + '_> {
    if !(1..=2).contains(&address_cells) || size_cells > 2 {
        return None;
    }
    let read = |chunk: &[u8], cells: u32| -> u64 {
        chunk
            .chunks_exact(4)
            .take(cells as usize)
            .fold(0u64, |acc, c| {
                (acc << 32) | u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            })
    };
    let stride = 4 * (address_cells + size_cells) as usize;
    Some(value.chunks_exact(stride).map(move |chunk| {
        let (a, s) = chunk.split_at(4 * address_cells as usize);
        Reg {
            base: read(a, address_cells),
            size: read(s, size_cells),
        }
    }))
}

/// The `n`th three-cell GIC interrupt specifier of an `interrupts` property.
fn gic_irq(value: &[u8], n: usize) -> Option<Irq> {
    let at = n.checked_mul(12)?;
    let (kind, number, flags) = (be32(value, at)?, be32(value, at + 4)?, be32(value, at + 8)?);
    let intid = match kind {
        0 if number < 988 => 32 + number,
        1 if number < 16 => 16 + number,
        _ => return None,
    };
    Some(Irq {
        intid,
        level: flags & 0xc != 0,
    })
}

/// A big-endian 32- or 64-bit cell value (`linux,initrd-start` comes in either).
fn cell_value(value: &[u8]) -> Option<u64> {
    match value.len() {
        4 => be32(value, 0).map(u64::from),
        8 => be64(value, 0),
        _ => None,
    }
}

/// Whether the path of the nodes in `stack` is `path` (`/a/b@1`; a component without a unit
/// address matches a node name with one, as the spec allows).
fn path_is(stack: &[Node<'_>], path: &[u8]) -> bool {
    let Some(path) = path.strip_prefix(b"/") else {
        return false;
    };
    let mut parts = path.split(|&b| b == b'/').filter(|p| !p.is_empty());
    for node in stack.iter().skip(1) {
        let Some(part) = parts.next() else {
            return false;
        };
        let base = node.name.split(|&b| b == b'@').next().unwrap_or(&[]);
        if part != node.name && part != base {
            return false;
        }
    }
    parts.next().is_none() && stack.len() > 1
}

/// Reads a device tree blob into an [`ArmMachine`].
pub fn parse(blob: &[u8]) -> Result<ArmMachine, DtbError> {
    let fdt = Fdt::new(blob)?;
    let stdout = stdout_path(&fdt)?;
    let mut out = ArmMachine::new();
    let mut first_pl011 = None;
    let mut stack = [Node::new(&[], true); MAX_DEPTH];
    let mut depth = 0usize;
    fdt.walk(|token| {
        match token {
            Token::Begin(name) => {
                let identity = match depth {
                    0 | 1 => true,
                    _ => stack[depth - 1].identity && stack[depth - 1].has_empty_ranges,
                };
                stack[depth] = Node::new(name, identity);
                depth += 1;
            }
            Token::Prop(name, value) => {
                let node = &mut stack[depth - 1];
                let cells = || be32(value, 0);
                match name {
                    b"#address-cells" => node.address_cells = cells().unwrap_or(2),
                    b"#size-cells" => node.size_cells = cells().unwrap_or(1),
                    b"ranges" => node.has_empty_ranges = value.is_empty(),
                    b"compatible" => node.compatible = value,
                    b"device_type" => node.device_type = string(value),
                    b"reg" => node.reg = value,
                    b"interrupts" => node.interrupts = value,
                    b"method" => node.method = string(value),
                    b"status" => node.status_ok = matches!(string(value), b"okay" | b"ok"),
                    _ => {}
                }
                if depth == 2 && stack[1].name == b"chosen" {
                    chosen(&mut out, name, value);
                }
            }
            Token::End => {
                depth -= 1;
                if depth == 0 {
                    out.qemu_virt = stack[0].is_compatible("linux,dummy-virt");
                } else {
                    let parent = stack[depth - 1];
                    let node = stack[depth];
                    let at_stdout = stdout.is_some_and(|p| path_is(&stack[..=depth], p));
                    device(&mut out, &parent, &node, at_stdout, &mut first_pl011, depth);
                }
            }
        }
        Ok(())
    })?;
    for (address, size) in fdt.reservations() {
        out.boot.push_region(MemoryRegion {
            start: address,
            len: size,
            kind: MemoryKind::Reserved,
        });
    }
    if let (Some(start), Some(end)) = out.initrd
        && end > start
    {
        out.boot.push_module(Module {
            start,
            len: end - start,
        });
    }
    if out.console.is_none() {
        out.console = first_pl011;
    }
    if out.boot.usable_bytes() == 0 {
        return Err(DtbError::NoMemory);
    }
    Ok(out)
}

/// A property of `/chosen`.
fn chosen(out: &mut ArmMachine, name: &[u8], value: &[u8]) {
    match name {
        b"bootargs" => out.boot.set_cmdline(string(value)),
        b"rng-seed" => {
            let n = value.len().min(out.rng_seed.len());
            out.rng_seed[..n].copy_from_slice(&value[..n]);
            out.rng_seed_len = n;
        }
        b"linux,initrd-start" => out.initrd.0 = cell_value(value),
        b"linux,initrd-end" => out.initrd.1 = cell_value(value),
        _ => {}
    }
}

/// A node that just ended, at `depth` (1 = a child of the root).
fn device(
    out: &mut ArmMachine,
    parent: &Node<'_>,
    node: &Node<'_>,
    at_stdout: bool,
    first_pl011: &mut Option<Reg>,
    depth: usize,
) {
    if !node.identity || !node.status_ok {
        return;
    }
    let reg = |n: usize| regs(node.reg, parent.address_cells, parent.size_cells)?.nth(n);
    let is_memory = node.device_type == b"memory"
        || (depth == 1 && node.name.split(|&b| b == b'@').next() == Some(b"memory"));
    if is_memory {
        if let Some(all) = regs(node.reg, parent.address_cells, parent.size_cells) {
            for r in all {
                out.boot.push_region(MemoryRegion {
                    start: r.base,
                    len: r.size,
                    kind: MemoryKind::Usable,
                });
            }
        }
        return;
    }
    // Children of /reserved-memory (which has empty `ranges`) are carved out of RAM.
    if depth == 2 && parent.name == b"reserved-memory" {
        if let Some(all) = regs(node.reg, parent.address_cells, parent.size_cells) {
            for r in all {
                out.boot.push_region(MemoryRegion {
                    start: r.base,
                    len: r.size,
                    kind: MemoryKind::Reserved,
                });
            }
        }
        return;
    }
    if node.is_compatible("arm,pl011") {
        if at_stdout {
            out.console = reg(0);
        } else if first_pl011.is_none() {
            *first_pl011 = reg(0);
        }
    } else if node.is_compatible("arm,pl031") {
        out.rtc = out.rtc.or(reg(0));
    } else if node.is_compatible("arm,gic-v3") {
        if let (Some(distributor), Some(redistributors)) = (reg(0), reg(1)) {
            out.gic = out.gic.or(Some(Gic::V3 {
                distributor,
                redistributors,
            }));
        }
    } else if [
        "arm,cortex-a15-gic",
        "arm,gic-400",
        "arm,cortex-a9-gic",
        "arm,cortex-a7-gic",
    ]
    .iter()
    .any(|c| node.is_compatible(c))
    {
        if let (Some(distributor), Some(cpu)) = (reg(0), reg(1)) {
            out.gic = out.gic.or(Some(Gic::V2 { distributor, cpu }));
        }
    } else if node.is_compatible("arm,armv8-timer") || node.is_compatible("arm,armv7-timer") {
        // interrupts: secure physical, non-secure physical, virtual, hypervisor.
        out.virtual_timer = out.virtual_timer.or(gic_irq(node.interrupts, 2));
    } else if node.is_compatible("virtio,mmio") {
        if let (Some(reg), Some(irq)) = (reg(0), gic_irq(node.interrupts, 0))
            && reg.size > 0
            && out.virtio_count < MAX_VIRTIO
        {
            out.virtio[out.virtio_count] = VirtioSlot { reg, irq };
            out.virtio_count += 1;
        }
    } else if depth == 1
        && (node.is_compatible("arm,psci-1.0")
            || node.is_compatible("arm,psci-0.2")
            || node.is_compatible("arm,psci"))
    {
        out.psci = match node.method {
            b"hvc" => Some(Conduit::Hvc),
            b"smc" => Some(Conduit::Smc),
            _ => None,
        };
    }
}

/// `/chosen/stdout-path`, resolved through `/aliases` when it is an alias, without options
/// (`/pl011@9000000:115200n8` → `/pl011@9000000`).
fn stdout_path<'a>(fdt: &Fdt<'a>) -> Result<Option<&'a [u8]>, DtbError> {
    let mut path: Option<&'a [u8]> = None;
    let mut depth = 0usize;
    let mut in_chosen = false;
    fdt.walk(|token| {
        match token {
            Token::Begin(name) => {
                depth += 1;
                in_chosen = depth == 2 && name == b"chosen";
            }
            Token::End => {
                depth -= 1;
                in_chosen = false;
            }
            Token::Prop(name, value) if in_chosen && name == b"stdout-path" => {
                let s = string(value);
                path = Some(s.split(|&b| b == b':').next().unwrap_or(s));
            }
            Token::Prop(..) => {}
        }
        Ok(())
    })?;
    let Some(p) = path else {
        return Ok(None);
    };
    if p.starts_with(b"/") {
        return Ok(Some(p));
    }
    let mut resolved = None;
    let mut in_aliases = false;
    depth = 0;
    fdt.walk(|token| {
        match token {
            Token::Begin(name) => {
                depth += 1;
                in_aliases = depth == 2 && name == b"aliases";
            }
            Token::End => {
                depth -= 1;
                in_aliases = false;
            }
            Token::Prop(name, value) if in_aliases && name == p => resolved = Some(string(value)),
            Token::Prop(..) => {}
        }
        Ok(())
    })?;
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GICV3: &[u8] = include_bytes!("../testdata/qemu-virt-gicv3.dtb");
    const GICV2: &[u8] = include_bytes!("../testdata/qemu-virt-gicv2.dtb");

    #[test]
    fn qemu_virt_with_gicv3() {
        let m = parse(GICV3).unwrap();
        assert_eq!(
            m.boot.usable_ranges().as_slice(),
            [(0x4000_0000, 0x4200_0000)]
        );
        assert_eq!(
            m.console,
            Some(Reg {
                base: 0x900_0000,
                size: 0x1000
            })
        );
        assert_eq!(
            m.gic,
            Some(Gic::V3 {
                distributor: Reg {
                    base: 0x800_0000,
                    size: 0x1_0000
                },
                redistributors: Reg {
                    base: 0x80a_0000,
                    size: 0xf6_0000
                },
            })
        );
        assert_eq!(
            m.virtual_timer,
            Some(Irq {
                intid: 27,
                level: true
            })
        );
        assert_eq!(m.rtc.map(|r| r.base), Some(0x901_0000));
        assert_eq!(m.psci, Some(Conduit::Hvc));
        assert!(m.qemu_virt);
        assert_eq!(m.virtio().len(), 32);
        assert_eq!(
            m.virtio()[0],
            VirtioSlot {
                reg: Reg {
                    base: 0xa00_0000,
                    size: 0x200
                },
                irq: Irq {
                    intid: 32 + 16,
                    level: false
                },
            }
        );
        assert_eq!(m.rng_seed().len(), 32);
        assert!(m.device_ranges().count() >= 36);
    }

    #[test]
    fn qemu_virt_with_gicv2() {
        let m = parse(GICV2).unwrap();
        assert_eq!(
            m.gic,
            Some(Gic::V2 {
                distributor: Reg {
                    base: 0x800_0000,
                    size: 0x1_0000
                },
                cpu: Reg {
                    base: 0x801_0000,
                    size: 0x1_0000
                },
            })
        );
        assert_eq!(m.virtual_timer.map(|i| i.intid), Some(27));
    }

    #[test]
    fn hostile_blobs_are_errors() {
        assert_eq!(parse(&[]).unwrap_err(), DtbError::Truncated);
        assert_eq!(parse(&[0; 64]).unwrap_err(), DtbError::BadMagic(0));
        let mut blob = GICV3.to_vec();
        blob[4..8].copy_from_slice(&(GICV3.len() as u32 + 1).to_be_bytes());
        assert_eq!(parse(&blob).unwrap_err(), DtbError::Truncated);
        let mut blob = GICV3.to_vec();
        blob[8..12].copy_from_slice(&0xffff_fff0u32.to_be_bytes()); // structure offset
        assert_eq!(parse(&blob).unwrap_err(), DtbError::BadBlock("structure"));
        // A memory node with no usable RAM.
        let mut blob = GICV3.to_vec();
        let at = find(&blob, b"memory@40000000");
        blob[at] = b'x';
        let dt = find(&blob, b"memory\0");
        blob[dt] = b'x';
        assert_eq!(parse(&blob).unwrap_err(), DtbError::NoMemory);
    }

    fn find(hay: &[u8], needle: &[u8]) -> usize {
        hay.windows(needle.len())
            .position(|w| w == needle)
            .expect("present")
    }

    #[test]
    fn stdout_path_through_an_alias_and_a_unit_address_free_path() {
        let stack = [
            Node::new(b"", true),
            Node::new(b"soc", true),
            Node::new(b"serial@1000", true),
        ];
        assert!(path_is(&stack, b"/soc/serial@1000"));
        assert!(path_is(&stack, b"/soc/serial"));
        assert!(!path_is(&stack, b"/soc"));
        assert!(!path_is(&stack, b"serial0"));
        assert!(!path_is(&stack[..1], b"/"));
    }
}
