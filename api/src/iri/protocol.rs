//! The node protocol (ALPN `ferrocore-node/1`): the typed messages a node and the controllers
//! exchange, framed with bincode.
//!
//! The envelopes here have a fixed shape (no skipped, flattened or untagged fields), so bincode
//! encodes them. Whatever has an open-ended or Kubernetes-style shape travels inside them as JSON
//! bytes (DESIGN.md §8): the IRI requests and responses ([`IriRequest`], [`IriResponse`]) and the
//! object state a node reports ([`ReportedState`]). The Rust types stay typed; only the wire
//! form holds JSON.
//!
//! ```text
//!   node                                   controller (Raft leader)
//!    │ Join{token, node, csr}  ─────────────► │  bootstrap token checked
//!    │ ◄──────────── JoinAccepted{cert, ca}   │
//!    │ Register{pools, classes, capacity} ──► │  pools created / status updated
//!    │ Heartbeat{pools} (every interval) ───► │  pool leases renewed
//!    │ ◄──────── Command{object, generation,  │  one IRI request each
//!    │                   IRI request}         │
//!    │ CommandResult{id, outcome} ──────────► │
//!    │ Report{object, generation, state} ───► │  status written back
//!    │ Event{object, reason, message} ──────► │
//!    │ ◄──────────────── Ack{seq} / Error     │
//! ```
//!
//! Commands carry the object's `metadata.generation`; a node keeps the newest generation it has
//! seen per object ([`GenerationFence`]) and ignores older ones, so a command replayed by a new
//! leader after a failover, or delayed on the network, cannot undo newer work.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{bucket, machine, volume};

mod requests;

use crate::kind::Kind;
use crate::meta::names::dns1123_subdomain;
use crate::meta::{Generation, Uid};
use crate::object::ObjectKey;
pub use requests::{
    BucketRequest, BucketResponse, IriRequest, IriResponse, VolumeRequest, VolumeResponse,
};

/// The ALPN the node protocol is served under (on the controllers' one UDP port).
pub const ALPN: &[u8] = b"ferrocore-node/1";

/// The protocol version a node announces in [`Join`] and [`Register`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame either side accepts: an object's JSON is at most 3 MiB (the API's document
/// limit) and a report or command holds one object, so 8 MiB leaves room for the envelope and
/// refuses a hostile length prefix before anything is allocated.
pub const FRAME_MAX_BYTES: usize = 8 << 20;

/// Most pools one node may register: a node serves a handful of pools; more is a bug or an
/// attack on the store.
pub const POOLS_PER_NODE_MAX: usize = 64;

/// Most classes one pool may announce (a cloud offers tens of sizes, not thousands).
pub const CLASSES_PER_POOL_MAX: usize = 256;

/// Largest capacity a pool may claim per class: 2^50 (a petabyte of bytes, or 10^15 machines),
/// far above any real pool, low enough that sums over every pool never overflow.
pub const CAPACITY_PER_CLASS_MAX: u64 = 1 << 50;

/// A node's name (a DNS subdomain); it is also the CN of the node's certificate.
#[derive(Clone, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub struct NodeName(pub String);

impl NodeName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name is a valid DNS subdomain.
    pub fn is_valid(&self) -> bool {
        dns1123_subdomain(&self.0).is_empty()
    }
}

impl fmt::Display for NodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A bootstrap token: the shared secret a new node presents once to obtain its certificate.
#[derive(Clone, Default, Deserialize, Eq, PartialEq, Serialize)]
pub struct BootstrapToken(pub String);

impl fmt::Debug for BootstrapToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{} bytes redacted>", self.0.len())
    }
}

/// Which kind of pool: every pool a node serves is one of these.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum PoolKind {
    /// A MachinePool (compute node).
    Machine,
    /// A VolumePool (storage node).
    Volume,
    /// A BucketPool (object storage node).
    Bucket,
}

impl PoolKind {
    /// The API kind of the pool object.
    pub fn kind(self) -> Kind {
        match self {
            Self::Machine => Kind::MachinePool,
            Self::Volume => Kind::VolumePool,
            Self::Bucket => Kind::BucketPool,
        }
    }

