//! The baseline Linux VM of `bench vs-linux`: Debian's own kernel and an initramfs holding
//! busybox (Debian's `busybox-static`) and nginx (Debian's, with the libraries `ldd` names,
//! each from its Debian package), serving the static site's directory with the same files.
//!
//! Everything comes from Debian's archive with `apt-get download` and is unpacked with
//! `dpkg-deb -x`; what is built is cached under `target/bench/cache/linux-vm-KEY/`, where KEY
//! hashes the packages' versions. The kernel boots as a PVH ELF (`-kernel vmlinux`, its
//! `XEN_ELFNOTE_PHYS32_ENTRY` note is in vmlinux, not in the bzImage), so vmlinux is taken out
//! of the bzImage's compressed payload (the setup header's `payload_offset` and
//! `payload_length`, xz for Debian).
//!
//! Debian's kernel has virtio-mmio as a module and without `VIRTIO_MMIO_CMDLINE_DEVICES`, so
//! it finds microvm's virtio-mmio devices through ACPI only: the Linux VM's microvm keeps ACPI
//! on, where Morgana's has it off (Morgana reads the devices from the command line).

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use morgana_tests::netns::{GUEST, PEER, PREFIX};

use crate::util::{self, Error};

/// The kernel command line: the serial console, quiet (printing under TCG is slow), and no
/// reboot after a panic (QEMU runs with `-no-reboot`, so a panic ends it).
pub const CMDLINE: &str = "console=ttyS0 quiet panic=-1";

/// [`CMDLINE`] with the TSC's rate (`tsc_early_khz=`, the host's, which TCG's TSC follows) when
/// /proc/cpuinfo tells it: under TCG on a busy host the kernel's PIT calibration of the TSC
/// fails ("tsc: Unable to calibrate against PIT"), and the boot then hangs.
pub fn cmdline() -> String {
    let khz = fs::read_to_string("/proc/cpuinfo").ok().and_then(|info| {
        let mhz = info
            .lines()
            .find(|line| line.starts_with("cpu MHz"))?
            .split(':')
            .nth(1)?
            .trim()
            .parse::<f64>()
            .ok()?;
        Some((mhz * 1000.0).round() as u64)
    });
    match khz {
        Some(khz) => format!("{CMDLINE} tsc_early_khz={khz}"),
        None => CMDLINE.to_owned(),
    }
}

/// What the init script prints once nginx is about to start.
pub const READY: &str = "linux-vm: starting nginx";

/// The modules that bring up virtio-net on virtio-mmio, in load order.
const MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_mmio",
    "failover",
    "net_failover",
    "virtio_net",
];

/// A built Linux VM.
#[derive(Debug, Clone)]
pub struct LinuxVm {
    /// The PVH ELF kernel.
    pub vmlinux: PathBuf,
    /// The gzip-compressed newc cpio.
    pub initramfs: PathBuf,
    /// Debian's compressed kernel, for its size.
    pub bzimage_bytes: u64,
    /// `package=version` of everything in it.
    pub packages: Vec<String>,
}

impl LinuxVm {
    /// vmlinux plus the initramfs: what QEMU loads.
    pub fn bytes(&self) -> u64 {
        let size = |path: &Path| fs::metadata(path).map_or(0, |m| m.len());
        size(&self.vmlinux) + size(&self.initramfs)
    }
}

