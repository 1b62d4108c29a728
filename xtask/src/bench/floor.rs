//! The floor of `bench boot`: the smallest x86_64 PVH kernel, one that exits at its first
//! instruction, so what QEMU costs on its own can be set next to a real appliance's boot.
//!
//! The image is a 204-byte ELF64 written here byte by byte (all fields little-endian):
//!
//! | offset | size | contents |
//! |-------:|-----:|:---------|
//! |      0 |   64 | ELF header: ELFCLASS64, ELFDATA2LSB, ET_EXEC, EM_X86_64, `e_entry` = the |
//! |        |      | code's address, two program headers at offset 64, no sections |
//! |     64 |   56 | `PT_LOAD`, R+X: the whole file (offset 0, 204 bytes) at 1 MiB |
//! |    120 |   56 | `PT_NOTE`, R, align 4: the note at offset 176 (20 bytes) |
//! |    176 |   20 | the Xen note: namesz 4, descsz 4, type 18 (`XEN_ELFNOTE_PHYS32_ENTRY`), |
//! |        |      | name `"Xen\0"`, desc = the 32-bit entry address |
//! |    196 |    8 | the code, entered in 32-bit protected mode (below) |
//!
//! ```text
//! 66 ba f4 00    mov  $0xf4, %dx     ; isa-debug-exit's port
//! 31 c0          xor  %eax, %eax     ; exit code 0
//! ef             out  %eax, (%dx)    ; QEMU exits with status (0 << 1) | 1 = 1
//! f4             hlt                 ; not reached
//! ```
//!
//! QEMU finds the entry through the note (it reads the name padded to the note segment's
//! alignment, hence align 4), loads the `PT_LOAD` segment at its physical address, and the
//! firmware (qboot, or SeaBIOS with pvh.bin) jumps to the entry.

/// Where the file is loaded: 1 MiB, where PVH kernels go.
const LOAD_ADDRESS: u64 = 0x10_0000;

const ELF_HEADER_SIZE: u16 = 64;
const PROGRAM_HEADER_SIZE: u16 = 56;
const PROGRAM_HEADERS: u16 = 2;
const NOTE_OFFSET: u64 = ELF_HEADER_SIZE as u64 + (PROGRAM_HEADER_SIZE * PROGRAM_HEADERS) as u64;
const NOTE_NAME: &[u8; 4] = b"Xen\0";
/// namesz, descsz and type, then the name and a 4-byte desc.
const NOTE_SIZE: u64 = 12 + 4 + 4;
const CODE_OFFSET: u64 = NOTE_OFFSET + NOTE_SIZE;
const CODE: [u8; 8] = [
    0x66, 0xba, 0xf4, 0x00, // mov $0xf4, %dx
    0x31, 0xc0, // xor %eax, %eax
    0xef, // out %eax, (%dx)
    0xf4, // hlt
];
const FILE_SIZE: u64 = CODE_OFFSET + CODE.len() as u64;
/// The entry point, as a physical address.
const ENTRY: u64 = LOAD_ADDRESS + CODE_OFFSET;

const XEN_ELFNOTE_PHYS32_ENTRY: u32 = 18;
const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PF_X: u32 = 1;
const PF_R: u32 = 4;

/// One program header's fields, in file order after `p_type` and `p_flags`.
struct Segment {
    kind: u32,
    flags: u32,
    offset: u64,
    size: u64,
    align: u64,
}

