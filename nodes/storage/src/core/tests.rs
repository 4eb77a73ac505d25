//! Core tests: the sans-IO core driven directly, no backend.

use ferrocore_api::iri::volume::{CreateVolumeRequest, StorageBytes, VolumeId, VolumeSpec};
use ferrocore_runtime::MonoTime;

use super::plan::CreateVolumeInput;
use super::*;
use crate::conformance::classes;

fn core() -> VolumeCore {
    VolumeCore::new(classes(), false, Vec::new(), Vec::new(), Vec::new())
}

fn create(core: &mut VolumeCore, id: &str) -> VolumeId {
    let input = CreateVolumeInput {
        id: VolumeId(id.into()),
        wwn: "00".into(),
        wrapped_key: None,
        request: CreateVolumeRequest {
            spec: VolumeSpec {
                class: "standard".into(),
                size: StorageBytes(1),
                ..VolumeSpec::default()
            },
            ..CreateVolumeRequest::default()
        },
    };
    let (v, muts) = core.plan_create_volume(UnixNanos(1), input).unwrap();
    for m in muts {
        core.apply(m);
    }
    v.id
}

#[test]
fn orphan_sweep_runs_first_and_alone() {
    let mut c = core();
    create(&mut c, "a");
    let w = c.next_work(MonoTime::ZERO).unwrap();
    assert!(matches!(w, Work::CollectOrphans));
    assert!(
        c.next_work(MonoTime::ZERO).is_none(),
        "nothing runs beside the sweep"
    );
    let listed = vec![
        ImageName::volume("a"),
        ImageName::volume("zombie"),
        ImageName("snap_x".into()),
    ];
    assert_eq!(c.orphans(&listed), vec![ImageName::volume("zombie")]);
    let muts = c.complete(MonoTime::ZERO, UnixNanos(2), &w, Ok(Outcome::Done));
    assert!(muts.is_empty());
    c.finish(&w.key());
    let w = c.next_work(MonoTime::ZERO).unwrap();
    assert!(
        matches!(w, Work::Provision { ref size, .. } if *size == StorageBytes::MIB),
        "{w:?}"
    );
}

#[test]
fn unreachable_backend_retries_with_backoff_and_sets_condition() {
    let mut c = core();
    c.orphans_collected = true;
    let id = create(&mut c, "a");
    let w = c.next_work(MonoTime::ZERO).unwrap();
    let err = BackendError::Unavailable("mon down".into());
    assert!(
        c.complete(MonoTime::ZERO, UnixNanos(2), &w, Err(err))
            .is_empty()
    );
    c.finish(&w.key());
    assert!(
        c.next_work(MonoTime::ZERO).is_none(),
        "backoff holds the retry"
    );
    let (_, conds) = c.volumes().next().unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.reason == "BackendUnavailable" && c.message == "mon down")
    );
    let later = MonoTime::ZERO + RETRY_DELAY_MAX;
    let w = c.next_work(later).unwrap();
    for m in c.complete(
        later,
        UnixNanos(3),
        &w,
        Ok(Outcome::Sized(StorageBytes::MIB)),
    ) {
        c.apply(m);
    }
    c.finish(&w.key());
    assert_eq!(
        c.volume(&id).unwrap().volume.status.state,
        VolumeState::Available
    );
    assert!(
        c.observe_health(UnixNanos(4), Ok(StorageBytes(1)))
            .is_some(),
        "recovery is an event"
    );
    assert!(c.unavailable().is_none());
    c.check_invariants();
}

#[test]
fn failures_other_than_outages_end_in_error_after_bounded_attempts() {
    let mut c = core();
    c.orphans_collected = true;
    let id = create(&mut c, "a");
    let mut now = MonoTime::ZERO;
    for _ in 0..MAX_ATTEMPTS {
        let w = c.next_work(now).expect("retry due");
        for m in c.complete(
            now,
            UnixNanos(2),
            &w,
            Err(BackendError::Failed("EIO".into())),
        ) {
            c.apply(m);
        }
        c.finish(&w.key());
        now = now + RETRY_DELAY_MAX;
    }
    assert_eq!(
        c.volume(&id).unwrap().volume.status.state,
        VolumeState::Error
    );
    assert!(c.next_work(now).is_none());
}
