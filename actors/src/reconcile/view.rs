//! The read side of every core: a view of the objects in the store, typed access to them, and
//! what nodes last reported.

use std::collections::BTreeMap;

use ferrocore_api::compute::{Machine, MachineClass, MachinePool};
use ferrocore_api::core::{ResourceQuota, Secret};
use ferrocore_api::ipam::{Prefix, PrefixAllocation};
use ferrocore_api::iri::protocol::{PoolRef, ReportedState};
use ferrocore_api::meta::{Generation, Uid};
use ferrocore_api::networking::{
    LoadBalancer, LoadBalancerRouting, NATGateway, Network, NetworkInterface, NetworkPolicy,
    VirtualIP,
};
use ferrocore_api::storage::{
    Bucket, BucketClass, BucketPool, Volume, VolumeClass, VolumePool, VolumeSnapshot,
};
use ferrocore_api::{Kind, Object, ObjectKey, Resource};

/// Read access to the objects a core may consult. The runtime implements it over the leader's
/// store; tests and the simulator use [`Snapshot`].
pub trait ObjectView {
    /// The object with this identity.
    fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Object>;

    /// Every object of `kind` in `namespace` (every namespace when `None`), ordered by
    /// namespace and name.
    fn list<'a>(
        &'a self,
        kind: Kind,
        namespace: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Object> + 'a>;
}

/// A kind that can be read out of an [`Object`].
pub trait Typed: Resource + Into<Object> {
    /// The typed object, if `object` is of this kind.
    fn from_object(object: &Object) -> Option<&Self>;
}

macro_rules! typed {
    ($($kind:ident),+ $(,)?) => {
        $(
            impl Typed for $kind {
                fn from_object(object: &Object) -> Option<&Self> {
                    match object {
                        Object::$kind(o) => Some(o),
                        _ => None,
                    }
                }
            }
        )+
    };
}

typed!(
    Machine,
    MachineClass,
    MachinePool,
    Volume,
    VolumeClass,
    VolumePool,
    VolumeSnapshot,
    Bucket,
    BucketClass,
    BucketPool,
    Network,
    NetworkInterface,
    NetworkPolicy,
    VirtualIP,
    LoadBalancer,
    LoadBalancerRouting,
    NATGateway,
    Prefix,
    PrefixAllocation,
    ResourceQuota,
    Secret,
);

/// Typed reads over any [`ObjectView`].
pub trait ViewExt: ObjectView {
    /// The object of type `T` named `name` in `namespace` (empty for cluster-scoped kinds).
    fn typed<T: Typed>(&self, namespace: &str, name: &str) -> Option<&T> {
        self.get(T::KIND, namespace, name).and_then(T::from_object)
    }

    /// Every object of type `T` in `namespace` (all namespaces when `None`).
    fn all<'a, T: Typed + 'a>(
        &'a self,
        namespace: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a T> + 'a> {
        Box::new(self.list(T::KIND, namespace).filter_map(T::from_object))
    }
}

impl<V: ObjectView + ?Sized> ViewExt for V {}

/// An in-memory set of objects: what tests, the mini cluster and the simulator hand to cores.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    objects: BTreeMap<ObjectKey, Object>,
}

impl Snapshot {
    /// An empty snapshot.
    pub fn new() -> Self {
        Self::default()
    }

    /// A snapshot holding `objects`.
    pub fn of(objects: impl IntoIterator<Item = Object>) -> Self {
        let mut s = Self::new();
        for o in objects {
            s.put(o);
        }
        s
    }

    /// Inserts or replaces an object.
    pub fn put(&mut self, object: Object) {
        self.objects.insert(object.key(), object);
    }

    /// Removes an object.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Object> {
        self.objects.remove(key)
    }

    /// The object at `key`.
    pub fn by_key(&self, key: &ObjectKey) -> Option<&Object> {
        self.objects.get(key)
    }

    /// The object at `key`, mutably.
    pub fn by_key_mut(&mut self, key: &ObjectKey) -> Option<&mut Object> {
        self.objects.get_mut(key)
    }

    /// Every object, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = &Object> {
        self.objects.values()
    }

    /// Number of objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether the snapshot is empty.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

fn key(kind: Kind, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    }
}

impl ObjectView for Snapshot {
    fn get(&self, kind: Kind, namespace: &str, name: &str) -> Option<&Object> {
        self.objects.get(&key(kind, namespace, name))
    }

    fn list<'a>(
        &'a self,
        kind: Kind,
        namespace: Option<&'a str>,
    ) -> Box<dyn Iterator<Item = &'a Object> + 'a> {
        let start = key(kind, namespace.unwrap_or(""), "");
        Box::new(
            self.objects
                .range(start..)
                .take_while(move |(k, _)| {
                    k.kind == kind && namespace.is_none_or(|ns| k.namespace == ns)
                })
                .map(|(_, o)| o),
        )
    }
}

/// What a node last said about one object.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeReport {
    /// The uid the node holds the object for.
    pub uid: Uid,
    /// The newest generation the node applied.
    pub generation: Generation,
    /// The pool it lives in.
    pub pool: PoolRef,
    /// Its state.
    pub state: ReportedState,
}

/// What the node serving an object last reported about it, as a core sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observed<'a> {
    /// No report (yet) for this object: after a failover, until its node re-registers.
    Unknown,
    /// The node does not hold it.
    Absent,
    /// The node holds it in this state.
    Present(&'a NodeReport),
}

/// The latest node report per object, kept by the broker (leader memory, not the store).
#[derive(Clone, Debug, Default)]
pub struct Reports {
    latest: BTreeMap<ObjectKey, NodeReport>,
}

impl Reports {
    /// No reports.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a report; an older generation for the same uid than one already held is
    /// ignored (a delayed message must not roll status back). Returns whether it was taken.
    pub fn record(&mut self, key: ObjectKey, report: NodeReport) -> bool {
        if let Some(old) = self.latest.get(&key)
            && old.uid == report.uid
            && report.generation < old.generation
        {
            return false;
        }
        self.latest.insert(key, report);
        true
    }

    /// Forgets an object (it is gone from the store and from its node).
    pub fn forget(&mut self, key: &ObjectKey) {
        self.latest.remove(key);
    }

    /// Forgets every report from `pool` (its node re-registered: it resends them all).
    pub fn forget_pool(&mut self, pool: &PoolRef) {
        self.latest.retain(|_, r| r.pool != *pool);
    }

    /// What is known of the object `key` with `uid`. A report for another uid (an earlier
    /// object of the same name) says nothing about this one.
    pub fn observed(&self, key: &ObjectKey, uid: &Uid) -> Observed<'_> {
        match self.latest.get(key) {
            Some(r) if r.uid != *uid => Observed::Unknown,
            Some(r) if matches!(r.state, ReportedState::Absent) => Observed::Absent,
            Some(r) => Observed::Present(r),
            None => Observed::Unknown,
        }
    }

    /// The raw report for `key`, whatever its uid (for orphan clean-up).
    pub fn get(&self, key: &ObjectKey) -> Option<&NodeReport> {
        self.latest.get(key)
    }

    /// Every report, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&ObjectKey, &NodeReport)> {
        self.latest.iter()
    }
}
