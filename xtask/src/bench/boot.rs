//! `bench boot`: the hello image's size, and the whole QEMU process booting it on microvm under
//! TCG, from spawn to exit, next to the floor: a kernel that exits at its first instruction
//! ([`super::floor`]). Also hello's own measure of its boot, from the PVH entry to `main`.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::time::Duration;

use super::report::{self, format_ns, json_number, json_string, na};
use super::{floor, save};
use crate::build::{self, Arch, BuildArgs};
use crate::qemu::{self, Accel, Machine, Outcome, Run, RunOptions, Vm};
use crate::util::{self, Error};

const APPLIANCE: &str = "hello";
const MACHINE: Machine = Machine::Microvm;
const ACCEL: Accel = Accel::Tcg;
/// Boots measured per image, after one warm-up boot each.
const RUNS: usize = 10;
/// One boot's limit.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The boot issue's budgets: the release image, stripped, and the guest's entry to `main`.
const IMAGE_BUDGET_BYTES: u64 = 200 * 1024;
const ENTRY_TO_MAIN_BUDGET_NS: f64 = 1e6;
/// What the boot shim prints when it calls `main`: `boot: entry to main in 412 us`.
const ENTRY_TO_MAIN: &str = "boot: entry to main in ";

/// The rows of the report, in order.
const HELLO: &str = "hello: QEMU spawn to exit";
const FLOOR: &str = "floor: QEMU spawn to exit";
const GUEST: &str = "hello: entry to main (guest)";

/// Builds hello, writes the floor image, boots both [`RUNS`] times, and saves the report.
pub fn run(group: &'static str, dir: &Path) -> Result<(), Error> {
    let version = qemu::ensure_installed()?;
    let image = build::build_image(&BuildArgs {
        appliance: APPLIANCE.to_owned(),
        release: true,
        arch: Some(Arch::X86_64),
    })?;
    let floor_path = dir.join("floor.elf");
    fs::create_dir_all(dir)
        .and_then(|()| fs::write(&floor_path, floor::image()))
        .map_err(|err| {
            Error::new(format!(
                "cannot write {}: {err}",
                util::display_path(&floor_path)
            ))
        })?;
    eprintln!(
        "floor: {} ({} bytes)",
        util::display_path(&floor_path),
        floor::image().len()
    );
    let firmware = qemu::firmware(MACHINE)?;
    let vm = |image| Vm {
        image,
        machine: MACHINE,
        firmware: firmware.as_deref(),
        accel: ACCEL,
        mem: qemu::DEFAULT_MEM,
        append: "",
        gdb: false,
        extra: &[],
    };
    let (hello, floor) = (vm(&image.path), vm(&floor_path));
    eprintln!("accel: {ACCEL} (bench boot measures TCG)");
    eprintln!("$ {}", hello.command().command_line());
    eprintln!("$ {}", floor.command().command_line());
    eprintln!("one warm-up boot each, then {RUNS} boots each, alternating");

    boot("hello", &hello)?;
    boot("floor", &floor)?;
    let (mut hello_ns, mut floor_ns, mut guest_ns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let run = boot("hello", &hello)?;
        hello_ns.push(run.elapsed.as_nanos() as f64);
        guest_ns.extend(entry_to_main(&run.console_text()));
        floor_ns.push(boot("floor", &floor)?.elapsed.as_nanos() as f64);
    }
    if guest_ns.is_empty() {
        eprintln!("warning: hello's console has no `{ENTRY_TO_MAIN}N us` line");
    }

    let results = Results {
        qemu: version.to_string(),
        image_bytes: image.bytes,
        stripped: image.path != image.elf,
        rows: vec![
            Row::new(HELLO, &hello_ns),
            Row::new(FLOOR, &floor_ns),
            Row::new(GUEST, &guest_ns),
        ],
    };
    println!();
    print!("{}", results.text());
    save(
        dir,
        group,
        &results.json(),
        &results.markdown(),
        |previous| {
            let times = report::previous_times(previous, "median")?;
            Some(report::changes("median", &results.medians(), &times))
        },
    )
}

