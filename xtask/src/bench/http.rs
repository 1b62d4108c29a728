//! `bench http`: requests per second and latency of the static site, the release image in QEMU
//! (microvm, 1 vCPU) on a TAP, next to two baselines of the same run: the same appliance built
//! for the hosted platform (a Linux process on its own TAP), and nginx on the host serving the
//! same files ([`host_nginx`]).
//!
//! Peak throughput is closed-loop: wrk, keep-alive, 100 connections, a few runs. Latency is
//! open-loop ([`loadgen::open_loop`]) at fixed offered rates, a quarter, a half and three
//! quarters of the lowest of the peaks, so all are measured at the same rates. Writes
//! `target/bench/http.{md,json}` and `http-latency.svg`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use morgana_tests::netns::{self, GUEST, PEER, PREFIX};

use super::compare::{Row, Spread, Table, Unit};
use super::lab::{self, Lab, Server};
use super::loadgen::{OpenLoop, Wrk};
use super::{Options, host_nginx, linux_vm, plot, save};
use crate::build::{self, Arch, BuildArgs};
use crate::qemu::{self, Accel, Machine, Vm};
use crate::util::{self, Error};

const APPLIANCE: &str = "static-site";
const MACHINE: Machine = Machine::Microvm;
/// Guest memory for the load runs.
pub const MEM: &str = "64M";
/// What the static site prints when it listens.
const SERVING: &str = "static-site: ";
/// How often a gentle prober retries (one prober): see [`Lab::first_response_with`].
pub const GENTLE_PROBE: Duration = Duration::from_millis(20);
/// From spawn to the first answer, at most.
const BOOT_LIMIT: Duration = Duration::from_secs(60);

/// How long and how often the load is run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub peak_runs: usize,
    pub peak_duration: Duration,
    pub wrk_connections: usize,
    pub open_duration: Duration,
    /// Enough that rate × latency stays well below it: a connection waits for its previous
    /// answer, so with too few the generator, not the server, would hold the rate back
    /// (16 were too few for Morgana under TCG at half its peak).
    pub open_connections: usize,
}

impl Plan {
    pub fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                peak_runs: 1,
                peak_duration: Duration::from_secs(2),
                wrk_connections: 100,
                open_duration: Duration::from_secs(2),
                open_connections: 64,
            }
        } else {
            Plan {
                peak_runs: 3,
                peak_duration: Duration::from_secs(8),
                wrk_connections: 100,
                open_duration: Duration::from_secs(10),
                open_connections: 64,
            }
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "peak: wrk -t1 -c{} keep-alive, {} run(s) of {} s (median [min–max]); latency: \
             open loop over {} keep-alive connections, {} s per rate, measured from each \
             request's scheduled send time (no coordinated omission), HdrHistogram",
            self.wrk_connections,
            self.peak_runs,
            self.peak_duration.as_secs(),
            self.open_connections,
            self.open_duration.as_secs()
        )
    }
}

/// The offered rates of the latency runs: about these shares of the lower peak, each rounded
/// down to a step of [`STEPS`] (100, 150, 200, 300, 500, 700, 1000, ...) so that runs whose
/// peaks differ a little still measure the same rates and compare with the previous run.
pub const RATE_SHARES: [f64; 3] = [0.25, 0.5, 0.75];
const STEPS: [f64; 6] = [1.0, 1.5, 2.0, 3.0, 5.0, 7.0];

pub fn rates(peaks: &[f64]) -> Vec<f64> {
    let lowest = peaks.iter().copied().fold(f64::INFINITY, f64::min);
    if !lowest.is_finite() || lowest < 10.0 {
        return Vec::new();
    }
    let mut rates: Vec<f64> = RATE_SHARES
        .iter()
        .map(|share| step_below(lowest * share))
        .collect();
    rates.dedup();
    rates
}

