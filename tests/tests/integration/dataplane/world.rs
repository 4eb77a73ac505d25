//! The scenario topology: two "hypervisors" joined by a veth pair (the underlay), each running
//! `ferrocore dataplane`; VMs are namespaces holding the data plane's TAP devices.
//!
//! ```text
//!   vmA vmB                       vmC vmD inet
//!    │   │ (TAP)                   │   │   │
//!   [ hv1 dataplane ]──ul1═══ul2──[ hv2 dataplane ]
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use ferrocore_node_dataplane::api::client::DataplaneClient;
use ferrocore_node_dataplane::api::proto::Request;
use ferrocore_node_dataplane::*;
use ferrocore_runtime::{Clock, SystemClock};

use super::netns::Namespaces;

/// Which backend the hypervisors run.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Backend {
    /// TAP + AF_PACKET.
    Kernel,
    /// DPDK with net_tap and net_af_packet vdevs.
    Dpdk,
}

/// A VM: namespace, port name, VNI, address.
#[derive(Clone, Debug)]
pub(crate) struct Vm {
    pub(crate) ns: String,
    pub(crate) port: &'static str,
    pub(crate) vni: u32,
    pub(crate) ip: Ipv4Addr,
}

/// The running topology.
pub(crate) struct World {
    pub(crate) ns: Namespaces,
    pub(crate) dir: PathBuf,
    pub(crate) hv: [String; 2],
    pub(crate) clients: [DataplaneClient; 2],
    pub(crate) vms: Vec<(usize, Vm)>,
}

pub(crate) const VIP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 5);
pub(crate) const NAT_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 7);
pub(crate) const LB_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 20);
pub(crate) const INET: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);

fn config(backend: Backend, hv: usize, ports: &[&str], dir: &Path) -> String {
    let mut c = format!(
        "socket = \"{}\"\nbackend = \"{}\"\n[pipeline]\nunderlay_prefix = \"fd00:0:0:{}::\"\nunderlay_mtu = 1600\n",
        dir.join(format!("hv{hv}.sock")).display(),
        if backend == Backend::Dpdk {
            "dpdk"
        } else {
            "kernel"
        },
        hv + 1
    );
    c += "[uplink]\ndevice = \"ul\"\n";
    if backend == Backend::Dpdk {
        c += &format!(
            "[dpdk]\neal_args = [\"--no-huge\", \"-m\", \"256\", \"--no-pci\", \"--file-prefix\", \"fcdp{}hv{hv}\", \"-l\", \"{}\", \"--log-level\", \"lib.eal:error\"]\nidle_sleep_us = 200\n",
            std::process::id(),
            hv % 2
        );
    }
    for p in ports {
        c += &format!("[[port]]\nname = \"{p}\"\n");
    }
    c
}

