//! Pieces the node-backed lifecycles (machine, volume, snapshot, bucket) share: node requests,
//! the deletion decision, the create decision and access Secrets.

use std::collections::BTreeMap;

use ferrocore_api::core::{Secret, SecretBytes};
use ferrocore_api::iri::protocol::{IriRequest, PoolRef};
use ferrocore_api::meta::ObjectMeta;
use ferrocore_api::{Resource, iri};
use serde_json::json;

use super::util::{controller_ref, has_finalizer, is_controlled_by, key_of, patch};
use super::{Command, Ctx, EventType, NodeRequest, ObjectEvent, Observed, ViewExt};

/// How status fields name node objects: `ferrocore://<id>`.
pub const ID_SCHEME: &str = "ferrocore://";

/// The node-side id inside a `ferrocore://<id>` status field.
pub fn node_id(status_id: &str) -> Option<&str> {
    status_id
        .strip_prefix(ID_SCHEME)
        .filter(|id| !id.is_empty())
}

/// A request for the node serving `pool`, about `object` at its current generation.
pub fn node_request<T: Resource>(object: &T, pool: PoolRef, request: IriRequest) -> Command {
    Command::Node(Box::new(NodeRequest {
        pool,
        object: key_of(object),
        uid: object.meta().uid.clone(),
        generation: object.meta().generation,
        request,
    }))
}

/// What to do about a deleting object with a node finalizer.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Deletion {
    /// Ask the node to delete it.
    Delete,
    /// Drop the finalizer: the node does not hold it (or cannot be asked any more).
    Release,
    /// Wait for the node's report.
    Wait,
}

/// The deletion decision: delete while the node reports the object; release once it reports it
/// absent, when nothing was ever created (no id recorded), or when the pool is gone.
pub fn deletion(observed: Observed<'_>, id_recorded: bool, pool_gone: bool) -> Deletion {
    match observed {
        Observed::Present(_) if !pool_gone => Deletion::Delete,
        Observed::Absent => Deletion::Release,
        _ if !id_recorded || pool_gone => Deletion::Release,
        _ => Deletion::Wait,
    }
}

/// The commands for a deleting object that carries (or carried) the node finalizer
/// `finalizer`: `delete()` while the node holds it, the finalizer's removal once it does not.
pub fn deletion_commands<T: Resource>(
    object: &T,
    finalizer: &str,
    decision: Deletion,
    delete: impl FnOnce() -> Option<Command>,
) -> Vec<Command> {
    if !has_finalizer(object.meta(), finalizer) {
        return Vec::new();
    }
    match decision {
        Deletion::Delete => delete().into_iter().collect(),
        Deletion::Release => vec![Command::RemoveFinalizer {
            key: key_of(object),
            finalizer: finalizer.to_owned(),
        }],
        Deletion::Wait => Vec::new(),
    }
}

/// Adds the node finalizer `finalizer` when it is missing (before anything is created on a
/// node, so the object cannot leave the store while its node still holds it).
pub fn ensure_finalizer<T: Resource>(object: &T, finalizer: &str) -> Option<Command> {
    (!has_finalizer(object.meta(), finalizer)).then(|| Command::AddFinalizer {
        key: key_of(object),
        finalizer: finalizer.to_owned(),
    })
}

/// Whether to send the create request: the node affirmatively lacks the object, or no report
/// came yet and the object was never created (an existing object's node re-sends its reports
/// when it registers, and nodes treat a create for a uid they hold as done).
pub fn should_create(observed: Observed<'_>, id_recorded: bool) -> bool {
    match observed {
        Observed::Absent => true,
        Observed::Unknown => !id_recorded,
        Observed::Present(_) => false,
    }
}

/// The labels a node object carries: the API object's uid, namespace and name.
pub fn identity_labels<T: Resource>(object: &T, prefix: &str) -> BTreeMap<String, String> {
    let m = object.meta();
    [
        ("uid", m.uid.as_str()),
        ("namespace", &m.namespace),
        ("name", &m.name),
    ]
    .into_iter()
    .map(|(k, v)| (format!("{prefix}-{k}"), v.to_owned()))
    .collect()
}

/// IRI metadata for a volume, snapshot or bucket of `object`.
pub fn iri_metadata<T: Resource>(object: &T, prefix: &str) -> iri::volume::ObjectMetadata {
    iri::volume::ObjectMetadata {
        labels: identity_labels(object, prefix),
        generation: object.meta().generation.0,
        ..iri::volume::ObjectMetadata::default()
    }
}

/// Keeps the Secret `name` (controlled by `owner`, of `type_`) holding `data`. Returns the
/// commands and whether the Secret is usable as the owner's access secret.
pub fn access_secret<T: Resource>(
    ctx: &Ctx<'_>,
    owner: &T,
    name: &str,
    type_: &str,
    data: &iri::volume::SecretData,
) -> (Vec<Command>, bool) {
    let ns = owner.meta().namespace.as_str();
    let want: BTreeMap<String, SecretBytes> = data
        .0
        .iter()
        .map(|(k, v)| (k.clone(), SecretBytes(v.clone())))
        .collect();
    match ctx.view.typed::<Secret>(ns, name) {
        None => {
            let mut secret = Secret {
                metadata: ObjectMeta {
                    owner_references: vec![controller_ref(owner)],
                    ..ObjectMeta::named(ns, name)
                },
                type_: type_.to_owned(),
                data: want,
                ..Secret::default()
            };
            secret.set_defaults();
            (vec![Command::Create(Box::new(secret.into()))], false)
        }
        Some(s) if !is_controlled_by(&s.metadata, &owner.meta().uid) => {
            let event = Command::Event(ObjectEvent {
                key: key_of(owner),
                event_type: EventType::Warning,
                reason: "AccessSecretNotControlled".into(),
                message: format!(
                    "secret {name} exists and is not controlled by {}",
                    owner.meta().name
                ),
            });
            (vec![event], false)
        }
        Some(s) if s.data != want => (vec![patch(s, json!({"data": want}))], true),
        Some(_) => (Vec::new(), true),
    }
}
