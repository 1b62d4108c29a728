//! A comparison of ours against one or more baselines with the ratio to each on every row, its
//! spread, rendered for the console, Markdown and JSON, and compared with the previous run's
//! JSON: a row whose value for us moved the wrong way by more than the run-to-run noise is
//! flagged. Used by `bench http` (the hosted build and nginx) and `bench vs-linux` (Linux).

use std::fmt::Write as _;

use super::json;
use super::report::{self, format_ns, json_number, json_string};

/// How a row's numbers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Nanoseconds, shown as `1.250 ms`.
    Ns,
    PerSecond,
    Bytes,
    /// A share of one CPU, in percent.
    Percent,
    Count,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Ns => "ns",
            Unit::PerSecond => "1/s",
            Unit::Bytes => "bytes",
            Unit::Percent => "%",
            Unit::Count => "count",
        }
    }

    /// The smallest change that can be told apart at all: the CPU-time clock ticks only so
    /// often, and counts are whole.
    fn resolution(self) -> f64 {
        match self {
            Unit::Percent | Unit::Count => 1.0,
            _ => 0.0,
        }
    }

    pub fn show(self, value: f64) -> String {
        match self {
            Unit::Ns => format_ns(value),
            Unit::PerSecond => format!("{value:.0}/s"),
            Unit::Bytes if value >= 1024.0 * 1024.0 => {
                format!("{:.1} MiB", value / 1024.0 / 1024.0)
            }
            Unit::Bytes => format!("{:.1} KiB", value / 1024.0),
            Unit::Percent => format!("{value:.2}%"),
            Unit::Count => format!("{value:.0}"),
        }
    }
}

/// Median, min and max of some samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub samples: usize,
}

impl Spread {
    /// `None` for no samples.
    pub fn of(samples: &[f64]) -> Option<Spread> {
        let mut sorted: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let len = sorted.len();
        let median = match len {
            0 => return None,
            len if len % 2 == 1 => sorted[len / 2],
            _ => (sorted[len / 2 - 1] + sorted[len / 2]) / 2.0,
        };
        Some(Spread {
            median,
            min: sorted[0],
            max: sorted[len - 1],
            samples: len,
        })
    }

    pub fn one(value: f64) -> Spread {
        Spread {
            median: value,
            min: value,
            max: value,
            samples: 1,
        }
    }

    /// (max - min) / median: how much the samples disagree.
    pub fn relative_range(&self) -> f64 {
        if self.median > 0.0 {
            (self.max - self.min) / self.median
        } else {
            0.0
        }
    }

    fn show(&self, unit: Unit) -> String {
        if self.samples > 1 {
            format!(
                "{} [{}–{}]",
                unit.show(self.median),
                unit.show(self.min),
                unit.show(self.max)
            )
        } else {
            unit.show(self.median)
        }
    }
}

/// One measured quantity for us and for each baseline.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    pub unit: Unit,
    pub higher_is_better: bool,
    pub ours: Option<Spread>,
    /// One per baseline of the table, in its order.
    pub theirs: Vec<Option<Spread>>,
}

impl Row {
    pub fn new(
        name: impl Into<String>,
        unit: Unit,
        higher_is_better: bool,
        ours: Option<Spread>,
        theirs: Option<Spread>,
    ) -> Row {
        Row {
            name: name.into(),
            unit,
            higher_is_better,
            ours,
            theirs: vec![theirs],
        }
    }

    /// The row with the next baseline's value.
    pub fn and(mut self, theirs: Option<Spread>) -> Row {
        self.theirs.push(theirs);
        self
    }

    /// Ours / the first baseline, on medians.
    pub fn ratio(&self) -> Option<f64> {
        self.ratio_to(0)
    }

    /// Ours / baseline `index`, on medians.
    pub fn ratio_to(&self, index: usize) -> Option<f64> {
        let ratio = self.ours?.median / self.theirs.get(index).copied().flatten()?.median;
        ratio.is_finite().then_some(ratio)
    }
}

/// Rows of ours against baselines.
#[derive(Debug, Clone)]
pub struct Table {
    pub ours: String,
    /// The baselines' names, in the order of [`Row::theirs`].
    pub theirs: Vec<String>,
    pub rows: Vec<Row>,
}

/// The least change that counts as real for a row measured several times (more when its
/// samples spread wider).
pub const MIN_NOISE: f64 = 0.10;
/// The same for a row measured once (one latency run's percentiles): on this shared 2-core
/// machine, tail latencies of single runs differ by this much with nothing changed.
pub const SINGLE_NOISE: f64 = 0.50;

impl Table {
    fn header(&self) -> Vec<String> {
        let mut header = vec!["measure".to_owned(), self.ours.clone()];
        header.extend(self.theirs.iter().cloned());
        header.extend(
            self.theirs
                .iter()
                .map(|theirs| format!("{}/{theirs}", self.ours)),
        );
        header
    }

    fn cells(&self) -> Vec<Vec<String>> {
        let baselines = self.theirs.len();
        self.rows
            .iter()
            .map(|row| {
                let show = |s: Option<Spread>| s.map_or_else(report::na, |s| s.show(row.unit));
                let mut cells = vec![row.name.clone(), show(row.ours)];
                cells.extend((0..baselines).map(|i| show(row.theirs.get(i).copied().flatten())));
                cells.extend((0..baselines).map(|i| {
                    row.ratio_to(i)
                        .map_or_else(report::na, |ratio| format!("{ratio:.3}x"))
                }));
                cells
            })
            .collect()
    }

    pub fn text(&self) -> String {
        report::text_table(&self.header(), &self.cells())
    }

