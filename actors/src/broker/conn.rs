//! One node connection: read frames and hand them to the hub, write what the hub queues.

use std::time::Duration;

use ferrocore_api::iri::protocol::{
    ControllerMessage, ErrorCode, FRAME_MAX_BYTES, Frame, NodeMessage, NodeName,
    ProtocolErrorMessage, decode_frame, encode_frame,
};
use ferrocore_runtime::frame::{read_frame, write_frame};
use ferrocore_runtime::{CloseCode, Identity, MaxFrameLen, PeerConnection, spawn, timeout};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::table::OUTBOX_MAX;
use super::{Link, LinkEvent};
use crate::supervisor::{HubEvent, Plane, SessionLink};

/// How long a new connection has to open its stream.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a refused node gets to read the refusal before the connection closes.
const LINGER: Duration = Duration::from_millis(200);

fn max_frame() -> MaxFrameLen {
    MaxFrameLen::new(u32::try_from(FRAME_MAX_BYTES).unwrap_or(u32::MAX))
}

/// Serves one connection until it ends or the session stops.
pub(super) async fn serve(plane: Plane, conn: PeerConnection, id: u64) {
    let Some(Identity::Node(name)) = conn.identity().cloned() else {
        conn.close(CloseCode::FORBIDDEN, "node certificates only");
        return;
    };
    let node = NodeName(name);
    if !node.is_valid() {
        conn.close(CloseCode::FORBIDDEN, "node name is not a DNS subdomain");
        return;
    }
    let Ok(Ok(stream)) = timeout(OPEN_TIMEOUT, conn.accept_bi()).await else {
        conn.close(CloseCode::NORMAL, "no stream opened");
        return;
    };
    let (send, mut recv) = (stream.send, stream.recv);
    let Some(session) = plane.session() else {
        refuse_not_leader(&plane, &conn, send).await;
        return;
    };
    let (outbox, queued) = mpsc::channel(OUTBOX_MAX);
    let up = LinkEvent::Up {
        node: node.clone(),
        link: Link {
            conn: id,
            outbox: outbox.clone(),
        },
    };
    if session.events.send(HubEvent::Node(up)).await.is_err() {
        conn.close(CloseCode::NORMAL, "session ended");
        return;
    }
    let writer = spawn(write_loop(send, queued));
    let outcome = read_loop(&mut recv, &session, &node, id, &outbox).await;
    drop(outbox);
    let down = LinkEvent::Down {
        node: node.clone(),
        conn: id,
    };
    let _ = session.events.send(HubEvent::Node(down)).await;
    // The writer ends once the hub dropped its sender too; give it a moment to flush.
    let _ = timeout(LINGER, writer).await;
    match outcome {
        Ok(()) => conn.close(CloseCode::NORMAL, "closed"),
        Err(why) => {
            tracing::warn!(%node, %why, "node connection closed");
            conn.close(CloseCode::PROTOCOL_VIOLATION, &why);
        }
    }
}

/// Tells a node that this controller does not lead (and who does), then closes.
async fn refuse_not_leader(
    plane: &Plane,
    conn: &PeerConnection,
    mut send: Box<dyn AsyncWrite + Send + Unpin>,
) {
    let error = ProtocolErrorMessage {
        seq: 0,
        code: ErrorCode::NotLeader,
        message: "this controller does not lead the cluster (or is still starting)".into(),
        leader: plane.leader_addr(),
    };
    let frame = Frame {
        seq: 1,
        body: ControllerMessage::Error(error),
    };
    if let Ok(bytes) = encode_frame(&frame) {
        let _ = write_frame(&mut send, &bytes, max_frame()).await;
        let _ = send.shutdown().await;
    }
    ferrocore_runtime::sleep(LINGER).await;
    conn.close(CloseCode::NORMAL, "not the leader");
}

async fn read_loop(
    recv: &mut Box<dyn AsyncRead + Send + Unpin>,
    session: &SessionLink,
    node: &NodeName,
    conn: u64,
    outbox: &mpsc::Sender<ControllerMessage>,
) -> Result<(), String> {
    let mut stopped = session.stopped.clone();
    loop {
        let bytes = tokio::select! {
            biased;
            _ = stopped.wait_for(|s| *s) => return Ok(()),
            read = read_frame(recv, max_frame()) => match read {
                Ok(Some(bytes)) => bytes,
                Ok(None) => return Ok(()),
                Err(e) => return Err(e.to_string()),
            },
        };
        let frame: Frame<NodeMessage> = match decode_frame(&bytes) {
            Ok(frame) => frame,
            Err(e) => {
                let error = ProtocolErrorMessage {
                    seq: 0,
                    code: ErrorCode::Invalid,
                    message: e.to_string(),
                    leader: None,
                };
                let _ = outbox.try_send(ControllerMessage::Error(error));
                return Err(format!("undecodable frame: {e}"));
            }
        };
        let message = LinkEvent::Message {
            node: node.clone(),
            conn,
            seq: frame.seq,
            message: Box::new(frame.body),
        };
        if session.events.send(HubEvent::Node(message)).await.is_err() {
            return Ok(());
        }
    }
}

async fn write_loop(
    mut send: Box<dyn AsyncWrite + Send + Unpin>,
    mut queued: mpsc::Receiver<ControllerMessage>,
) {
    let mut seq = 0u64;
    while let Some(body) = queued.recv().await {
        seq += 1;
        let Ok(bytes) = encode_frame(&Frame { seq, body }) else {
            continue;
        };
        if write_frame(&mut send, &bytes, max_frame()).await.is_err() {
            return;
        }
    }
    let _ = send.shutdown().await;
}
