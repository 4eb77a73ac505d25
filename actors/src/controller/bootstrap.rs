//! `ferrocore cluster bootstrap`: everything a new cluster needs on disk — the CA, one
//! directory per controller (certificate, config, data directory with the shared
//! secrets-at-rest key), the token file, and the admin's client config (docs/controller.md).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use ferrocore_runtime::{BearerToken, CertRequest, ClusterCa, Identity, WallTime};

use super::config::{AuthFiles, ControllerConfig, RaftTiming, TlsFiles};
use crate::api::{SECRET_KEY_BYTES, SecretCipher};

/// The TLS name in every controller certificate, for clients that may reach any controller.
pub const CLUSTER_SERVER_NAME: &str = "ferrocore";

/// Most controllers one bootstrap writes: Raft clusters are 3 or 5, a few spares to add later.
const CONTROLLERS_MAX: u64 = 15;

/// What to bootstrap.
#[derive(Clone, Debug)]
pub struct BootstrapPlan {
    /// Controllers to write (ids 1..=N).
    pub controllers: u64,
    /// How many of them (ids 1..=K) form the cluster on first start; the rest are spares that
    /// wait to be added with `cluster.add_member`. `None`: all of them.
    pub voters: Option<u64>,
    /// The output directory (must not hold a cluster already).
    pub dir: PathBuf,
    /// Controller `id` listens on UDP `base_port + id - 1`.
    pub base_port: u16,
    /// The host (IP or DNS name) the controllers are reached at.
    pub host: String,
    /// The cluster name (also the admin config's context name).
    pub name: String,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct BootstrapOutput {
    /// Each controller's config file, by id.
    pub controller_configs: Vec<PathBuf>,
    /// The admin client config.
    pub admin_config: PathBuf,
    /// `host:port` of each controller.
    pub servers: Vec<String>,
    /// The CA's fingerprint (`sha256:...`).
    pub ca_fingerprint: String,
    /// A node agent config to copy per node (docs/node-agent.md); it holds the node bootstrap
    /// token.
    pub node_template: PathBuf,
}

/// Why bootstrap refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The directory already holds a cluster (`ca.key` exists): never overwritten.
    #[error("{0} already holds a cluster (ca.key exists); choose an empty directory")]
    Exists(PathBuf),
    /// The request is out of range.
    #[error("{0}")]
    Plan(String),
    /// A file could not be written.
    #[error("Cannot write {path}: {reason}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Certificates or keys could not be made.
    #[error("Cannot make credentials: {0}")]
    Credentials(String),
}

impl BootstrapPlan {
    fn check(&self) -> Result<u64, BootstrapError> {
        let plan = |m: String| Err(BootstrapError::Plan(m));
        if self.controllers == 0 || self.controllers > CONTROLLERS_MAX {
            return plan(format!("--controllers must be 1..={CONTROLLERS_MAX}"));
        }
        let voters = self.voters.unwrap_or(self.controllers);
        if voters == 0 || voters > self.controllers {
            return plan("--voters must be 1..=--controllers".into());
        }
        if u64::from(self.base_port) + self.controllers > 65_536 || self.base_port == 0 {
            return plan("--base-port leaves no room for every controller".into());
        }
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 63
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return plan("--name must be 1-63 of a-z, 0-9 and '-'".into());
        }
        if self.host.is_empty() || self.host.contains(char::is_whitespace) {
            return plan("--host must be an IP address or DNS name".into());
        }
        Ok(voters)
    }

    fn addr(&self, id: u64) -> String {
        let port = u64::from(self.base_port) + id - 1;
        match self.host.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, u16::try_from(port).unwrap_or(u16::MAX)).to_string(),
            Err(_) => format!("{}:{port}", self.host),
        }
    }
}

