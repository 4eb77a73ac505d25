//! Connection tracking: a bounded flow table keyed by both directions' 5-tuples.
//!
//! Each flow is stored once (in a slab) and indexed twice: under its original tuple and under
//! the tuple its replies carry after translation. NAT port bindings are these reply tuples, so
//! the NAT table and conntrack can never disagree. The table never grows past its capacity: a
//! full table evicts the stalest of a few candidates under a clock hand (bounded work per
//! insert), and `age` removes expired flows a bounded batch at a time.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use ferrocore_runtime::MonoTime;

mod index;

use self::index::{FlowIndex, MAX_FLOWS};
use crate::packet::rewrite::ENCAP_HEADER_LEN;
use crate::types::{PortId, Vni};

/// Slots looked at to choose a victim when the table is full: bounds the insert cost while
/// still usually finding an expired or idle flow.
const EVICT_SCAN: usize = 8;

/// Slots looked at per [`Conntrack::age`] call: bounds the time one aging pass steals from
/// packet processing.
pub(crate) const AGE_BATCH: usize = 4_096;

/// A flow's tuple in one direction, in one VNI.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) struct FlowKey {
    pub(crate) src: u128,
    pub(crate) dst: u128,
    pub(crate) vni: u32,
    pub(crate) sport: u16,
    pub(crate) dport: u16,
    pub(crate) proto: u8,
    pub(crate) v6: bool,
}

/// An address as the 128 bits flow keys hold (IPv4 in the low 32 bits).
pub(crate) fn addr_bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

/// The address whose bits are `x` in the given family.
pub(crate) fn bits_addr(x: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(x.into())
    } else {
        IpAddr::V4(u32::try_from(x & u128::from(u32::MAX)).unwrap_or(0).into())
    }
}

/// Where a packet enters the pipeline. Flows are keyed per side, so the flow a VM opens and
/// the flow its peer's packets open on arrival (the same 5-tuple when both are local, or on
/// recirculation) never collide.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Side {
    /// From a VM port.
    Vm,
    /// From the underlay (decapsulated).
    Uplink,
    /// Load balancer flows (underlay side, before target selection).
    Lb,
}

impl Side {
    fn bits(self) -> u32 {
        match self {
            Self::Vm => 0,
            Self::Uplink => 1 << 30,
            Self::Lb => 1 << 31,
        }
    }
}

impl FlowKey {
    /// The key of a packet entering on `side`.
    pub(crate) fn new(
        vni: Vni,
        side: Side,
        src: IpAddr,
        dst: IpAddr,
        proto: u8,
        sport: u16,
        dport: u16,
    ) -> Self {
        Self {
            src: addr_bits(src),
            dst: addr_bits(dst),
            vni: (vni.0 & 0x3fff_ffff) | side.bits(),
            sport,
            dport,
            proto,
            v6: src.is_ipv6(),
        }
    }

    /// The same tuple seen from the other end, entering on `side`.
    pub(crate) fn reversed(self, side: Side) -> Self {
        let vni = (self.vni & 0x3fff_ffff) | side.bits();
        Self {
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            vni,
            ..self
        }
    }
}

/// The low 64 bits of `x` xor its high 64 bits turned by 29 (truncation intended).
#[allow(clippy::cast_possible_truncation)]
fn fold128(x: u128) -> u64 {
    (x as u64) ^ ((x >> 64) as u64).rotate_left(29)
}

/// A 64 x 64 -> 128-bit multiply folded back to 64 bits: mixes every bit of both inputs.
#[allow(clippy::cast_possible_truncation)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let m = u128::from(a) * u128::from(b);
    (m as u64) ^ ((m >> 64) as u64)
}

/// The seed of the flow hash, drawn once per data plane so that flows colliding in one data
/// plane's table do not collide in another's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HashSeed([u64; 4]);

impl HashSeed {
    /// A seed from 64 random bits.
    pub(crate) fn new(random: u64) -> Self {
        let mut x = random;
        let mut next = || {
            // splitmix64
            x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            (z ^ (z >> 31)) | 1
        };
        Self([next(), next(), next(), next()])
    }
}

