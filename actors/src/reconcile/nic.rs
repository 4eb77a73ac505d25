//! NetworkInterface status until the networking part lands: the IPs are the literal `value`s
//! and the addresses of the NIC's ephemeral IP Prefixes (`<nic>-<i>`) once IPAM allocated them;
//! the prefixes likewise (`<nic>-pf-<i>`); the virtual IP is the claimed VirtualIP's address
//! when one is set (public IPs stay unset until the networking part allocates them). A NIC is
//! `Available` once its network exists and every IP is known, else `Pending`.

use ferrocore_api::IpAddress;
use ferrocore_api::ipam::{Prefix, PrefixPhase};
use ferrocore_api::networking::{
    Network, NetworkInterface, NetworkInterfaceState, NetworkInterfaceStatus, VirtualIP,
    nic_ip_prefix_name, nic_prefix_prefix_name,
};

use super::claim::nic_virtual_ip;
use super::util::{api_time, status_update};
use super::{Command, Ctx, ViewExt};

fn allocated<'a>(ctx: &'a Ctx<'_>, namespace: &str, name: &str) -> Option<&'a Prefix> {
    ctx.view
        .typed::<Prefix>(namespace, name)
        .filter(|p| p.status.phase == Some(PrefixPhase::Allocated) && p.spec.prefix.is_some())
}

/// The status the NIC should have.
pub fn desired_status(ctx: &Ctx<'_>, nic: &NetworkInterface) -> NetworkInterfaceStatus {
    let (ns, name) = (nic.metadata.namespace.as_str(), nic.metadata.name.as_str());
    let ips: Vec<Option<IpAddress>> = nic
        .spec
        .ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            ip.value.or_else(|| {
                let p = allocated(ctx, ns, &nic_ip_prefix_name(name, i))?;
                p.spec.prefix.map(|p| IpAddress(p.addr()))
            })
        })
        .collect();
    let prefixes = nic
        .spec
        .prefixes
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            p.value.or_else(|| {
                allocated(ctx, ns, &nic_prefix_prefix_name(name, i))?
                    .spec
                    .prefix
            })
        })
        .collect();
    let virtual_ip = nic_virtual_ip(nic)
        .and_then(|v| ctx.view.typed::<VirtualIP>(ns, &v))
        .filter(|v| {
            v.spec
                .target_ref
                .as_ref()
                .is_some_and(|t| t.uid == nic.metadata.uid)
        })
        .and_then(|v| v.status.ip);
    let network = ctx.view.typed::<Network>(ns, &nic.spec.network_ref.name);
    let complete = !ips.is_empty() && ips.iter().all(Option::is_some);
    let state = if complete && network.is_some() {
        NetworkInterfaceState::Available
    } else {
        NetworkInterfaceState::Pending
    };
    let since = if nic.status.state.as_ref() == Some(&state) {
        nic.status.last_state_transition_time
    } else {
        Some(api_time(ctx.wall))
    };
    NetworkInterfaceStatus {
        state: Some(state),
        last_state_transition_time: since,
        ips: ips.into_iter().flatten().collect(),
        prefixes,
        virtual_ip,
    }
}

/// Reconciles a NetworkInterface's status.
pub fn reconcile_status(ctx: &Ctx<'_>, nic: &NetworkInterface) -> Vec<Command> {
    if nic.metadata.is_deleting() {
        return Vec::new();
    }
    let status = desired_status(ctx, nic);
    status_update(nic, &nic.status, &status)
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::Reports;
    use crate::reconcile::testkit::{ctx, get, snapshot};

    const NET: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: Network
metadata: {name: net, namespace: shop}";
    const NIC: &str = "apiVersion: networking.ironcore.dev/v1alpha1\nkind: NetworkInterface
metadata: {name: nic, namespace: shop}
spec: {networkRef: {name: net}, ipFamilies: [IPv4, IPv4],
  ips: [{value: 10.0.0.9}, {ephemeral: {prefixTemplate: {spec: {parentRef: {name: sub}}}}}]}";
    const PREFIX: &str = "apiVersion: ipam.ironcore.dev/v1alpha1\nkind: Prefix
metadata: {name: nic-1, namespace: shop}
spec: {ipFamily: IPv4, prefix: 10.0.1.7/32, parentRef: {name: sub}}
status: {phase: Allocated}";

    #[test]
    fn available_once_every_ip_is_known() {
        let r = Reports::new();
        let s = snapshot(&[NET, NIC]);
        let st = desired_status(&ctx(&s, &r), get(&s, "nic"));
        assert_eq!(st.state, Some(NetworkInterfaceState::Pending));
        assert_eq!(st.ips.len(), 1);
        let s = snapshot(&[NET, NIC, PREFIX]);
        let st = desired_status(&ctx(&s, &r), get(&s, "nic"));
        assert_eq!(st.state, Some(NetworkInterfaceState::Available));
        let shown: Vec<String> = st.ips.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.9", "10.0.1.7"]);
    }

    #[test]
    fn status_is_stable_once_written() {
        let r = Reports::new();
        let mut s = snapshot(&[NET, NIC, PREFIX]);
        let mut nic: NetworkInterface = get::<NetworkInterface>(&s, "nic").clone();
        nic.status = desired_status(&ctx(&s, &r), &nic);
        s.put(nic.clone().into());
        assert!(reconcile_status(&ctx(&s, &r), &nic).is_empty());
    }
}
