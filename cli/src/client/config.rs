//! The client config file: contexts like a kubeconfig, each naming a cluster's controllers,
//! its CA and the caller's credentials (docs/cli.md).
//!
//! Which file: `--config`, else `$FERROCORE_CONFIG`, else `~/.config/ferrocore/config.toml`.
//! Which context: `--context`, else the file's `current_context`.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Environment variable naming the client config file.
pub(crate) const CONFIG_ENV: &str = "FERROCORE_CONFIG";
/// The config file below `$HOME` when neither `--config` nor `$FERROCORE_CONFIG` is set.
pub(crate) const DEFAULT_RELATIVE: &str = ".config/ferrocore/config.toml";
/// Largest config file read: a config is a few hundred bytes; this stops a wrong path (a disk
/// image, a log) from being read whole.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// Why no usable context could be loaded. Each message says what to do next.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// No file at the path.
    #[error(
        "no client config at {path} ({origin}).\n\
         hint: create a cluster with `ferrocore cluster bootstrap --controllers 3 --dir DIR` and \
         point at its admin config with `export {CONFIG_ENV}=DIR/admin.toml` (or pass --config FILE)"
    )]
    Missing {
        /// The path tried.
        path: PathBuf,
        /// Where the path came from.
        origin: &'static str,
    },
    /// The file could not be read.
    #[error("cannot read client config {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is too large to be a config.
    #[error("{path} is {bytes} bytes: too large for a client config (is it the right file?)")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The TOML does not parse or has unknown or mistyped fields.
    #[error("client config {path} is malformed: {message}")]
    Malformed {
        /// The path.
        path: PathBuf,
        /// The parser's message, with the position.
        message: String,
    },
    /// No context was named and the file has no `current_context`.
    #[error(
        "client config {path} sets no current_context.\n\
         hint: add `current_context = \"NAME\"` or pass --context NAME (contexts: {known})"
    )]
    NoCurrentContext {
        /// The path.
        path: PathBuf,
        /// The contexts the file has.
        known: String,
    },
    /// The named context is not in the file.
    #[error("client config {path} has no context {name:?} (contexts: {known})")]
    UnknownContext {
        /// The path.
        path: PathBuf,
        /// The name asked for.
        name: String,
        /// The contexts the file has.
        known: String,
    },
    /// A context field is unusable.
    #[error("context {context:?} in {path}: {message}")]
    Invalid {
        /// The path.
        path: PathBuf,
        /// The context.
        context: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// The file as written (by `ferrocore cluster bootstrap` or by hand).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: BTreeMap<String, FileContext>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileContext {
    servers: Vec<String>,
    server_name: String,
    ca: PathBuf,
    #[serde(default)]
    cert: Option<PathBuf>,
    #[serde(default)]
    key: Option<PathBuf>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// How the context authenticates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AuthSource {
    /// A client certificate and its key (absolute paths).
    Certificate {
        /// The certificate PEM file.
        cert: PathBuf,
        /// The private key PEM file.
        key: PathBuf,
    },
    /// A bearer token.
    Token(String),
}

/// One resolved context: every path absolute, every server address parsed.
#[derive(Clone, Debug)]
pub(crate) struct Context {
    /// The context's name.
    pub(crate) name: String,
    /// The file it came from.
    pub(crate) file: PathBuf,
    /// Controllers, tried in order.
    pub(crate) servers: Vec<SocketAddr>,
    /// The name every controller certificate carries.
    pub(crate) server_name: String,
    /// The cluster CA certificate.
    pub(crate) ca: PathBuf,
    /// How to authenticate.
    pub(crate) auth: AuthSource,
    /// The default namespace for namespaced kinds.
    pub(crate) namespace: String,
}

/// Where to find the config: the flag, else the environment, else the home directory.
pub(crate) fn resolve_path(
    flag: Option<&Path>,
    env: Option<&str>,
    home: Option<&Path>,
) -> (PathBuf, &'static str) {
    if let Some(p) = flag {
        return (p.to_path_buf(), "from --config");
    }
    if let Some(p) = env.filter(|p| !p.is_empty()) {
        return (PathBuf::from(p), "from $FERROCORE_CONFIG");
    }
    let home = home.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    (home.join(DEFAULT_RELATIVE), "the default location")
}