/// Writes a new cluster's files under `plan.dir` (layout in docs/controller.md).
///
/// # Errors
/// [`BootstrapError`]; a directory that already holds a cluster is refused untouched.
pub fn bootstrap(plan: &BootstrapPlan, now: WallTime) -> Result<BootstrapOutput, BootstrapError> {
    let voters = plan.check()?;
    let dir = &plan.dir;
    make_dir(dir, 0o755)?;
    if dir.join("ca.key").exists() {
        return Err(BootstrapError::Exists(dir.clone()));
    }
    let pki = |e: ferrocore_runtime::PkiError| BootstrapError::Credentials(e.to_string());
    let ca = ClusterCa::generate(&plan.name, now).map_err(pki)?;
    ca.save(dir).map_err(pki)?;
    let token = BearerToken::generate().map_err(|e| BootstrapError::Credentials(e.to_string()))?;
    let node_token =
        BearerToken::generate().map_err(|e| BootstrapError::Credentials(e.to_string()))?;
    let tokens = format!(
        "# <name> <token>: bearer tokens of cluster {}\nadmin {}\n# May only call node.join (a node's first contact; docs/node-agent.md).\n{} {}\n",
        plan.name,
        token.as_str(),
        crate::broker::NODE_TOKEN_PREFIX,
        node_token.as_str()
    );
    write_file(&dir.join("tokens"), tokens.as_bytes(), 0o600)?;
    let key =
        SecretCipher::generate_key().map_err(|e| BootstrapError::Credentials(e.to_string()))?;
    let admin = ca
        .issue(&CertRequest::client(Identity::Admin), now)
        .map_err(pki)?;
    admin.save(dir, "admin").map_err(pki)?;
    let peers: BTreeMap<String, String> = (1..=voters)
        .map(|id| (id.to_string(), plan.addr(id)))
        .collect();
    let mut configs = Vec::new();
    for id in 1..=plan.controllers {
        configs.push(write_controller(
            plan,
            &ca,
            id,
            &peers,
            id <= voters,
            &key,
            &tokens,
            now,
        )?);
    }
    let servers: Vec<String> = (1..=voters).map(|id| plan.addr(id)).collect();
    let node_template = dir.join("node.toml.example");
    write_file(
        &node_template,
        node_toml(&servers, node_token.as_str()).as_bytes(),
        0o600,
    )?;
    let admin_config = dir.join("admin.toml");
    write_file(
        &admin_config,
        admin_toml(&plan.name, &servers, token.as_str()).as_bytes(),
        0o600,
    )?;
    Ok(BootstrapOutput {
        controller_configs: configs,
        admin_config,
        servers,
        ca_fingerprint: ca.fingerprint().map_err(pki)?.to_string(),
        node_template,
    })
}

