//! The metalbond wire format: hand-derived byte vectors for every message type, round trips
//! of every valid message, and reassembly of a stream cut anywhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrocore_node_reflector::{
    Action, Destination, FrameDecoder, FrameError, KeepaliveInterval, Message, NextHop,
    NextHopKind, PortRange, Route, Vni, frame_bytes,
};
use proptest::prelude::*;

fn route(s: &str) -> Route {
    s.parse().unwrap()
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// 2001:db8::N as the 16 bytes metalbond puts on the wire.
fn v6(last: u8) -> String {
    format!("20010db8 00000000 00000000 000000{last:02x}")
}

/// Each vector is derived by hand from the documented format: header `01 LLLL TT`, then the
/// proto3 fields in field-number order, defaults omitted (tag byte = field << 3 | wire type).
#[test]
fn hand_derived_vectors() {
    let cases: Vec<(Message, String)> = vec![
        // HELLO{keepaliveInterval: 5}: field 1 varint (08) 05.
        (
            Message::Hello {
                keepalive: KeepaliveInterval(5),
                is_server: false,
            },
            "01 0002 01 0805".into(),
        ),
        // HELLO{5, isServer: true}: + field 2 varint (10) 01.
        (
            Message::Hello {
                keepalive: KeepaliveInterval(5),
                is_server: true,
            },
            "01 0004 01 0805 1001".into(),
        ),
        // KEEPALIVE: empty payload.
        (Message::Keepalive, "01 0000 02".into()),
        // SUBSCRIBE{vni: 23}; vni 0 is the default and is omitted; 300 is a 2-byte varint.
        (Message::Subscribe(Vni(23)), "01 0002 03 0817".into()),
        (Message::Subscribe(Vni(0)), "01 0000 03".into()),
        (Message::Subscribe(Vni(300)), "01 0003 03 08ac02".into()),
        (Message::Unsubscribe(Vni(23)), "01 0002 04 0817".into()),
        // UPDATE ADD 23#10.0.23.0/24#2001:db8::1: action ADD omitted; vni (10) 17;
        // destination (1a 08): ipVersion IPv4 omitted, prefix (12 04) 0a001700, len (18) 18;
        // nextHop (22 12): targetAddress (0a 10) + 16 bytes, targetVNI/type/ports omitted.
        (
            Message::Update(Action::Add, route("23#10.0.23.0/24#2001:db8::1")),
            format!(
                "01 0020 05 1017 1a08 1204 0a001700 1818 2212 0a10 {}",
                v6(1)
            ),
        ),
        // REMOVE: action (08) 01 first.
        (
            Message::Update(Action::Remove, route("23#10.0.23.0/24#2001:db8::1")),
            format!(
                "01 0022 05 0801 1017 1a08 1204 0a001700 1818 2212 0a10 {}",
                v6(1)
            ),
        ),
        // NAT 1024..3071: type (18) 01, from (20) 8008, to (28) ff17; nextHop is 26 bytes.
        (
            Message::Update(
                Action::Add,
                route("7#10.0.0.5/32#2001:db8::3#NAT#1024#3071"),
            ),
            format!(
                "01 0028 05 1007 1a08 1204 0a000005 1820 221a 0a10 {} 1801 208008 28ff17",
                v6(3)
            ),
        ),
        // LOADBALANCER_TARGET: type (18) 02, no ports.
        (
            Message::Update(Action::Add, route("7#10.0.0.5/32#2001:db8::2#LB")),
            format!(
                "01 0022 05 1007 1a08 1204 0a000005 1820 2214 0a10 {} 1802",
                v6(2)
            ),
        ),
        // IPv6 destination: ipVersion (08) 01, 16-byte prefix, length 64 (18 40).
        (
            Message::Update(Action::Add, route("1#2001:db8::5/64#2001:db8::4")),
            format!(
                "01 002e 05 1001 1a16 0801 1210 {} 1840 2212 0a10 {}",
                v6(5),
                v6(4)
            ),
        ),
    ];
    for (msg, expected) in cases {
        let bytes = hex(&expected);
        assert_eq!(frame_bytes(&msg), bytes, "{msg:?}");
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        assert_eq!(d.next_message().unwrap(), Some(msg));
        assert_eq!(d.next_message().unwrap(), None);
    }
}

/// Recognises the expected error.
type ErrorCheck = fn(&FrameError) -> bool;

#[test]
fn hostile_frames_are_errors_not_panics() {
    let cases: Vec<(Vec<u8>, ErrorCheck)> = vec![
        (hex("02 0000 02"), |e| {
            matches!(e, FrameError::WrongVersion(2))
        }),
        (hex("01 04a5 05"), |e| {
            matches!(e, FrameError::Oversized(1189))
        }),
        (hex("01 0000 09"), |e| {
            matches!(e, FrameError::UnknownType(9))
        }),
        (hex("01 0003 05 ffffff"), |e| {
            matches!(e, FrameError::Payload { .. })
        }),
        // A 5-byte IPv4 prefix.
        (hex("01 000b 05 1a09 1205 0a00170000 1818"), |e| {
            matches!(e, FrameError::Payload { .. })
        }),
        // STANDARD with a port set (metalbond would key it apart).
        (
            hex(&format!("01 0018 05 1a02 1800 2214 0a10 {} 2001", v6(1))),
            |e| matches!(e, FrameError::Payload { .. }),
        ),
    ];
    for (bytes, is_expected) in cases {
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        let err = d.next_message().unwrap_err();
        assert!(is_expected(&err), "{bytes:02x?}: {err:?}");
        // The decoder stays failed.
        assert!(d.next_message().is_err());
    }
}

fn arb_addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o))),
    ]
}

