//! The QUIC `Net` between two controllers: dialing, reuse of the peer's connection in the
//! other direction, identity checks.

use std::net::SocketAddr;
use std::sync::Arc;

use ferrocore_runtime::frame::{MaxFrameLen, read_bincode, write_bincode};
use ferrocore_runtime::{
    Alpn, ClusterCa, Endpoint, Identity, Net, NetError, PeerAddr, QuicNet, Router, TransportLimits,
};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::common::{controller_creds, now};

#[derive(Debug, Deserialize, PartialEq, Serialize)]
enum Msg {
    Vote { term: u64 },
    Granted { term: u64, by: u64 },
}

const MAX: MaxFrameLen = MaxFrameLen::mib(1);

fn controller(ca: &ClusterCa, id: u64) -> (Arc<QuicNet>, SocketAddr) {
    let creds = controller_creds(ca, id);
    let ep = Endpoint::server(
        "127.0.0.1:0".parse().unwrap(),
        &creds,
        &ca.trust_roots(),
        &TransportLimits::default(),
    )
    .unwrap();
    let addr = ep.local_addr().unwrap();
    let net = QuicNet::new(ep.clone(), Alpn::Raft, Identity::Controller(id));
    ep.serve(Router::new().route(Alpn::Raft, net.clone()));
    (net, addr)
}

fn peer_addr(addr: SocketAddr) -> PeerAddr {
    PeerAddr {
        addr,
        server_name: "127.0.0.1".into(),
    }
}

async fn answer_one(net: &QuicNet, id: u64) -> Identity {
    let mut incoming = net.accept().await.unwrap();
    let msg: Msg = read_bincode(&mut incoming.stream.recv, MAX)
        .await
        .unwrap()
        .unwrap();
    let Msg::Vote { term } = msg else {
        panic!("unexpected {msg:?}")
    };
    write_bincode(
        &mut incoming.stream.send,
        &Msg::Granted { term, by: id },
        MAX,
    )
    .await
    .unwrap();
    incoming.stream.send.shutdown().await.unwrap();
    incoming.peer
}

async fn ask(net: &QuicNet, peer: &Identity, term: u64) -> Msg {
    let mut s = net.open(peer).await.unwrap();
    write_bincode(&mut s.send, &Msg::Vote { term }, MAX)
        .await
        .unwrap();
    s.send.shutdown().await.unwrap();
    read_bincode(&mut s.recv, MAX).await.unwrap().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controllers_exchange_frames_both_ways_over_one_dial() {
    let ca = ClusterCa::generate("net", now()).unwrap();
    let (one, _) = controller(&ca, 1);
    let (two, two_addr) = controller(&ca, 2);
    one.set_peer(Identity::Controller(2), peer_addr(two_addr));

    let two_task = {
        let two = two.clone();
        ferrocore_runtime::spawn(async move { answer_one(&two, 2).await })
    };
    let reply = ask(&one, &Identity::Controller(2), 7).await;
    assert_eq!(reply, Msg::Granted { term: 7, by: 2 });
    assert_eq!(two_task.await.unwrap(), Identity::Controller(1));

    // Two never learned one's address: it answers over the connection one dialed.
    let one_task = {
        let one = one.clone();
        ferrocore_runtime::spawn(async move { answer_one(&one, 1).await })
    };
    let reply = ask(&two, &Identity::Controller(1), 8).await;
    assert_eq!(reply, Msg::Granted { term: 8, by: 1 });
    assert_eq!(one_task.await.unwrap(), Identity::Controller(2));
    assert_eq!(two.connected_peers(), vec![Identity::Controller(1)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_checks_the_peer_identity() {
    let ca = ClusterCa::generate("net", now()).unwrap();
    let (one, _) = controller(&ca, 1);
    let (_two, two_addr) = controller(&ca, 2);
    // Controller 3 is "at" controller 2's address: the certificate says otherwise.
    one.set_peer(Identity::Controller(3), peer_addr(two_addr));
    let err = one.open(&Identity::Controller(3)).await.unwrap_err();
    assert!(matches!(err, NetError::WrongPeer { .. }), "{err}");
    let err = one.open(&Identity::Controller(4)).await.unwrap_err();
    assert!(matches!(err, NetError::UnknownPeer(_)), "{err}");
}