/// Builds the VM, or finds it in `cache`.
pub fn prepare(cache: &Path, site: &Path) -> Result<LinuxVm, Error> {
    let kernel = kernel_package()?;
    let main = [kernel.as_str(), "busybox-static", "nginx"];
    let mut packages = Vec::new();
    for package in main {
        packages.push(format!("{package}={}", candidate_version(package)?));
    }
    // The recipe is part of the key: a changed init script or nginx.conf rebuilds.
    let recipe = format!(
        "{}{}{NGINX_CONF}{CMDLINE}",
        packages.join(" "),
        init_script()
    );
    let key = format!("{:016x}", fnv1a(recipe.as_bytes()));
    let dir = cache.join(format!("linux-vm-{key}"));
    let vm_at = |packages: Vec<String>| -> Result<LinuxVm, Error> {
        let bzimage_bytes = fs::read_to_string(dir.join("bzimage-bytes"))
            .ok()
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(0);
        Ok(LinuxVm {
            vmlinux: dir.join("vmlinux"),
            initramfs: dir.join("initramfs.cpio.gz"),
            bzimage_bytes,
            packages,
        })
    };
    if let Ok(listed) = fs::read_to_string(dir.join("packages")) {
        let vm = vm_at(listed.lines().map(str::to_owned).collect())?;
        if vm.vmlinux.is_file() && vm.initramfs.is_file() {
            eprintln!("linux-vm: cached in {}", util::display_path(&dir));
            return Ok(vm);
        }
    }
    eprintln!(
        "linux-vm: building in {} from {}",
        util::display_path(&dir),
        packages.join(", ")
    );
    let debs = dir.join("debs");
    let root = dir.join("unpacked");
    let _ = fs::remove_dir_all(&root);
    mkdir(&debs)?;
    mkdir(&root)?;
    for package in &packages {
        fetch_and_unpack(package, &debs, &root)?;
    }

    // The kernel: vmlinux out of the bzImage, and its modules.
    let vmlinuz = find_file(&root.join("boot"), |name| name.starts_with("vmlinuz-"))
        .ok_or_else(|| Error::new("no boot/vmlinuz-* in the kernel package"))?;
    let bzimage = read(&vmlinuz)?;
    fs::write(dir.join("bzimage-bytes"), bzimage.len().to_string())
        .map_err(|err| Error::new(format!("{}: {err}", dir.display())))?;
    let vmlinux = extract_vmlinux(&bzimage)?;
    write(&dir.join("vmlinux"), &vmlinux)?;

    let mut cpio = Cpio::default();
    for dir in [
        "bin",
        "dev",
        "etc",
        "etc/nginx",
        "lib",
        "lib64",
        "lib/modules",
        "proc",
        "run",
        "sys",
        "tmp",
        "usr",
        "usr/sbin",
        "var",
        "var/lib",
        "var/lib/nginx",
        "var/log",
        "var/log/nginx",
        "site",
    ] {
        cpio.dir(dir);
    }
    cpio.char_device("dev/console", 5, 1);
    let busybox = root.join("bin/busybox");
    cpio.file("bin/busybox", 0o755, read(&busybox)?);
    cpio.symlink("bin/sh", "busybox");
    cpio.file("init", 0o755, init_script().into_bytes());
    for module in MODULES {
        let file = format!("{module}.ko");
        let path = find_file(&root.join("lib/modules"), |name| name == file)
            .ok_or_else(|| Error::new(format!("no {file} in the kernel package")))?;
        cpio.file(&format!("lib/modules/{file}"), 0o644, read(&path)?);
    }

    // nginx and the libraries it links, each from its Debian package.
    let nginx = root.join("usr/sbin/nginx");
    cpio.file("usr/sbin/nginx", 0o755, read(&nginx)?);
    for (soname, host_path) in ldd(&nginx)? {
        let package = owner(&host_path);
        let bytes = match &package {
            Some(package) => {
                let versioned = format!("{package}={}", candidate_version(package)?);
                if !packages.contains(&versioned) {
                    fetch_and_unpack(&versioned, &debs, &root)?;
                    packages.push(versioned);
                }
                let unpacked = find_file(&root, |name| name == soname);
                read(unpacked.as_deref().unwrap_or(&host_path))?
            }
            None => read(&host_path)?,
        };
        let at = if soname.starts_with("ld-linux") {
            format!("lib64/{soname}")
        } else {
            format!("lib/{soname}")
        };
        cpio.file(&at, 0o755, bytes);
    }
    cpio.file(
        "etc/nginx/nginx.conf",
        0o644,
        NGINX_CONF.as_bytes().to_vec(),
    );
    cpio.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
            .to_vec(),
    );
    cpio.file(
        "etc/group",
        0o644,
        b"root:x:0:\nnogroup:x:65534:\n".to_vec(),
    );
    let mut site_files: Vec<_> = fs::read_dir(site)
        .map_err(|err| Error::new(format!("{}: {err}", site.display())))?
        .flatten()
        .map(|entry| entry.path())
        .collect();
    site_files.sort();
    for path in site_files {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        cpio.file(&format!("site/{name}"), 0o644, read(&path)?);
    }
    let raw = dir.join("initramfs.cpio");
    write(&raw, &cpio.finish())?;
    gzip(&raw, &dir.join("initramfs.cpio.gz"))?;
    let _ = fs::remove_file(&raw);
    let _ = fs::remove_dir_all(&root);
    write(&dir.join("packages"), packages.join("\n").as_bytes())?;
    vm_at(packages)
}