/// One controller's directory: `controller-<id>/{controller.toml, ca.crt, controller-<id>.crt,
/// controller-<id>.key, tokens, data/secrets.key}`.
#[allow(clippy::too_many_arguments)] // one call site; a struct would only rename the list
fn write_controller(
    plan: &BootstrapPlan,
    ca: &ClusterCa,
    id: u64,
    peers: &BTreeMap<String, String>,
    initial: bool,
    key: &[u8; SECRET_KEY_BYTES],
    tokens: &str,
    now: WallTime,
) -> Result<PathBuf, BootstrapError> {
    let pki = |e: ferrocore_runtime::PkiError| BootstrapError::Credentials(e.to_string());
    let name = format!("controller-{id}");
    let cdir = plan.dir.join(&name);
    make_dir(&cdir, 0o700)?;
    let mut dns = vec![
        CLUSTER_SERVER_NAME.to_owned(),
        name.clone(),
        "localhost".to_owned(),
    ];
    let mut ips = Vec::new();
    match plan.host.parse::<IpAddr>() {
        Ok(ip) => ips.push(ip),
        Err(_) => dns.push(plan.host.clone()),
    }
    let request = CertRequest::server(Identity::Controller(id), dns, ips);
    ca.issue(&request, now)
        .map_err(pki)?
        .save(&cdir, &name)
        .map_err(pki)?;
    write_file(&cdir.join("ca.crt"), ca.cert_pem().as_bytes(), 0o644)?;
    // Controllers sign the certificates of joining nodes ([plane] ca_key).
    let ca_key = std::fs::read(plan.dir.join("ca.key")).map_err(|e| BootstrapError::Write {
        path: plan.dir.join("ca.key"),
        reason: e.to_string(),
    })?;
    write_file(&cdir.join("ca.key"), &ca_key, 0o600)?;
    write_file(&cdir.join("tokens"), tokens.as_bytes(), 0o600)?;
    let data = cdir.join("data");
    make_dir(&data, 0o700)?;
    SecretCipher::save_key(&data.join("secrets.key"), key)
        .map_err(|e| BootstrapError::Credentials(e.to_string()))?;
    let addr = plan.addr(id);
    let (listen, advertise) = match addr.parse::<SocketAddr>() {
        Ok(socket) => (socket, None),
        Err(_) => {
            let port = u16::try_from(u64::from(plan.base_port) + id - 1).unwrap_or(u16::MAX);
            (SocketAddr::from(([0, 0, 0, 0], port)), Some(addr))
        }
    };
    let config = ControllerConfig {
        id,
        cluster: plan.name.clone(),
        listen,
        advertise,
        data_dir: PathBuf::from("data"),
        bootstrap: initial,
        secrets_key: None,
        peers: peers.clone(),
        tls: TlsFiles {
            ca: PathBuf::from("ca.crt"),
            cert: PathBuf::from(format!("{name}.crt")),
            key: PathBuf::from(format!("{name}.key")),
        },
        auth: AuthFiles {
            tokens: Some(PathBuf::from("tokens")),
        },
        raft: RaftTiming::default(),
        transport: ferrocore_runtime::TransportLimits::default(),
        plane: crate::supervisor::PlaneConfig {
            ca_key: Some(PathBuf::from("ca.key")),
            ..crate::supervisor::PlaneConfig::default()
        },
    };
    let body = toml::to_string(&config).map_err(|e| BootstrapError::Credentials(e.to_string()))?;
    let role = if initial {
        "an initial member"
    } else {
        "a spare: add it with `cluster.add_member`"
    };
    let text = format!(
        "# ferrocore controller {id} of cluster {} ({role}).\n# Written by `ferrocore cluster bootstrap`; docs/controller.md explains every field.\n\n{body}",
        plan.name
    );
    let path = cdir.join("controller.toml");
    write_file(&path, text.as_bytes(), 0o600)?;
    Ok(path)
}

/// The node agent config template: the controllers, the CA, the node bootstrap token, and one
/// pool of each kind to edit (docs/node-agent.md explains every field).
fn node_toml(servers: &[String], token: &str) -> String {
    let servers = servers
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"# ferrocore node agent config, written by `ferrocore cluster bootstrap`.
# Copy it per node (it sits next to ca.crt), set `name`, `state_dir` and the pools, then run
#   ferrocore node --config node-1.toml
# The token is used once, to obtain the node's certificate (kept in state_dir).
name = "node-1"
controllers = [{servers}]
server_name = "{CLUSTER_SERVER_NAME}"
ca = "ca.crt"
token = "{token}"
state_dir = "node-1"
backend = "sim"
heartbeat_interval_ms = 10000

[[machine_pools]]
name = "hv-1"
labels = {{ "topology.ironcore.dev/zone" = "zone-a" }}
cpus = 16
memory_mib = 65536
images = []
classes = [{{ name = "small", cpu = 1, memory_mib = 1024 }}]

[[volume_pools]]
name = "storage-1"
labels = {{ "topology.ironcore.dev/zone" = "zone-a" }}
capacity_gib = 1024
images = []
classes = [{{ name = "standard", capabilities = {{ tps = 104857600, iops = 1000 }} }}]

[[bucket_pools]]
name = "objects-1"
classes = [{{ name = "standard", capabilities = {{ tps = 104857600, iops = 500 }} }}]
"#
    )
}

