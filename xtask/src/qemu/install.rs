//! Finding QEMU, and installing it from Debian's bookworm-backports when it is missing or too old:
//! bookworm's own QEMU 7.2 crashes in later test setups, so we require 10 or newer.
//!
//! Only apt is ever contacted: the backports suite is added with the same mirror and key as the
//! machine's own `bookworm` entry, then `apt-get` installs from it.

use std::fmt;
use std::fs;
use std::io;
use std::process::Command;

use crate::util::{self, Cmd, Error};

/// The emulator run-qemu starts.
pub const BINARY: &str = "qemu-system-x86_64";

/// The oldest major version we accept.
const MIN_MAJOR: u32 = 10;

/// The Debian release whose entry we copy, and the suite we add next to it.
const RELEASE: &str = "bookworm";
const BACKPORTS: &str = "bookworm-backports";

/// Where the machine's Debian entries are, and where we write ours.
const DEBIAN_SOURCES: &str = "/etc/apt/sources.list.d/debian.sources";
const BACKPORTS_SOURCES: &str = "/etc/apt/sources.list.d/morgana-backports.sources";

/// x86_64 for this issue; arm brings qemu-system-aarch64 for the AArch64 issue.
const PACKAGES: &[&str] = &["qemu-system-x86", "qemu-system-arm"];

/// `apt-get install`'s options. Without `--no-install-recommends` apt also pulls in the GTK
/// and SDL front ends, OpenGL, SPICE and their ~150 dependencies; the firmware we boot with
/// (SeaBIOS, qboot and pvh.bin in qemu-system-data) are hard dependencies.
const INSTALL_OPTIONS: &[&str] = &["-y", "--no-install-recommends", "-t", BACKPORTS];

/// Used in the instructions for a non-root user when `debian.sources` cannot be read.
const DEFAULT_URIS: &str = "http://deb.debian.org/debian";
const DEFAULT_SIGNED_BY: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// A QEMU version, as `--version` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub micro: u32,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

/// The version in `QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)`.
pub fn parse_version(text: &str) -> Option<Version> {
    let line = text.lines().find(|line| line.contains(" version "))?;
    let (_, rest) = line.split_once(" version ")?;
    let word = rest.split_whitespace().next()?;
    let mut numbers = word.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = numbers.next()??;
    let minor = numbers.next().flatten().unwrap_or(0);
    let micro = numbers.next().flatten().unwrap_or(0);
    Some(Version {
        major,
        minor,
        micro,
    })
}

/// The installed version; `None` when the binary is not on the `PATH`.
fn probe() -> Result<Option<Version>, Error> {
    let output = match Command::new(BINARY).arg("--version").output() {
        Ok(output) => output,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::new(format!("could not run `{BINARY}`: {err}"))),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    match parse_version(&text) {
        Some(version) if output.status.success() => Ok(Some(version)),
        _ => Err(Error::new(format!(
            "`{BINARY} --version` did not print a version:\n{text}{}",
            String::from_utf8_lossy(&output.stderr)
        ))),
    }
}

/// Whether QEMU 10 or newer is installed, without installing it; the error says why not.
pub fn installed() -> Result<Version, String> {
    match probe() {
        Ok(Some(version)) if version.major >= MIN_MAJOR => Ok(version),
        Ok(Some(version)) => Err(format!(
            "`{BINARY}` is version {version}; Morgana needs {MIN_MAJOR} or newer"
        )),
        Ok(None) => Err(format!("`{BINARY}` not found")),
        Err(err) => Err(err.to_string()),
    }
}

/// Makes sure QEMU 10 or newer is installed, installing it when we are root; returns its version.
pub fn ensure() -> Result<Version, Error> {
    let why = match installed() {
        Ok(version) => return Ok(version),
        Err(why) => why,
    };
    if !util::is_root()? {
        return Err(Error::new(format!(
            "{why}. Install QEMU from {BACKPORTS} (xtask does this itself when run as root):\n\n{}",
            manual_commands()
        )));
    }
    eprintln!("{why}: installing QEMU from {BACKPORTS}");
    install()?;
    match probe()? {
        Some(version) if version.major >= MIN_MAJOR => {
            eprintln!("installed QEMU {version}");
            Ok(version)
        }
        Some(version) => Err(Error::new(format!(
            "installed QEMU from {BACKPORTS}, but `{BINARY}` is still version {version}; \
             is another QEMU earlier on the PATH?"
        ))),
        None => Err(Error::new(format!(
            "installed QEMU from {BACKPORTS}, but `{BINARY}` is still not on the PATH"
        ))),
    }
}

