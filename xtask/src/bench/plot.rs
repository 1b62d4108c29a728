//! A latency-by-percentile plot written as SVG by hand: the x axis is the percentile on
//! HdrHistogram's usual log scale (50%, 90%, 99%, 99.9%, ... evenly spaced, that is
//! log10(1 / (1 - q))), the y axis is latency on a log scale; one line per series.

use std::fmt::Write as _;

use hdrhistogram::Histogram;

/// One line of the plot.
#[derive(Debug)]
pub struct Series<'a> {
    pub label: String,
    pub histogram: &'a Histogram<u64>,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 440.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 220.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// The last percentile drawn: 99.99% (x = 4).
const X_MAX: f64 = 4.0;
/// Points per line.
const STEPS: usize = 80;
const COLOURS: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#d62728", "#ff7f0e", "#8c564b", "#e377c2",
];

/// The SVG document.
pub fn percentiles(title: &str, series: &[Series]) -> String {
    let points: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| {
            if s.histogram.is_empty() {
                return Vec::new();
            }
            (0..=STEPS)
                .map(|step| {
                    let x = X_MAX * step as f64 / STEPS as f64;
                    let quantile = 1.0 - 10f64.powf(-x);
                    let ns = s.histogram.value_at_quantile(quantile).max(1) as f64;
                    (x, ns)
                })
                .collect()
        })
        .collect();
    let all = points.iter().flatten().map(|&(_, ns)| ns);
    let (low, high) = all.fold((f64::INFINITY, 0.0_f64), |(lo, hi), ns| {
        (lo.min(ns), hi.max(ns))
    });
    let (low, high) = if low.is_finite() {
        (
            10f64.powf(low.log10().floor()),
            10f64.powf(high.log10().ceil()),
        )
    } else {
        (1e3, 1e6)
    };
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let px = |x: f64| LEFT + plot_w * x / X_MAX;
    let py = |ns: f64| {
        let span = (high / low).log10().max(1e-9);
        TOP + plot_h * (1.0 - (ns / low).log10() / span)
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
    for (x, label) in [
        (0.0, "0%"),
        (1.0, "90%"),
        (2.0, "99%"),
        (3.0, "99.9%"),
        (4.0, "99.99%"),
    ] {
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"{TOP}\" x2=\"{0:.1}\" y2=\"{1:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{0:.1}\" y=\"{2:.1}\" text-anchor=\"middle\">{label}</text>",
            px(x),
            TOP + plot_h,
            TOP + plot_h + 18.0
        );
    }
    let mut decade = low;
    while decade <= high * 1.0001 {
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{1:.1}\" y2=\"{0:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{2:.1}\" y=\"{3:.1}\" text-anchor=\"end\">{4}</text>",
            py(decade),
            LEFT + plot_w,
            LEFT - 6.0,
            py(decade) + 4.0,
            super::report::format_ns(decade)
        );
        decade *= 10.0;
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">percentile</text>\n\
         <text transform=\"translate(16,{:.1}) rotate(-90)\" text-anchor=\"middle\">latency \
         (log scale)</text>",
        LEFT + plot_w / 2.0,
        HEIGHT - 10.0,
        TOP + plot_h / 2.0
    );
    // One line style per server (the label's first word): the first solid, the baselines
    // dashed, then dotted.
    let first_word = |label: &str| label.split_whitespace().next().unwrap_or("").to_owned();
    let mut servers: Vec<String> = Vec::new();
    for series in series {
        let server = first_word(&series.label);
        if !servers.contains(&server) {
            servers.push(server);
        }
    }
    // And one colour per rank within the server's series (the offered rate), so that the
    // servers' lines at the same rate share a colour.
    let mut seen = vec![0usize; servers.len()];
    for (index, (series, line)) in series.iter().zip(&points).enumerate() {
        let server = first_word(&series.label);
        let style = servers.iter().position(|s| *s == server).unwrap_or(0);
        let colour = COLOURS[seen[style] % COLOURS.len()];
        seen[style] += 1;
        let dash = match style % 3 {
            0 => "",
            1 => " stroke-dasharray=\"6 4\"",
            _ => " stroke-dasharray=\"2 3\"",
        };
        let path: Vec<String> = line
            .iter()
            .map(|&(x, ns)| format!("{:.1},{:.1}", px(x), py(ns)))
            .collect();
        let _ = writeln!(
            svg,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash} points=\"{}\"/>",
            path.join(" ")
        );
        let y = TOP + 10.0 + 18.0 * index as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"{y:.1}\" x2=\"{1:.1}\" y2=\"{y:.1}\" stroke=\"{colour}\" \
             stroke-width=\"2\"{5}/><text x=\"{2:.1}\" y=\"{3:.1}\">{4}</text>",
            LEFT + plot_w + 12.0,
            LEFT + plot_w + 36.0,
            LEFT + plot_w + 42.0,
            y + 4.0,
            escape(&series.label),
            dash
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_one_line_per_series() {
        let mut a = Histogram::<u64>::new_with_bounds(1_000, 100_000_000_000, 3).unwrap();
        for ns in [1e5, 2e5, 5e5, 3e6] {
            a.record(ns as u64).unwrap();
        }
        let empty = Histogram::<u64>::new(3).unwrap();
        let svg = percentiles(
            "a <b>",
            &[
                Series {
                    label: "ours 100/s".into(),
                    histogram: &a,
                },
                Series {
                    label: "theirs".into(),
                    histogram: &empty,
                },
            ],
        );
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("a &lt;b&gt;"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("99.9%"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }
}
