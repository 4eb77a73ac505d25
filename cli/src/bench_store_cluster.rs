//! The two clusters `bench store` compares: 3 ferrocore controllers as real processes from
//! `ferrocore cluster bootstrap`, and 3 etcd members from `scripts/etcd-up.sh`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context as _;

use crate::client::{self, ConnectArgs};

/// How long the controllers get to elect a leader and accept a write (generous: 2 shared cores).
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between readiness probes.
const READY_POLL: Duration = Duration::from_millis(200);

/// Three controller processes of a freshly bootstrapped cluster; killed when dropped.
#[derive(Debug)]
pub(super) struct Controllers {
    children: Vec<Child>,
    admin: PathBuf,
}

impl Controllers {
    /// Bootstraps a 3-controller cluster in `dir` on UDP ports `port..port+3`, starts the
    /// controllers and waits until a write is accepted.
    pub(super) async fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let bin = std::env::current_exe().context("locating the ferrocore binary")?;
        if dir.exists() {
            std::fs::remove_dir_all(dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        let out = Command::new(&bin)
            .args(["cluster", "bootstrap", "--controllers", "3", "--base-port"])
            .arg(port.to_string())
            .arg("--dir")
            .arg(dir)
            .output()
            .context("running ferrocore cluster bootstrap")?;
        if !out.status.success() {
            anyhow::bail!(
                "ferrocore cluster bootstrap failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let (controllers, admin) = bootstrap_files(dir)?;
        let mut me = Self {
            children: Vec::new(),
            admin,
        };
        for cfg in &controllers {
            let log = std::fs::File::create(cfg.with_extension("log"))?;
            let child = Command::new(&bin)
                .arg("controller")
                .arg("--config")
                .arg(cfg)
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .context("starting a controller")?;
            me.children.push(child);
        }
        me.wait_ready().await?;
        Ok(me)
    }

    /// The admin client config bootstrap wrote.
    pub(super) fn admin_config(&self) -> &Path {
        &self.admin
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let api = ConnectArgs {
            config: Some(self.admin.clone()),
            context: None,
        }
        .api()?;
        let probe = serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "ready-probe", "namespace": "bench"}});
        let clock = ferrocore_runtime::SystemClock::new();
        let start = ferrocore_runtime::Clock::now(&clock);
        let mut last = String::new();
        while ferrocore_runtime::Clock::now(&clock).saturating_since(start) < READY_TIMEOUT {
            for c in &mut self.children {
                if let Some(status) = c.try_wait()? {
                    anyhow::bail!(
                        "a controller exited early ({status}); see its .log beside its config"
                    );
                }
            }
            match api.create(&probe).await {
                Ok(_) => return Ok(()),
                Err(e) if e.reason() == Some(client::Reason::AlreadyExists) => return Ok(()),
                Err(e) => last = e.to_string(),
            }
            api.session().drop_current().await;
            ferrocore_runtime::sleep(READY_POLL).await;
        }
        anyhow::bail!("the controllers did not accept a write within {READY_TIMEOUT:?}: {last}")
    }

    /// Stops the controllers.
    pub(super) fn stop(mut self) {
        self.kill_all();
    }

    fn kill_all(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Controllers {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The controller configs (sorted) and the admin client config in a bootstrap directory: the
/// admin config is the TOML file with a `current_context`; controller configs are the others
/// that name a `listen` address.
fn bootstrap_files(dir: &Path) -> anyhow::Result<(Vec<PathBuf>, PathBuf)> {
    let mut controllers = Vec::new();
    let mut admin = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            if p.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&p)?;
            if text.contains("current_context") {
                admin = Some(p);
            } else if text.lines().any(|l| l.trim_start().starts_with("listen")) {
                controllers.push(p);
            }
        }
    }
    controllers.sort();
    let admin = admin.with_context(|| format!("no admin config in {}", dir.display()))?;
    if controllers.len() != 3 {
        anyhow::bail!(
            "expected 3 controller configs in {}, found {}",
            dir.display(),
            controllers.len()
        );
    }
    Ok((controllers, admin))
}

/// A 3-member etcd from `scripts/etcd-up.sh`.
#[derive(Debug)]
pub(super) struct Etcd {
    dir: PathBuf,
    /// `http://127.0.0.1:port` per member.
    pub(super) endpoints: Vec<String>,
}

impl Etcd {
    /// Installs (if needed) and starts etcd in `dir` on TCP ports `port..port+6`.
    pub(super) fn start(dir: &Path, port: u16) -> anyhow::Result<Self> {
        let out = Command::new("bash")
            .arg(script("etcd-up.sh")?)
            .arg(dir)
            .arg(port.to_string())
            .stderr(Stdio::inherit())
            .output()
            .context("running scripts/etcd-up.sh")?;
        if !out.status.success() {
            anyhow::bail!("scripts/etcd-up.sh failed ({})", out.status);
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or_default();
        let endpoints = last
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| format!("http://{s}"))
            .collect::<Vec<_>>();
        if endpoints.is_empty() {
            anyhow::bail!("scripts/etcd-up.sh printed no endpoints");
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            endpoints,
        })
    }

    /// Stops the members and removes their data.
    pub(super) fn stop(self) {
        if let Ok(s) = script("etcd-down.sh") {
            let _ = Command::new("bash").arg(s).arg(&self.dir).status();
        }
    }
}

/// A script of the repository: beside the source tree this binary was built from, or under
/// the current directory.
fn script(name: &str) -> anyhow::Result<PathBuf> {
    let built = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name);
    let local = Path::new("scripts").join(name);
    [built, local]
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| format!("scripts/{name} not found (run from the repository root)"))
}
