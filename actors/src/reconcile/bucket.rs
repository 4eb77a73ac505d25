//! The Bucket lifecycle (what upstream's bucketpoollet does): a Bucket bound to a BucketPool
//! becomes an IRI bucket; reports become `bucketID`, state and `status.access` (endpoint, and
//! the credentials in the access Secret `<bucket>-access`).

use ferrocore_api::iri::bucket as iri;
use ferrocore_api::iri::protocol::{BucketRequest, IriRequest, PoolKind, PoolRef, ReportedState};
use ferrocore_api::storage::{
    Bucket, BucketAccess, BucketClass, BucketPool, BucketState, BucketStatus,
};
use ferrocore_api::{ConditionStatus, LocalObjectReference};

use super::lifecycle::{
    ID_SCHEME, access_secret, deletion, deletion_commands, ensure_finalizer, iri_metadata,
    node_request, should_create,
};
use super::util::{ConditionUpdate, api_time, key_of, set_condition, status_update};
use super::{Command, Ctx, Observed, ViewExt};

/// The finalizer that keeps a Bucket until its node has deleted it.
pub const BUCKET_FINALIZER: &str = "bucketpoollet.ironcore.dev/bucket";

/// Label prefix on IRI buckets.
pub const BUCKET_LABEL_PREFIX: &str = "storage.ferrocore.dev/bucket";

/// The Secret type of a bucket's access credentials.
pub const SECRET_TYPE_BUCKET_ACCESS: &str = "storage.ironcore.dev/bucket-access";

/// The name of a Bucket's access Secret.
pub fn access_secret_name(bucket: &str) -> String {
    format!("{bucket}-access")
}

fn request(bucket: &Bucket, pool: &str, r: BucketRequest) -> Command {
    let pool = PoolRef {
        kind: PoolKind::Bucket,
        name: pool.to_owned(),
    };
    node_request(bucket, pool, IriRequest::Bucket(r))
}

fn bucket_state(s: iri::BucketState) -> BucketState {
    match s {
        iri::BucketState::Pending => BucketState::Pending,
        iri::BucketState::Available => BucketState::Available,
        iri::BucketState::Error => BucketState::Error,
    }
}

/// Reconciles a Bucket bound to a pool.
pub fn reconcile_bucket(ctx: &Ctx<'_>, bucket: &Bucket) -> Vec<Command> {
    let Some(pool) = bucket
        .spec
        .bucket_pool_ref
        .as_ref()
        .map(|p| p.name.as_str())
    else {
        return Vec::new();
    };
    let observed = ctx.reports.observed(&key_of(bucket), &bucket.metadata.uid);
    let reported = match observed {
        Observed::Present(r) => match &r.state {
            ReportedState::Bucket(b) => Some(b),
            _ => None,
        },
        _ => None,
    };
    let id_recorded = !bucket.status.bucket_id.is_empty();
    if bucket.metadata.is_deleting() {
        let pool_gone = ctx.view.typed::<BucketPool>("", pool).is_none();
        let decision = deletion(observed, id_recorded, pool_gone);
        return deletion_commands(bucket, BUCKET_FINALIZER, decision, || {
            let bucket_id = reported?.id.clone();
            let r = BucketRequest::DeleteBucket(iri::DeleteBucketRequest { bucket_id });
            Some(request(bucket, pool, r))
        });
    }
    if let Some(add) = ensure_finalizer(bucket, BUCKET_FINALIZER) {
        return vec![add];
    }
    let class = bucket
        .spec
        .bucket_class_ref
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let class_ok = ctx.view.typed::<BucketClass>("", &class).is_some();
    let mut out = Vec::new();
    if class_ok && reported.is_none() && should_create(observed, id_recorded) {
        out.push(request(
            bucket,
            pool,
            BucketRequest::CreateBucket(iri::CreateBucketRequest {
                metadata: iri_metadata(bucket, BUCKET_LABEL_PREFIX),
                spec: iri::BucketSpec {
                    class: iri::BucketClassName(class.clone()),
                },
            }),
        ));
    }
    let mut secret_ok = false;
    if let Some(access) = reported.and_then(|b| b.status.access.as_ref()) {
        let name = access_secret_name(&bucket.metadata.name);
        let (cmds, ok) = access_secret(
            ctx,
            bucket,
            &name,
            SECRET_TYPE_BUCKET_ACCESS,
            &access.secret_data,
        );
        out.extend(cmds);
        secret_ok = ok;
    }
    let status = bucket_status(ctx, bucket, reported, class_ok, secret_ok);
    out.extend(status_update(bucket, &bucket.status, &status));
    out
}

