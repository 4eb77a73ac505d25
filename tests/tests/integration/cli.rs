//! The client verbs as a user runs them, against a real 3-controller cluster on loopback:
//! `cluster bootstrap`, three `ferrocore controller` processes, then `apply -f examples/`
//! (created, then unchanged), `get` in every format, `describe`, `watch`, `delete` (and its
//! NotFound afterwards), `cluster status`, and failover when the first controller is killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrocore_tests::cluster::{Cluster, ClusterOptions};
use ferrocore_tests::{ferrocore_bin, workspace_root};

/// Kills the child when dropped, so a failed assertion leaves no process behind.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running 3-controller cluster (the shared helper: one cluster at a time, test timing)
/// and the CLI pointed at its admin config.
struct Cli {
    cluster: Cluster,
    admin: PathBuf,
}

impl Cli {
    fn start() -> Self {
        let rt = ferrocore_runtime::build_runtime().unwrap();
        let cluster = rt
            .block_on(Cluster::start_all(&ClusterOptions::new(3)))
            .expect("a 3-controller cluster (build the binary first: cargo build --bins)");
        let admin = cluster.dir().join("admin.toml");
        Self { cluster, admin }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ferrocore_bin());
        cmd.args(args).env("FERROCORE_CONFIG", &self.admin);
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Runs and expects success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "ferrocore {args:?} failed: {}\n{}",
            text(&o.stdout),
            text(&o.stderr)
        );
        text(&o.stdout)
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[allow(clippy::disallowed_methods)] // test harness timing, outside any simulated code
fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    false
}

fn examples() -> PathBuf {
    workspace_root().join("examples")
}

fn apply_examples(c: &Cli) -> Vec<String> {
    let ex = examples();
    let out = c.ok(&["apply", "-f", ex.to_str().unwrap()]);
    out.lines().map(str::to_owned).collect()
}

#[test]
fn client_verbs_against_three_controllers() {
    let mut c = Cli::start();

    let first = apply_examples(&c);
    assert!(first.len() > 20, "every example object: {first:?}");
    assert!(first.iter().all(|l| l.ends_with(" created")), "{first:#?}");
    assert!(first.contains(&"machineclass.compute.ironcore.dev/x86-small created".to_owned()));
    let again = apply_examples(&c);
    assert_eq!(again.len(), first.len());
    assert!(
        again.iter().all(|l| l.ends_with(" unchanged")),
        "{again:#?}"
    );

    get_and_describe(&c);
    watch_sees_a_new_object(&c);
    delete_and_not_found(&c);

    let status = c.ok(&["cluster", "status"]);
    assert_eq!(
        status.lines().filter(|l| l.contains("127.0.0.1:")).count(),
        4,
        "{status}"
    );
    assert!(status.contains("leader"), "{status}");

    // The first server of the admin config goes away: the CLI fails over to the others.
    c.cluster.kill(1);
    let ok = wait_until(Duration::from_secs(30), || {
        c.run(&["get", "machineclasses"]).status.success()
    });
    assert!(ok, "{}", text(&c.run(&["get", "machineclasses"]).stderr));
}

fn get_and_describe(c: &Cli) {
    let table = c.ok(&["get", "machines", "-n", "shop"]);
    assert!(table.starts_with("NAME "), "{table}");
    assert!(
        table.contains("CLASS") && table.contains("POWER"),
        "{table}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "ma", "-A", "-o", "json"])).unwrap();
    assert_eq!(json["kind"], "List");
    let machines = json["items"].as_array().unwrap();
    assert!(!machines.is_empty());
    let name = machines[0]["metadata"]["name"].as_str().unwrap().to_owned();
    let one = c.ok(&["get", "machine", &name, "-n", "shop", "-o", "yaml"]);
    assert!(one.contains(&format!("name: {name}")), "{one}");
    let desc = c.ok(&["describe", "machines", &name, "-n", "shop"]);
    assert!(
        desc.starts_with(&format!("Name:         {name}\n")),
        "{desc}"
    );
    assert!(desc.contains("Spec:"), "{desc}");
    let classes = c.ok(&["get", "machineclasses", "-o", "wide"]);
    assert!(classes.contains("x86-small"), "{classes}");
    let secrets = c.ok(&["get", "secrets", "-n", "shop", "-o", "yaml"]);
    assert!(secrets.contains("<redacted: "), "{secrets}");
}

fn watch_sees_a_new_object(c: &Cli) {
    let mut watch = c
        .cmd(&[
            "watch",
            "secrets",
            "-n",
            "shop",
            "--max-events",
            "1",
            "-o",
            "json",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = watch.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let watch = Proc(watch);
    let manifest = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: watched\n  namespace: shop\nstringData:\n  k: v\n";
    // The watch may subscribe after our first apply; apply until it sees an event.
    let mut line = None;
    for i in 0..20 {
        let file = Path::new(&std::env::temp_dir()).join(format!(
            "ferrocore-cli-watch-{}-{i}.yaml",
            std::process::id()
        ));
        std::fs::write(&file, manifest.replace("watched", &format!("watched-{i}"))).unwrap();
        c.ok(&["apply", "-f", file.to_str().unwrap()]);
        let _ = std::fs::remove_file(&file);
        if let Ok(l) = rx.recv_timeout(Duration::from_millis(500)) {
            line = Some(l);
            break;
        }
    }
    drop(watch);
    let line = line.expect("the watch printed an event");
    let event: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["type"], "ADDED", "{line}");
    assert!(
        event["object"]["data"]["k"]
            .as_str()
            .unwrap()
            .starts_with("<redacted"),
        "{line}"
    );
}

/// A class nothing uses (the example classes are in use by the example machines, and class
/// in-use protection rightly keeps those until their machines are gone).
const SPARE_CLASS: &str = "apiVersion: compute.ironcore.dev/v1alpha1
kind: MachineClass
metadata:
  name: x86-spare
capabilities:
  cpu: 4
  memory: 8Gi
";

fn delete_and_not_found(c: &Cli) {
    let file = c.cluster.dir().join("spare-class.yaml");
    std::fs::write(&file, SPARE_CLASS).unwrap();
    let created = c.ok(&["apply", "-f", file.to_str().unwrap()]);
    assert!(created.contains("x86-spare created"), "{created}");
    let out = c.ok(&["delete", "machineclass", "x86-spare"]);
    assert!(
        out.starts_with("machineclass.compute.ironcore.dev/x86-spare deleted")
            || out.contains("marked for deletion"),
        "{out}"
    );
    let ok = wait_until(Duration::from_secs(10), || {
        !c.run(&["get", "machineclass", "x86-spare"])
            .status
            .success()
    });
    assert!(ok, "x86-spare is gone");
    let missing = c.run(&["get", "machineclass", "x86-spare"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        text(&missing.stderr).contains("not found"),
        "{}",
        text(&missing.stderr)
    );
    let gone = c.run(&["delete", "machineclass", "x86-spare"]);
    assert!(
        text(&gone.stdout).contains("NotFound"),
        "{}",
        text(&gone.stdout)
    );
    assert!(
        c.run(&["delete", "machineclass", "x86-spare", "--ignore-not-found"])
            .status
            .success()
    );
}