impl World {
    /// Brings up namespaces, data planes and VMs, and programs the objects of every scenario.
    pub(crate) fn start(backend: Backend, tag: &str) -> anyhow::Result<Self> {
        let mut ns = Namespaces::new(tag);
        let dir = std::env::temp_dir().join(format!("fcdp-{}-{tag}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let hv = [ns.add("h1")?, ns.add("h2")?];
        ns.ip(
            &hv[0],
            &[
                "link", "add", "ul", "mtu", "1600", "type", "veth", "peer", "name", "ul", "mtu",
                "1600", "netns", &hv[1],
            ],
        )?;
        for h in &hv {
            ns.ip(h, &["link", "set", "ul", "up"])?;
        }
        let ports: [&[&str]; 2] = [&["tap-a", "tap-b"], &["tap-c", "tap-d", "tap-inet"]];
        let bin = ferrocore_tests::ferrocore_bin();
        let bin = bin.to_str().context("binary path")?;
        for i in 0..2 {
            let cfg = dir.join(format!("hv{i}.toml"));
            std::fs::write(&cfg, config(backend, i, ports[i], &dir))?;
            let log = dir.join(format!("hv{i}.log"));
            ns.spawn(
                &hv[i],
                bin,
                &["dataplane", "--config", cfg.to_str().context("path")?],
                &log,
            )?;
        }
        let clients = [
            connect(&dir.join("hv0.sock"), &mut ns, &dir)?,
            connect(&dir.join("hv1.sock"), &mut ns, &dir)?,
        ];
        let mut w = Self {
            ns,
            dir,
            hv,
            clients,
            vms: Vec::new(),
        };
        for (h, short, port, vni, ip) in [
            (0, "va", "tap-a", 100, [10, 100, 0, 1]),
            (0, "vb", "tap-b", 100, [10, 100, 0, 2]),
            (1, "vc", "tap-c", 100, [10, 100, 0, 3]),
            (1, "vd", "tap-d", 200, [10, 200, 0, 4]),
            (1, "in", "tap-inet", 1, INET.octets()),
        ] {
            let vm_ns = w.ns.add(short)?;
            w.attach(h, &vm_ns, port, ip.into())?;
            w.vms.push((
                h,
                Vm {
                    ns: vm_ns,
                    port,
                    vni,
                    ip: ip.into(),
                },
            ));
        }
        w.program().context("programming the data planes")?;
        Ok(w)
    }

    /// Moves a data plane's TAP into the VM's namespace and configures it as a VM would after
    /// DHCP: a /32 and routes through the gateway.
    fn attach(&mut self, hv: usize, vm: &str, port: &str, ip: Ipv4Addr) -> anyhow::Result<()> {
        self.ns
            .ip(&self.hv[hv], &["link", "set", port, "netns", vm])?;
        let ipa = format!("{ip}/32");
        self.ns.ip(vm, &["link", "set", port, "up"])?;
        self.ns.ip(vm, &["addr", "add", &ipa, "dev", port])?;
        self.ns
            .ip(vm, &["route", "add", "169.254.0.1", "dev", port])?;
        self.ns.ip(
            vm,
            &["route", "add", "default", "via", "169.254.0.1", "dev", port],
        )?;
        Ok(())
    }

    /// The VM named by its port.
    pub(crate) fn vm(&self, port: &str) -> &Vm {
        &self
            .vms
            .iter()
            .find(|(_, v)| v.port == port)
            .expect("known VM")
            .1
    }

    fn program(&mut self) -> anyhow::Result<()> {
        let mut ul = std::collections::BTreeMap::new();
        for (h, vm) in self.vms.clone() {
            let id = vm.port.trim_start_matches("tap-").to_owned();
            let spec = InterfaceSpec {
                id: InterfaceId::new(&id)?,
                vni: Vni(vm.vni),
                ipv4: Some(vm.ip),
                ipv6: None,
                device: vm.port.into(),
                preferred_underlay: None,
                hostname: Some(id.clone()),
            };
            ul.insert(id, self.clients[h].create(&Request::CreateInterface(spec))?);
        }
        let route = |vni, p: &str, nh_vni, nh: Ipv6Addr| -> anyhow::Result<Request> {
            Ok(Request::CreateRoute(RouteSpec {
                vni: Vni(vni),
                prefix: p.parse()?,
                nexthop_vni: Vni(nh_vni),
                nexthop_underlay: nh,
            }))
        };
        for h in 0..2 {
            self.clients[h].apply(&route(100, "0.0.0.0/0", 1, ul["inet"])?)?;
        }
        self.clients[0].apply(&route(100, "10.100.0.3/32", 100, ul["c"])?)?;
        self.clients[1].apply(&route(100, "10.100.0.1/32", 100, ul["a"])?)?;
        self.clients[1].apply(&route(100, "10.100.0.2/32", 100, ul["b"])?)?;
        let vip = self.clients[0].create(&Request::CreateVip(VipSpec {
            interface: InterfaceId::new("a")?,
            ip: VIP,
            preferred_underlay: None,
        }))?;
        self.clients[1].apply(&route(1, "203.0.113.5/32", 100, vip)?)?;
        self.program_nat()?;
        self.program_lb()
    }

    fn program_nat(&mut self) -> anyhow::Result<()> {
        let mut nat_ul = Vec::new();
        for (h, id, from, to) in [(0, "b", 1024, 1088), (1, "c", 1088, 1152)] {
            let spec = NatSpec {
                interface: InterfaceId::new(id)?,
                ip: NAT_IP,
                ports: PortRange::new(from, to)?,
                preferred_underlay: None,
            };
            nat_ul.push(self.clients[h].create(&Request::CreateNat(spec))?);
        }
        for (h, other, from, to) in [(0, 1, 1088, 1152), (1, 0, 1024, 1088)] {
            let n = NeighborNatSpec {
                ip: NAT_IP,
                vni: Vni(100),
                ports: PortRange::new(from, to)?,
                underlay: nat_ul[other],
            };
            self.clients[h].apply(&Request::CreateNeighborNat(n))?;
        }
        // The internet's side sends every NAT IP packet to hv1; hv1 relays hv2's ports.
        let r = RouteSpec {
            vni: Vni(1),
            prefix: "203.0.113.7/32".parse()?,
            nexthop_vni: Vni(100),
            nexthop_underlay: nat_ul[0],
        };
        self.clients[1].apply(&Request::CreateRoute(r))?;
        Ok(())
    }

    fn program_lb(&mut self) -> anyhow::Result<()> {
        let lb = LoadBalancerSpec {
            id: LbId::new("web")?,
            vni: Vni(100),
            ip: IpAddr::V4(LB_IP),
            ports: vec![LbPort {
                proto: L4Proto::Tcp,
                port: 9000,
            }],
            preferred_underlay: None,
        };
        let lb_ul = self.clients[0].create(&Request::CreateLoadBalancer(lb))?;
        for (h, id) in [(0, "a"), (0, "b"), (1, "c")] {
            let p = PrefixSpec {
                interface: InterfaceId::new(id)?,
                prefix: "203.0.113.20/32".parse()?,
                kind: PrefixKind::LoadBalancer,
                preferred_underlay: None,
            };
            let target = self.clients[h].create(&Request::CreatePrefix(p))?;
            self.clients[0].apply(&Request::CreateLbTarget {
                lb: LbId::new("web")?,
                target,
            })?;
            let vm = self.vm(&format!("tap-{id}")).ns.clone();
            self.ns
                .ip(&vm, &["addr", "add", "203.0.113.20/32", "dev", "lo"])?;
        }
        let r = RouteSpec {
            vni: Vni(1),
            prefix: "203.0.113.20/32".parse()?,
            nexthop_vni: Vni(100),
            nexthop_underlay: lb_ul,
        };
        self.clients[1].apply(&Request::CreateRoute(r))?;
        Ok(())
    }

    /// The data planes' logs (for failure messages).
    pub(crate) fn logs(&self) -> String {
        (0..2)
            .map(|i| {
                std::fs::read_to_string(self.dir.join(format!("hv{i}.log"))).unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // Stop the data planes and delete the namespaces first, then EAL's runtime files.
        drop(std::mem::replace(&mut self.ns, Namespaces::new("gone")));
        let _ = std::fs::remove_dir_all(&self.dir);
        for i in 0..2 {
            let _ =
                std::fs::remove_dir_all(format!("/var/run/dpdk/fcdp{}hv{i}", std::process::id()));
        }
    }
}

/// Waits for a data plane's socket to answer (it starts in well under a second; DPDK's EAL
/// takes a few).
fn connect(sock: &Path, ns: &mut Namespaces, dir: &Path) -> anyhow::Result<DataplaneClient> {
    let clock = SystemClock::new();
    let deadline = clock.now() + Duration::from_secs(30);
    loop {
        if let Ok(c) = DataplaneClient::connect(sock) {
            return Ok(c);
        }
        if !ns.all_running() || clock.now() > deadline {
            let logs: Vec<String> = (0..2)
                .map(|i| {
                    std::fs::read_to_string(dir.join(format!("hv{i}.log"))).unwrap_or_default()
                })
                .collect();
            bail!(
                "data plane did not come up on {}:\n{}",
                sock.display(),
                logs.join("\n---\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