    /// The pool kind of an API kind, if it is a pool kind.
    pub fn of(kind: Kind) -> Option<Self> {
        match kind {
            Kind::MachinePool => Some(Self::Machine),
            Kind::VolumePool => Some(Self::Volume),
            Kind::BucketPool => Some(Self::Bucket),
            _ => None,
        }
    }
}

/// A pool by kind and name (pools are cluster-scoped).
#[derive(Clone, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub struct PoolRef {
    /// The pool's kind.
    pub kind: PoolKind,
    /// The pool's name.
    pub name: String,
}

impl fmt::Display for PoolRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.kind(), self.name)
    }
}

/// An object by key and uid: the uid tells a recreated object (same name) from the old one.
#[derive(Clone, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub struct ObjectRef {
    /// Kind, namespace and name.
    pub key: ObjectKey,
    /// `metadata.uid`.
    pub uid: Uid,
}

/// Node → controller, once: asks for a certificate with a bootstrap token.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Join {
    /// [`PROTOCOL_VERSION`] of the node.
    pub protocol_version: u32,
    /// The bootstrap token.
    pub token: BootstrapToken,
    /// The node's name; becomes the certificate's CN.
    pub node: NodeName,
    /// A PKCS#10 certificate signing request (PEM) for the node's own key.
    pub csr_pem: String,
}

/// Controller → node: the signed certificate.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct JoinAccepted {
    /// The node's certificate (PEM), CN = node name.
    pub certificate_pem: String,
    /// The cluster CA (PEM), to verify controllers with.
    pub ca_pem: String,
}

/// What one pool offers, per kind of pool.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum PoolCapacity {
    /// Machine classes with their capabilities and how many machines of each fit in total.
    Machine(Vec<machine::MachineClassStatus>),
    /// Volume classes with their capabilities and how many bytes of each fit in total.
    Volume(Vec<volume::VolumeClassStatus>),
    /// Bucket classes (object storage has no per-class capacity).
    Bucket(Vec<bucket::BucketClass>),
}

impl PoolCapacity {
    /// The pool kind this capacity describes.
    pub fn kind(&self) -> PoolKind {
        match self {
            Self::Machine(_) => PoolKind::Machine,
            Self::Volume(_) => PoolKind::Volume,
            Self::Bucket(_) => PoolKind::Bucket,
        }
    }

    fn len(&self) -> usize {
        match self {
            Self::Machine(c) => c.len(),
            Self::Volume(c) => c.len(),
            Self::Bucket(c) => c.len(),
        }
    }
}

/// One pool a node serves.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct PoolRegistration {
    /// The pool's name (a DNS subdomain).
    pub name: String,
    /// Labels for the pool object (topology labels such as `topology.ironcore.dev/zone`).
    pub labels: BTreeMap<String, String>,
    /// The pool's `spec.providerID` (e.g. `libvirt://hv-zone-a`); empty: the controller uses
    /// `ferrocore://<node>/<pool>`. A pool declared beforehand with a provider id is only taken
    /// over by a node that registers the same one.
    pub provider_id: String,
    /// Classes and capacity; also says which kind of pool this is.
    pub capacity: PoolCapacity,
}

impl PoolRegistration {
    /// The pool's reference.
    pub fn pool_ref(&self) -> PoolRef {
        PoolRef {
            kind: self.capacity.kind(),
            name: self.name.clone(),
        }
    }
}

/// Node → controller after connecting (and again whenever its pools change).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Register {
    /// [`PROTOCOL_VERSION`] of the node.
    pub protocol_version: u32,
    /// The pools the node serves.
    pub pools: Vec<PoolRegistration>,
}

