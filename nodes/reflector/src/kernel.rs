//! Optional installation of received routes into the kernel: one routing table per VNI, each
//! destination one route whose next hops are IP-in-IPv6 encapsulations on an `ip6tnl`
//! device in `external` mode (what metalbond's `--install-routes VNI#TABLE` does).
//!
//! The decision part ([`KernelPlan`]) is sans-IO: it folds merged-table changes into
//! "replace this destination's next-hop set" or "delete this destination". The adapter
//! ([`KernelInstaller`]) sends those over rtnetlink. A kernel without `ip6tnl` (as on this
//! project's CI machines) makes [`KernelInstaller::open`] fail with
//! [`KernelError::Unsupported`], and the caller goes on without installing, with a message.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::client_core::RouteChange;
use crate::message::Action;
use crate::netlink::{self, Netlink};
use crate::route::{Destination, Vni};

/// Which kernel routing table each VNI's routes go to.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct TableMap(pub BTreeMap<Vni, u32>);

impl FromStr for TableMap {
    type Err = KernelError;

    /// `VNI#TABLE[,VNI#TABLE...]`.
    fn from_str(s: &str) -> Result<Self, KernelError> {
        let mut map = BTreeMap::new();
        for item in s.split(',').filter(|x| !x.is_empty()) {
            let bad = || KernelError::Syntax(item.to_owned());
            let (vni, table) = item.split_once('#').ok_or_else(bad)?;
            map.insert(
                Vni(vni.parse().map_err(|_| bad())?),
                table.parse().map_err(|_| bad())?,
            );
        }
        Ok(Self(map))
    }
}

/// One kernel change.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) enum KernelOp {
    /// Replace the route to `destination` in `table` with these next hops (sorted).
    Replace {
        table: u32,
        destination: Destination,
        hops: Vec<Ipv6Addr>,
    },
    /// Delete the route to `destination` in `table`.
    Delete {
        table: u32,
        destination: Destination,
    },
}

/// The sans-IO planner: the next-hop set of every installed destination.
#[derive(Debug, Default)]
pub(crate) struct KernelPlan {
    tables: TableMap,
    ipv4_only: bool,
    hops: BTreeMap<(Vni, Destination), BTreeSet<Ipv6Addr>>,
}

impl KernelPlan {
    pub(crate) fn new(tables: TableMap, ipv4_only: bool) -> Self {
        Self {
            tables,
            ipv4_only,
            hops: BTreeMap::new(),
        }
    }

    /// The kernel change for one merged-table change, if any.
    pub(crate) fn apply(&mut self, change: &RouteChange) -> Option<KernelOp> {
        let r = &change.route;
        let table = *self.tables.0.get(&r.vni)?;
        if self.ipv4_only && !r.destination.addr().is_ipv4() {
            return None;
        }
        // The tunnel encapsulates in IPv6 only: an IPv4 underlay next hop cannot be installed.
        let IpAddr::V6(hop) = r.next_hop.target else {
            return None;
        };
        let key = (r.vni, r.destination);
        let set = self.hops.entry(key).or_default();
        let changed = match change.action {
            Action::Add => set.insert(hop),
            Action::Remove => set.remove(&hop),
        };
        if !changed {
            return None;
        }
        if set.is_empty() {
            self.hops.remove(&key);
            return Some(KernelOp::Delete {
                table,
                destination: r.destination,
            });
        }
        Some(KernelOp::Replace {
            table,
            destination: r.destination,
            hops: set.iter().copied().collect(),
        })
    }

    /// The tables in use (for clearing stale routes at startup).
    pub(crate) fn tables(&self) -> impl Iterator<Item = u32> + '_ {
        self.tables.0.values().copied()
    }
}

/// Installs merged-table changes into the kernel over rtnetlink.
#[derive(Debug)]
pub struct KernelInstaller {
    plan: KernelPlan,
    nl: Netlink,
    tunnel: u32,
}

impl KernelInstaller {
    /// Creates (or reuses) the `ip6tnl` device `tunnel` in external mode, brings it up and
    /// removes stale routes of ours (protocol 254) from the mapped tables.
    ///
    /// # Errors
    /// [`KernelError::Unsupported`] if the kernel has no `ip6tnl`; [`KernelError::Netlink`] on
    /// other failures (e.g. missing CAP_NET_ADMIN).
    pub fn open(tunnel: &str, tables: TableMap, ipv4_only: bool) -> Result<Self, KernelError> {
        let mut nl = Netlink::open().map_err(KernelError::Netlink)?;
        let index = nl.ensure_ip6tnl(tunnel).map_err(|e| {
            if netlink::is_unsupported(&e) {
                KernelError::Unsupported(tunnel.to_owned())
            } else {
                KernelError::Netlink(e)
            }
        })?;
        let plan = KernelPlan::new(tables, ipv4_only);
        for table in plan.tables().collect::<Vec<_>>() {
            nl.flush_protocol(table).map_err(KernelError::Netlink)?;
        }
        Ok(Self {
            plan,
            nl,
            tunnel: index,
        })
    }