/// Boots once, quietly; anything but exit code 0 is an error showing the console.
fn boot(name: &str, vm: &Vm) -> Result<Run, Error> {
    let options = RunOptions {
        echo_console: false,
        interactive: false,
        timeout: Some(TIMEOUT),
        stop_on_signal: false,
    };
    let run = qemu::run(vm.command().quiet(), &options)?;
    match run.outcome() {
        Outcome::Exited(0) => Ok(run),
        outcome => Err(Error::new(format!(
            "{name}: {outcome} ({:?}); console:\n{}\nstderr:\n{}",
            run.status,
            run.console_text(),
            run.stderr
        ))),
    }
}

/// The shim's boot time in nanoseconds, from `boot: entry to main in 412 us` (or `µs`, `ns`,
/// `ms`; a decimal number is fine).
fn entry_to_main(console: &str) -> Option<f64> {
    let line = console.lines().find_map(|line| {
        let at = line.find(ENTRY_TO_MAIN)?;
        Some(&line[at + ENTRY_TO_MAIN.len()..])
    })?;
    let mut words = line.split_whitespace();
    let value: f64 = words.next()?.parse().ok()?;
    let scale = match words.next()? {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        _ => return None,
    };
    Some(value * scale).filter(|ns| ns.is_finite())
}

/// Median, min and max of some samples, in nanoseconds.
#[derive(Debug, PartialEq)]
struct Row {
    workload: &'static str,
    samples: usize,
    median: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
}

impl Row {
    fn new(workload: &'static str, samples: &[f64]) -> Self {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted.len() / 2;
        let median = match sorted.len() {
            0 => None,
            len if len % 2 == 1 => Some(sorted[middle]),
            _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
        };
        Self {
            workload,
            samples: sorted.len(),
            median,
            min: sorted.first().copied(),
            max: sorted.last().copied(),
        }
    }
}

/// Everything `bench boot` measured.
#[derive(Debug)]
struct Results {
    qemu: String,
    image_bytes: u64,
    /// Whether `image_bytes` is the stripped image's size.
    stripped: bool,
    rows: Vec<Row>,
}

impl Results {
    fn header() -> Vec<String> {
        ["workload", "median", "min", "max"]
            .map(str::to_owned)
            .to_vec()
    }

    fn cells(&self) -> Vec<Vec<String>> {
        let show = |time: Option<f64>| time.map_or_else(na, format_ns);
        self.rows
            .iter()
            .map(|row| {
                vec![
                    row.workload.to_owned(),
                    show(row.median),
                    show(row.min),
                    show(row.max),
                ]
            })
            .collect()
    }

    fn medians(&self) -> Vec<(&str, Option<f64>)> {
        self.rows
            .iter()
            .map(|row| (row.workload, row.median))
            .collect()
    }

    /// What was measured, and how: a sentence for the console and the Markdown.
    fn setup(&self) -> String {
        format!(
            "QEMU {} on {MACHINE} under {ACCEL}, {RUNS} boots each after one warm-up, \
             alternating; hello sleeps 100 ms before it exits, the floor exits at its first \
             instruction.",
            self.qemu
        )
    }

    /// The budget lines: the image's size and the guest's entry to `main`.
    fn budgets(&self) -> String {
        let verdict = |within: bool| if within { "within" } else { "OVER" };
        let kib = self.image_bytes as f64 / 1024.0;
        let kind = if self.stripped {
            "release, stripped"
        } else {
            "release, NOT stripped: no objcopy found"
        };
        let mut out = format!(
            "hello image ({kind}): {} bytes ({kib:.1} KiB); budget {} KiB: {}\n",
            self.image_bytes,
            IMAGE_BUDGET_BYTES / 1024,
            verdict(self.image_bytes <= IMAGE_BUDGET_BYTES)
        );
        let guest = self.rows.iter().find(|row| row.workload == GUEST);
        let _ = match guest.and_then(|row| row.median) {
            Some(median) => writeln!(
                out,
                "hello entry to main: median {}; budget {}: {}",
                format_ns(median),
                format_ns(ENTRY_TO_MAIN_BUDGET_NS),
                verdict(median <= ENTRY_TO_MAIN_BUDGET_NS)
            ),
            None => writeln!(out, "hello entry to main: not printed by the guest"),
        };
        out
    }

