//! `cargo xtask bench`: run criterion benches and summarise their medians, time QEMU boots,
//! and load the static site (against the hosted flavour, and against a Linux VM).

mod boot;
mod compare;
mod floor;
mod host_nginx;
mod http;
pub mod json;
mod lab;
mod linux_vm;
mod loadgen;
mod net;
mod plot;
mod report;
mod vs_linux;

pub use linux_vm::executable_bytes;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::build::Arch;
use crate::qemu::Accel;
use crate::util::{self, Cmd, Error};
use report::{Report, Row};

/// A bench group: what `cargo xtask bench NAME` runs.
struct Group {
    name: &'static str,
    kind: Kind,
}

enum Kind {
    /// A criterion bench whose results form a workload × runtime table.
    Criterion(Criterion),
    /// The hello image's size and QEMU boots against the floor image (see [`boot`]).
    Boot,
    /// TCP goodput over a TAP against Linux over veth, and memory per connection ([`net`]).
    Net,
    /// The static site's requests per second and latency against the hosted flavour ([`http`]).
    Http,
    /// The static site against a Linux VM with nginx ([`vs_linux`]).
    VsLinux,
}

struct Criterion {
    package: &'static str,
    bench: &'static str,
    workloads: &'static [&'static str],
    /// Ours first, then the baselines.
    runtimes: &'static [&'static str],
}

/// Every bench group; `cargo xtask bench` with no argument runs them all, in this order.
const GROUPS: &[Group] = &[
    Group {
        name: "executor",
        kind: Kind::Criterion(Criterion {
            package: "morgana-benches",
            bench: "executor",
            workloads: &["spawn_100k", "mvar_pingpong_1m", "timers_100k"],
            runtimes: &["morgana", "tokio", "localpool"],
        }),
    },
    Group {
        name: "boot",
        kind: Kind::Boot,
    },
    Group {
        name: "net",
        kind: Kind::Net,
    },
    Group {
        name: "http",
        kind: Kind::Http,
    },
    Group {
        name: "vs-linux",
        kind: Kind::VsLinux,
    },
];

/// The options after the group: `--accel kvm|tcg` (default tcg), `--quick` (a short run, for
/// smoke tests), `--arch x86_64|aarch64`. The groups that boot QEMU for load (`http`) honour
/// them (`vs-linux` too); the others run as they always have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    pub accel: Accel,
    pub quick: bool,
    pub arch: Arch,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, Error> {
        let mut options = Options {
            accel: Accel::Tcg,
            quick: false,
            arch: Arch::X86_64,
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) => (name, Some(value.to_owned())),
                None => (arg.as_str(), None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next().cloned())
                    .ok_or_else(|| Error::usage(format!("`{name}` needs a value")))
            };
            match name {
                "--accel" => options.accel = Accel::parse(&value()?)?,
                "--arch" => options.arch = Arch::parse(&value()?)?,
                "--quick" if inline.is_none() => options.quick = true,
                other => {
                    return Err(Error::usage(format!(
                        "unknown bench option `{other}` (options: --accel kvm|tcg, --quick, \
                         --arch x86_64|aarch64)"
                    )));
                }
            }
        }
        Ok(options)
    }
}

pub fn bench(group: Option<&str>, options: &[String]) -> Result<ExitCode, Error> {
    let options = Options::parse(options)?;
    let selected: Vec<&Group> = match group {
        None => GROUPS.iter().collect(),
        Some(name) => vec![find_group(name)?],
    };
    for group in selected {
        match &group.kind {
            Kind::Criterion(criterion) => run_criterion(group.name, criterion)?,
            Kind::Boot => boot::run(group.name, &util::target_dir().join("bench"))?,
            Kind::Net => net::run(group.name, &util::target_dir().join("bench"))?,
            Kind::Http => http::run(group.name, &util::target_dir().join("bench"), &options)?,
            Kind::VsLinux => {
                vs_linux::run(group.name, &util::target_dir().join("bench"), &options)?
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The names of all groups, for usage text.
pub fn group_names() -> String {
    GROUPS
        .iter()
        .map(|group| group.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn find_group(name: &str) -> Result<&'static Group, Error> {
    GROUPS
        .iter()
        .find(|group| group.name == name)
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown bench group `{name}` (groups: {})",
                group_names()
            ))
        })
}

fn run_criterion(name: &'static str, group: &Criterion) -> Result<(), Error> {
    Cmd::cargo()
        .args([
            "bench",
            "-p",
            group.package,
            "--bench",
            group.bench,
            "--",
            "--noplot",
        ])
        .run()?;
    let criterion = criterion_dir();
    let report = collect(name, group, &criterion)?;
    if !report.has_results() {
        eprintln!(
            "warning: no criterion results found under {}",
            util::display_path(&criterion)
        );
    }
    println!();
    print!("{}", report.text_table());
    save_report(&report, &util::target_dir().join("bench"))
}

/// Where criterion writes results: `$CRITERION_HOME`, else `<target>/criterion`.
fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) if !dir.is_empty() => util::workspace_root().join(dir),
        _ => util::target_dir().join("criterion"),
    }
}

