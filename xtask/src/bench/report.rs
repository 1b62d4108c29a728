//! Bench results rendered as a console table, Markdown and JSON, and compared with a
//! previous run.

use std::fmt::Write as _;

use super::json;

/// Median times of one bench group: a row per workload, a column per runtime.
#[derive(Debug)]
pub struct Report {
    pub group: &'static str,
    /// The first runtime is ours; the others are the baselines it is compared with.
    pub runtimes: &'static [&'static str],
    pub rows: Vec<Row>,
}

#[derive(Debug)]
pub struct Row {
    pub workload: &'static str,
    /// Median nanoseconds per runtime, in `Report::runtimes` order; `None` when not measured.
    pub times: Vec<Option<f64>>,
}

impl Row {
    /// Our runtime's time.
    pub fn subject(&self) -> Option<f64> {
        self.times.first().copied().flatten()
    }

    /// Our time divided by the fastest baseline present: below 1 means we are faster.
    pub fn ratio_to_best(&self) -> Option<f64> {
        let best = self
            .times
            .iter()
            .skip(1)
            .flatten()
            .copied()
            .reduce(f64::min)?;
        Some(self.subject()? / best).filter(|ratio| ratio.is_finite())
    }
}

impl Report {
    pub fn has_results(&self) -> bool {
        self.rows
            .iter()
            .any(|row| row.times.iter().any(Option::is_some))
    }

    fn header(&self) -> Vec<String> {
        let subject = self.runtimes.first().copied().unwrap_or("subject");
        let runtimes = self.runtimes.iter().map(|&runtime| runtime.to_owned());
        std::iter::once("workload".to_owned())
            .chain(runtimes)
            .chain(std::iter::once(format!("{subject} / best other")))
            .collect()
    }

    fn cells(&self) -> Vec<Vec<String>> {
        let row_cells = |row: &Row| {
            let times = row.times.iter().map(|time| time.map_or_else(na, format_ns));
            let ratio = row
                .ratio_to_best()
                .map_or_else(na, |ratio| format!("{ratio:.2}x"));
            std::iter::once(row.workload.to_owned())
                .chain(times)
                .chain(std::iter::once(ratio))
                .collect()
        };
        self.rows.iter().map(row_cells).collect()
    }

    /// An aligned plain-text table for the console.
    pub fn text_table(&self) -> String {
        text_table(&self.header(), &self.cells())
    }

    /// The same table in Markdown.
    pub fn markdown(&self) -> String {
        format!(
            "# Bench: {}\n\nMedian time per iteration.\n\n{}",
            self.group,
            markdown_table(&self.header(), &self.cells())
        )
    }

    /// The machine-readable report: times in nanoseconds, `null` when not measured.
    pub fn json(&self) -> String {
        let mut out = format!(
            "{{\n  \"group\": {},\n  \"unit\": \"ns\",\n  \"rows\": [",
            json_string(self.group)
        );
        for (index, row) in self.rows.iter().enumerate() {
            let separator = if index == 0 { "" } else { "," };
            let _ = write!(
                out,
                "{separator}\n    {{\"workload\": {}",
                json_string(row.workload)
            );
            for (runtime, time) in self.runtimes.iter().zip(&row.times) {
                let _ = write!(out, ", {}: {}", json_string(runtime), json_number(*time));
            }
            let _ = write!(
                out,
                ", \"ratio_to_best\": {}}}",
                json_number(row.ratio_to_best())
            );
        }
        out.push_str("\n  ]\n}\n");
        out
    }

    /// One line per workload: our time now against `previous` (from [`previous_times`]).
    pub fn changes(&self, previous: &[(String, Option<f64>)]) -> String {
        let subject = self.runtimes.first().copied().unwrap_or("subject");
        let current: Vec<(&str, Option<f64>)> = self
            .rows
            .iter()
            .map(|row| (row.workload, row.subject()))
            .collect();
        changes(subject, &current, previous)
    }
}

/// An aligned plain-text table: the first column left-aligned, the others right-aligned.
pub fn text_table(header: &[String], cells: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            let lines = std::iter::once(header).chain(cells.iter().map(Vec::as_slice));
            lines
                .map(|line| line[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let render = |line: &[String]| {
        let columns = line
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, &width))| {
                if column == 0 {
                    format!("{cell:<width$}")
                } else {
                    format!("{cell:>width$}")
                }
            });
        columns.collect::<Vec<_>>().join("  ")
    };
    let rule = widths
        .iter()
        .map(|&width| "-".repeat(width))
        .collect::<Vec<_>>()
        .join("  ");
    let mut out = format!("{}\n{rule}\n", render(header));
    for line in cells {
        out.push_str(&render(line));
        out.push('\n');
    }
    out
}

/// The same table in Markdown.
pub fn markdown_table(header: &[String], cells: &[Vec<String>]) -> String {
    let align: Vec<String> = (0..header.len())
        .map(|column| if column == 0 { ":--" } else { "--:" }.to_owned())
        .collect();
    let mut out = String::new();
    for line in std::iter::once(header)
        .chain(std::iter::once(align.as_slice()))
        .chain(cells.iter().map(Vec::as_slice))
    {
        let _ = writeln!(out, "| {} |", line.join(" | "));
    }
    out
}

