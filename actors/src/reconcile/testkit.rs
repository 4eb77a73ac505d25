//! Test fixtures: objects from YAML, snapshots, contexts.

use ferrocore_api::decode::decode_object;
use ferrocore_api::meta::{ResourceVersion, Uid};
use ferrocore_api::{Object, ObjectKey};
use ferrocore_runtime::{MonoTime, WallTime};

use super::{Command, Ctx, ObjectView, Reports, Snapshot, Typed, ViewExt};

/// An object from YAML, defaulted, with `uid-<name>` as uid and resourceVersion 1.
pub(crate) fn parse(yaml: &str) -> Object {
    let mut o = decode_object(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    o.set_defaults();
    let m = o.meta_mut();
    if m.uid.is_empty() {
        m.uid = Uid(format!("uid-{}", m.name));
    }
    if m.resource_version.is_empty() {
        m.resource_version = ResourceVersion("1".into());
    }
    o
}

/// A snapshot of objects given as YAML.
pub(crate) fn snapshot(yamls: &[&str]) -> Snapshot {
    Snapshot::of(yamls.iter().map(|y| parse(y)))
}

/// A context at time zero (wall: 1000 s after the epoch).
pub(crate) fn ctx<'a>(view: &'a dyn ObjectView, reports: &'a Reports) -> Ctx<'a> {
    Ctx {
        now: MonoTime::ZERO,
        wall: WallTime::from_unix_nanos(1_000_000_000_000),
        view,
        reports,
    }
}

/// The typed object `name` in namespace `shop` (or cluster scope when the kind has none).
pub(crate) fn get<'a, T: Typed>(s: &'a Snapshot, name: &str) -> &'a T {
    let ns = if T::KIND.namespaced() { "shop" } else { "" };
    s.typed::<T>(ns, name)
        .unwrap_or_else(|| panic!("{} {name} missing", T::KIND))
}

/// The keys of the commands, with a short verb, for compact assertions.
pub(crate) fn summary(commands: &[Command]) -> Vec<String> {
    commands.iter().map(describe).collect()
}

fn describe(c: &Command) -> String {
    let k = |k: &ObjectKey| format!("{} {}", k.kind, k.name);
    match c {
        Command::Create(o) => format!("create {}", k(&o.key())),
        Command::Patch { key, patch, .. } => format!("patch {} {patch}", k(key)),
        Command::UpdateStatus { key, .. } => format!("status {}", k(key)),
        Command::Delete { key, .. } => format!("delete {}", k(key)),
        Command::AddFinalizer { key, finalizer } => format!("+finalizer {} {finalizer}", k(key)),
        Command::RemoveFinalizer { key, finalizer } => {
            format!("-finalizer {} {finalizer}", k(key))
        }
        Command::Node(n) => format!("node {} {}", n.request.operation(), k(&n.object)),
        Command::Event(e) => format!("event {} {}", k(&e.key), e.reason),
        Command::Requeue { key, .. } => format!("requeue {}", k(key)),
    }
}