/// The init script: modules, the network, then nginx in the foreground as PID 1's child.
fn init_script() -> String {
    let mut script = String::from(
        "#!/bin/sh\n\
         /bin/busybox mount -t proc proc /proc\n\
         /bin/busybox mount -t sysfs sys /sys\n\
         /bin/busybox mount -t devtmpfs dev /dev\n",
    );
    for module in MODULES {
        let _ = writeln!(script, "/bin/busybox insmod /lib/modules/{module}.ko");
    }
    let _ = write!(
        script,
        "i=0\n\
         while [ ! -e /sys/class/net/eth0 ] && [ $i -lt 500 ]; do /bin/busybox usleep 2000; i=$((i+1)); done\n\
         /bin/busybox ip link set lo up\n\
         /bin/busybox ip addr add {GUEST}/{PREFIX} dev eth0\n\
         /bin/busybox ip link set eth0 up\n\
         /bin/busybox ip route add default via {PEER}\n\
         echo '{READY}'\n\
         exec /usr/sbin/nginx -c /etc/nginx/nginx.conf\n"
    );
    script
}

/// One worker (one vCPU), no access log, keep-alive without a request limit (wrk keeps its
/// connections), the same files as the appliance.
const NGINX_CONF: &str = "user nobody nogroup;
worker_processes 1;
daemon off;
error_log stderr;
pid /run/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 65;
  types { text/html html; text/css css; image/svg+xml svg; text/plain txt; }
  default_type application/octet-stream;
  server { listen 80; root /site; index index.html; }
}
";

/// `linux-image-6.1.0-N-amd64`, what `linux-image-amd64` depends on.
fn kernel_package() -> Result<String, Error> {
    let out = output(Command::new("apt-cache").args(["depends", "linux-image-amd64"]))?;
    out.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends: "))
        .find(|name| name.starts_with("linux-image-"))
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::new(format!(
                "apt-cache depends linux-image-amd64 names no kernel (run apt-get update?):\n{out}"
            ))
        })
}

pub fn candidate_version(package: &str) -> Result<String, Error> {
    let out = output(Command::new("apt-cache").args(["show", "--no-all-versions", package]))?;
    out.lines()
        .find_map(|line| line.strip_prefix("Version: "))
        .map(str::to_owned)
        .ok_or_else(|| Error::new(format!("apt-cache show {package}: no Version")))
}

/// `apt-get download PACKAGE=VERSION` into `debs` (unless there), then `dpkg-deb -x` into `root`.
pub fn fetch_and_unpack(versioned: &str, debs: &Path, root: &Path) -> Result<(), Error> {
    let name = versioned.split('=').next().unwrap_or(versioned);
    let present = |debs: &Path| {
        fs::read_dir(debs).ok().and_then(|entries| {
            entries.flatten().map(|entry| entry.path()).find(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&format!("{name}_")) && n.ends_with(".deb"))
            })
        })
    };
    let deb = match present(debs) {
        Some(deb) => deb,
        None => {
            eprintln!("$ apt-get download {versioned}");
            output(
                Command::new("apt-get")
                    .args(["download", "-q", versioned])
                    .current_dir(debs),
            )?;
            present(debs)
                .ok_or_else(|| Error::new(format!("apt-get download {versioned}: no .deb")))?
        }
    };
    output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root))?;
    Ok(())
}

/// The libraries `ldd` lists for `binary`: (file name, path on this host).
pub fn ldd(binary: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let out = output(Command::new("ldd").arg(binary))?;
    let mut libs = Vec::new();
    for line in out.lines().map(str::trim) {
        // `libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)` or `/lib64/ld-linux-x86-64.so.2 (0x...)`
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/')),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let path = PathBuf::from(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        libs.push((name, path));
    }
    if libs.is_empty() {
        return Err(Error::new(format!(
            "ldd {}: no libraries:\n{out}",
            binary.display()
        )));
    }
    Ok(libs)
}

/// The Debian package that owns `path` (`dpkg -S`), trying its /usr and its resolved forms.
fn owner(path: &Path) -> Option<String> {
    let mut candidates = vec![path.to_path_buf()];
    if let Ok(real) = path.canonicalize() {
        candidates.push(real);
    }
    if let Ok(rest) = path.strip_prefix("/") {
        candidates.push(Path::new("/usr").join(rest));
    }
    candidates.iter().find_map(|candidate| {
        let out = output(Command::new("dpkg").arg("-S").arg(candidate)).ok()?;
        let package = out.lines().next()?.split(':').next()?.trim();
        (!package.is_empty() && !package.contains(' ')).then(|| package.to_owned())
    })
}