fn bucket_status(
    ctx: &Ctx<'_>,
    bucket: &Bucket,
    reported: Option<&iri::Bucket>,
    class_ok: bool,
    secret_ok: bool,
) -> BucketStatus {
    let pool = bucket
        .spec
        .bucket_pool_ref
        .as_ref()
        .map(|p| p.name.as_str())
        .unwrap_or_default();
    let class = bucket
        .spec
        .bucket_class_ref
        .as_ref()
        .map(|c| c.name.as_str())
        .unwrap_or_default();
    let mut status = bucket.status.clone();
    let state = reported.map_or(BucketState::Pending, |b| bucket_state(b.status.state));
    if status.state.as_ref() != Some(&state) || status.last_state_transition_time.is_none() {
        status.last_state_transition_time = Some(api_time(ctx.wall));
    }
    status.state = Some(state);
    if let Some(b) = reported {
        status.bucket_id = format!("{ID_SCHEME}{}", b.id);
        status.access = b.status.access.as_ref().map(|a| BucketAccess {
            secret_ref: secret_ok
                .then(|| LocalObjectReference::new(access_secret_name(&bucket.metadata.name))),
            endpoint: a.endpoint.clone(),
        });
    }
    let (st, reason, message) = if class_ok {
        (
            ConditionStatus::True,
            "Scheduled",
            format!("bound to bucket pool {pool}"),
        )
    } else {
        (
            ConditionStatus::False,
            "BucketClassNotFound",
            format!("bucket class {class} not found"),
        )
    };
    let update = ConditionUpdate {
        type_: "Scheduled",
        status: st,
        reason,
        message: &message,
        observed_generation: bucket.metadata.generation.0,
    };
    set_condition(&mut status.conditions, &update, api_time(ctx.wall));
    status
}

#[cfg(test)]
mod tests {
    use ferrocore_api::Kind;
    use ferrocore_api::iri::volume::SecretData;
    use ferrocore_api::meta::{Generation, Uid};

    use super::*;
    use crate::reconcile::testkit::{ctx, get, snapshot, summary};
    use crate::reconcile::util::key;
    use crate::reconcile::{NodeReport, Reports};

    const CLASS: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: BucketClass
metadata: {name: std}\ncapabilities: {tps: 1Mi, iops: 100}";
    const POOL: &str =
        "apiVersion: storage.ironcore.dev/v1alpha1\nkind: BucketPool\nmetadata: {name: rgw}";
    const BUCKET: &str = "apiVersion: storage.ironcore.dev/v1alpha1\nkind: Bucket
metadata: {name: img, namespace: shop, finalizers: [bucketpoollet.ironcore.dev/bucket]}
spec: {bucketClassRef: {name: std}, bucketPoolRef: {name: rgw}}";

    #[test]
    fn bucket_is_created_and_its_credentials_land_in_a_secret() {
        let s = snapshot(&[CLASS, POOL, BUCKET]);
        let mut r = Reports::new();
        let out = reconcile_bucket(&ctx(&s, &r), get(&s, "img"));
        assert_eq!(
            summary(&out),
            ["node CreateBucket Bucket img", "status Bucket img"]
        );
        let mut b = iri::Bucket {
            id: "b-1".into(),
            ..Default::default()
        };
        b.status.state = iri::BucketState::Available;
        b.status.access = Some(iri::BucketAccess {
            endpoint: "http://rgw:7480".into(),
            bucket_name: "b-1".into(),
            secret_data: SecretData::single(iri::ACCESS_KEY_ID, b"id".to_vec()),
        });
        r.record(
            key(Kind::Bucket, "shop", "img"),
            NodeReport {
                uid: Uid("uid-img".into()),
                generation: Generation(1),
                pool: PoolRef {
                    kind: PoolKind::Bucket,
                    name: "rgw".into(),
                },
                state: ReportedState::Bucket(b),
            },
        );
        let out = reconcile_bucket(&ctx(&s, &r), get(&s, "img"));
        assert_eq!(
            summary(&out),
            ["create Secret img-access", "status Bucket img"]
        );
        let Command::UpdateStatus { status, .. } = &out[1] else {
            panic!()
        };
        assert_eq!(status["state"], "Available");
        assert_eq!(status["access"]["endpoint"], "http://rgw:7480");
    }
}
