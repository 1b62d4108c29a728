//! `cargo xtask bench`: run criterion benches and summarise their medians.

mod json;
mod report;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::util::{self, Cmd, Error};
use report::{Report, Row};

/// A criterion bench whose results form a workload × runtime table.
struct Group {
    name: &'static str,
    package: &'static str,
    bench: &'static str,
    workloads: &'static [&'static str],
    /// Ours first, then the baselines.
    runtimes: &'static [&'static str],
}

/// Every bench group; `cargo xtask bench` with no argument runs them all, in this order.
const GROUPS: &[Group] = &[Group {
    name: "executor",
    package: "morgana-benches",
    bench: "executor",
    workloads: &["spawn_100k", "mvar_pingpong_1m", "timers_100k"],
    runtimes: &["morgana", "tokio", "localpool"],
}];

pub fn bench(group: Option<&str>) -> Result<ExitCode, Error> {
    let selected: Vec<&Group> = match group {
        None => GROUPS.iter().collect(),
        Some(name) => vec![find_group(name)?],
    };
    for group in selected {
        run_group(group)?;
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

fn run_group(group: &Group) -> Result<(), Error> {
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
    let report = collect(group, &criterion)?;
    if !report.has_results() {
        eprintln!(
            "warning: no criterion results found under {}",
            util::display_path(&criterion)
        );
    }
    println!();
    print!("{}", report.text_table());
    save(&report, &util::target_dir().join("bench"))
}

/// Where criterion writes results: `$CRITERION_HOME`, else `<target>/criterion`.
fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) if !dir.is_empty() => util::workspace_root().join(dir),
        _ => util::target_dir().join("criterion"),
    }
}

/// Reads `<criterion>/<workload>/<runtime>/new/estimates.json` for every pair.
fn collect(group: &Group, criterion: &Path) -> Result<Report, Error> {
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
        group: group.name,
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

/// Writes `<dir>/<group>.json` and `.md`, keeping the previous JSON as `<group>.prev.json`
/// and printing how our times moved since then.
fn save(report: &Report, dir: &Path) -> Result<(), Error> {
    let io_error = |path: &Path, err: io::Error| {
        Error::new(format!("cannot write {}: {err}", util::display_path(path)))
    };
    fs::create_dir_all(dir).map_err(|err| io_error(dir, err))?;
    let json_path = dir.join(format!("{}.json", report.group));
    let prev_path = dir.join(format!("{}.prev.json", report.group));
    let md_path = dir.join(format!("{}.md", report.group));

    if let Ok(previous) = fs::read_to_string(&json_path) {
        fs::rename(&json_path, &prev_path).map_err(|err| io_error(&prev_path, err))?;
        let subject = report.runtimes.first().copied().unwrap_or_default();
        match report::previous_times(&previous, subject) {
            Some(times) => print!("\n{}", report.changes(&times)),
            None => eprintln!(
                "warning: cannot parse {}; skipping the comparison",
                util::display_path(&prev_path)
            ),
        }
    }

    fs::write(&json_path, report.json()).map_err(|err| io_error(&json_path, err))?;
    fs::write(&md_path, report.markdown()).map_err(|err| io_error(&md_path, err))?;
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

    #[test]
    fn group_lookup() {
        assert_eq!(
            find_group("executor").map(|group| group.bench),
            Ok("executor")
        );
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
        let group = find_group("executor").unwrap();

        let report = collect(group, &criterion).unwrap();
        assert_eq!(report.rows[0].times, vec![Some(100.0), Some(200.0), None]);
        assert_eq!(report.rows[2].times, vec![None, None, None]);

        let out = dir.join("bench");
        save(&report, &out).unwrap();
        save(&report, &out).unwrap();
        assert!(out.join("executor.json").is_file());
        assert!(out.join("executor.prev.json").is_file());
        assert!(out.join("executor.md").is_file());

        write_estimate("timers_100k", "morgana", f64::NAN);
        assert!(collect(group, &criterion).is_err());
        fs::remove_dir_all(&dir).unwrap();
    }
}