/// One line per workload: its time now against `previous` (from [`previous_times`]);
/// `label` names the column compared.
pub fn changes(
    label: &str,
    current: &[(&str, Option<f64>)],
    previous: &[(String, Option<f64>)],
) -> String {
    let width = current
        .iter()
        .map(|(workload, _)| workload.len())
        .max()
        .unwrap_or(0);
    let mut out = format!("change in {label} vs the previous run (negative is faster):\n");
    for &(workload, now) in current {
        let before = previous.iter().find(|(name, _)| name == workload);
        let change = match before {
            None => "no previous result".to_owned(),
            Some((_, before)) => {
                let show = |time: Option<f64>| time.map_or_else(na, format_ns);
                let percent = match (*before, now) {
                    (Some(before), Some(now)) if before > 0.0 => {
                        format!("  ({:+.1}%)", (now - before) / before * 100.0)
                    }
                    _ => String::new(),
                };
                format!("{} -> {}{percent}", show(*before), show(now))
            }
        };
        let _ = writeln!(out, "  {workload:<width$}  {change}");
    }
    out
}

/// Each workload's time for `runtime` from a report written by [`Report::json`].
pub fn previous_times(report: &str, runtime: &str) -> Option<Vec<(String, Option<f64>)>> {
    let rows = json::items(json::field(report, "rows")?)?;
    rows.into_iter()
        .map(|row| {
            let workload = json::string(json::field(row, "workload")?)?.to_owned();
            let time = json::field(row, runtime).and_then(json::number);
            Some((workload, time))
        })
        .collect()
}

/// Nanoseconds in the largest unit that keeps the number at or above 1: `812.0 ns`, `1.250 µs`.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = match ns.abs() {
        n if n < 1e3 => (ns, "ns"),
        n if n < 1e6 => (ns / 1e3, "µs"),
        n if n < 1e9 => (ns / 1e6, "ms"),
        _ => (ns / 1e9, "s"),
    };
    let precision = match value.abs() {
        v if v >= 100.0 => 1,
        v if v >= 10.0 => 2,
        _ => 3,
    };
    format!("{value:.precision$} {unit}")
}

pub fn na() -> String {
    "n/a".to_owned()
}

pub fn json_number(value: Option<f64>) -> String {
    match value {
        Some(value) if value.is_finite() => value.to_string(),
        _ => "null".to_owned(),
    }
}

pub fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            group: "executor",
            runtimes: &["morgana", "tokio", "localpool"],
            rows: vec![
                Row {
                    workload: "spawn_100k",
                    times: vec![Some(2.0e6), Some(4.0e6), Some(5.0e6)],
                },
                Row {
                    workload: "timers_100k",
                    times: vec![Some(900.0), Some(600.0), None],
                },
                Row {
                    workload: "missing",
                    times: vec![None, Some(1.0), None],
                },
            ],
        }
    }

    #[test]
    fn ratio_is_against_the_fastest_other_runtime() {
        let report = sample();
        assert_eq!(report.rows[0].ratio_to_best(), Some(0.5));
        assert_eq!(report.rows[1].ratio_to_best(), Some(1.5));
        assert_eq!(report.rows[2].ratio_to_best(), None);
    }

    #[test]
    fn times_are_human_readable() {
        assert_eq!(format_ns(812.0), "812.0 ns");
        assert_eq!(format_ns(1250.0), "1.250 µs");
        assert_eq!(format_ns(42_500_000.0), "42.50 ms");
        assert_eq!(format_ns(3.0e9), "3.000 s");
    }

    #[test]
    fn tables_show_na_and_ratio() {
        let text = sample().text_table();
        assert!(text.starts_with("workload"), "{text}");
        assert!(text.contains("morgana / best other"), "{text}");
        assert!(
            text.lines()
                .any(|line| line.starts_with("timers_100k") && line.contains("n/a"))
        );
        let markdown = sample().markdown();
        assert!(markdown.contains("| spawn_100k | 2.000 ms | 4.000 ms | 5.000 ms | 0.50x |"));
        assert!(markdown.contains("| :-- | --: | --: | --: | --: |"));
    }

    #[test]
    fn json_round_trips_through_the_extractor() {
        let text = sample().json();
        assert!(
            text.contains(r#""localpool": null, "ratio_to_best": 1.5}"#),
            "{text}"
        );
        assert_eq!(json::field(&text, "unit"), Some(r#""ns""#));
        let previous = previous_times(&text, "morgana").expect("parses its own output");
        assert_eq!(
            previous,
            vec![
                ("spawn_100k".to_owned(), Some(2.0e6)),
                ("timers_100k".to_owned(), Some(900.0)),
                ("missing".to_owned(), None),
            ]
        );
    }

    #[test]
    fn changes_against_previous_run() {
        let previous = vec![
            ("spawn_100k".to_owned(), Some(2.5e6)),
            ("missing".to_owned(), Some(1.0)),
        ];
        let changes = sample().changes(&previous);
        assert!(
            changes.contains("spawn_100k   2.500 ms -> 2.000 ms  (-20.0%)"),
            "{changes}"
        );
        assert!(
            changes.contains("timers_100k  no previous result"),
            "{changes}"
        );
        assert!(
            changes.contains("missing      1.000 ns -> n/a"),
            "{changes}"
        );
    }
}