/// Reads `<criterion>/<workload>/<runtime>/new/estimates.json` for every pair.
fn collect(name: &'static str, group: &Criterion, criterion: &Path) -> Result<Report, Error> {
    let mut rows = Vec::new();
    for &workload in group.workloads {
        let times = group
            .runtimes
            .iter()
            .map(|runtime| {
                let path = criterion
                    .join(workload)
                    .join(runtime)
                    .join("new/estimates.json");
                read_median(&path)
            })
            .collect::<Result<_, _>>()?;
        rows.push(Row { workload, times });
    }
    Ok(Report {
        group: name,
        runtimes: group.runtimes,
        rows,
    })
}

/// The median in nanoseconds; `None` when criterion did not measure this pair.
fn read_median(path: &Path) -> Result<Option<f64>, Error> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(Error::new(format!("cannot read {}: {err}", path.display()))),
    };
    json::median_point_estimate(&text).map(Some).ok_or_else(|| {
        Error::new(format!(
            "no numeric median.point_estimate in {}",
            path.display()
        ))
    })
}

/// Saves a criterion group's report (see [`save`]), comparing our runtime with the last run.
fn save_report(report: &Report, dir: &Path) -> Result<(), Error> {
    let subject = report.runtimes.first().copied().unwrap_or_default();
    save(
        dir,
        report.group,
        &report.json(),
        &report.markdown(),
        |previous| {
            let times = report::previous_times(previous, subject)?;
            Some(report.changes(&times))
        },
    )
}

/// Writes `<dir>/<group>.json` and `.md`, keeping the previous JSON as `<group>.prev.json`
/// and printing what `changes` makes of it (`None`: it could not be parsed).
fn save(
    dir: &Path,
    group: &str,
    json: &str,
    markdown: &str,
    changes: impl FnOnce(&str) -> Option<String>,
) -> Result<(), Error> {
    let io_error = |path: &Path, err: io::Error| {
        Error::new(format!("cannot write {}: {err}", util::display_path(path)))
    };
    fs::create_dir_all(dir).map_err(|err| io_error(dir, err))?;
    let json_path = dir.join(format!("{group}.json"));
    let prev_path = dir.join(format!("{group}.prev.json"));
    let md_path = dir.join(format!("{group}.md"));

    if let Ok(previous) = fs::read_to_string(&json_path) {
        fs::rename(&json_path, &prev_path).map_err(|err| io_error(&prev_path, err))?;
        match changes(&previous) {
            Some(changes) => print!("\n{changes}"),
            None => eprintln!(
                "warning: cannot parse {}; skipping the comparison",
                util::display_path(&prev_path)
            ),
        }
    }

    fs::write(&json_path, json).map_err(|err| io_error(&json_path, err))?;
    fs::write(&md_path, markdown).map_err(|err| io_error(&md_path, err))?;
    println!(
        "\nwrote {} and {}",
        util::display_path(&json_path),
        util::display_path(&md_path)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executor() -> &'static Criterion {
        match &find_group("executor").unwrap().kind {
            Kind::Criterion(criterion) => criterion,
            _ => panic!("executor is a criterion group"),
        }
    }

    #[test]
    fn group_lookup() {
        assert_eq!(executor().bench, "executor");
        assert!(matches!(
            find_group("boot").map(|group| &group.kind),
            Ok(Kind::Boot)
        ));
        assert_eq!(group_names(), "executor, boot, net, http, vs-linux");
        assert_eq!(find_group("nope").map_err(|err| err.code()).err(), Some(2));
    }

    #[test]
    fn collects_missing_pairs_as_none_and_saves_with_previous() {
        let dir = std::env::temp_dir().join(format!("xtask-bench-test-{}", std::process::id()));
        let criterion = dir.join("criterion");
        let write_estimate = |workload: &str, runtime: &str, ns: f64| {
            let path = criterion.join(workload).join(runtime).join("new");
            fs::create_dir_all(&path).unwrap();
            let text =
                format!(r#"{{"mean":{{"point_estimate":1}},"median":{{"point_estimate":{ns}}}}}"#);
            fs::write(path.join("estimates.json"), text).unwrap();
        };
        write_estimate("spawn_100k", "morgana", 100.0);
        write_estimate("spawn_100k", "tokio", 200.0);
        let group = executor();

        let report = collect("executor", group, &criterion).unwrap();
        assert_eq!(report.rows[0].times, vec![Some(100.0), Some(200.0), None]);
        assert_eq!(report.rows[2].times, vec![None, None, None]);

        let out = dir.join("bench");
        save_report(&report, &out).unwrap();
        save_report(&report, &out).unwrap();
        assert!(out.join("executor.json").is_file());
        assert!(out.join("executor.prev.json").is_file());
        assert!(out.join("executor.md").is_file());

        write_estimate("timers_100k", "morgana", f64::NAN);
        assert!(collect("executor", group, &criterion).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
