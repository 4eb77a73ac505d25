//! Tiny TCP servers and clients for the scenarios, run on threads inside VM namespaces.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::netns::enter;

/// What a server answers to each message.
#[derive(Clone, Debug)]
pub(crate) enum Answer {
    /// Its own name.
    Name(String),
    /// The peer's address as it sees it (`ip:port`).
    Peer,
}

/// Servers stop when this is dropped.
#[derive(Debug, Default)]
pub(crate) struct Servers {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Servers {
    /// Starts a server on `port` (all addresses) in namespace `ns`.
    pub(crate) fn start(&mut self, ns: &str, port: u16, answer: Answer) -> anyhow::Result<()> {
        let path = format!("/var/run/netns/{ns}");
        let stop = Arc::clone(&self.stop);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        self.threads.push(std::thread::spawn(move || {
            let listener = enter(&path).and_then(|()| {
                let l = TcpListener::bind(("0.0.0.0", port))?;
                l.set_nonblocking(true)?;
                Ok(l)
            });
            let listener = match listener {
                Ok(l) => {
                    let _ = ready_tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            serve(&listener, &answer, &stop);
        }));
        ready_rx.recv()?
    }
}

fn serve(listener: &TcpListener, answer: &Answer, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut s, peer)) => {
                let _ = s.set_nonblocking(false);
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let reply = match answer {
                    Answer::Name(n) => n.clone(),
                    Answer::Peer => peer.to_string(),
                };
                let mut buf = [0u8; 64];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(reply.as_bytes()).is_err() {
                        break;
                    }
                }
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Connects to `to`, sends `rounds` messages and returns the answers (the caller runs it in
/// a namespace). `None` if the connection fails within `timeout`.
pub(crate) fn ask(to: SocketAddr, rounds: usize, timeout: Duration) -> Option<Vec<String>> {
    let mut s = TcpStream::connect_timeout(&to, timeout).ok()?;
    s.set_read_timeout(Some(timeout)).ok()?;
    let mut answers = Vec::new();
    for _ in 0..rounds {
        s.write_all(b"?").ok()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        answers.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    Some(answers)
}