impl Register {
    /// Checks the bounds and names a controller relies on before it touches the store.
    ///
    /// # Errors
    /// [`ProtocolError::Invalid`] naming the first problem.
    pub fn validate(&self) -> Result<(), ProtocolError> {
        if self.pools.len() > POOLS_PER_NODE_MAX {
            return Err(ProtocolError::invalid(format!(
                "{} pools registered, at most {POOLS_PER_NODE_MAX} allowed",
                self.pools.len()
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for pool in &self.pools {
            if !dns1123_subdomain(&pool.name).is_empty() {
                return Err(ProtocolError::invalid(format!(
                    "pool name {:?} is not a DNS subdomain",
                    pool.name
                )));
            }
            if !seen.insert(pool.pool_ref()) {
                return Err(ProtocolError::invalid(format!(
                    "pool {} registered twice",
                    pool.pool_ref()
                )));
            }
            validate_capacity(&pool.name, &pool.capacity)?;
        }
        Ok(())
    }
}

fn validate_capacity(pool: &str, capacity: &PoolCapacity) -> Result<(), ProtocolError> {
    if capacity.len() > CLASSES_PER_POOL_MAX {
        return Err(ProtocolError::invalid(format!(
            "pool {pool} announces {} classes, at most {CLASSES_PER_POOL_MAX} allowed",
            capacity.len()
        )));
    }
    let bad = |class: &str, why: &str| {
        ProtocolError::invalid(format!("pool {pool} class {class:?}: {why}"))
    };
    let check_name = |class: &str| {
        if dns1123_subdomain(class).is_empty() {
            Ok(())
        } else {
            Err(bad(class, "not a DNS subdomain"))
        }
    };
    match capacity {
        PoolCapacity::Machine(classes) => {
            for c in classes {
                check_name(&c.machine_class.name.0)?;
                let quantity = u64::try_from(c.quantity).unwrap_or(u64::MAX);
                if c.quantity < 0 || quantity > CAPACITY_PER_CLASS_MAX {
                    return Err(bad(&c.machine_class.name.0, "quantity out of range"));
                }
                if c.machine_class.capabilities.values().any(|v| *v < 0) {
                    return Err(bad(&c.machine_class.name.0, "negative capability"));
                }
            }
        }
        PoolCapacity::Volume(classes) => {
            for c in classes {
                check_name(c.volume_class.name.as_str())?;
                if c.quantity.0 > CAPACITY_PER_CLASS_MAX {
                    return Err(bad(c.volume_class.name.as_str(), "quantity out of range"));
                }
            }
        }
        PoolCapacity::Bucket(classes) => {
            for c in classes {
                check_name(&c.name.0)?;
            }
        }
    }
    Ok(())
}

/// The health of one pool's runtime, as its node sees it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct PoolHeartbeat {
    /// The pool.
    pub pool: PoolRef,
    /// Whether the node reached the pool's runtime (libvirt, Ceph, ...) in its last probe.
    pub runtime_ok: bool,
    /// Why not, when `runtime_ok` is false.
    pub message: String,
}

/// Node → controller, every heartbeat interval: renews the leases of the node's pools.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Heartbeat {
    /// One entry per registered pool.
    pub pools: Vec<PoolHeartbeat>,
}

/// The state of one object on a node, as the node last observed it.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[allow(clippy::large_enum_variant)] // one report at a time; boxing buys nothing
pub enum ReportedState {
    /// The node does not hold the object (never created, or deleted).
    Absent,
    /// The machine as the MachineRuntime describes it.
    Machine(machine::Machine),
    /// The volume as the VolumeRuntime describes it.
    Volume(volume::Volume),
    /// The snapshot as the VolumeRuntime describes it.
    VolumeSnapshot(volume::VolumeSnapshot),
    /// The bucket as the BucketRuntime describes it.
    Bucket(bucket::Bucket),
}

/// Node → controller: the state of one object (after a command, on a change, and for every
/// object right after [`Register`], so a new leader learns everything a node holds).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Report {
    /// Which object (the uid the node created it for).
    pub object: ObjectRef,
    /// The newest generation of the object the node has applied.
    pub generation: Generation,
    /// The pool the object lives in on this node.
    pub pool: PoolRef,
    /// What the node holds; JSON on the wire.
    #[serde(with = "json_bytes")]
    pub state: ReportedState,
}

/// Normal or warning, as Kubernetes events.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum EventType {
    /// Informational.
    Normal,
    /// Something the user should look at.
    Warning,
}

