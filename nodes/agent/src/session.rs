//! The node's side of the node protocol: find the leader, register, report what the pools
//! hold, heartbeat, run commands; on any failure reconnect (to the leader a controller names,
//! else to the next controller) and do it all again. Reports and registrations are idempotent,
//! so a new leader learns everything without anything being done twice.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::protocol::{
    CommandOutcome, CommandResult, FRAME_MAX_BYTES, Frame, Freshness, Heartbeat, NodeCommand,
    NodeMessage, PROTOCOL_VERSION, Register, encode_frame,
};
use ferrocore_runtime::frame::{read_frame, write_frame};
use ferrocore_runtime::{
    Alpn, Clock, Endpoint, MaxFrameLen, PeerConnection, sleep, spawn, timeout,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::certs::resolve;
use crate::config::NodeConfig;
use crate::held::Holdings;
use crate::link::{Dialer, Due, Ended, Reaction, SessionCore, Target};
use crate::pools::Pools;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Frames read ahead of the session loop: the reader waits when the loop falls behind.
const READ_AHEAD_MAX: usize = 64;

fn max_frame() -> MaxFrameLen {
    MaxFrameLen::new(u32::try_from(FRAME_MAX_BYTES).unwrap_or(u32::MAX))
}

/// The agent: its pools and what they hold.
#[derive(Debug)]
pub(crate) struct Agent {
    pub(crate) config: NodeConfig,
    pub(crate) pools: Pools,
    pub(crate) holdings: Holdings,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) status_file: PathBuf,
    /// Whether the status file is behind.
    pub(crate) dirty: bool,
}

type Send = Box<dyn AsyncWrite + std::marker::Send + Unpin>;
type Recv = Box<dyn AsyncRead + std::marker::Send + Unpin>;

struct Writer {
    send: Send,
    seq: u64,
}

impl Writer {
    async fn send(&mut self, body: NodeMessage) -> Result<u64, String> {
        self.seq += 1;
        let bytes = encode_frame(&Frame {
            seq: self.seq,
            body,
        })
        .map_err(|e| e.to_string())?;
        write_frame(&mut self.send, &bytes, max_frame())
            .await
            .map_err(|e| e.to_string())?;
        Ok(self.seq)
    }
}

/// Runs sessions for ever.
pub(crate) async fn run(mut agent: Agent, endpoint: Endpoint) {
    let mut dialer = Dialer::new(agent.config.controllers.clone(), agent.config.reconnect());
    loop {
        let name = match dialer.target() {
            Some(Target::Configured(a) | Target::Named(a)) => a,
            None => String::new(),
        };
        if let Some(addr) = resolve(&name)
            && let Some((ended, lasted)) = session_at(&mut agent, &endpoint, addr).await
            && dialer.ended(&name, &ended, lasted)
        {
            continue;
        }
        sleep(dialer.pause()).await;
    }
}

/// Dials `addr` and runs one session; how it ended and how long it lasted (`None`: no
/// connection).
async fn session_at(
    agent: &mut Agent,
    endpoint: &Endpoint,
    addr: SocketAddr,
) -> Option<(Ended, Duration)> {
    let server_name = agent.config.server_name.clone();
    let dial = timeout(
        CONNECT_TIMEOUT,
        endpoint.connect(addr, &server_name, Alpn::Node),
    );
    let conn = match dial.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(%addr, error = %e, "cannot connect");
            return None;
        }
        Err(_) => {
            tracing::debug!(%addr, "connect timed out");
            return None;
        }
    };
    let started = agent.clock.now();
    let ended = serve(agent, &conn).await;
    conn.close(ferrocore_runtime::CloseCode::NORMAL, "session ended");
    log_end(addr, &ended);
    Some((ended, agent.clock.now().saturating_since(started)))
}

fn log_end(addr: SocketAddr, ended: &Ended) {
    match ended {
        Ended::Redirect(Some(leader)) => {
            tracing::info!(%addr, %leader, "not the leader; following");
        }
        Ended::Redirect(None) => tracing::debug!(%addr, "no leader yet"),
        Ended::Closed(why) => tracing::info!(%addr, %why, "session ended"),
    }
}

/// Reads frames into a channel: reading a frame is not cancel-safe, so it must not race a
/// timer in `select!` (a half-read frame would be lost and the stream desynchronised).
async fn read_ahead(mut recv: Recv, out: mpsc::Sender<Result<Option<Vec<u8>>, String>>) {
    loop {
        let frame = read_frame(&mut recv, max_frame())
            .await
            .map_err(|e| e.to_string());
        let last = !matches!(frame, Ok(Some(_)));
        if out.send(frame).await.is_err() || last {
            return;
        }
    }
}