/// The largest step at or below `value` (at least 10).
fn step_below(value: f64) -> f64 {
    let decade = 10f64.powf(value.max(10.0).log10().floor());
    STEPS
        .iter()
        .rev()
        .map(|step| step * decade)
        .find(|&rate| rate <= value * (1.0 + 1e-9))
        .unwrap_or(decade)
}

/// Peak throughput: wrk runs.
pub fn peak(lab: &Lab, plan: &Plan, who: &str) -> Result<Vec<Wrk>, String> {
    (0..plan.peak_runs)
        .map(|_| {
            let (connections, duration) = (plan.wrk_connections, plan.peak_duration);
            let wrk = lab.run(move || super::loadgen::wrk(connections, duration))??;
            eprintln!(
                "{who}: wrk {:.0} req/s, p50 {}, p99 {}, {} errors",
                wrk.requests_per_s,
                wrk.p50
                    .map_or_else(|| "n/a".into(), super::report::format_ns),
                wrk.p99
                    .map_or_else(|| "n/a".into(), super::report::format_ns),
                wrk.errors
            );
            Ok(wrk)
        })
        .collect()
}

/// Latency at each rate.
pub fn latency(lab: &Lab, plan: &Plan, rates: &[f64], who: &str) -> Result<Vec<OpenLoop>, String> {
    rates
        .iter()
        .map(|&rate| {
            let (duration, connections) = (plan.open_duration, plan.open_connections);
            let run = lab.run(move || {
                super::loadgen::open_loop(lab::site(), rate, duration, connections)
            })??;
            eprintln!(
                "{who}: {rate:.0}/s offered, {:.0}/s answered, {} errors, p50 {}, p99 {}, max {}",
                run.achieved(),
                run.errors,
                show(run.at(0.5)),
                show(run.at(0.99)),
                show(run.max())
            );
            Ok(run)
        })
        .collect()
}

fn show(ns: Option<f64>) -> String {
    ns.map_or_else(|| "n/a".into(), super::report::format_ns)
}

/// One server's load runs: wrk peaks and open-loop latency.
pub type Load<'a> = (&'a [Wrk], &'a [OpenLoop]);

/// The throughput and latency rows of a comparison of `ours` against each of `theirs`.
pub fn load_rows(plan: &Plan, ours: Load, theirs: &[Load]) -> Vec<Row> {
    let wrk_rows = |name: &str, pick: fn(&Wrk) -> Option<f64>, unit, higher| {
        let spread = |runs: &[Wrk]| Spread::of(&runs.iter().filter_map(pick).collect::<Vec<_>>());
        theirs.iter().fold(
            Row {
                name: name.to_owned(),
                unit,
                higher_is_better: higher,
                ours: spread(ours.0),
                theirs: Vec::new(),
            },
            |row, their| row.and(spread(their.0)),
        )
    };
    let c = plan.wrk_connections;
    let mut rows = vec![
        wrk_rows(
            &format!("peak req/s (wrk -c{c})"),
            |w| Some(w.requests_per_s),
            Unit::PerSecond,
            true,
        ),
        wrk_rows(&format!("wrk -c{c} p50"), |w| w.p50, Unit::Ns, false),
        wrk_rows(&format!("wrk -c{c} p99"), |w| w.p99, Unit::Ns, false),
    ];
    for (index, ours_run) in ours.1.iter().enumerate() {
        let rate = ours_run.rate;
        // A baseline's run at the same rate (each ran the same list of rates).
        let theirs_runs: Vec<Option<&OpenLoop>> = theirs
            .iter()
            .map(|their| their.1.get(index).filter(|run| run.rate == rate))
            .collect();
        let row = |label: String, unit, value: &dyn Fn(&OpenLoop) -> Option<f64>| {
            theirs_runs.iter().fold(
                Row {
                    name: label,
                    unit,
                    higher_is_better: false,
                    ours: value(ours_run).map(Spread::one),
                    theirs: Vec::new(),
                },
                |row, their| row.and(their.and_then(value).map(Spread::one)),
            )
        };
        for (label, quantile) in [
            ("p50", Some(0.5)),
            ("p90", Some(0.9)),
            ("p99", Some(0.99)),
            ("p99.9", Some(0.999)),
            ("max", None),
        ] {
            rows.push(row(
                format!("{rate:.0}/s open loop {label}"),
                Unit::Ns,
                &|run: &OpenLoop| match quantile {
                    Some(q) => run.at(q),
                    None => run.max(),
                },
            ));
        }
        rows.push(row(
            format!("{rate:.0}/s open loop errors"),
            Unit::Count,
            &|run: &OpenLoop| Some(run.errors as f64),
        ));
    }
    rows
}

