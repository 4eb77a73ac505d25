//! The report `ferrocore bench dataplane` prints: in-memory rates, table growth, and DPDK
//! forwarding next to `dpdk-testpmd` on the same virtual device in the same run.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bench::{self, Figure, Path as BenchPath};
use crate::bench_testpmd;

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
    // At least four per-second reports: the first (start-up) is skipped, the median of the
    // rest is taken.
    let secs = opts.time.as_secs().max(3) + 3;
    let io = bench_testpmd::run(&opts.testpmd, &traffic, "io", secs)?;
    let mac = bench_testpmd::run(&opts.testpmd, &traffic, "mac", secs)?;
    let ours = ours_on_dpdk(&traffic, opts.time)?;
    let ours_cpu = ours.packets as f64 / ours.cpu.as_secs_f64().max(1e-9) / 1e6;
    let mpps = |x: Option<f64>| x.map_or_else(|| "n/a".into(), |w| format!("{w:.2}"));
    let share = |ours: f64, peer: Option<f64>| {
        peer.map_or_else(
            || "n/a".into(),
            |p| format!("{:.0}%", 100.0 * ours / p.max(1e-9)),
        )
    };
    writeln!(
        out,
        "{:<38} {:>8} {:>14}",
        "", "Mpps (wall)", "Mpps per CPU-s"
    )?;
    for (name, r) in [
        ("dpdk-testpmd io (touches no packet)", io),
        ("dpdk-testpmd mac (rewrites Ethernet)", mac),
    ] {
        writeln!(out, "{name:<38} {:>11} {:>14}", mpps(r.wall), mpps(r.cpu))?;
    }
    writeln!(
        out,
        "{:<38} {:>11.2} {ours_cpu:>14.2}   ({} of {} forwarded)",
        "ferrocore overlay pipeline on DPDK",
        ours.mpps(),
        ours.forwarded,
        ours.packets
    )?;
    writeln!(
        out,
        "{:<38} {:>11} {:>14}",
        "  share of testpmd io",
        share(ours.mpps(), io.wall),
        share(ours_cpu, io.cpu)
    )?;
    writeln!(
        out,
        "{:<38} {:>11} {:>14}",
        "  share of testpmd mac",
        share(ours.mpps(), mac.wall),
        share(ours_cpu, mac.cpu)
    )?;
    writeln!(
        out,
        "(our worker ran {:.0}% of the wall time; under 100% other processes took the core, \
         which depresses wall rates but not rates per CPU-second)",
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