impl FlowKey {
    /// The key's 64-bit hash under `seed`: three multiplies (two of them independent), cheap
    /// enough to compute for every packet.
    #[inline]
    pub(crate) fn hash(&self, seed: HashSeed) -> u64 {
        let ports =
            (u64::from(self.vni) << 32) | (u64::from(self.sport) << 16) | u64::from(self.dport);
        // Two byte fields combined arithmetically: a single 16-bit load of both would stall
        // on the two byte stores that just built the key.
        let kind = u64::from(self.proto).wrapping_mul(3) ^ u64::from(self.v6);
        let a = fold_mul(fold128(self.src) ^ seed.0[0], fold128(self.dst) ^ seed.0[1]);
        let b = fold_mul(ports ^ seed.0[2], kind ^ seed.0[3]);
        fold_mul(a ^ 0x243f_6a88_85a3_08d3, b ^ 0x1319_8a2e_0370_7344)
    }
}

/// Tables at least this large ask for transparent huge pages: a big table touched at random
/// otherwise misses the TLB on nearly every packet (4 KiB pages); smaller ones fit the TLB.
const HUGE_PAGES_MIN_BYTES: usize = 8 << 20;

/// Asks the kernel to back `bytes` bytes at `ptr` (one allocation) with transparent huge
/// pages where it can (THP in `madvise` mode). A hint: nothing changes if it is refused.
pub(crate) fn advise_huge_pages(ptr: *const u8, bytes: usize) {
    const PAGE: usize = 4_096;
    if bytes < HUGE_PAGES_MIN_BYTES {
        return;
    }
    let start = (ptr as usize).next_multiple_of(PAGE);
    let end = (ptr as usize + bytes) & !(PAGE - 1);
    if end > start {
        // SAFETY: [start, end) is page-aligned and lies inside the caller's allocation;
        // MADV_HUGEPAGE changes how the kernel backs the memory, never its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

/// Hints the CPU to load the cache lines holding `r` (no effect on other architectures).
#[inline]
pub(crate) fn prefetch<T>(r: &T) {
    const LINE: usize = 64;
    let p = std::ptr::from_ref(r).cast::<i8>();
    let mut off = 0;
    while off < size_of::<T>() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is a hint with no architectural effect, even for an address
        // outside any object; `off` stays within `r`'s size anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                p.wrapping_add(off),
            );
        }
        off += LINE;
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Which way a packet travels relative to the flow's first packet.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Dir {
    /// Same direction as the first packet.
    Orig,
    /// The reverse direction.
    Reply,
}

/// The address translation a flow applies (to the original direction; replies get the inverse).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Xlate {
    /// No translation.
    None,
    /// Source becomes `(ip, port)` (NAT gateway, or a VIP with the port unchanged).
    Snat { ip: IpAddr, port: u16 },
    /// Destination becomes `(ip, port)` (a VIP's inbound traffic).
    Dnat { ip: IpAddr, port: u16 },
}

/// Where packets of a flow from a VM port go, cached in the flow so that a known flow skips the
/// route, underlay and neighbour lookups.
#[derive(Clone, Copy, Debug)]
pub(crate) enum EgressHop {
    /// Deliver to this local VM port.
    Local(PortId),
    /// Encapsulate with this outer header and send out of the uplink `port`.
    Uplink {
        /// The uplink.
        port: PortId,
        /// Outer Ethernet + IPv6 header, payload length zero.
        header: [u8; ENCAP_HEADER_LEN],
    },
}

/// A cached forwarding decision for one direction of a flow entering on one VM port. It is
/// valid while the pipeline's route generation is still `route_gen`: every programming call
/// and every change of a learned underlay neighbour moves that generation on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Egress {
    /// The direction the decision was taken for.
    pub(crate) dir: Dir,
    /// The VM port the packets enter on.
    pub(crate) port: PortId,
    /// The route generation the decision was taken at.
    pub(crate) route_gen: u64,
    /// The decision.
    pub(crate) hop: EgressHop,
}

/// What a flow remembers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flow {
    /// The original tuple and the reply tuple.
    pub(crate) keys: [FlowKey; 2],
    /// The translation of the original direction.
    pub(crate) xlate: Xlate,
    /// The load balancer target chosen for this flow, if any.
    pub(crate) lb_target: Option<Ipv6Addr>,
    /// The local VM port the flow came from and the one it goes to (firewall re-checks).
    pub(crate) ports: [Option<PortId>; 2],
    /// ICMP type and code of the first packet (firewall rules may match them).
    pub(crate) icmp: (u8, u8),
    /// The firewall verdict and the rule generation it was computed at.
    pub(crate) allowed: bool,
    pub(crate) fw_gen: u64,
    /// The forwarding decision of the last packet from a VM port, if it can be reused.
    pub(crate) egress: Option<Egress>,
    last_seen: MonoTime,
    replied: bool,
    closing: bool,
}