/// Each server's peak runs and latency runs, in [`SERVERS`]' order, and the bytes of the
/// baked site in Morgana's image.
type Measured = (Vec<Vec<Wrk>>, Vec<Vec<OpenLoop>>, Option<u64>);

/// The goal for the image less its site content (MirageOS's web server appliance was
/// 172 KB after dead-code elimination).
const GOAL_IMAGE_BYTES: u64 = 256 * 1024;

/// The servers of one run, in the table's order: Morgana first, then the baselines.
const SERVERS: [&str; 3] = ["Morgana", "hosted", "nginx"];

/// Builds both flavours, prepares nginx, serves from all three, loads each, and saves the report.
pub fn run(group: &'static str, dir: &Path, options: &Options) -> Result<(), Error> {
    if options.arch != Arch::X86_64 {
        return Err(Error::usage(
            "bench http measures the x86_64 image (AArch64 under TCG on x86_64 says little)",
        ));
    }
    check_tools("bench http")?;
    qemu::ensure_installed()?;
    let image = build::build_image(&BuildArgs {
        appliance: APPLIANCE.to_owned(),
        release: true,
        arch: Some(Arch::X86_64),
    })?;
    let hosted = build::build_image(&BuildArgs {
        appliance: APPLIANCE.to_owned(),
        release: true,
        arch: None,
    })?;
    let nginx = host_nginx::prepare(&dir.join("cache"))?;
    let (accel, why) = qemu::choose_accel(Some(options.accel))?;
    eprintln!("accel: {accel} ({why})");
    let plan = Plan::new(options.quick);
    fs::create_dir_all(dir).map_err(|err| Error::new(format!("{}: {err}", dir.display())))?;
    let nginx_args = host_nginx::setup(&dir.join("nginx-host"), &site_dir())?;

    let result = (|| -> Result<Measured, String> {
        let (morgana_lab, mut morgana) = boot_morgana(&image.path, accel, MEM, dir)?;
        // No SYN before the appliance says it serves: under this host's KVM (PVM) the guest is
        // so slow that SYNs queued while it boots keep it busy for good (see bench vs-linux).
        morgana.wait_for_output(SERVING, BOOT_LIMIT)?;
        // And probes that wait long enough: under KVM (PVM) a handshake can take longer than
        // the boot probers' 12 ms, and abandoned handshakes pile up.
        let boot = morgana_lab.serves(&mut morgana, BOOT_LIMIT)?;
        eprintln!("morgana: first response {boot:?} after spawn");
        let baked = baked_bytes(&morgana.log_text());
        let (hosted_lab, mut hosted) = start_hosted(&hosted.path, dir)?;
        let first = hosted_lab.serves(&mut hosted, BOOT_LIMIT)?;
        eprintln!("hosted: first response {first:?} after spawn");
        let (nginx_lab, _nginx_ns, mut nginx_server) =
            start_nginx(&nginx.binary, &nginx_args, dir)?;
        let first = nginx_lab.serves(&mut nginx_server, BOOT_LIMIT)?;
        eprintln!("nginx: first response {first:?} after spawn");

        let labs = [&morgana_lab, &hosted_lab, &nginx_lab];
        let peaks = labs
            .iter()
            .zip(SERVERS)
            .map(|(lab, who)| peak(lab, &plan, who))
            .collect::<Result<Vec<_>, _>>()?;
        let median = |runs: &[Wrk]| {
            Spread::of(&runs.iter().map(|w| w.requests_per_s).collect::<Vec<_>>())
                .map_or(0.0, |s| s.median)
        };
        let rates = rates(&peaks.iter().map(|runs| median(runs)).collect::<Vec<_>>());
        let open = labs
            .iter()
            .zip(SERVERS)
            .map(|(lab, who)| latency(lab, &plan, &rates, who))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((peaks, open, baked))
    })();
    let (peaks, open, baked) = result.map_err(|why| Error::new(format!("bench http: {why}")))?;
    let theirs: Vec<Load> = (1..SERVERS.len())
        .map(|i| (peaks[i].as_slice(), open[i].as_slice()))
        .collect();
    let mut rows = load_rows(&plan, (&peaks[0], &open[0]), &theirs);
    let sizes = Sizes {
        image: image.bytes,
        code: fs::read(&image.elf)
            .ok()
            .and_then(|elf| linux_vm::executable_bytes(&elf)),
        baked,
    };
    rows.extend(sizes.rows(SERVERS.len() - 1));
    let table = Table {
        ours: SERVERS[0].to_owned(),
        theirs: SERVERS[1..].iter().map(|&s| s.to_owned()).collect(),
        rows,
    };

    let setup = format!(
        "static-site (release), `access_log=off`, `GET /` ({} bytes of HTML). Morgana: QEMU \
         {MACHINE}, 1 vCPU, {MEM}, accel {accel}{}, virtio-net on a TAP. Baselines: the same \
         appliance built for the hosted platform, a Linux process on its own TAP; and {} on the \
         host (one worker, no access log, sendfile, keep-alive) serving the same directory, in \
         a network namespace of its own behind a veth pair. Each server has its own namespace \
         with the load generator in it (Linux at {PEER}, the server at {GUEST}/{PREFIX}). {}.",
        site_bytes("index.html"),
        if accel == Accel::Tcg {
            " (TCG: every guest instruction emulated; PVM KVM here makes each virtio \
             notification a very slow exit)"
        } else {
            ""
        },
        nginx.package.replace('=', " "),
        plan.describe()
    );
    let all_series: Vec<plot::Series> = SERVERS
        .iter()
        .zip(&open)
        .flat_map(|(who, runs)| series(who, runs))
        .collect();
    let svg = plot::percentiles(
        "static-site GET / latency by percentile (open loop)",
        &all_series,
    );
    let svg_path = dir.join(format!("{group}-latency.svg"));
    fs::write(&svg_path, svg)
        .map_err(|err| Error::new(format!("{}: {err}", svg_path.display())))?;
    let goal = sizes.goal();
    let text = format!("{setup}\n\n{}\n{goal}", table.text());
    println!("\n{text}");
    let markdown = format!(
        "# Bench: http\n\n{setup}\n\n{}\n{goal}\n\nLatency by percentile: [{group}-latency.svg]({group}-latency.svg)\n",
        table.markdown()
    );
    let json = format!(
        "{{\n  \"group\": \"{group}\",\n  \"accel\": \"{accel}\",\n  \"machine\": \"{MACHINE}\",\n  \
         \"mem\": \"{MEM}\",\n  \"rows\": {}\n}}\n",
        table.json_rows()
    );
    save(dir, group, &json, &markdown, |previous| {
        table.changes(previous)
    })?;
    println!("wrote {}", util::display_path(&svg_path));
    Ok(())
}

