//! The API server: accepts connections on a unix socket and hands each request to whoever owns
//! the pipeline (the backend's worker), through a bounded queue, so the pipeline keeps a single
//! writer (as dpservice's worker does).

use std::io;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use ferrocore_runtime::MonoTime;

use super::codec::{read_frame, write_frame};
use super::proto::{ApiError, Request, Response};
use crate::pipeline::Dataplane;

/// The socket path the network agent expects by default.
pub const DEFAULT_SOCKET: &str = "/run/ferrocore/dataplane.sock";

/// Requests waiting for the worker: enough for every connection to have a few in flight; a full
/// queue makes clients wait (back-pressure) instead of growing memory.
const REQUEST_QUEUE: usize = 64;

/// Connections served at once: the agent needs one or two; the bound stops a runaway client
/// from exhausting threads.
const MAX_CONNECTIONS: usize = 16;

/// Requests applied per [`ProgramQueue::drain`] call: bounds how long programming can delay
/// packet processing.
const DRAIN_BATCH: usize = 32;

/// A request and where its answer goes.
type Job = (Request, SyncSender<Response>);

/// The worker's end: requests to apply to the pipeline.
#[derive(Debug)]
pub struct ProgramQueue {
    rx: Receiver<Job>,
}

impl ProgramQueue {
    /// Applies up to a batch of waiting requests; returns how many. Call it between bursts.
    pub fn drain(&self, dp: &mut Dataplane, now: MonoTime) -> usize {
        for n in 0..DRAIN_BATCH {
            match self.rx.try_recv() {
                Ok((req, reply)) => {
                    let _ = reply.send(dp.program(now, req));
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return n,
            }
        }
        DRAIN_BATCH
    }
}

/// A handle that submits requests to the worker (what connection threads use).
#[derive(Clone, Debug)]
pub struct ProgramHandle {
    tx: SyncSender<Job>,
}

impl ProgramHandle {
    /// Submits a request and waits for its answer.
    pub fn call(&self, req: Request) -> Response {
        let (tx, rx) = sync_channel(1);
        let gone = || ApiError::BadRequest("the data plane worker has stopped".into());
        self.tx.send((req, tx)).map_err(|_| gone())?;
        rx.recv().map_err(|_| gone())?
    }
}

/// A queue between API connections and the worker.
pub fn program_channel() -> (ProgramHandle, ProgramQueue) {
    let (tx, rx) = sync_channel(REQUEST_QUEUE);
    (ProgramHandle { tx }, ProgramQueue { rx })
}

/// Binds the socket (creating its directory and replacing a stale socket file, but refusing
/// if another data plane answers on it) and serves it on background threads.
pub fn serve(path: &Path, handle: ProgramHandle) -> io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another data plane is serving {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let active = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("dp-api".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
                    continue; // dropped: the client sees the connection close
                }
                active.fetch_add(1, Ordering::SeqCst);
                let (h, a) = (handle.clone(), Arc::clone(&active));
                let spawned = std::thread::Builder::new()
                    .name("dp-api-conn".into())
                    .spawn(move || {
                        connection(stream, &h);
                        a.fetch_sub(1, Ordering::SeqCst);
                    });
                if spawned.is_err() {
                    active.fetch_sub(1, Ordering::SeqCst);
                }
            }
        })?;
    Ok(path.to_path_buf())
}

fn connection(mut stream: UnixStream, handle: &ProgramHandle) {
    loop {
        let req: Request = match read_frame(&mut stream) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                let resp: Response = Err(ApiError::BadRequest(format!("undecodable request: {e}")));
                let _ = write_frame(&mut stream, &resp);
                return;
            }
        };
        if write_frame(&mut stream, &handle.call(req)).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::atomic::AtomicBool;

    use ferrocore_runtime::SeededRng;

    use super::*;
    use crate::api::client::{ClientError, DataplaneClient};
    use crate::api::proto::Reply;
    use crate::pipeline::{PipelineConfig, PortConfig};
    use crate::spec::InterfaceSpec;
    use crate::tables::PortKind;
    use crate::types::{InterfaceId, Mac, Vni};

    #[test]
    fn a_client_programs_a_worker_over_the_socket() {
        let dir = std::env::temp_dir().join(format!("fc-dp-api-{}", std::process::id()));
        let path = dir.join("dp.sock");
        let (handle, queue) = program_channel();
        serve(&path, handle).unwrap();
        assert!(
            serve(&path, program_channel().0).is_err(),
            "a second server is refused"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let worker = std::thread::spawn(move || {
            let ports = [PortConfig {
                name: "tap0".into(),
                kind: PortKind::Vm,
                mac: Mac([2; 6]),
            }];
            let mut dp = Dataplane::new(PipelineConfig::default(), &ports, &mut SeededRng::new(3));
            while !stop2.load(Ordering::SeqCst) {
                if queue.drain(&mut dp, MonoTime::ZERO) == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        });
        let mut c = DataplaneClient::connect(&path).unwrap();
        let spec = InterfaceSpec {
            id: InterfaceId::new("vm1").unwrap(),
            vni: Vni(7),
            ipv4: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ipv6: None,
            device: "tap0".into(),
            preferred_underlay: None,
            hostname: None,
        };
        let a = c.create(&Request::CreateInterface(spec.clone())).unwrap();
        assert_eq!(
            c.create(&Request::CreateInterface(spec.clone())).unwrap(),
            a,
            "idempotent"
        );
        let mut other = spec;
        other.vni = Vni(8);
        match c.create(&Request::CreateInterface(other)) {
            Err(ClientError::Api(ApiError::Conflict(m))) => assert!(m.contains("vm1")),
            r => panic!("{r:?}"),
        }
        assert!(
            matches!(c.call(&Request::ListInterfaces).unwrap(), Reply::Interfaces(l) if l.len() == 1)
        );
        assert_eq!(c.stats().unwrap().ports.len(), 1);
        stop.store(true, Ordering::SeqCst);
        worker.join().unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