    fn text(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.setup(),
            report::text_table(&Self::header(), &self.cells()),
            self.budgets()
        )
    }

    fn markdown(&self) -> String {
        format!(
            "# Bench: boot\n\n{}\n\n{}\n{}",
            self.setup(),
            report::markdown_table(&Self::header(), &self.cells()),
            self.budgets()
        )
    }

    /// The machine-readable report: times in nanoseconds, `null` when not measured.
    fn json(&self) -> String {
        let mut out = format!(
            "{{\n  \"group\": \"boot\",\n  \"unit\": \"ns\",\n  \"qemu\": {},\n  \
             \"machine\": \"{MACHINE}\",\n  \"accel\": \"{ACCEL}\",\n  \"runs\": {RUNS},\n  \
             \"image_bytes\": {},\n  \"image_stripped\": {},\n  \"image_budget_bytes\": \
             {IMAGE_BUDGET_BYTES},\n  \"entry_to_main_budget_ns\": {},\n  \"rows\": [",
            json_string(&self.qemu),
            self.image_bytes,
            self.stripped,
            json_number(Some(ENTRY_TO_MAIN_BUDGET_NS)),
        );
        for (index, row) in self.rows.iter().enumerate() {
            let separator = if index == 0 { "" } else { "," };
            let _ = write!(
                out,
                "{separator}\n    {{\"workload\": {}, \"samples\": {}, \"median\": {}, \
                 \"min\": {}, \"max\": {}}}",
                json_string(row.workload),
                row.samples,
                json_number(row.median),
                json_number(row.min),
                json_number(row.max)
            );
        }
        out.push_str("\n  ]\n}\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::json;
    use super::*;

    #[test]
    fn entry_to_main_lines() {
        let console = "boot: tsc 2.9 GHz from PIT\nboot: entry to main in 412 us\nHello\n";
        assert_eq!(entry_to_main(console), Some(412_000.0));
        assert_eq!(
            entry_to_main("\r\nboot: entry to main in 0.75 ms\r\n"),
            Some(750_000.0)
        );
        assert_eq!(
            entry_to_main("boot: entry to main in 980 µs"),
            Some(980_000.0)
        );
        for console in [
            "",
            "Hello from Morgana",
            "boot: entry to main in soon",
            "boot: entry to main in 5 fortnights",
        ] {
            assert_eq!(entry_to_main(console), None, "{console}");
        }
    }

    #[test]
    fn median_min_max() {
        let row = Row::new(HELLO, &[5.0, 1.0, 3.0]);
        assert_eq!(
            (row.median, row.min, row.max),
            (Some(3.0), Some(1.0), Some(5.0))
        );
        assert_eq!(Row::new(HELLO, &[4.0, 1.0, 2.0, 3.0]).median, Some(2.5));
        let empty = Row::new(GUEST, &[]);
        assert_eq!((empty.samples, empty.median, empty.max), (0, None, None));
    }

    fn sample() -> Results {
        Results {
            qemu: "10.0.2".into(),
            image_bytes: 100 * 1024,
            stripped: true,
            rows: vec![
                Row::new(HELLO, &[140e6, 150e6, 160e6]),
                Row::new(FLOOR, &[30e6, 32e6, 40e6]),
                Row::new(GUEST, &[]),
            ],
        }
    }

    #[test]
    fn report_renders_and_round_trips() {
        let results = sample();
        let text = results.text();
        assert!(
            text.contains("hello: QEMU spawn to exit     150.0 ms  140.0 ms  160.0 ms"),
            "{text}"
        );
        assert!(text.contains("budget 200 KiB: within"), "{text}");
        assert!(
            text.contains("hello entry to main: not printed by the guest"),
            "{text}"
        );
        let markdown = results.markdown();
        assert!(
            markdown.contains("| floor: QEMU spawn to exit | 32.00 ms | 30.00 ms | 40.00 ms |"),
            "{markdown}"
        );
        let json_text = results.json();
        assert_eq!(json::field(&json_text, "image_bytes"), Some("102400"));
        assert_eq!(json::field(&json_text, "machine"), Some("\"microvm\""));
        let previous = report::previous_times(&json_text, "median").unwrap();
        assert_eq!(
            previous,
            vec![
                (HELLO.to_owned(), Some(150e6)),
                (FLOOR.to_owned(), Some(32e6)),
                (GUEST.to_owned(), None),
            ]
        );
        let changes = report::changes("median", &results.medians(), &previous);
        assert!(
            changes.contains("150.0 ms -> 150.0 ms  (+0.0%)"),
            "{changes}"
        );
    }
}