/// Morgana's image sizes (the baselines' columns stay empty: a Linux process or nginx with its
/// libraries is not a bootable image).
struct Sizes {
    /// As booted: the stripped ELF.
    image: u64,
    /// Executable sections of the ELF.
    code: Option<u64>,
    /// What the appliance says its baked site takes (table, bytes, variants, strings).
    baked: Option<u64>,
}

impl Sizes {
    fn without_site(&self) -> Option<u64> {
        self.baked.map(|baked| self.image.saturating_sub(baked))
    }

    fn rows(&self, baselines: usize) -> Vec<Row> {
        let row = |name: &str, bytes: Option<u64>| Row {
            name: name.to_owned(),
            unit: Unit::Bytes,
            higher_is_better: false,
            ours: bytes.map(|b| Spread::one(b as f64)),
            theirs: vec![None; baselines],
        };
        vec![
            row("image size (as booted)", Some(self.image)),
            row("image less its baked site", self.without_site()),
            row("code (executable sections)", self.code),
        ]
    }

    fn goal(&self) -> String {
        match self.without_site() {
            Some(bytes) => format!(
                "- static-site without its site content ≤ {} KiB: {:.1} KiB ({})",
                GOAL_IMAGE_BYTES / 1024,
                bytes as f64 / 1024.0,
                if bytes <= GOAL_IMAGE_BYTES {
                    "met"
                } else {
                    "NOT met"
                }
            ),
            None => "- static-site without its site content: not measured (no `baked` figure on \
                     its console)"
                .to_owned(),
        }
    }
}