impl Flow {
    /// A new flow with the given tuples and translation, allowed, at firewall generation 0.
    pub(crate) fn new(orig: FlowKey, reply: FlowKey, xlate: Xlate) -> Self {
        Self {
            keys: [orig, reply],
            xlate,
            lb_target: None,
            ports: [None, None],
            icmp: (0, 0),
            allowed: true,
            fw_gen: 0,
            egress: None,
            last_seen: MonoTime::ZERO,
            replied: false,
            closing: false,
        }
    }
}

/// Flow lifetimes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    /// Idle lifetime of a flow that is not an established TCP connection.
    pub(crate) flow: Duration,
    /// Idle lifetime of a TCP connection that has seen traffic both ways.
    pub(crate) tcp_established: Duration,
    /// Lifetime after a FIN or RST.
    pub(crate) tcp_closing: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            flow: Duration::from_secs(30),
            tcp_established: Duration::from_secs(24 * 3600),
            tcp_closing: Duration::from_secs(10),
        }
    }
}

/// What happened to the table (monotonic counters).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, serde::Deserialize, serde::Serialize)]
pub struct ConntrackStats {
    /// Flows created.
    pub created: u64,
    /// Flows removed because they were idle past their timeout.
    pub expired: u64,
    /// Live flows removed to make room (the table was full).
    pub evicted: u64,
    /// Flows removed because a new flow claimed one of their tuples.
    pub replaced: u64,
    /// Flows removed by a programming change (interface deleted, state reset).
    pub flushed: u64,
    /// Flows now in the table.
    pub active: u64,
    /// The table's capacity.
    pub capacity: u64,
}

/// The flow table.
#[derive(Debug)]
pub(crate) struct Conntrack {
    slots: Vec<Option<Flow>>,
    free: Vec<u32>,
    index: FlowIndex,
    seed: HashSeed,
    capacity: usize,
    hand: usize,
    timeouts: Timeouts,
    stats: ConntrackStats,
}

impl Conntrack {
    /// An empty table holding at most `capacity` flows (at least one, at most 2^30), hashing
    /// with `seed`.
    pub(crate) fn new(capacity: usize, timeouts: Timeouts, seed: HashSeed) -> Self {
        let capacity = capacity.clamp(1, MAX_FLOWS);
        // The slab is reserved whole (address space only; pages come on first use), so it
        // never moves and can ask for huge pages once.
        let slots: Vec<Option<Flow>> = Vec::with_capacity(capacity);
        advise_huge_pages(slots.as_ptr().cast(), capacity * size_of::<Option<Flow>>());
        Self {
            slots,
            free: Vec::new(),
            index: FlowIndex::new(capacity),
            seed,
            capacity,
            hand: 0,
            timeouts,
            stats: ConntrackStats {
                capacity: capacity as u64,
                ..ConntrackStats::default()
            },
        }
    }

    /// The hash of a key in this table (for [`Self::lookup_hashed`] and the prefetches).
    #[inline]
    pub(crate) fn hash(&self, key: &FlowKey) -> u64 {
        key.hash(self.seed)
    }

    /// Hints the CPU to load the index bucket of a key's hash (first step of a burst).
    #[inline]
    pub(crate) fn prefetch_index(&self, hash: u64) {
        self.index.prefetch(hash);
    }

    /// Hints the CPU to load the flow a key belongs to, if any (second step of a burst, once
    /// the index bucket is loaded).
    #[inline]
    pub(crate) fn prefetch_flow(&self, hash: u64) {
        // Only the slot number is needed: the first entry with the right hash bits will do.
        if let Some((idx, _)) = self.index.find(hash, |_, _| true)
            && let Some(f) = self.slots.get(idx as usize)
        {
            prefetch(f);
        }
    }

    fn find(&self, hash: u64, key: &FlowKey) -> Option<(u32, Dir)> {
        let slots = &self.slots;
        self.index.find(hash, |idx, dir| {
            slots
                .get(idx as usize)
                .and_then(Option::as_ref)
                .is_some_and(|f| f.keys[dir as usize] == *key)
        })
    }

    /// The live flow a packet with this tuple belongs to, refreshing its idle timer and TCP
    /// state. Expired flows are removed and reported as absent.
    #[inline]
    pub(crate) fn lookup(
        &mut self,
        now: MonoTime,
        key: &FlowKey,
        tcp_flags: u8,
    ) -> Option<(u32, Dir)> {
        self.lookup_hashed(now, self.hash(key), key, tcp_flags)
    }