/// One session on one connection.
async fn serve(agent: &mut Agent, conn: &PeerConnection) -> Ended {
    let stream = match conn.open_bi().await {
        Ok(s) => s,
        Err(e) => return Ended::Closed(e.to_string()),
    };
    let mut writer = Writer {
        send: stream.send,
        seq: 0,
    };
    let (frames_tx, mut frames) = mpsc::channel(READ_AHEAD_MAX);
    let reader = spawn(read_ahead(stream.recv, frames_tx));
    let ended = async {
        let register = Register {
            protocol_version: PROTOCOL_VERSION,
            pools: agent.pools.registrations(),
        };
        let seq = writer
            .send(NodeMessage::Register(register))
            .await
            .map_err(Ended::Closed)?;
        agent.holdings.reset_reports();
        let (hb, poll) = (agent.config.heartbeat(), agent.config.poll());
        let mut core = SessionCore::new(seq, agent.clock.now(), hb, poll);
        loop {
            let wait = core.deadline().saturating_since(agent.clock.now());
            tokio::select! {
                biased;
                frame = frames.recv() => {
                    let bytes = match frame {
                        Some(Ok(bytes)) => bytes,
                        Some(Err(e)) => return Err(Ended::Closed(e)),
                        None => None,
                    };
                    let reaction = core.on_frame(bytes.as_deref());
                    react(agent, &mut writer, reaction).await?;
                }
                () = sleep(wait) => {
                    let due = core.on_timer(agent.clock.now());
                    on_due(agent, &mut writer, due, core.registered())
                        .await
                        .map_err(Ended::Closed)?;
                }
            }
        }
    };
    let result: Result<std::convert::Infallible, Ended> = ended.await;
    reader.abort();
    match result {
        Err(ended) => ended,
    }
}

/// Carries out what the core made of a controller frame.
async fn react(agent: &mut Agent, writer: &mut Writer, reaction: Reaction) -> Result<(), Ended> {
    match reaction {
        Reaction::Nothing => Ok(()),
        Reaction::End(ended) => Err(ended),
        Reaction::SendInventory => send_inventory(agent, writer).await.map_err(Ended::Closed),
        Reaction::Run(command) => {
            for m in run_command(agent, *command) {
                writer.send(m).await.map_err(Ended::Closed)?;
            }
            Ok(())
        }
    }
}

/// Carries out a due timer.
async fn on_due(
    agent: &mut Agent,
    writer: &mut Writer,
    due: Option<Due>,
    registered: bool,
) -> Result<(), String> {
    match due {
        None => Ok(()),
        Some(Due::Heartbeat) => {
            let beat = Heartbeat {
                pools: agent.pools.heartbeats(),
            };
            writer.send(NodeMessage::Heartbeat(beat)).await.map(|_| ())
        }
        Some(Due::Poll) => poll_objects(agent, writer, registered).await,
    }
}
/// Runs one command; the messages to send back (the object's report, then the result).
fn run_command(agent: &mut Agent, command: NodeCommand) -> Vec<NodeMessage> {
    let result = |outcome| {
        NodeMessage::CommandResult(CommandResult {
            id: command.id,
            outcome,
        })
    };
    if let Freshness::Stale { seen } = agent.holdings.admit(&command.object, command.generation) {
        return vec![result(CommandOutcome::Stale { seen })];
    }
    if !agent
        .holdings
        .track(&command.object, &command.pool, command.generation)
    {
        return vec![result(CommandOutcome::Refused(
            "the node holds too many objects".into(),
        ))];
    }
    let outcome = agent.pools.execute(&command);
    let state = agent
        .pools
        .observe(&command.pool, command.object.key.kind, &command.object.uid);
    let mut out = Vec::new();
    if let Some(report) = agent.holdings.observe(&command.object.uid, state) {
        agent.dirty = true;
        out.push(NodeMessage::Report(report));
    }
    out.push(result(outcome));
    out
}

/// Tracks and reports everything the runtimes hold (after registering).
async fn send_inventory(agent: &mut Agent, writer: &mut Writer) -> Result<(), String> {
    for (object, pool, _) in agent.pools.inventory() {
        agent
            .holdings
            .track(&object, &pool, ferrocore_api::meta::Generation(0));
    }
    poll_objects(agent, writer, true).await
}

/// Lets the runtimes progress, reports what changed, and refreshes the status file.
async fn poll_objects(
    agent: &mut Agent,
    writer: &mut Writer,
    registered: bool,
) -> Result<(), String> {
    agent.pools.tick();
    if !registered {
        return Ok(());
    }
    for (uid, key, pool) in agent.holdings.tracked() {
        let state = agent.pools.observe(&pool, key.kind, &uid);
        if let Some(report) = agent.holdings.observe(&uid, state) {
            agent.dirty = true;
            writer.send(NodeMessage::Report(report)).await?;
        }
    }
    if agent.dirty {
        agent.dirty = false;
        write_status(agent);
    }
    Ok(())
}

/// `<state_dir>/objects.json`: what the node holds, for operators and tests.
fn write_status(agent: &Agent) {
    let Ok(text) = serde_json::to_vec_pretty(&crate::held::status_lines(&agent.pools.inventory()))
    else {
        return;
    };
    let tmp = agent.status_file.with_extension("json.tmp");
    let written =
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &agent.status_file));
    if let Err(e) = written {
        tracing::warn!(file = %agent.status_file.display(), error = %e, "cannot write the status file");
    }
}