/// vmlinux from a bzImage: the payload at `(setup_sects + 1) * 512 + payload_offset`,
/// `payload_length` bytes, decompressed with xz.
pub fn extract_vmlinux(bzimage: &[u8]) -> Result<Vec<u8>, Error> {
    let (start, len) = payload(bzimage).ok_or_else(|| Error::new("not a bzImage"))?;
    let compressed = &bzimage[start..start + len];
    if !compressed.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        return Err(Error::new(
            "the bzImage's payload is not xz (Debian's kernels are)",
        ));
    }
    let mut child = Command::new("xz")
        .args(["-dc", "--single-stream"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| Error::new(format!("xz: {err} (apt-get install xz-utils)")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let data = compressed.to_vec();
    let feeder = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &data));
    let out = child
        .wait_with_output()
        .map_err(|err| Error::new(format!("xz: {err}")))?;
    let _ = feeder.join();
    if !out.status.success() || !out.stdout.starts_with(b"\x7fELF") {
        return Err(Error::new(format!(
            "xz could not unpack the kernel: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out.stdout)
}

/// (offset, length) of a bzImage's compressed payload, from its setup header.
fn payload(image: &[u8]) -> Option<(usize, usize)> {
    let u32_at = |at: usize| Some(u32::from_le_bytes(image.get(at..at + 4)?.try_into().ok()?));
    if image.get(0x202..0x206)? != b"HdrS" {
        return None;
    }
    let setup_sects = match *image.get(0x1f1)? {
        0 => 4,
        n => usize::from(n),
    };
    let start = (setup_sects + 1) * 512 + u32_at(0x248)? as usize;
    let len = u32_at(0x24c)? as usize;
    (start + len <= image.len()).then_some((start, len))
}

/// The bytes of code in an ELF64: per allocated executable section (`SHF_ALLOC |
/// SHF_EXECINSTR`), up to the end of its last function symbol when there is a symbol table
/// (linker scripts pad `.text` to a page), else the whole section. `None` without section
/// headers.
pub fn executable_bytes(elf: &[u8]) -> Option<u64> {
    if elf.get(..5)? != b"\x7fELF\x02" {
        return None;
    }
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let (shentsize, shnum) = (usize::from(u16_at(0x3a)?), usize::from(u16_at(0x3c)?));
    if shoff == 0 || shnum == 0 {
        return None;
    }
    const SHF_ALLOC_EXECINSTR: u64 = 0x2 | 0x4;
    const SHT_SYMTAB: u32 = 2;
    const STT_FUNC: u8 = 2;
    // (index, address, size) of the code sections, and where the symbol table is.
    let mut code = Vec::new();
    let mut symtab = None;
    for index in 0..shnum {
        let header = shoff + index * shentsize;
        if u64_at(header + 8)? & SHF_ALLOC_EXECINSTR == SHF_ALLOC_EXECINSTR {
            code.push((index, u64_at(header + 16)?, u64_at(header + 32)?));
        }
        if u32_at(header + 4)? == SHT_SYMTAB {
            symtab = Some((u64_at(header + 24)?, u64_at(header + 32)?));
        }
    }
    // The end of the last function in each code section.
    let mut ends = vec![0u64; code.len()];
    if let Some((offset, size)) = symtab {
        let (offset, size) = (usize::try_from(offset).ok()?, usize::try_from(size).ok()?);
        for symbol in (offset..offset + size).step_by(24) {
            if elf.get(symbol + 4)? & 0xf != STT_FUNC {
                continue;
            }
            let section = usize::from(u16_at(symbol + 6)?);
            if let Some(at) = code.iter().position(|&(index, _, _)| index == section) {
                let end = u64_at(symbol + 8)? + u64_at(symbol + 16)?;
                ends[at] = ends[at].max(end.saturating_sub(code[at].1));
            }
        }
    }
    Some(
        code.iter()
            .zip(&ends)
            .map(|(&(_, _, size), &end)| if end > 0 { end.min(size) } else { size })
            .sum(),
    )
}

/// A newc cpio archive, as the kernel's initramfs unpacker reads it.
#[derive(Debug, Default)]
pub struct Cpio {
    out: Vec<u8>,
    inode: u32,
}

impl Cpio {
    pub fn dir(&mut self, path: &str) {
        self.entry(path, 0o040_755, &[], (0, 0));
    }

    pub fn file(&mut self, path: &str, perm: u32, data: Vec<u8>) {
        self.entry(path, 0o100_000 | perm, &data, (0, 0));
    }

    pub fn symlink(&mut self, path: &str, target: &str) {
        self.entry(path, 0o120_777, target.as_bytes(), (0, 0));
    }

    pub fn char_device(&mut self, path: &str, major: u32, minor: u32) {
        self.entry(path, 0o020_600, &[], (major, minor));
    }

    fn entry(&mut self, path: &str, mode: u32, data: &[u8], rdev: (u32, u32)) {
        self.inode += 1;
        let nlink = if mode & 0o170_000 == 0o040_000 { 2 } else { 1 };
        let fields = [
            self.inode,
            mode,
            0, // uid
            0, // gid
            nlink,
            0, // mtime: fixed, so the archive is reproducible
            data.len() as u32,
            0, // devmajor
            0, // devminor
            rdev.0,
            rdev.1,
            path.len() as u32 + 1,
            0, // check
        ];
        self.out.extend_from_slice(b"070701");
        for field in fields {
            self.out
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.out.extend_from_slice(path.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    fn pad(&mut self) {
        while !self.out.len().is_multiple_of(4) {
            self.out.push(0);
        }
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, &[], (0, 0));
        self.out
    }
}

fn gzip(from: &Path, to: &Path) -> Result<(), Error> {
    let file =
        fs::File::create(to).map_err(|err| Error::new(format!("{}: {err}", to.display())))?;
    let status = Command::new("gzip")
        .args(["-9nc"])
        .arg(from)
        .stdout(file)
        .status()
        .map_err(|err| Error::new(format!("gzip: {err}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("gzip {} failed", from.display())))
    }
}

/// FNV-1a, 64 bits: a cache key that stays the same across Rust versions.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn find_file(dir: &Path, matches: impl Fn(&str) -> bool + Copy) -> Option<PathBuf> {
    let mut entries: Vec<_> = fs::read_dir(dir).ok()?.flatten().collect();
    entries.sort_by_key(|entry| entry.file_name());
    for entry in &entries {
        let path = entry.path();
        let file_type = entry.file_type().ok()?;
        if file_type.is_dir() {
            if let Some(found) = find_file(&path, matches) {
                return Some(found);
            }
        } else if entry.file_name().to_str().is_some_and(matches) {
            return Some(path);
        }
    }
    None
}

fn output(command: &mut Command) -> Result<String, Error> {
    let line = format!("{command:?}").replace('"', "");
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|err| Error::new(format!("`{line}`: {err}")))?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "`{line}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn mkdir(dir: &Path) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|err| Error::new(format!("{}: {err}", dir.display())))
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    fs::read(path).map_err(|err| Error::new(format!("{}: {err}", path.display())))
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    fs::write(path, bytes).map_err(|err| Error::new(format!("{}: {err}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpio_entries_are_newc_and_aligned() {
        let mut cpio = Cpio::default();
        cpio.dir("etc");
        cpio.file("etc/x", 0o644, b"hello".to_vec());
        cpio.char_device("dev/console", 5, 1);
        let out = cpio.finish();
        assert!(out.starts_with(b"070701"));
        assert_eq!(out.len() % 4, 0);
        // The file's header: mode 0100644 and size 5, then its name.
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("000081a4"), "{text}");
        assert!(text.contains("etc/x\0"), "{text}");
        assert!(text.contains("hello"));
        assert!(text.contains("TRAILER!!!"));
    }

    #[test]
    fn bzimage_payload_from_the_setup_header() {
        let mut image = vec![0u8; 4096];
        image[0x1f1] = 3;
        image[0x202..0x206].copy_from_slice(b"HdrS");
        image[0x248..0x24c].copy_from_slice(&100u32.to_le_bytes());
        image[0x24c..0x250].copy_from_slice(&50u32.to_le_bytes());
        assert_eq!(payload(&image), Some((4 * 512 + 100, 50)));
        image[0x24c..0x250].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(payload(&image), None);
        assert_eq!(payload(b"short"), None);
    }

    #[test]
    fn executable_sections_of_this_program() {
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        assert!(executable_bytes(&me).is_some_and(|bytes| bytes > 0));
        // The floor image has no section headers.
        assert_eq!(executable_bytes(&super::super::floor::image()), None);
        assert_eq!(executable_bytes(b"nope"), None);
    }

    #[test]
    fn the_init_script_brings_up_eth0_then_nginx() {
        let script = init_script();
        assert!(script.starts_with("#!/bin/sh\n"));
        assert!(script.contains("insmod /lib/modules/virtio_net.ko"));
        assert!(script.contains("ip addr add 10.7.0.2/24 dev eth0"));
        assert!(
            script
                .trim_end()
                .ends_with("exec /usr/sbin/nginx -c /etc/nginx/nginx.conf")
        );
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
    }
}