/// The baked site's bytes from static-site's console line
/// (`static-site: 5 files (4073 bytes; 6120 baked) at ...`).
fn baked_bytes(console: &str) -> Option<u64> {
    let line = console.lines().find(|line| line.starts_with(SERVING))?;
    let (before, _) = line.split_once(" baked)")?;
    before.rsplit(' ').next()?.parse().ok()
}

/// The plot's series: one per offered rate.
pub fn series<'a>(who: &str, runs: &'a [OpenLoop]) -> Vec<plot::Series<'a>> {
    runs.iter()
        .map(|run| plot::Series {
            label: format!("{who} {:.0}/s", run.rate),
            histogram: &run.latency,
        })
        .collect()
}

/// root, namespaces, wrk.
pub fn check_tools(what: &str) -> Result<(), Error> {
    if !util::is_root()? {
        return Err(Error::new(format!(
            "{what} creates network namespaces and TAP devices: run it as root"
        )));
    }
    netns::available().map_err(|why| Error::new(format!("{what}: {why}")))?;
    crate::packages::ensure_bench_tools()
}

/// The size of one of the site's files.
pub fn site_bytes(name: &str) -> u64 {
    fs::metadata(site_dir().join(name)).map_or(0, |m| m.len())
}

pub fn site_dir() -> std::path::PathBuf {
    util::workspace_root().join("appliances/static-site/site")
}

/// The appliance's QEMU arguments on the lab's TAP, with `mem` of RAM.
pub fn morgana_args(image: &Path, accel: Accel, mem: &str) -> Result<Vec<String>, String> {
    let firmware = qemu::firmware(MACHINE).map_err(|err| err.to_string())?;
    let extra = lab::nic_args(MACHINE);
    let append = lab::append();
    let vm = Vm {
        image,
        machine: MACHINE,
        firmware: firmware.as_deref(),
        accel,
        mem,
        append: &append,
        gdb: false,
        extra: &extra,
    };
    Ok(vm.args())
}

/// A lab with the appliance's QEMU started in it.
pub fn boot_morgana(
    image: &Path,
    accel: Accel,
    mem: &str,
    dir: &Path,
) -> Result<(Lab, Server), String> {
    let lab = Lab::with_tap("mgbq")?;
    let args = morgana_args(image, accel, mem)?;
    let qemu = util::which("qemu-system-x86_64").ok_or("qemu-system-x86_64 not found")?;
    let server = lab.spawn(&qemu, &args, &dir.join("morgana-console.log"))?;
    Ok((lab, server))
}

/// A lab with the hosted appliance started in it, on a TAP it creates there.
fn start_hosted(binary: &Path, dir: &Path) -> Result<(Lab, Server), String> {
    let lab = Lab::empty("mgbh")?;
    let tap = netns::unique_ifname("mgbh");
    let args = vec![
        format!("tap={tap}"),
        format!("ip={GUEST}/{PREFIX}"),
        format!("gw={PEER}"),
        "access_log=off".to_owned(),
    ];
    let server = lab.spawn(binary, &args, &dir.join("hosted-console.log"))?;
    lab.adopt_tap(&tap, Duration::from_secs(10))
        .map_err(|why| format!("{why}; its output:\n{}", server.log_text()))?;
    Ok((lab, server))
}

