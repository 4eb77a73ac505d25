//! The node's side of the node protocol: find the leader, register, report what the pools
//! hold, heartbeat, run commands; on any failure reconnect (to the leader a controller names,
//! else to the next controller) and do it all again. Reports and registrations are idempotent,
//! so a new leader learns everything without anything being done twice.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ferrocore_api::iri::protocol::{
    CommandOutcome, CommandResult, ControllerMessage, ErrorCode, FRAME_MAX_BYTES, Frame, Freshness,
    Heartbeat, NodeCommand, NodeMessage, PROTOCOL_VERSION, Register, decode_frame, encode_frame,
};
use ferrocore_runtime::frame::{read_frame, write_frame};
use ferrocore_runtime::{Alpn, Clock, Endpoint, MaxFrameLen, PeerConnection, sleep, timeout};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::certs::resolve;
use crate::config::NodeConfig;
use crate::held::Holdings;
use crate::pools::Pools;

/// Longest pause between connection attempts.
const RECONNECT_MAX: Duration = Duration::from_secs(10);

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn max_frame() -> MaxFrameLen {
    MaxFrameLen::new(u32::try_from(FRAME_MAX_BYTES).unwrap_or(u32::MAX))
}

/// Why a session ended.
#[derive(Debug)]
enum Ended {
    /// The controller does not lead; the leader's address if it knows it.
    Redirect(Option<String>),
    /// The connection failed or closed.
    Closed(String),
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
    let mut pause = agent.config.reconnect();
    let mut hint: Option<SocketAddr> = None;
    let mut next = 0usize;
    loop {
        let addr = hint.take().or_else(|| {
            let controllers = &agent.config.controllers;
            let addr = &controllers[next % controllers.len()];
            next = next.wrapping_add(1);
            resolve(addr)
        });
        if let Some(addr) = addr {
            let server_name = agent.config.server_name.clone();
            let dial = timeout(
                CONNECT_TIMEOUT,
                endpoint.connect(addr, &server_name, Alpn::Node),
            );
            match dial.await {
                Ok(Ok(conn)) => {
                    let started = agent.clock.now();
                    let ended = serve(&mut agent, &conn).await;
                    conn.close(ferrocore_runtime::CloseCode::NORMAL, "session ended");
                    if agent.clock.now().saturating_since(started) > RECONNECT_MAX {
                        pause = agent.config.reconnect();
                    }
                    match ended {
                        Ended::Redirect(Some(leader)) => {
                            tracing::info!(%addr, %leader, "not the leader; following");
                            hint = resolve(&leader).filter(|l| *l != addr);
                            if hint.is_some() {
                                continue;
                            }
                        }
                        Ended::Redirect(None) => tracing::debug!(%addr, "no leader yet"),
                        Ended::Closed(why) => tracing::info!(%addr, %why, "session ended"),
                    }
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "cannot connect"),
                Err(_) => tracing::debug!(%addr, "connect timed out"),
            }
        }
        sleep(pause).await;
        pause = (pause * 2).min(RECONNECT_MAX);
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
    let mut recv: Recv = stream.recv;
    let register = Register {
        protocol_version: PROTOCOL_VERSION,
        pools: agent.pools.registrations(),
    };
    let register_seq = match writer.send(NodeMessage::Register(register)).await {
        Ok(seq) => seq,
        Err(e) => return Ended::Closed(e),
    };
    agent.holdings.reset_reports();
    let mut registered = false;
    let mut heartbeat = agent.clock.now();
    let mut poll = agent.clock.now();
    loop {
        let now = agent.clock.now();
        let due = heartbeat.min(poll);
        let frame = tokio::select! {
            biased;
            frame = read_frame(&mut recv, max_frame()) => frame,
            () = sleep(due.saturating_since(now)) => {
                let result = if agent.clock.now() >= heartbeat {
                    heartbeat = agent.clock.now() + agent.config.heartbeat();
                    let beat = Heartbeat { pools: agent.pools.heartbeats() };
                    writer.send(NodeMessage::Heartbeat(beat)).await.map(|_| ())
                } else {
                    poll = agent.clock.now() + agent.config.poll();
                    poll_objects(agent, &mut writer, registered).await
                };
                if let Err(e) = result {
                    return Ended::Closed(e);
                }
                continue;
            }
        };
        let bytes = match frame {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Ended::Closed("the controller closed the stream".into()),
            Err(e) => return Ended::Closed(e.to_string()),
        };
        let message: Frame<ControllerMessage> = match decode_frame(&bytes) {
            Ok(m) => m,
            Err(e) => return Ended::Closed(format!("undecodable frame from the controller: {e}")),
        };
        match message.body {
            ControllerMessage::Ack { seq } if seq == register_seq => {
                registered = true;
                tracing::info!("registered");
                if let Err(e) = send_inventory(agent, &mut writer).await {
                    return Ended::Closed(e);
                }
            }
            ControllerMessage::Ack { .. } | ControllerMessage::JoinAccepted(_) => {}
            ControllerMessage::Error(e) if e.code == ErrorCode::NotLeader => {
                return Ended::Redirect(e.leader);
            }
            ControllerMessage::Error(e) => {
                tracing::warn!(code = ?e.code, message = %e.message, seq = e.seq, "controller refused");
                if e.seq == register_seq && !registered {
                    registered = true;
                    if let Err(e) = send_inventory(agent, &mut writer).await {
                        return Ended::Closed(e);
                    }
                }
            }
            ControllerMessage::Command(command) => {
                for m in run_command(agent, command) {
                    if let Err(e) = writer.send(m).await {
                        return Ended::Closed(e);
                    }
                }
            }
        }
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
    let Ok(text) = serde_json::to_vec_pretty(&agent.holdings.lines()) else {
        return;
    };
    let tmp = agent.status_file.with_extension("json.tmp");
    let written =
        std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &agent.status_file));
    if let Err(e) = written {
        tracing::warn!(file = %agent.status_file.display(), error = %e, "cannot write the status file");
    }
}