fn arb_route() -> impl Strategy<Value = Route> {
    let dest = arb_addr().prop_flat_map(|a| {
        let max: u8 = if a.is_ipv4() { 32 } else { 128 };
        (0..=max).prop_map(move |len| Destination::new(a, len).unwrap())
    });
    let kind = prop_oneof![
        Just(NextHopKind::Standard),
        Just(NextHopKind::LoadBalancerTarget),
        (any::<u16>(), any::<u16>())
            .prop_map(|(from, to)| NextHopKind::Nat(PortRange { from, to })),
    ];
    (any::<u32>(), dest, arb_addr(), any::<u32>(), kind).prop_map(
        |(vni, destination, target, tv, kind)| Route {
            vni: Vni(vni),
            destination,
            next_hop: NextHop {
                target,
                target_vni: Vni(tv),
                kind,
            },
        },
    )
}

fn arb_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (any::<u32>(), any::<bool>()).prop_map(|(k, s)| Message::Hello {
            keepalive: KeepaliveInterval(k),
            is_server: s
        }),
        Just(Message::Keepalive),
        any::<u32>().prop_map(|v| Message::Subscribe(Vni(v))),
        any::<u32>().prop_map(|v| Message::Unsubscribe(Vni(v))),
        (any::<bool>(), arb_route()).prop_map(|(add, r)| Message::Update(
            if add { Action::Add } else { Action::Remove },
            r
        )),
    ]
}

fn decode_all(chunks: &[&[u8]]) -> Vec<Message> {
    let mut d = FrameDecoder::new();
    let mut out = Vec::new();
    for c in chunks {
        d.push(c);
        while let Some(m) = d.next_message().unwrap() {
            out.push(m);
        }
    }
    assert_eq!(d.buffered(), 0);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every valid message encodes to one frame that decodes to the same message.
    #[test]
    fn every_message_round_trips(msg in arb_message()) {
        let bytes = frame_bytes(&msg);
        prop_assert_eq!(bytes[0], 1);
        prop_assert_eq!(usize::from(u16::from_be_bytes([bytes[1], bytes[2]])), bytes.len() - 4);
        prop_assert_eq!(decode_all(&[&bytes]), vec![msg]);
    }

    /// A stream of messages cut at every possible boundary parses to the same messages.
    #[test]
    fn stream_cut_anywhere_parses_the_same(msgs in proptest::collection::vec(arb_message(), 1..12)) {
        let stream: Vec<u8> = msgs.iter().flat_map(frame_bytes).collect();
        for cut in 0..=stream.len() {
            prop_assert_eq!(&decode_all(&[&stream[..cut], &stream[cut..]]), &msgs);
        }
        // And byte by byte.
        let bytes: Vec<&[u8]> = stream.chunks(1).collect();
        prop_assert_eq!(&decode_all(&bytes), &msgs);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2_000)) {
        let mut d = FrameDecoder::new();
        d.push(&bytes);
        for _ in 0..bytes.len() + 1 {
            match d.next_message() {
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
    }
}
