//! Disk damage at process level: a torn last record is cut off and the controller rejoins; a
//! flipped byte in the middle of the log stops it with a message naming file and offset. And a
//! SIGTERM stops a controller cleanly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, ensure};
use ferrocore_runtime::ClientAuth;
use ferrocore_tests::cluster::{Cluster, ClusterOptions};

use super::support::{Writers, list_names, runtime};

#[test]
fn a_torn_tail_is_repaired_and_a_flipped_byte_is_refused() {
    runtime().block_on(run()).expect("disk damage");
}

async fn run() -> anyhow::Result<()> {
    let mut cluster = Cluster::start_all(&ClusterOptions::new(3)).await?;
    let configs = cluster
        .ids()
        .into_iter()
        .map(|id| cluster.client_config(id, ClientAuth::Certificate(cluster.admin().clone())))
        .collect();
    let acked = Writers::start(configs, "disk", 60, 3).finish().await?;
    let leader = cluster.leader(Duration::from_secs(30)).await?;
    let followers: Vec<u64> = cluster
        .ids()
        .into_iter()
        .filter(|id| *id != leader)
        .collect();

    // Torn tail: cut the newest segment inside its last record.
    let torn = followers[0];
    cluster.kill(torn);
    let segment = newest_segment(&cluster.data_dir(torn))?;
    let len = std::fs::metadata(&segment)?.len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)?
        .set_len(len - 5)?;
    cluster.start(torn)?;
    cluster.wait_ready(torn, Duration::from_secs(60)).await?;
    let names = list_names(&cluster, torn).await?;
    ensure!(
        acked.is_subset(&names),
        "the repaired controller has every write"
    );

    // Flipped byte in the middle: the controller must refuse to start, naming file and offset.
    let flipped = followers[1];
    cluster.kill(flipped);
    let segment = newest_segment(&cluster.data_dir(flipped))?;
    let mut bytes = std::fs::read(&segment)?;
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&segment, &bytes)?;
    cluster.start(flipped)?;
    let status = cluster
        .wait_exit(flipped, Duration::from_secs(30))
        .context("a controller with a corrupt log must exit")?;
    ensure!(!status.success(), "non-zero exit: {status}");
    let log = cluster.log(flipped);
    let file = segment
        .file_name()
        .context("name")?
        .to_string_lossy()
        .into_owned();
    ensure!(
        log.contains("corrupt Raft log") && log.contains(&file) && log.contains("offset"),
        "the message names file and offset:\n{log}"
    );

    // SIGTERM: a clean stop with exit status 0.
    let status = cluster.terminate(torn, Duration::from_secs(20))?;
    ensure!(status.success(), "graceful stop: {status}");
    Ok(())
}

fn newest_segment(data: &Path) -> anyhow::Result<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data.join("raft/log"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("seg-"))
        })
        .collect();
    segments.sort();
    segments.pop().context("no log segment")
}
