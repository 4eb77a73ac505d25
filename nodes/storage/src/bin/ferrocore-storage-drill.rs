//! A test drill, not a product binary: runs the Ceph volume runtime in its own process and
//! creates volumes one by one, printing `CREATED <id>` as each create is acknowledged, so an
//! integration test can kill it with SIGKILL mid-way and check what a restarted runtime finds.
//!
//! Usage: `ferrocore-storage-drill <ceph.conf> <pool> <count>`

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_node_storage::ceph::{CEPH_TIMEOUT_SECS, CephBackend, CephConfig};
use ferrocore_node_storage::conformance::{classes, request};
use ferrocore_node_storage::{VolumeConfig, VolumeService, Workers};
use ferrocore_runtime::{OsSeededRng, SystemClock};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, conf, pool, count] = args.as_slice() else {
        eprintln!("usage: ferrocore-storage-drill <ceph.conf> <pool> <count>");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<usize>() else {
        eprintln!("count must be a number");
        return ExitCode::from(2);
    };
    match run(conf, pool, count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("drill: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(conf: &str, pool: &str, count: usize) -> Result<(), String> {
    let backend = CephBackend::new(CephConfig {
        conf: conf.to_owned(),
        user: "admin".into(),
        pool: pool.to_owned(),
        client_user: "volumes".into(),
        monitors: "127.0.0.1:6789".into(),
        timeout_secs: CEPH_TIMEOUT_SECS,
    });
    let rng = OsSeededRng::new().map_err(|e| e.to_string())?;
    let config = VolumeConfig {
        classes: classes(),
        kek: None,
    };
    let svc = VolumeService::open(
        backend.clone(),
        backend.store(),
        config,
        Arc::new(SystemClock::new()),
        Box::new(rng),
    )
    .map_err(|e| e.to_string())?;
    let svc = Arc::new(svc);
    let _workers = Workers::start(svc.clone(), None, 4).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout();
    for _ in 0..count {
        let v = svc
            .create_volume(request("standard", 8, "drill"))
            .map_err(|e| e.to_string())?;
        writeln!(out, "CREATED {}", v.volume.id).map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
    }
    let settled = svc.settle_for(Duration::from_secs(120));
    writeln!(out, "DONE settled={settled}").map_err(|e| e.to_string())?;
    Ok(())
}
