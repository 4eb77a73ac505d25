//! The report `ferrocore bench dataplane` prints: in-memory rates, table growth, and DPDK
//! forwarding next to `dpdk-testpmd` on the same virtual device in the same run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bench::{self, Figure, Path as BenchPath};

/// What to measure.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Time per measured case.
    pub time: Duration,
    /// Include the in-memory cases (paths and sizes).
    pub memory: bool,
    /// Include the table-growth cases (100,000 routes, 1,048,576 flows).
    pub scale: bool,
    /// Include the DPDK and testpmd comparison.
    pub dpdk: bool,
    /// The testpmd binary.
    pub testpmd: PathBuf,
}

/// Runs the benchmark, writing its tables to `out`.
pub fn run_report(opts: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    if opts.memory {
        memory_cases(opts, out)?;
    }
    if opts.scale {
        writeln!(
            out,
            "\n# cost as tables grow (overlay path, 64 B, flows visited in a scattered order)"
        )?;
        writeln!(
            out,
            "{:>8} {:>9} {:>8} {:>8} {:>8}",
            "routes", "flows", "Mpps", "ns/pkt", "cpu ns"
        )?;
        for (routes, flows) in [
            (0, 1 << 10),
            (100_000, 1 << 10),
            (0, 1 << 20),
            (100_000, 1 << 20),
        ] {
            let f = bench::run_case(BenchPath::Overlay, 64, flows, routes, opts.time);
            writeln!(
                out,
                "{:>8} {:>9} {:>8.2} {:>8.1} {:>8.1}",
                routes + 2,
                flows,
                f.mpps(),
                f.ns_per_packet(),
                f.cpu_ns_per_packet()
            )?;
        }
    }
    if opts.dpdk {
        dpdk_comparison(opts, out)?;
    }
    Ok(())
}

/// The in-memory rate of each path and frame size.
fn memory_cases(opts: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    writeln!(
        out,
        "# ferrocore data plane, one core, in memory (each frame is copied into the buffer first)"
    )?;
    writeln!(
        out,
        "{:<14} {:>6} {:>8} {:>8} {:>8} {:>10}",
        "path", "bytes", "Mpps", "ns/pkt", "cpu ns", "forwarded"
    )?;
    for path in [BenchPath::Overlay, BenchPath::Nat, BenchPath::LoadBalancer] {
        for len in [64, 1500] {
            let f = bench::run_case(path, len, 1_024, 0, opts.time);
            let share = 100.0 * f.forwarded as f64 / f.packets.max(1) as f64;
            writeln!(
                out,
                "{:<14} {len:>6} {:>8.2} {:>8.1} {:>8.1} {share:>9.1}%",
                format!("{path:?}"),
                f.mpps(),
                f.ns_per_packet(),
                f.cpu_ns_per_packet()
            )?;
        }
    }
    Ok(())
}

fn dpdk_comparison(opts: &ReportOptions, out: &mut dyn Write) -> io::Result<()> {
    let dir = std::env::temp_dir().join(format!("fc-bench-dp-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let traffic = dir.join("overlay64.pcap");
    bench::write_pcap(
        &traffic,
        &bench::capture_frames(BenchPath::Overlay, 64, 1_024),
    )?;
    writeln!(
        out,
        "\n# forwarding on one core: net_pcap (infinite_rx) replaying 1,024 overlay flows of 64 B"
    )?;
    let io = testpmd(opts, &traffic, "io")?;
    let mac = testpmd(opts, &traffic, "mac")?;
    for (name, r) in [
        ("dpdk-testpmd io (touches no packet)", io),
        ("dpdk-testpmd mac (rewrites Ethernet)", mac),
    ] {
        writeln!(
            out,
            "{name:<38} {:>8} Mpps",
            r.wall.map_or_else(|| "n/a".into(), |w| format!("{w:.2}")),
        )?;
    }
    let ours = ours_on_dpdk(&traffic, opts.time)?;
    let share = |r: Rate| {
        r.wall.map_or_else(
            || "n/a".into(),
            |w| format!("{:.0}%", 100.0 * ours.mpps() / w.max(1e-9)),
        )
    };
    writeln!(
        out,
        "{:<38} {:>8.2} Mpps ({} of testpmd io, {} of mac; {} of {} forwarded)",
        "ferrocore overlay pipeline on DPDK",
        ours.mpps(),
        share(io),
        share(mac),
        ours.forwarded,
        ours.packets
    )?;
    writeln!(
        out,
        "{:<38} (the worker ran {:.0}% of the wall time: less means other processes took the \
         core and every rate here is depressed)",
        "",
        100.0 * ours.cpu.as_secs_f64() / ours.elapsed.as_secs_f64().max(1e-9)
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    // EAL's runtime files of both processes.
    for prefix in ["fcbench", "fcbench-tp"] {
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}{}", std::process::id()));
    }
    Ok(())
}

#[cfg(feature = "dpdk")]
fn ours_on_dpdk(traffic: &Path, time: Duration) -> io::Result<Figure> {
    let eal: Vec<String> = [
        "--no-huge",
        "-m",
        "1024",
        "--no-pci",
        "-l",
        "1",
        "--log-level",
        "*:error",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .chain([
        "--file-prefix".to_owned(),
        format!("fcbench{}", std::process::id()),
    ])
    .collect();
    crate::backend::dpdk::bench_forwarding(&eal, traffic, time).map_err(io::Error::other)
}

#[cfg(not(feature = "dpdk"))]
fn ours_on_dpdk(_: &Path, _: Duration) -> io::Result<Figure> {
    Err(io::Error::other("built without the DPDK backend"))
}

/// A testpmd run's forwarding rate.
#[derive(Clone, Copy, Debug)]
struct Rate {
    /// Steady RX rate in Mpps of wall time (the median of testpmd's per-second reports after
    /// the first), if testpmd printed any (on a loaded machine it may not).
    wall: Option<f64>,
}

/// Runs testpmd on the same virtual device, forwarding port 0 to itself.
fn testpmd(opts: &ReportOptions, traffic: &Path, mode: &str) -> io::Result<Rate> {
    // At least four per-second reports: the first (start-up) is skipped, the median of the
    // rest is taken.
    let secs = opts.time.as_secs().max(3) + 3;
    let out = Command::new("timeout")
        .args(["-s", "INT", &secs.to_string()])
        .arg(&opts.testpmd)
        .args([
            "-l",
            "0-1",
            "--no-huge",
            "-m",
            "1024",
            "--no-pci",
            "--log-level",
            "*:error",
        ])
        .arg(format!("--file-prefix=fcbench-tp{}", std::process::id()))
        .arg(format!(
            "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            traffic.display()
        ))
        .args([
            "--",
            "--auto-start",
            "--stats-period",
            "1",
            "--port-topology=loop",
            "--total-num-mbufs=32768",
        ])
        .arg(format!("--forward-mode={mode}"))
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let all: Vec<f64> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Rx-pps:"))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    // Skip the start-up report; on a loaded machine testpmd may print only one.
    let mut pps: Vec<f64> = all.iter().skip(1).copied().filter(|&p| p > 0.0).collect();
    if pps.is_empty() {
        pps = all.into_iter().filter(|&p| p > 0.0).collect();
    }
    if !text.contains("RX-packets:") {
        return Err(io::Error::other(format!(
            "testpmd did not run:\n{text}{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    pps.sort_by(f64::total_cmp);
    Ok(Rate {
        wall: pps.get(pps.len() / 2).map(|p| p / 1e6),
    })
}