/// The floor image's bytes.
pub fn image() -> Vec<u8> {
    let mut elf = Vec::with_capacity(FILE_SIZE as usize);
    // e_ident: magic, ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_SYSV, padding.
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    elf.extend_from_slice(&[0; 8]);
    put16(&mut elf, 2); // e_type: ET_EXEC
    put16(&mut elf, 62); // e_machine: EM_X86_64
    put32(&mut elf, 1); // e_version
    put64(&mut elf, ENTRY); // e_entry
    put64(&mut elf, u64::from(ELF_HEADER_SIZE)); // e_phoff
    put64(&mut elf, 0); // e_shoff: no sections
    put32(&mut elf, 0); // e_flags
    put16(&mut elf, ELF_HEADER_SIZE); // e_ehsize
    put16(&mut elf, PROGRAM_HEADER_SIZE); // e_phentsize
    put16(&mut elf, PROGRAM_HEADERS); // e_phnum
    put16(&mut elf, 64); // e_shentsize
    put16(&mut elf, 0); // e_shnum
    put16(&mut elf, 0); // e_shstrndx

    let segments = [
        Segment {
            kind: PT_LOAD,
            flags: PF_R | PF_X,
            offset: 0,
            size: FILE_SIZE,
            align: 0x1000,
        },
        Segment {
            kind: PT_NOTE,
            flags: PF_R,
            offset: NOTE_OFFSET,
            size: NOTE_SIZE,
            align: 4,
        },
    ];
    for segment in &segments {
        put32(&mut elf, segment.kind);
        put32(&mut elf, segment.flags);
        put64(&mut elf, segment.offset); // p_offset
        put64(&mut elf, LOAD_ADDRESS + segment.offset); // p_vaddr
        put64(&mut elf, LOAD_ADDRESS + segment.offset); // p_paddr
        put64(&mut elf, segment.size); // p_filesz
        put64(&mut elf, segment.size); // p_memsz
        put64(&mut elf, segment.align);
    }

    put32(&mut elf, NOTE_NAME.len() as u32); // n_namesz
    put32(&mut elf, 4); // n_descsz
    put32(&mut elf, XEN_ELFNOTE_PHYS32_ENTRY); // n_type
    elf.extend_from_slice(NOTE_NAME);
    put32(&mut elf, ENTRY as u32); // desc: the 32-bit entry

    elf.extend_from_slice(&CODE);
    debug_assert_eq!(elf.len() as u64, FILE_SIZE);
    elf
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{self, Accel, Machine, Outcome, RunOptions, Vm};

    fn u16_at(bytes: &[u8], at: usize) -> u16 {
        u16::from_le_bytes(bytes[at..at + 2].try_into().unwrap())
    }

    fn u32_at(bytes: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap())
    }

    fn u64_at(bytes: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap())
    }

    /// Reads the image back the way a loader does.
    #[test]
    fn layout_reads_back() {
        let elf = image();
        assert_eq!(elf.len(), 204);
        assert_eq!(&elf[..4], b"\x7fELF");
        assert_eq!((elf[4], elf[5]), (2, 1), "ELF64, little-endian");
        assert_eq!(
            (u16_at(&elf, 16), u16_at(&elf, 18)),
            (2, 62),
            "ET_EXEC, EM_X86_64"
        );
        let entry = u64_at(&elf, 24);
        assert_eq!(entry, 0x10_00c4);
        let (phoff, phentsize, phnum) = (u64_at(&elf, 32), u16_at(&elf, 54), u16_at(&elf, 56));
        assert_eq!((phoff, phentsize, phnum), (64, 56, 2));

        let header = |index: usize| 64 + index * 56;
        let load = header(0);
        assert_eq!(u32_at(&elf, load), PT_LOAD);
        assert_eq!(u64_at(&elf, load + 8), 0, "p_offset");
        assert_eq!(u64_at(&elf, load + 24), 0x10_0000, "p_paddr");
        assert_eq!(u64_at(&elf, load + 32), elf.len() as u64, "p_filesz");
        // The entry lies in the loaded segment, at the code.
        let code = usize::try_from(entry - 0x10_0000).unwrap();
        assert_eq!(
            &elf[code..],
            &[0x66, 0xba, 0xf4, 0x00, 0x31, 0xc0, 0xef, 0xf4]
        );

        let note_header = header(1);
        assert_eq!(u32_at(&elf, note_header), PT_NOTE);
        assert_eq!(u64_at(&elf, note_header + 48), 4, "p_align");
        let note = usize::try_from(u64_at(&elf, note_header + 8)).unwrap();
        assert_eq!(u64_at(&elf, note_header + 32), 20, "p_filesz");
        assert_eq!(
            (
                u32_at(&elf, note),
                u32_at(&elf, note + 4),
                u32_at(&elf, note + 8)
            ),
            (4, 4, 18)
        );
        assert_eq!(&elf[note + 12..note + 16], b"Xen\0");
        assert_eq!(u64::from(u32_at(&elf, note + 16)), entry);
    }

    /// Boots the floor image under TCG on both machines when QEMU 10 or newer is installed.
    #[test]
    fn boots_and_exits_0_under_qemu() {
        if let Err(why) = qemu::installed() {
            eprintln!("skipped: {why}");
            return;
        }
        let path = std::env::temp_dir().join(format!("xtask-floor-{}.elf", std::process::id()));
        std::fs::write(&path, image()).unwrap();
        for machine in [Machine::Microvm, Machine::Q35] {
            let firmware = qemu::firmware(machine).unwrap();
            let vm = Vm {
                image: &path,
                machine,
                firmware: firmware.as_deref(),
                accel: Accel::Tcg,
                mem: "32M",
                append: "",
                gdb: false,
                extra: &[],
            };
            let options = RunOptions {
                echo_console: false,
                interactive: false,
                timeout: Some(std::time::Duration::from_secs(60)),
                stop_on_signal: false,
            };
            let run = qemu::run(vm.command(), &options).unwrap();
            assert_eq!(
                run.outcome(),
                Outcome::Exited(0),
                "{machine}: {:?}, stderr: {}",
                run.status,
                run.stderr
            );
            assert!(run.console.is_empty(), "{}", run.console_text());
        }
        std::fs::remove_file(&path).unwrap();
    }
}