    /// Applies one merged-table change.
    ///
    /// # Errors
    /// If the kernel refuses the route.
    pub fn apply(&mut self, change: &RouteChange) -> Result<(), KernelError> {
        match self.plan.apply(change) {
            None => Ok(()),
            Some(KernelOp::Replace {
                table,
                destination,
                hops,
            }) => self
                .nl
                .replace_route(table, destination, self.tunnel, &hops)
                .map_err(KernelError::Netlink),
            Some(KernelOp::Delete { table, destination }) => self
                .nl
                .delete_route(table, destination)
                .map_err(KernelError::Netlink),
        }
    }
}

/// Why kernel installation failed.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// The kernel cannot create `ip6tnl` devices.
    #[error("Kernel has no ip6tnl support (device {0}): route installation skipped")]
    Unsupported(String),
    /// A netlink request failed.
    #[error("Netlink request failed")]
    Netlink(#[source] std::io::Error),
    /// A table map item is not `VNI#TABLE`.
    #[error("Not VNI#TABLE: {0}")]
    Syntax(String),
}

impl fmt::Display for TableMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let items: Vec<String> = self.0.iter().map(|(v, t)| format!("{v}#{t}")).collect();
        f.write_str(&items.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::route::Route;

    fn change(action: Action, s: &str) -> RouteChange {
        RouteChange {
            action,
            route: s.parse::<Route>().unwrap(),
        }
    }

    #[test]
    fn next_hops_of_a_destination_are_one_multipath_route() {
        let mut plan = KernelPlan::new("23#100".parse().unwrap(), false);
        let a = change(Action::Add, "23#10.0.0.0/24#2001:db8::2");
        let b = change(Action::Add, "23#10.0.0.0/24#2001:db8::1");
        let dest: Destination = "10.0.0.0/24".parse().unwrap();
        let hop = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert!(matches!(
            plan.apply(&a),
            Some(KernelOp::Replace { table: 100, .. })
        ));
        assert_eq!(
            plan.apply(&b),
            Some(KernelOp::Replace {
                table: 100,
                destination: dest,
                hops: vec![hop("2001:db8::1"), hop("2001:db8::2")]
            })
        );
        assert_eq!(plan.apply(&b), None);
        let gone_b = change(Action::Remove, "23#10.0.0.0/24#2001:db8::1");
        assert_eq!(
            plan.apply(&gone_b),
            Some(KernelOp::Replace {
                table: 100,
                destination: dest,
                hops: vec![hop("2001:db8::2")]
            })
        );
        let gone_a = change(Action::Remove, "23#10.0.0.0/24#2001:db8::2");
        assert_eq!(
            plan.apply(&gone_a),
            Some(KernelOp::Delete {
                table: 100,
                destination: dest
            })
        );
    }

    #[test]
    fn unmapped_vnis_v6_in_v4_only_and_v4_underlay_are_skipped() {
        let mut plan = KernelPlan::new("23#100".parse().unwrap(), true);
        assert_eq!(
            plan.apply(&change(Action::Add, "24#10.0.0.0/24#2001:db8::1")),
            None
        );
        assert_eq!(
            plan.apply(&change(Action::Add, "23#2001:db8:5::/64#2001:db8::1")),
            None
        );
        assert_eq!(
            plan.apply(&change(Action::Add, "23#10.0.0.0/24#192.0.2.1")),
            None
        );
    }

    #[test]
    fn table_map_parses() {
        let m: TableMap = "23#100,24#101".parse().unwrap();
        assert_eq!(m.0.len(), 2);
        assert_eq!(m.to_string(), "23#100,24#101");
        assert!("23".parse::<TableMap>().is_err());
    }

    /// Against the running kernel (needs CAP_NET_ADMIN): either the device is created and
    /// routes install, or the kernel says it has no ip6tnl. Any other answer means our
    /// netlink messages are wrong.
    #[test]
    fn kernel_accepts_our_messages_or_lacks_ip6tnl() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        let tables: TableMap = "23#4711".parse().unwrap();
        match KernelInstaller::open("fctest-tun0", tables, false) {
            Err(KernelError::Unsupported(_)) => eprintln!("kernel has no ip6tnl: skipped"),
            Err(e) => panic!("unexpected netlink failure: {e:?}"),
            Ok(mut k) => {
                k.apply(&change(Action::Add, "23#10.0.0.0/24#2001:db8::1"))
                    .unwrap();
                k.apply(&change(Action::Add, "23#10.0.0.0/24#2001:db8::2"))
                    .unwrap();
                k.apply(&change(Action::Remove, "23#10.0.0.0/24#2001:db8::1"))
                    .unwrap();
                k.apply(&change(Action::Remove, "23#10.0.0.0/24#2001:db8::2"))
                    .unwrap();
                let _ = std::process::Command::new("ip")
                    .args(["link", "del", "fctest-tun0"])
                    .status();
            }
        }
    }
}
