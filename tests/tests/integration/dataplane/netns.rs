//! Network namespaces for the data plane scenarios: created with `ip netns`, entered by test
//! threads with `setns`, and deleted (with every process started in them) on drop.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, bail};

/// Runs a command, failing with its stderr if it fails.
pub(crate) fn sh(args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .with_context(|| format!("running {args:?}"))?;
    if !out.status.success() {
        bail!(
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether this machine lets us create namespaces (root with iproute2).
pub(crate) fn available() -> bool {
    let probe = format!("fcdp-probe-{}", std::process::id());
    let ok = sh(&["ip", "netns", "add", &probe]).is_ok();
    let _ = sh(&["ip", "netns", "del", &probe]);
    ok
}

/// A set of namespaces owned by one test, and the processes running in them.
#[derive(Debug)]
pub(crate) struct Namespaces {
    prefix: String,
    names: Vec<String>,
    children: Vec<Child>,
}

impl Namespaces {
    /// An empty set whose namespace names start with a per-process prefix.
    pub(crate) fn new(tag: &str) -> Self {
        Self {
            prefix: format!("fc{}{tag}", std::process::id() % 100_000),
            names: Vec::new(),
            children: Vec::new(),
        }
    }

    /// Creates namespace `short` (with loopback up) and returns its full name.
    pub(crate) fn add(&mut self, short: &str) -> anyhow::Result<String> {
        let name = format!("{}{short}", self.prefix);
        sh(&["ip", "netns", "add", &name])?;
        self.names.push(name.clone());
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Runs `ip -n <ns> <args...>`.
    pub(crate) fn ip(&self, ns: &str, args: &[&str]) -> anyhow::Result<String> {
        let mut v = vec!["ip", "-n", ns];
        v.extend_from_slice(args);
        sh(&v)
    }

    /// Starts a process inside a namespace; it is killed when the set is dropped.
    pub(crate) fn spawn(
        &mut self,
        ns: &str,
        program: &str,
        args: &[&str],
        log: &std::path::Path,
    ) -> anyhow::Result<()> {
        let log = File::create(log)?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.children.push(child);
        Ok(())
    }

    /// Whether every started process is still running.
    pub(crate) fn all_running(&mut self) -> bool {
        self.children
            .iter_mut()
            .all(|c| matches!(c.try_wait(), Ok(None)))
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for c in &mut self.children {
            // SIGTERM first so the data plane removes its socket; then make sure.
            if let Ok(pid) = i32::try_from(c.id()) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGTERM) };
            }
        }
        for c in &mut self.children {
            let deadline = 50;
            for _ in 0..deadline {
                if matches!(c.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in self.names.iter().rev() {
            let _ = sh(&["ip", "netns", "del", n]);
        }
    }
}

/// Runs `f` on a thread that has entered namespace `ns`, so sockets it opens live there.
pub(crate) fn in_ns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> anyhow::Result<T> {
    let path = format!("/var/run/netns/{ns}");
    std::thread::scope(|s| {
        s.spawn(|| -> anyhow::Result<T> {
            enter(&path)?;
            Ok(f())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("thread in {ns} panicked"))?
    })
}

/// Moves the calling thread into the namespace at `path`.
pub(crate) fn enter(path: &str) -> anyhow::Result<()> {
    let fd = File::open(path).with_context(|| format!("opening {path}"))?;
    // SAFETY: fd is a valid namespace file descriptor for the duration of the call.
    if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        bail!("setns {path}: {}", std::io::Error::last_os_error());
    }
    Ok(())
}