/// Adds the backports suite, then installs QEMU from it.
fn install() -> Result<(), Error> {
    let debian = fs::read_to_string(DEBIAN_SOURCES)
        .map_err(|err| Error::new(format!("cannot read {DEBIAN_SOURCES}: {err}")))?;
    let entry = backports_entry(&debian).map_err(Error::new)?;
    eprintln!("writing {BACKPORTS_SOURCES}:\n{entry}");
    fs::write(BACKPORTS_SOURCES, entry)
        .map_err(|err| Error::new(format!("cannot write {BACKPORTS_SOURCES}: {err}")))?;
    apt_get().arg("update").run()?;
    apt_get().args(install_args()).run()
}

fn apt_get() -> Cmd {
    Cmd::new("apt-get")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .install_hint(
            "QEMU is installed with apt; on a system without it, install QEMU 10 or newer yourself",
        )
}

fn install_args() -> Vec<String> {
    std::iter::once(&"install")
        .chain(INSTALL_OPTIONS)
        .chain(PACKAGES)
        .map(|&arg| arg.to_owned())
        .collect()
}

/// What a non-root user should run, as shell commands.
fn manual_commands() -> String {
    let entry = fs::read_to_string(DEBIAN_SOURCES)
        .ok()
        .and_then(|debian| backports_entry(&debian).ok())
        .unwrap_or_else(|| render_entry(DEFAULT_URIS, Some(DEFAULT_SIGNED_BY)));
    let install = install_args().join(" ");
    format!(
        "sudo tee {BACKPORTS_SOURCES} >/dev/null <<'EOF'\n{entry}EOF\n\
         sudo apt-get update\n\
         sudo DEBIAN_FRONTEND=noninteractive apt-get {install}\n"
    )
}

/// The backports entry for `morgana-backports.sources`: the URIs and Signed-By of the `deb`
/// entry for `bookworm` in `debian_sources` (deb822 format), with the backports suite.
pub fn backports_entry(debian_sources: &str) -> Result<String, String> {
    let stanza = stanzas(debian_sources)
        .into_iter()
        .find(|stanza| {
            let has = |key: &str, word: &str| {
                stanza
                    .get(key)
                    .is_some_and(|value| value.split_whitespace().any(|item| item == word))
            };
            has("Types", "deb")
                && has("Suites", RELEASE)
                && !stanza
                    .get("Enabled")
                    .is_some_and(|value| value.trim().eq_ignore_ascii_case("no"))
        })
        .ok_or_else(|| format!("{DEBIAN_SOURCES} has no `deb` entry for suite `{RELEASE}`"))?;
    let uris = stanza
        .raw("URIs")
        .filter(|uris| !uris.trim().is_empty())
        .ok_or_else(|| format!("the `{RELEASE}` entry in {DEBIAN_SOURCES} has no URIs"))?;
    Ok(render_entry(uris, stanza.raw("Signed-By")))
}

/// A deb822 entry for the backports suite; values may span lines (continuations kept verbatim).
fn render_entry(uris: &str, signed_by: Option<&str>) -> String {
    let field = |name: &str, value: &str| {
        let separator = if value.starts_with('\n') { "" } else { " " };
        format!("{name}:{separator}{value}\n")
    };
    let mut entry =
        format!("# Written by `cargo xtask`: QEMU {MIN_MAJOR} or newer comes from {BACKPORTS}.\n");
    entry.push_str(&field("Types", "deb"));
    entry.push_str(&field("URIs", uris));
    entry.push_str(&field("Suites", BACKPORTS));
    entry.push_str(&field("Components", "main"));
    if let Some(signed_by) = signed_by {
        entry.push_str(&field("Signed-By", signed_by));
    }
    entry
}

/// One deb822 paragraph: its fields in order. A multi-line value keeps its continuation lines
/// verbatim (leading space included) after a newline, so it can be written back as it was.
#[derive(Debug, Default)]
struct Stanza {
    fields: Vec<(String, String)>,
}