    /// [`Self::lookup`] with the key's hash already computed.
    #[inline]
    pub(crate) fn lookup_hashed(
        &mut self,
        now: MonoTime,
        hash: u64,
        key: &FlowKey,
        tcp_flags: u8,
    ) -> Option<(u32, Dir)> {
        let (idx, dir) = self.find(hash, key)?;
        let timeouts = self.timeouts;
        let flow = self.slots[idx as usize].as_mut()?;
        if expired(flow, now, timeouts) {
            self.remove(idx);
            self.stats.expired += 1;
            return None;
        }
        flow.last_seen = now;
        if dir == Dir::Reply {
            flow.replied = true;
        }
        if tcp_flags & 0x05 != 0 {
            flow.closing = true;
        }
        Some((idx, dir))
    }

    /// Whether a tuple is taken by a live flow (NAT port probing).
    pub(crate) fn contains(&self, now: MonoTime, key: &FlowKey) -> bool {
        self.find(self.hash(key), key).is_some_and(|(idx, _)| {
            self.slots[idx as usize]
                .as_ref()
                .is_some_and(|f| !expired(f, now, self.timeouts))
        })
    }

    /// The flow in slot `idx`.
    pub(crate) fn flow(&self, idx: u32) -> Option<&Flow> {
        self.slots.get(idx as usize)?.as_ref()
    }

    /// The flow in slot `idx`, writable.
    pub(crate) fn flow_mut(&mut self, idx: u32) -> Option<&mut Flow> {
        self.slots.get_mut(idx as usize)?.as_mut()
    }

    /// Inserts a flow, evicting to make room if full, and returns its slot.
    pub(crate) fn insert(&mut self, now: MonoTime, mut flow: Flow) -> u32 {
        for key in flow.keys {
            if let Some((old, _)) = self.find(self.hash(&key), &key) {
                self.remove(old);
                self.stats.replaced += 1;
            }
        }
        if self.live() >= self.capacity {
            self.evict_one(now);
        }
        flow.last_seen = now;
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(None);
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.insert(self.hash(&flow.keys[0]), idx, Dir::Orig);
        if flow.keys[1] != flow.keys[0] {
            self.index.insert(self.hash(&flow.keys[1]), idx, Dir::Reply);
        }
        self.slots[idx as usize] = Some(flow);
        self.stats.created += 1;
        idx
    }