/// The admin client config (the format the CLI reads).
fn admin_toml(name: &str, servers: &[String], token: &str) -> String {
    let servers = servers
        .iter()
        .map(|s| format!("{s:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "current_context = \"{name}\"\n\n[contexts.{name}]\nservers = [{servers}]\nserver_name = \"{CLUSTER_SERVER_NAME}\"\nca = \"ca.crt\"\ncert = \"admin.crt\"\nkey = \"admin.key\"\ntoken = \"{token}\"\nnamespace = \"default\"\n"
    )
}

fn make_dir(path: &Path, mode: u32) -> Result<(), BootstrapError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| BootstrapError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

fn write_file(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BootstrapError> {
    let fail = |e: std::io::Error| BootstrapError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn bootstrap_writes_a_complete_cluster_and_refuses_to_overwrite_it() {
        let dir = std::env::temp_dir().join(format!("ferrocore-boot-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let plan = BootstrapPlan {
            controllers: 3,
            voters: Some(2),
            dir: dir.clone(),
            base_port: 7700,
            host: "127.0.0.1".into(),
            name: "lab".into(),
        };
        let out = bootstrap(&plan, WallTime::from_unix_nanos(1_700_000_000_000_000_000)).unwrap();
        assert_eq!(out.controller_configs.len(), 3);
        assert_eq!(out.servers, vec!["127.0.0.1:7700", "127.0.0.1:7701"]);
        let c3 = ControllerConfig::load(&out.controller_configs[2]).unwrap();
        assert_eq!(c3.id, 3);
        assert!(!c3.bootstrap, "a spare does not form the cluster");
        assert_eq!(c3.members().unwrap().len(), 2);
        let c1 = ControllerConfig::load(&out.controller_configs[0]).unwrap();
        assert!(c1.bootstrap);
        SecretCipher::load(&c1.secrets_key_path()).unwrap();
        let key1 = std::fs::read(c1.secrets_key_path()).unwrap();
        assert_eq!(
            key1,
            std::fs::read(c3.secrets_key_path()).unwrap(),
            "one key"
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&c1.secrets_key_path()), 0o600);
        assert_eq!(mode(&dir.join("tokens")), 0o600);
        let admin: toml::Table =
            toml::from_str(&std::fs::read_to_string(&out.admin_config).unwrap()).unwrap();
        assert_eq!(admin["current_context"].as_str(), Some("lab"));
        let ctx = &admin["contexts"]["lab"];
        assert_eq!(ctx["server_name"].as_str(), Some(CLUSTER_SERVER_NAME));
        assert_eq!(ctx["servers"].as_array().unwrap().len(), 2);
        assert_eq!(c1.plane.ca_key, Some(c1.tls.ca.with_file_name("ca.key")));
        assert_eq!(mode(c1.plane.ca_key.as_ref().unwrap()), 0o600);
        let tokens = std::fs::read_to_string(dir.join("tokens")).unwrap();
        let node_token = tokens
            .lines()
            .find_map(|l| l.strip_prefix("node-bootstrap "))
            .unwrap();
        let node: toml::Table =
            toml::from_str(&std::fs::read_to_string(&out.node_template).unwrap()).unwrap();
        assert_eq!(node["token"].as_str(), Some(node_token));
        assert_eq!(node["controllers"].as_array().unwrap().len(), 2);
        assert!(matches!(
            bootstrap(&plan, WallTime::UNIX_EPOCH),
            Err(BootstrapError::Exists(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn plans_out_of_range_are_refused() {
        let plan = BootstrapPlan {
            controllers: 3,
            voters: None,
            dir: PathBuf::from("/nonexistent"),
            base_port: 65_535,
            host: "127.0.0.1".into(),
            name: "Lab!".into(),
        };
        assert!(plan.check().is_err());
        let ok = BootstrapPlan {
            base_port: 7700,
            name: "lab".into(),
            ..plan
        };
        assert_eq!(ok.check().unwrap(), 3);
    }
}
