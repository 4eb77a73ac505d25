//! Round trips, hostile input and the generation fence.

use proptest::prelude::*;

use super::*;

fn obj(name: &str, uid: &str) -> ObjectRef {
    ObjectRef {
        key: ObjectKey {
            kind: Kind::Machine,
            namespace: "shop".into(),
            name: name.into(),
        },
        uid: Uid(uid.into()),
    }
}

fn round_trip<T>(body: T)
where
    T: Serialize + DeserializeOwned + PartialEq + fmt::Debug,
{
    let frame = Frame { seq: 7, body };
    let bytes = encode_frame(&frame).unwrap();
    let back: Frame<T> = decode_frame(&bytes).unwrap();
    assert_eq!(back, frame);
    // Every strict prefix is refused, never a panic.
    for cut in 0..bytes.len() {
        assert!(decode_frame::<T>(&bytes[..cut]).is_err(), "prefix {cut}");
    }
}

fn create_volume() -> IriRequest {
    IriRequest::Volume(VolumeRequest::CreateVolume(volume::CreateVolumeRequest {
        metadata: volume::ObjectMetadata::default(),
        spec: volume::VolumeSpec {
            class: "fast".into(),
            size: volume::StorageBytes::GIB,
            // Optional fields that JSON skips must survive the bincode frame.
            encryption: None,
            data_source: Some(volume::VolumeDataSource::Image {
                image: "gardenlinux".into(),
                architecture: None,
            }),
        },
    }))
}

#[test]
fn node_messages_round_trip() {
    round_trip(NodeMessage::Join(Join {
        protocol_version: PROTOCOL_VERSION,
        token: BootstrapToken("abcdef.0123456789abcdef".into()),
        node: NodeName("hv-1".into()),
        csr_pem: "-----BEGIN CERTIFICATE REQUEST-----".into(),
    }));
    round_trip(NodeMessage::Register(sample_register()));
    round_trip(NodeMessage::Heartbeat(Heartbeat {
        pools: vec![PoolHeartbeat {
            pool: PoolRef {
                kind: PoolKind::Machine,
                name: "hv-1".into(),
            },
            runtime_ok: false,
            message: "libvirt socket refused".into(),
        }],
    }));
    round_trip(NodeMessage::Report(Report {
        object: obj("web-1", "u1"),
        generation: Generation(3),
        pool: PoolRef {
            kind: PoolKind::Volume,
            name: "ceph".into(),
        },
        state: ReportedState::Volume(volume::Volume::default()),
    }));
    round_trip(NodeMessage::CommandResult(CommandResult {
        id: CommandId(9),
        outcome: CommandOutcome::Done(IriResponse::Volume(VolumeResponse::Error(
            volume::RuntimeError::NotFound("v".into()),
        ))),
    }));
    round_trip(NodeMessage::Event(NodeEvent {
        object: obj("web-1", "u1"),
        event_type: EventType::Warning,
        reason: "Crashed".into(),
        message: "guest panicked".into(),
        time_unix_nanos: -1,
    }));
}

fn sample_register() -> Register {
    Register {
        protocol_version: PROTOCOL_VERSION,
        pools: vec![PoolRegistration {
            name: "hv-1".into(),
            provider_id: "libvirt://hv-1".into(),
            labels: BTreeMap::from([("topology.ironcore.dev/zone".to_owned(), "a".to_owned())]),
            capacity: PoolCapacity::Machine(vec![machine::MachineClassStatus {
                machine_class: machine::MachineClass {
                    name: machine::MachineClassName("x86-small".into()),
                    capabilities: BTreeMap::from([("cpu".to_owned(), 1)]),
                },
                quantity: 10,
            }]),
        }],
    }
}

#[test]
fn controller_messages_round_trip() {
    round_trip(ControllerMessage::Command(NodeCommand {
        id: CommandId(1),
        pool: PoolRef {
            kind: PoolKind::Volume,
            name: "ceph".into(),
        },
        object: obj("db-data", "u2"),
        generation: Generation(2),
        request: create_volume(),
    }));
    round_trip(ControllerMessage::Command(NodeCommand {
        id: CommandId(2),
        pool: PoolRef {
            kind: PoolKind::Machine,
            name: "hv".into(),
        },
        object: obj("web-1", "u1"),
        generation: Generation(1),
        request: IriRequest::Machine(machine::MachineRequest::Status),
    }));
    round_trip(ControllerMessage::Error(ProtocolErrorMessage {
        seq: 3,
        code: ErrorCode::NotLeader,
        message: "follower".into(),
        leader: Some("10.0.0.2:7700".into()),
    }));
    round_trip(ControllerMessage::Ack { seq: 4 });
}

#[test]
fn operations_are_named_as_the_iri_names_them() {
    assert_eq!(create_volume().operation(), "CreateVolume");
    let del = IriRequest::Bucket(BucketRequest::DeleteBucket(bucket::DeleteBucketRequest {
        bucket_id: "b".into(),
    }));
    assert_eq!(del.operation(), "DeleteBucket");
}

#[test]
fn register_validation_bounds_what_a_node_may_claim() {
    assert_eq!(sample_register().validate(), Ok(()));
    let mut r = sample_register();
    r.pools.push(r.pools[0].clone());
    assert!(r.validate().unwrap_err().to_string().contains("twice"));
    let mut r = sample_register();
    if let PoolCapacity::Machine(c) = &mut r.pools[0].capacity {
        c[0].quantity = -1;
    }
    assert!(r.validate().is_err());
    let mut r = sample_register();
    r.pools[0].name = "Not_A_Name".into();
    assert!(r.validate().is_err());
    let mut r = sample_register();
    r.pools = vec![r.pools[0].clone(); POOLS_PER_NODE_MAX + 1];
    assert!(r.validate().unwrap_err().to_string().contains("at most"));
}

#[test]
fn fence_ignores_older_generations_per_uid() {
    let mut fence = GenerationFence::default();
    let a = obj("m", "u1");
    assert_eq!(fence.admit(&a, Generation(2)), Freshness::Fresh);
    assert_eq!(fence.admit(&a, Generation(2)), Freshness::Fresh);
    assert_eq!(
        fence.admit(&a, Generation(1)),
        Freshness::Stale {
            seen: Generation(2)
        }
    );
    // A recreated object (new uid) starts over.
    assert_eq!(
        fence.admit(&obj("m", "u2"), Generation(1)),
        Freshness::Fresh
    );
    fence.forget(&a);
    assert_eq!(fence.admit(&a, Generation(1)), Freshness::Fresh);
    assert_eq!(fence.len(), 2);
}

#[test]
fn oversized_and_trailing_input_is_refused() {
    let big = vec![0u8; FRAME_MAX_BYTES + 1];
    assert!(matches!(
        decode_frame::<NodeMessage>(&big),
        Err(ProtocolError::TooLarge(_))
    ));
    let mut bytes = encode_frame(&Frame {
        seq: 1,
        body: ControllerMessage::Ack { seq: 1 },
    })
    .unwrap();
    bytes.push(0);
    assert!(decode_frame::<ControllerMessage>(&bytes).is_err());
}

proptest! {
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode_frame::<NodeMessage>(&bytes);
        let _ = decode_frame::<ControllerMessage>(&bytes);
    }

    #[test]
    fn mutated_frames_never_panic(flip in 0usize..4096, value in any::<u8>()) {
        let frame = Frame { seq: 1, body: NodeMessage::Register(sample_register()) };
        let mut bytes = encode_frame(&frame).unwrap();
        let i = flip % bytes.len();
        bytes[i] = value;
        let _ = decode_frame::<NodeMessage>(&bytes);
    }
}