    fn live(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    fn evict_one(&mut self, now: MonoTime) {
        let n = self.slots.len();
        let mut victim: Option<(usize, MonoTime, bool)> = None;
        for step in 0..EVICT_SCAN.min(n) {
            let i = (self.hand + step) % n;
            if let Some(f) = &self.slots[i] {
                let exp = expired(f, now, self.timeouts);
                if victim.is_none_or(|(_, seen, vexp)| {
                    (exp && !vexp) || (exp == vexp && f.last_seen < seen)
                }) {
                    victim = Some((i, f.last_seen, exp));
                }
            }
        }
        self.hand = (self.hand + EVICT_SCAN) % n.max(1);
        let (i, exp) = match victim {
            Some((i, _, exp)) => (i, exp),
            // The scanned window was all free slots (cannot happen when full); take any flow.
            None => match self.slots.iter().position(Option::is_some) {
                Some(i) => (i, false),
                None => return,
            },
        };
        self.remove(u32::try_from(i).unwrap_or(u32::MAX));
        if exp {
            self.stats.expired += 1;
        } else {
            self.stats.evicted += 1;
        }
    }

    /// Removes flows that have been idle past their timeout, looking at most at [`AGE_BATCH`]
    /// slots; call it periodically.
    pub(crate) fn age(&mut self, now: MonoTime) {
        let n = self.slots.len();
        for _ in 0..AGE_BATCH.min(n) {
            self.hand = (self.hand + 1) % n;
            let gone = self.slots[self.hand]
                .as_ref()
                .is_some_and(|f| expired(f, now, self.timeouts));
            if gone {
                self.remove(u32::try_from(self.hand).unwrap_or(u32::MAX));
                self.stats.expired += 1;
            }
        }
    }

    /// Removes every flow for which `doomed` is true (programming changes; O(table)).
    pub(crate) fn flush(&mut self, mut doomed: impl FnMut(&Flow) -> bool) {
        for i in 0..self.slots.len() {
            if self.slots[i].as_ref().is_some_and(&mut doomed) {
                self.remove(u32::try_from(i).unwrap_or(u32::MAX));
                self.stats.flushed += 1;
            }
        }
    }

    fn remove(&mut self, idx: u32) {
        if let Some(f) = self.slots.get_mut(idx as usize).and_then(Option::take) {
            let seed = self.seed;
            self.index.remove(f.keys[0].hash(seed), idx, Dir::Orig);
            if f.keys[1] != f.keys[0] {
                self.index.remove(f.keys[1].hash(seed), idx, Dir::Reply);
            }
            self.free.push(idx);
        }
    }

    /// The counters, with `active` filled in.
    pub(crate) fn stats(&self) -> ConntrackStats {
        ConntrackStats {
            active: self.live() as u64,
            ..self.stats
        }
    }

    /// Checks the table's internal consistency (tests and the simulator).
    pub(crate) fn check_invariants(&self) {
        assert!(self.live() <= self.capacity, "conntrack over capacity");
        let mut entries = 0;
        for (h, idx, dir) in self.index.entries() {
            let f = self.slots[idx as usize]
                .as_ref()
                .expect("index points at a free slot");
            let key = f.keys[dir as usize];
            assert_eq!(
                index::hash32(self.hash(&key)),
                h,
                "index entry disagrees with its flow's key"
            );
            entries += 1;
        }
        let want: usize = self
            .slots
            .iter()
            .flatten()
            .map(|f| if f.keys[0] == f.keys[1] { 1 } else { 2 })
            .sum();
        assert_eq!(entries, want, "index entries do not match the flows");
        assert_eq!(entries, self.index.len(), "index length is off");
    }
}

fn expired(f: &Flow, now: MonoTime, t: Timeouts) -> bool {
    let life = if f.closing {
        t.tcp_closing
    } else if f.replied && f.keys[0].proto == crate::packet::parse::proto::TCP {
        t.tcp_established
    } else {
        t.flow
    };
    now.saturating_since(f.last_seen) > life
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u16) -> FlowKey {
        FlowKey::new(
            Vni(1),
            Side::Vm,
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            17,
            n,
            53,
        )
    }

    #[test]
    fn a_flow_spans_few_cache_lines() {
        // Each line is a cache miss per packet with a large table: keep an eye on the size.
        let size = size_of::<Option<Flow>>();
        assert!(size <= 256, "{size}");
    }

    #[test]
    fn both_directions_find_the_flow_and_idle_flows_expire() {
        let mut ct = Conntrack::new(16, Timeouts::default(), HashSeed::new(1));
        let t0 = MonoTime::ZERO;
        let k = key(1);
        let idx = ct.insert(t0, Flow::new(k, k.reversed(Side::Uplink), Xlate::None));
        assert_eq!(ct.lookup(t0, &k, 0), Some((idx, Dir::Orig)));
        assert_eq!(
            ct.lookup(t0, &k.reversed(Side::Uplink), 0),
            Some((idx, Dir::Reply))
        );
        let later = t0 + Duration::from_secs(31);
        assert_eq!(ct.lookup(later, &k, 0), None);
        assert_eq!(ct.stats().expired, 1);
        ct.check_invariants();
    }

    #[test]
    fn a_full_table_evicts_and_counts() {
        let mut ct = Conntrack::new(4, Timeouts::default(), HashSeed::new(1));
        for n in 0..10 {
            let k = key(n);
            ct.insert(
                MonoTime::from_nanos(u64::from(n)),
                Flow::new(k, k.reversed(Side::Uplink), Xlate::None),
            );
            ct.check_invariants();
        }
        let s = ct.stats();
        assert_eq!(s.active, 4);
        assert_eq!(s.evicted, 6);
        assert_eq!(s.created, 10);
    }

    #[test]
    fn aging_removes_expired_flows_in_batches() {
        let mut ct = Conntrack::new(100, Timeouts::default(), HashSeed::new(1));
        for n in 0..50 {
            let k = key(n);
            ct.insert(
                MonoTime::ZERO,
                Flow::new(k, k.reversed(Side::Uplink), Xlate::None),
            );
        }
        ct.age(MonoTime::ZERO + Duration::from_secs(60));
        assert_eq!(ct.stats().active, 0);
        assert_eq!(ct.stats().expired, 50);
    }
}
