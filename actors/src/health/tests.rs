//! Leases, grace period, transitions only, failover behaviour.

use super::*;

fn pool(kind: PoolKind) -> PoolRef {
    PoolRef {
        kind,
        name: "p".into(),
    }
}

fn secs(s: u64) -> MonoTime {
    MonoTime::from_nanos(s * 1_000_000_000)
}

fn beat(kind: PoolKind, ok: bool) -> HealthInput {
    HealthInput::Heartbeat {
        pool: pool(kind),
        runtime_ok: ok,
        message: if ok { String::new() } else { "down".into() },
    }
}

#[test]
fn defaults_are_upstreams() {
    let c = HealthConfig::default();
    assert_eq!(
        (c.heartbeat_interval, c.lease_duration, c.grace_period),
        (
            Duration::from_secs(10),
            Duration::from_secs(40),
            Duration::from_secs(50)
        )
    );
}

#[test]
fn heartbeats_make_ready_and_silence_makes_unknown_for_every_kind() {
    for kind in [PoolKind::Machine, PoolKind::Volume, PoolKind::Bucket] {
        let mut h = PoolHealth::new(HealthConfig::default());
        let t = h.handle(secs(0), beat(kind, true));
        assert_eq!(t[0].status, ConditionStatus::True);
        // Renewals within the grace period write nothing.
        for s in (10..=100).step_by(10) {
            assert!(h.handle(secs(s), beat(kind, true)).is_empty());
            assert!(h.handle(secs(s), HealthInput::Tick).is_empty());
        }
        assert_eq!(h.poll_timeout(), Some(secs(150)));
        assert!(h.handle(secs(150), HealthInput::Tick).is_empty());
        let t = h.handle(secs(151), HealthInput::Tick);
        assert_eq!(t[0].status, ConditionStatus::StatusUnknown);
        assert_eq!(t[0].reason, unknown_reason(kind));
        assert!(
            h.handle(secs(200), HealthInput::Tick).is_empty(),
            "written once"
        );
        assert_eq!(
            h.handle(secs(201), beat(kind, true))[0].status,
            ConditionStatus::True
        );
    }
}

#[test]
fn failed_probe_is_false() {
    let mut h = PoolHealth::new(HealthConfig::default());
    let t = h.handle(secs(0), beat(PoolKind::Machine, false));
    assert_eq!(
        (t[0].status.clone(), t[0].reason.as_str()),
        (ConditionStatus::False, "RuntimeUnreachable")
    );
}

#[test]
fn a_new_leader_gives_pools_a_full_grace_period() {
    let mut h = PoolHealth::new(HealthConfig::default());
    let ready = Some((ConditionStatus::True, "HeartbeatReceived".to_owned()));
    let observed = HealthInput::Observed {
        pool: pool(PoolKind::Volume),
        ready,
    };
    assert!(h.handle(secs(1000), observed).is_empty());
    assert!(h.handle(secs(1049), HealthInput::Tick).is_empty());
    assert!(
        h.handle(secs(1049), beat(PoolKind::Volume, true))
            .is_empty(),
        "already Ready"
    );
    assert!(h.handle(secs(1099), HealthInput::Tick).is_empty());
    assert_eq!(h.handle(secs(1100), HealthInput::Tick).len(), 1);
}

#[test]
fn transitions_become_status_writes_with_state() {
    let p: Object = ferrocore_api::compute::MachinePool::default().into();
    let t = Transition {
        pool: pool(PoolKind::Machine),
        status: ConditionStatus::StatusUnknown,
        reason: "MachinePoolStatusUnknown".into(),
        message: String::new(),
    };
    let Some(Command::UpdateStatus { status, .. }) =
        transition_command(&p, &t, WallTime::from_unix_nanos(0))
    else {
        panic!()
    };
    assert_eq!(status["state"], "Offline");
    assert_eq!(status["conditions"][0]["status"], "Unknown");
}