/// Node → controller: something that happened to an object (image pulled, VM crashed, ...).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct NodeEvent {
    /// The object.
    pub object: ObjectRef,
    /// Normal or warning.
    pub event_type: EventType,
    /// A CamelCase reason.
    pub reason: String,
    /// A human message.
    pub message: String,
    /// When, in nanoseconds since the Unix epoch (node's clock).
    pub time_unix_nanos: i64,
}

/// Identifies one command so its result can be matched to it.
#[derive(
    Clone, Copy, Debug, Default, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize,
)]
pub struct CommandId(pub u64);

/// Controller → node: one IRI request about one object in one of the node's pools.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct NodeCommand {
    /// Matches the node's [`CommandResult`].
    pub id: CommandId,
    /// The pool (on this node) the object is bound to.
    pub pool: PoolRef,
    /// The object the request is about.
    pub object: ObjectRef,
    /// The object's `metadata.generation` the request was computed from; a node ignores a
    /// command older than one it has seen for the same object ([`GenerationFence`]).
    pub generation: Generation,
    /// The request; JSON on the wire.
    #[serde(with = "json_bytes")]
    pub request: IriRequest,
}

/// What became of a command on the node.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub enum CommandOutcome {
    /// The runtime ran it; its answer (which may be a runtime error); JSON on the wire.
    Done(#[serde(with = "json_bytes")] IriResponse),
    /// Ignored: the node has seen a newer generation of the object.
    Stale {
        /// The newest generation the node has seen.
        seen: Generation,
    },
    /// Refused before reaching the runtime (unknown pool, malformed request, ...).
    Refused(String),
}

/// Node → controller: the outcome of one [`NodeCommand`].
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct CommandResult {
    /// The command's id.
    pub id: CommandId,
    /// What happened.
    pub outcome: CommandOutcome,
}

/// Everything a node sends.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[allow(clippy::large_enum_variant)] // one message at a time is framed; boxing buys nothing
pub enum NodeMessage {
    /// First contact with a bootstrap token (no client certificate yet).
    Join(Join),
    /// The node's pools.
    Register(Register),
    /// Lease renewal.
    Heartbeat(Heartbeat),
    /// An object's state.
    Report(Report),
    /// Something that happened.
    Event(NodeEvent),
    /// A command's outcome.
    CommandResult(CommandResult),
}

/// Why a controller refused a node's message.
#[derive(Clone, Copy, Debug, Deserialize, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize)]
pub enum ErrorCode {
    /// Bad or missing bootstrap token or certificate.
    Unauthenticated,
    /// The message is malformed or breaks a bound.
    Invalid,
    /// The pool or object belongs to another node.
    NotOwner,
    /// The message is about a generation older than the store's.
    Stale,
    /// This controller is not the leader; reconnect to `leader` (if known).
    NotLeader,
    /// The protocol version is not supported.
    UnsupportedVersion,
}

/// Controller → node: a refusal.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct ProtocolErrorMessage {
    /// The sequence number of the refused message.
    pub seq: u64,
    /// Why.
    pub code: ErrorCode,
    /// Details for the node's log.
    pub message: String,
    /// The current leader's address, for [`ErrorCode::NotLeader`].
    pub leader: Option<String>,
}

/// Everything a controller sends.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
#[allow(clippy::large_enum_variant)] // one message at a time is framed; boxing buys nothing
pub enum ControllerMessage {
    /// The certificate for a joining node.
    JoinAccepted(JoinAccepted),
    /// An IRI request.
    Command(NodeCommand),
    /// The message with this sequence number was applied.
    Ack {
        /// Its sequence number.
        seq: u64,
    },
    /// The message was refused.
    Error(ProtocolErrorMessage),
}

/// One frame: a message with the sender's sequence number (acks and errors name it).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, Serialize)]
pub struct Frame<T> {
    /// Increases by one per message on a connection.
    pub seq: u64,
    /// The message.
    pub body: T,
}