impl Stanza {
    /// The value of field `key` (field names are case-insensitive), trimmed.
    fn get(&self, key: &str) -> Option<&str> {
        self.raw(key).map(str::trim)
    }

    /// The value as written: a value that starts on the next line starts with a newline.
    fn raw(&self, key: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(key))
            .map(|(_, value)| value.trim_end())
    }
}

/// Splits deb822 text into paragraphs: blank lines separate them, `#` lines are comments,
/// lines starting with a space or tab continue the previous field.
fn stanzas(text: &str) -> Vec<Stanza> {
    let mut stanzas = Vec::new();
    let mut current = Stanza::default();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                stanzas.push(std::mem::take(&mut current));
            }
        } else if line.starts_with('#') {
            continue;
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = current.fields.last_mut() {
                value.push('\n');
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            current
                .fields
                .push((name.trim().to_owned(), value.trim().to_owned()));
        }
    }
    if !current.fields.is_empty() {
        stanzas.push(current);
    }
    stanzas
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let debian = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)\n\
                      Copyright (c) 2003-2025 Fabrice Bellard and the QEMU Project developers\n";
        assert_eq!(
            parse_version(debian),
            Some(Version {
                major: 10,
                minor: 0,
                micro: 2
            })
        );
        let old = parse_version("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7+deb12u13)");
        assert_eq!(old.map(|version| version.major), Some(7));
        let bare = parse_version("QEMU emulator version 11.1").unwrap();
        assert_eq!(bare.to_string(), "11.1.0");
        assert!(bare > old.unwrap());
        assert_eq!(
            parse_version("QEMU emulator version 9.2.0-rc1")
                .unwrap()
                .minor,
            2
        );
        for text in [
            "",
            "qemu-system-x86_64: unknown option",
            "QEMU emulator version x.y",
        ] {
            assert_eq!(parse_version(text), None, "{text}");
        }
    }

    const DEBIAN_SOURCES_HERE: &str = "\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
# http://snapshot.debian.org/archive/debian-security/20250520T000000Z
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
";

    #[test]
    fn backports_entry_copies_the_bookworm_mirror_and_key() {
        let entry = backports_entry(DEBIAN_SOURCES_HERE).unwrap();
        assert!(entry.starts_with("# Written by"), "{entry}");
        assert!(
            entry.ends_with(
                "Types: deb\n\
                 URIs: http://deb.debian.org/debian\n\
                 Suites: bookworm-backports\n\
                 Components: main\n\
                 Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
            ),
            "{entry}"
        );
    }

    #[test]
    fn backports_entry_skips_other_suites_sources_and_disabled_entries() {
        let text = "\
types: deb-src
uris: http://src.example/debian
suites: bookworm
components: main

Types: deb
URIs: http://off.example/debian
Suites: bookworm
Enabled: no

Types: deb deb-src
URIs: http://mirror.example/debian
  http://second.example/debian
Suites: bookworm-updates bookworm
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBF...
 -----END PGP PUBLIC KEY BLOCK-----
";
        let entry = backports_entry(text).unwrap();
        assert!(
            entry.contains(
                "URIs: http://mirror.example/debian\n  http://second.example/debian\n\
                 Suites: bookworm-backports\n"
            ),
            "{entry}"
        );
        assert!(
            entry.ends_with(
                "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n mQINBF...\n \
                 -----END PGP PUBLIC KEY BLOCK-----\n"
            ),
            "{entry}"
        );
        // Only the security suite: no `bookworm` entry at all.
        let security = DEBIAN_SOURCES_HERE.split("\n\n").nth(1).unwrap();
        assert!(backports_entry(security).is_err());
        assert!(backports_entry("").is_err());
        // An entry without a key is copied without one.
        let keyless = backports_entry("Types: deb\nURIs: http://x/debian\nSuites: bookworm\n");
        assert!(!keyless.unwrap().contains("Signed-By"));
    }

    #[test]
    fn manual_commands_are_complete() {
        let commands = manual_commands();
        assert!(commands.contains("sudo tee /etc/apt/sources.list.d/morgana-backports.sources"));
        assert!(commands.contains("Suites: bookworm-backports\n"));
        assert!(commands.contains("sudo apt-get update\n"));
        assert!(commands.contains(
            "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
             -t bookworm-backports qemu-system-x86 qemu-system-arm\n"
        ));
    }
}
