//! Running `dpdk-testpmd` as the benchmark's peer, with its forwarding rate both in wall time
//! and per CPU-second of its forwarding core (steady when other processes compete for the
//! cores, which on a shared machine they do).

use std::io::{self, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Name prefix of the threads DPDK runs worker lcores on (testpmd forwards on them).
const WORKER_THREAD: &str = "rte-worker";

/// A testpmd run's forwarding rate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rate {
    /// Steady RX rate in Mpps of wall time (the median of testpmd's per-second reports after
    /// the first), if testpmd printed any (on a loaded machine it may not).
    pub(crate) wall: Option<f64>,
    /// Packets received per CPU-second of the forwarding thread, in Mpps, if its CPU time
    /// could be read from `/proc`.
    pub(crate) cpu: Option<f64>,
}

/// CPU time of the threads of `pid` whose name starts with `prefix`, from `/proc`.
fn threads_cpu_time(pid: u32, prefix: &str) -> Option<Duration> {
    // SAFETY: sysconf has no preconditions.
    let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()
        .filter(|&t| t > 0)?;
    let mut total = 0u64;
    let mut found = false;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // "tid (comm) state ..." : comm may hold spaces, so split at the last parenthesis.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // After the comm: state is field 3; utime and stime are fields 14 and 15.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let time = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if let (Some(utime), Some(stime)) = (time(11), time(12)) {
            total += utime + stime;
            found = true;
        }
    }
    found.then(|| Duration::from_millis(total * 1_000 / ticks))
}

/// Runs testpmd on `traffic` replayed by `net_pcap`, forwarding port 0 to itself in `mode`
/// for `secs` seconds.
pub(crate) fn run(testpmd: &Path, traffic: &Path, mode: &str, secs: u64) -> io::Result<Rate> {
    let mut child = Command::new(testpmd)
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut stdout = child.stdout.take();
    // A thread drains stdout so testpmd never blocks on a full pipe.
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    std::thread::sleep(Duration::from_secs(secs));
    let cpu = threads_cpu_time(child.id(), WORKER_THREAD);
    let pid = i32::try_from(child.id()).unwrap_or(0);
    // SAFETY: pid is our child, which has not been waited for yet.
    unsafe { libc::kill(pid, libc::SIGINT) };
    child.wait()?;
    let text = reader.join().unwrap_or_default();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    parse(&text, cpu)
        .ok_or_else(|| io::Error::other(format!("testpmd did not run:\n{text}{stderr}")))
}

/// The rates in testpmd's output, given its forwarding thread's CPU time.
fn parse(text: &str, cpu: Option<Duration>) -> Option<Rate> {
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
    pps.sort_by(f64::total_cmp);
    // The last "RX-packets" is the accumulated count over the run.
    let total: f64 = text
        .lines()
        .rev()
        .filter_map(|l| l.trim().strip_prefix("RX-packets:"))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())?;
    Some(Rate {
        wall: pps.get(pps.len() / 2).map(|p| p / 1e6),
        cpu: cpu
            .filter(|c| !c.is_zero())
            .map(|c| total / c.as_secs_f64() / 1e6),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rates_and_totals() {
        let text = "  Rx-pps:            0 \n  Rx-pps:     40000000\n  Rx-pps:     42000000\n\
                    RX-packets: 10 RX-dropped: 0\n  RX-packets: 84000000       RX-dropped: 0\n";
        let r = parse(text, Some(Duration::from_secs(2))).unwrap();
        assert_eq!(r.wall, Some(42.0));
        assert_eq!(r.cpu, Some(42.0));
        assert!(parse("nothing", None).is_none());
    }

    #[test]
    fn finds_this_process_main_thread_time() {
        // The test harness names its threads after the tests; the main thread is the binary.
        assert!(threads_cpu_time(std::process::id(), "").is_some());
        assert!(threads_cpu_time(std::process::id(), "no-such-thread").is_none());
    }
}