/// A frame that cannot be encoded or decoded, or a message that breaks a rule.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
pub enum ProtocolError {
    /// The frame is larger than [`FRAME_MAX_BYTES`].
    #[error("frame of {0} bytes exceeds the {FRAME_MAX_BYTES} byte limit")]
    TooLarge(usize),
    /// The bytes are not a frame of the expected type.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The message is well-formed but breaks a rule.
    #[error("invalid message: {0}")]
    Invalid(String),
}

impl ProtocolError {
    fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }
}

fn wire_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<FRAME_MAX_BYTES>()
}

/// Encodes a frame.
///
/// # Errors
/// [`ProtocolError::TooLarge`] when the frame would exceed [`FRAME_MAX_BYTES`].
pub fn encode_frame<T: Serialize>(frame: &Frame<T>) -> Result<Vec<u8>, ProtocolError> {
    let bytes = bincode::serde::encode_to_vec(frame, bincode::config::standard())
        .map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if bytes.len() > FRAME_MAX_BYTES {
        return Err(ProtocolError::TooLarge(bytes.len()));
    }
    Ok(bytes)
}

/// Decodes a frame; never panics and never allocates beyond [`FRAME_MAX_BYTES`] on hostile
/// input. Trailing bytes are an error.
///
/// # Errors
/// [`ProtocolError::TooLarge`] or [`ProtocolError::Malformed`].
pub fn decode_frame<T: DeserializeOwned>(bytes: &[u8]) -> Result<Frame<T>, ProtocolError> {
    if bytes.len() > FRAME_MAX_BYTES {
        return Err(ProtocolError::TooLarge(bytes.len()));
    }
    let (frame, used) = bincode::serde::decode_from_slice(bytes, wire_config())
        .map_err(|e| ProtocolError::Malformed(e.to_string()))?;
    if used != bytes.len() {
        return Err(ProtocolError::Malformed(format!(
            "{} trailing bytes",
            bytes.len() - used
        )));
    }
    Ok(frame)
}

/// Whether a node should run a command, per [`GenerationFence::admit`].
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Freshness {
    /// Run it.
    Fresh,
    /// Ignore it: a newer generation of the object was seen.
    Stale {
        /// The newest generation seen.
        seen: Generation,
    },
}

/// The node side's guard against stale commands: remembers the newest generation seen per
/// object (by uid, so a recreated object starts over). Several commands of one generation are
/// all fresh (a create, then attaches).
#[derive(Clone, Debug, Default)]
pub struct GenerationFence {
    seen: BTreeMap<ObjectRef, Generation>,
}

impl GenerationFence {
    /// Records `generation` for `object` and says whether a command carrying it should run.
    pub fn admit(&mut self, object: &ObjectRef, generation: Generation) -> Freshness {
        match self.seen.get_mut(object) {
            Some(seen) if generation < *seen => Freshness::Stale { seen: *seen },
            Some(seen) => {
                *seen = generation;
                Freshness::Fresh
            }
            None => {
                self.seen.insert(object.clone(), generation);
                Freshness::Fresh
            }
        }
    }

    /// Forgets an object the node no longer holds (bounds the fence to the node's objects).
    pub fn forget(&mut self, object: &ObjectRef) {
        self.seen.remove(object);
    }

    /// How many objects are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }
}

/// Serde adapter: a value as JSON bytes, so an open-ended shape rides inside a bincode frame.
mod json_bytes {
    use std::fmt;

    use serde::de::{self, DeserializeOwned, SeqAccess, Visitor};
    use serde::ser::Error as _;

    use super::{Deserializer, Serialize, Serializer};

    pub(super) fn serialize<T: Serialize, S: Serializer>(
        value: &T,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let bytes = serde_json::to_vec(value).map_err(S::Error::custom)?;
        s.serialize_bytes(&bytes)
    }

    pub(super) fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        let bytes = d.deserialize_byte_buf(BytesVisitor)?;
        serde_json::from_slice(&bytes).map_err(de::Error::custom)
    }

    struct BytesVisitor;

    impl<'de> Visitor<'de> for BytesVisitor {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON bytes")
        }

        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Bounded by the frame limit the outer decoder enforces.
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests;