/// A lab for the load generator, joined by a veth pair to a namespace of nginx's own (kept
/// until dropped) where nginx runs at [`GUEST`].
fn start_nginx(binary: &Path, args: &[String], dir: &Path) -> Result<(Lab, Lab, Server), String> {
    let lab = Lab::empty("mgbn")?;
    let server = Lab::empty("mgbs")?;
    let ifname = netns::unique_ifname("mgbn");
    lab.ns.add_veth_to(&server.ns, &ifname, GUEST)?;
    // add_veth_to sends one segment per packet on the far end (for loss tests); nginx gets
    // the default segmentation offload back.
    server
        .ns
        .ip(&["link", "set", &ifname, "gso_max_segs", "65535"])?;
    lab.ns
        .ip(&["addr", "add", &format!("{PEER}/{PREFIX}"), "dev", &ifname])?;
    let nginx = server.spawn(binary, args, &dir.join("nginx-console.log"))?;
    Ok((lab, server, nginx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_are_steps_below_shares_of_the_lower_peak() {
        assert_eq!(rates(&[6000.0, 2000.0]), vec![500.0, 1000.0, 1500.0]);
        assert_eq!(rates(&[1131.0, 6614.0]), vec![200.0, 500.0, 700.0]);
        assert_eq!(rates(&[9450.0]), vec![2000.0, 3000.0, 7000.0]);
        assert_eq!(step_below(299.0), 200.0);
        assert_eq!(rates(&[]), Vec::<f64>::new());
        assert_eq!(rates(&[0.0]), Vec::<f64>::new());
    }

    #[test]
    fn the_nic_gets_the_fixed_mac() {
        let args = morgana_args(Path::new("x.elf"), Accel::Tcg, "64M").unwrap_or_default();
        if !args.is_empty() {
            let nic = args.iter().find(|a| a.starts_with("virtio-net")).unwrap();
            assert!(nic.ends_with(",mac=52:54:00:12:34:56"), "{nic}");
            let append = args.iter().position(|a| a == "-append").unwrap();
            assert!(args[append + 1].ends_with("access_log=off"));
        }
    }

    #[test]
    fn reads_the_baked_bytes_and_judges_the_size() {
        let console =
            "morgana: up\nstatic-site: 5 files (4073 bytes; 6120 baked) at http://10.7.0.2:80/\n";
        assert_eq!(baked_bytes(console), Some(6120));
        assert_eq!(baked_bytes("static-site: 5 files (4073 bytes) at x"), None);
        let sizes = Sizes {
            image: 6120 + 256 * 1024,
            code: None,
            baked: Some(6120),
        };
        assert!(
            sizes.goal().ends_with("256.0 KiB (met)"),
            "{}",
            sizes.goal()
        );
        let rows = sizes.rows(2);
        assert_eq!(rows[1].ours.map(|s| s.median), Some(262144.0));
        assert_eq!(rows[1].theirs.len(), 2);
        let over = Sizes {
            image: 300 * 1024,
            ..sizes
        };
        assert!(over.goal().ends_with("(NOT met)"));
    }

    #[test]
    fn writes_a_row_per_percentile() {
        let plan = Plan::new(true);
        let wrk = [Wrk {
            requests_per_s: 100.0,
            p50: Some(1e6),
            p99: None,
            errors: 0,
        }];
        let rows = load_rows(&plan, (&wrk, &[]), &[(&wrk, &[]), (&[], &[])]);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].ratio(), Some(1.0));
        assert_eq!(rows[0].theirs.len(), 2);
        assert_eq!(rows[0].ratio_to(1), None);
    }
}