/// Loads `context` (or the current one) from the config file found as [`resolve_path`] says.
pub(crate) fn load(flag: Option<&Path>, context: Option<&str>) -> Result<Context, ConfigError> {
    let env = std::env::var(CONFIG_ENV).ok();
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let (path, origin) = resolve_path(flag, env.as_deref(), home.as_deref());
    let text = read(&path, origin)?;
    parse(&text, &path, context)
}

fn read(path: &Path, origin: &'static str) -> Result<String, ConfigError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ConfigError::Missing {
                path: path.to_path_buf(),
                origin,
            });
        }
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
            bytes: meta.len(),
        });
    }
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses a config's text; relative paths in it are relative to `path`'s directory.
pub(crate) fn parse(
    text: &str,
    path: &Path,
    context: Option<&str>,
) -> Result<Context, ConfigError> {
    let file: FileConfig = toml::from_str(text).map_err(|e| ConfigError::Malformed {
        path: path.to_path_buf(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    let known = if file.contexts.is_empty() {
        "none".to_owned()
    } else {
        file.contexts.keys().cloned().collect::<Vec<_>>().join(", ")
    };
    let Some(name) = context.map(str::to_owned).or(file.current_context) else {
        return Err(ConfigError::NoCurrentContext {
            path: path.to_path_buf(),
            known,
        });
    };
    let Some(ctx) = file.contexts.get(&name) else {
        return Err(ConfigError::UnknownContext {
            path: path.to_path_buf(),
            name,
            known,
        });
    };
    resolve_context(name, ctx, path)
}

fn resolve_context(name: String, ctx: &FileContext, path: &Path) -> Result<Context, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        context: name.clone(),
        message,
    };
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    if ctx.servers.is_empty() {
        return Err(invalid(
            "servers is empty: list the controllers' host:port addresses".into(),
        ));
    }
    let mut servers = Vec::with_capacity(ctx.servers.len());
    for s in &ctx.servers {
        servers.push(parse_server(s).map_err(&invalid)?);
    }
    if ctx.server_name.is_empty() {
        return Err(invalid(
            "server_name is empty: it must be a name in every controller certificate".into(),
        ));
    }
    let auth = match (&ctx.cert, &ctx.key, &ctx.token) {
        (Some(cert), Some(key), _) => AuthSource::Certificate {
            cert: base.join(cert),
            key: base.join(key),
        },
        (Some(_), None, _) | (None, Some(_), _) => {
            return Err(invalid(
                "cert and key go together: set both, or neither and a token".into(),
            ));
        }
        (None, None, Some(token)) if !token.is_empty() => AuthSource::Token(token.clone()),
        (None, None, _) => {
            return Err(invalid(
                "no credentials: set cert and key (certificate auth) or token (bearer token)"
                    .into(),
            ));
        }
    };
    let namespace = ctx
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    Ok(Context {
        file: path.to_path_buf(),
        servers,
        server_name: ctx.server_name.clone(),
        ca: base.join(&ctx.ca),
        auth,
        namespace,
        name,
    })
}

/// `host:port` (an IP, or a name resolved now) to a socket address.
fn parse_server(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    match s.to_socket_addrs() {
        Ok(mut addrs) => addrs
            .next()
            .ok_or_else(|| format!("server {s:?} resolves to no address")),
        Err(e) => Err(format!(
            "server {s:?} is not host:port (e.g. 127.0.0.1:7700): {e}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOOTSTRAP: &str = r#"
current_context = "lab"
[contexts.lab]
servers = ["127.0.0.1:7700", "127.0.0.1:7701", "127.0.0.1:7702"]
server_name = "ferrocore"
ca = "ca.crt"
cert = "admin.crt"
key = "admin.key"
token = "abc"
namespace = "shop"

[contexts.other]
servers = ["[::1]:7700"]
server_name = "ferrocore"
ca = "/etc/ferrocore/ca.crt"
token = "t0k"
"#;

    #[test]
    fn current_context_resolves_relative_paths() {
        let ctx = parse(BOOTSTRAP, Path::new("/tmp/c/admin.toml"), None).unwrap();
        assert_eq!(ctx.name, "lab");
        assert_eq!(ctx.servers.len(), 3);
        assert_eq!(ctx.servers[1], "127.0.0.1:7701".parse().unwrap());
        assert_eq!(ctx.ca, PathBuf::from("/tmp/c/ca.crt"));
        assert_eq!(
            ctx.auth,
            AuthSource::Certificate {
                cert: "/tmp/c/admin.crt".into(),
                key: "/tmp/c/admin.key".into()
            }
        );
        assert_eq!(ctx.namespace, "shop");
    }

    #[test]
    fn named_context_with_token_and_default_namespace() {
        let ctx = parse(BOOTSTRAP, Path::new("/tmp/c/admin.toml"), Some("other")).unwrap();
        assert_eq!(ctx.auth, AuthSource::Token("t0k".into()));
        assert_eq!(ctx.ca, PathBuf::from("/etc/ferrocore/ca.crt"));
        assert_eq!(ctx.namespace, "default");
        assert!(ctx.servers[0].is_ipv6());
    }

    #[test]
    fn unknown_context_lists_the_known_ones() {
        let err = parse(BOOTSTRAP, Path::new("a.toml"), Some("prod")).unwrap_err();
        assert!(err.to_string().contains("(contexts: lab, other)"), "{err}");
    }

    #[test]
    fn missing_current_context_says_how_to_pick_one() {
        let text = "[contexts.a]\nservers=['127.0.0.1:1']\nserver_name='x'\nca='ca'\ntoken='t'\n";
        let err = parse(text, Path::new("a.toml"), None).unwrap_err();
        assert!(err.to_string().contains("--context NAME"), "{err}");
        assert!(parse(text, Path::new("a.toml"), Some("a")).is_ok());
    }

    #[test]
    fn bad_fields_are_reported_with_their_name() {
        let unknown = "current_context='a'\n[contexts.a]\nservers=['127.0.0.1:1']\nserver_name='x'\nca='ca'\ntoken='t'\nport=3\n";
        let err = parse(unknown, Path::new("a.toml"), None).unwrap_err();
        assert!(err.to_string().contains("port"), "{err}");
        let no_creds = "current_context='a'\n[contexts.a]\nservers=['127.0.0.1:1']\nserver_name='x'\nca='ca'\n";
        let err = parse(no_creds, Path::new("a.toml"), None).unwrap_err();
        assert!(err.to_string().contains("no credentials"), "{err}");
        let half = "current_context='a'\n[contexts.a]\nservers=['127.0.0.1:1']\nserver_name='x'\nca='ca'\ncert='c'\n";
        let err = parse(half, Path::new("a.toml"), None).unwrap_err();
        assert!(err.to_string().contains("cert and key"), "{err}");
        let bad_server = "current_context='a'\n[contexts.a]\nservers=['nope']\nserver_name='x'\nca='ca'\ntoken='t'\n";
        let err = parse(bad_server, Path::new("a.toml"), None).unwrap_err();
        assert!(err.to_string().contains("host:port"), "{err}");
    }

    #[test]
    fn path_precedence_flag_env_home() {
        let flag = Path::new("/f.toml");
        let home = Path::new("/home/u");
        assert_eq!(
            resolve_path(Some(flag), Some("/e.toml"), Some(home)).0,
            PathBuf::from("/f.toml")
        );
        assert_eq!(
            resolve_path(None, Some("/e.toml"), Some(home)).0,
            PathBuf::from("/e.toml")
        );
        assert_eq!(
            resolve_path(None, Some(""), Some(home)).0,
            PathBuf::from("/home/u/.config/ferrocore/config.toml")
        );
    }

    #[test]
    fn missing_file_says_how_to_bootstrap() {
        let err = read(Path::new("/nonexistent/ferrocore.toml"), "from --config").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("cluster bootstrap"), "{text}");
        assert!(text.contains(CONFIG_ENV), "{text}");
    }
}