    pub fn markdown(&self) -> String {
        report::markdown_table(&self.header(), &self.cells())
    }

    /// The rows as a JSON array (values in the row's unit, `null` when not measured): `theirs`
    /// and `ratio` are the first baseline's, `baselines` has each one by name.
    pub fn json_rows(&self) -> String {
        let spread = |s: Option<Spread>| match s {
            None => "null".to_owned(),
            Some(s) => format!(
                "{{\"median\": {}, \"min\": {}, \"max\": {}, \"samples\": {}}}",
                json_number(Some(s.median)),
                json_number(Some(s.min)),
                json_number(Some(s.max)),
                s.samples
            ),
        };
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|row| {
                let baselines: Vec<String> = self
                    .theirs
                    .iter()
                    .enumerate()
                    .map(|(i, name)| {
                        format!(
                            "{{\"name\": {}, \"value\": {}, \"ratio\": {}}}",
                            json_string(name),
                            spread(row.theirs.get(i).copied().flatten()),
                            json_number(row.ratio_to(i))
                        )
                    })
                    .collect();
                format!(
                    "    {{\"measure\": {}, \"unit\": {}, \"higher_is_better\": {}, \
                     \"ours\": {}, \"theirs\": {}, \"ratio\": {}, \"baselines\": [{}]}}",
                    json_string(&row.name),
                    json_string(row.unit.name()),
                    row.higher_is_better,
                    spread(row.ours),
                    spread(row.theirs.first().copied().flatten()),
                    json_number(row.ratio()),
                    baselines.join(", ")
                )
            })
            .collect();
        format!("[\n{}\n  ]", rows.join(",\n"))
    }

    /// Each row against the previous run's JSON (`{"rows": [...]}` as [`Table::json_rows`]
    /// writes): `None` when it cannot be read.
    pub fn changes(&self, previous: &str) -> Option<String> {
        let rows = json::items(json::field(previous, "rows")?)?;
        let before: Vec<(String, Option<Spread>)> = rows
            .into_iter()
            .filter_map(|row| {
                let name = json::string(json::field(row, "measure")?)?.to_owned();
                let ours = json::field(row, "ours").and_then(|s| {
                    Some(Spread {
                        median: json::number(json::field(s, "median")?)?,
                        min: json::number(json::field(s, "min")?)?,
                        max: json::number(json::field(s, "max")?)?,
                        samples: json::number(json::field(s, "samples")?)? as usize,
                    })
                });
                Some((name, ours))
            })
            .collect();
        let mut out = format!(
            "change for {} vs the previous run (flagged WORSE beyond the noise: the larger of each \
             run's relative spread and {:.0}%, or {:.0}% for a row measured once):\n",
            self.ours,
            MIN_NOISE * 100.0,
            SINGLE_NOISE * 100.0
        );
        for row in &self.rows {
            let Some((_, Some(then))) = before.iter().find(|(name, _)| *name == row.name) else {
                let _ = writeln!(out, "  {}: no previous result", row.name);
                continue;
            };
            let Some(now) = row.ours else {
                let _ = writeln!(out, "  {}: not measured now", row.name);
                continue;
            };
            let change = if then.median == 0.0 {
                if now.median == 0.0 {
                    0.0
                } else {
                    f64::INFINITY
                }
            } else {
                (now.median - then.median) / then.median
            };
            let floor = if now.samples > 1 && then.samples > 1 {
                MIN_NOISE
            } else {
                SINGLE_NOISE
            };
            let noise = floor.max(now.relative_range()).max(then.relative_range());
            let visible = (now.median - then.median).abs() > row.unit.resolution();
            let worse = visible
                && if row.higher_is_better {
                    change < -noise
                } else {
                    change > noise
                };
            let _ = writeln!(
                out,
                "  {}: {} -> {} ({:+.1}%){}",
                row.name,
                row.unit.show(then.median),
                row.unit.show(now.median),
                change * 100.0,
                if worse { "  WORSE" } else { "" }
            );
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(ours: f64) -> Table {
        Table {
            ours: "morgana".into(),
            theirs: vec!["linux".into()],
            rows: vec![
                Row::new(
                    "peak",
                    Unit::PerSecond,
                    true,
                    Spread::of(&[ours, ours * 1.02, ours * 0.98]),
                    Some(Spread::one(1000.0)),
                ),
                Row::new("p99", Unit::Ns, false, Some(Spread::one(ours * 1e3)), None),
            ],
        }
    }

    #[test]
    fn spread_and_ratio() {
        let spread = Spread::of(&[3.0, 1.0, 2.0, 10.0]).unwrap();
        assert_eq!((spread.median, spread.min, spread.max), (2.5, 1.0, 10.0));
        assert_eq!(Spread::of(&[]), None);
        let t = table(3000.0);
        assert_eq!(t.rows[0].ratio(), Some(3.0));
        assert_eq!(t.rows[1].ratio(), None);
        let text = t.text();
        assert!(text.contains("3000/s [2940/s–3060/s]"), "{text}");
        assert!(text.contains("3.000x"), "{text}");
    }

    #[test]
    fn flags_what_got_worse_beyond_noise() {
        let json = format!("{{\"rows\": {}}}", table(3000.0).json_rows());
        let same = table(2900.0).changes(&json).unwrap();
        assert!(!same.contains(")  WORSE"), "{same}");
        let worse = table(2000.0).changes(&json).unwrap();
        assert!(
            worse.contains("peak: 3000/s -> 2000/s (-33.3%)  WORSE"),
            "{worse}"
        );
        assert!(table(1.0).changes("nope").is_none());
    }
}
