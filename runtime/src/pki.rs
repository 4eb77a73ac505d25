//! The cluster's public-key infrastructure: one CA made at bootstrap, server certificates for
//! controllers (DNS and IP SANs) and client certificates whose CN is an [`Identity`].
//!
//! Keys are ECDSA P-256 made by the TLS stack's own generator. Everything is kept and exchanged
//! as PEM; [`Fingerprint`]s (SHA-256 of the DER) name certificates in logs and prompts.
//! Not here: revocation and rotation (a cluster that needs them re-bootstraps its CA).

use std::fmt;
use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::clock::WallTime;
use crate::identity::Identity;

/// How long a new cluster CA is valid. Long, because rotating it means re-issuing every
/// certificate in the cluster.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// How long an issued certificate is valid by default: long enough that a lab cluster never
/// meets an expiry, short enough that a leaked key does not stay good for the CA's lifetime.
pub const CERT_VALIDITY: Duration = Duration::from_secs(2 * 365 * 24 * 3600);

/// Certificates are back-dated by this much so that a peer whose clock lags a little does not
/// see a certificate that is "not yet valid".
const BACKDATE: Duration = Duration::from_secs(3600);

/// Organization written into every subject, so the certificates are recognisable.
const ORGANIZATION: &str = "ferrocore";

/// What went wrong making, loading or saving certificates and keys.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// rcgen refused the parameters or the key.
    #[error("Certificate generation failed")]
    Generate(#[from] rcgen::Error),
    /// A PEM file held no certificate, or something that does not parse.
    #[error("Bad PEM in {what}: {reason}")]
    Pem {
        /// Which input (file name or role).
        what: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A certificate or key file could not be read or written.
    #[error("Cannot access {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate's CN names no ferrocore identity.
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityParseError),
    /// A certificate could not be parsed as X.509.
    #[error("Certificate does not parse as X.509: {0}")]
    X509(String),
}

/// SHA-256 of a certificate's DER encoding.
#[derive(Clone, Copy, Eq, Hash, Ord, PartialEq, PartialOrd)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> Self {
        let digest = ring::digest::digest(&ring::digest::SHA256, der);
        let mut out = [0u8; 32];
        out.copy_from_slice(digest.as_ref());
        Self(out)
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    /// `sha256:` followed by 64 lowercase hex digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("sha256:")?;
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What an issued certificate may be used for.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum CertUsage {
    /// TLS client only (admin, users, node agents).
    Client,
    /// TLS server and client: controllers serve the cluster and dial each other for Raft with
    /// the same certificate.
    ServerAndClient,
}

/// A request for one certificate.
#[derive(Clone, Debug)]
pub struct CertRequest {
    /// The identity written into the CN.
    pub identity: Identity,
    /// DNS names clients may use to reach a server (`subjectAltName`).
    pub dns_names: Vec<String>,
    /// IP addresses clients may use to reach a server (`subjectAltName`).
    pub ips: Vec<IpAddr>,
    /// Client only, or server and client.
    pub usage: CertUsage,
    /// Validity from the issuing time.
    pub valid_for: Duration,
}

impl CertRequest {
    /// A client certificate for `identity` (admin, user or node agent).
    pub fn client(identity: Identity) -> Self {
        Self {
            identity,
            dns_names: Vec::new(),
            ips: Vec::new(),
            usage: CertUsage::Client,
            valid_for: CERT_VALIDITY,
        }
    }

    /// A server-and-client certificate (a controller), reachable under the given names and IPs.
    pub fn server(identity: Identity, dns_names: Vec<String>, ips: Vec<IpAddr>) -> Self {
        Self {
            identity,
            dns_names,
            ips,
            usage: CertUsage::ServerAndClient,
            valid_for: CERT_VALIDITY,
        }
    }
}

/// A certificate chain (leaf first) and its private key, as PEM.
#[derive(Clone)]
pub struct Credentials {
    cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        let fp = self.fingerprint().map(|f| f.to_string());
        f.debug_struct("Credentials")
            .field("fingerprint", &fp.unwrap_or_default())
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Credentials from PEM text; checks that both parse.
    ///
    /// # Errors
    /// [`PkiError::Pem`] if the chain is empty or either part does not parse.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let creds = Self {
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        };
        creds.chain_der()?;
        creds.key_der()?;
        Ok(creds)
    }

    /// Reads `<dir>/<name>.crt` and `<dir>/<name>.key`.
    ///
    /// # Errors
    /// [`PkiError::Io`] if a file cannot be read, [`PkiError::Pem`] if it does not parse.
    pub fn load(dir: &Path, name: &str) -> Result<Self, PkiError> {
        let cert = read(&dir.join(format!("{name}.crt")))?;
        let key = read(&dir.join(format!("{name}.key")))?;
        Self::from_pem(&cert, &key)
    }

    /// Writes `<dir>/<name>.crt` (mode 0644) and `<dir>/<name>.key` (mode 0600).
    ///
    /// # Errors
    /// [`PkiError::Io`] if a file cannot be written.
    pub fn save(&self, dir: &Path, name: &str) -> Result<(), PkiError> {
        write(&dir.join(format!("{name}.crt")), &self.cert_pem, 0o644)?;
        write(&dir.join(format!("{name}.key")), &self.key_pem, 0o600)
    }

    /// The certificate chain as PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The private key as PEM (PKCS#8).
    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// The chain as DER, leaf first.
    ///
    /// # Errors
    /// [`PkiError::Pem`] if the PEM holds no certificate.
    pub fn chain_der(&self) -> Result<Vec<CertificateDer<'static>>, PkiError> {
        parse_certs(&self.cert_pem, "certificate chain")
    }

    /// The private key as DER.
    ///
    /// # Errors
    /// [`PkiError::Pem`] if the PEM holds no key.
    pub fn key_der(&self) -> Result<PrivateKeyDer<'static>, PkiError> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| PkiError::Pem {
            what: "private key".into(),
            reason: e.to_string(),
        })
    }

    /// The fingerprint of the leaf certificate.
    ///
    /// # Errors
    /// [`PkiError::Pem`] if the PEM holds no certificate.
    pub fn fingerprint(&self) -> Result<Fingerprint, PkiError> {
        let chain = self.chain_der()?;
        Ok(Fingerprint::of_der(&chain[0]))
    }

    /// The identity the leaf certificate names.
    ///
    /// # Errors
    /// [`PkiError::X509`] or [`PkiError::Identity`] if the leaf names no identity.
    pub fn identity(&self) -> Result<Identity, PkiError> {
        let chain = self.chain_der()?;
        crate::tls::identity_of(&chain[0])
    }
}

/// The certificates a peer is checked against: the cluster CA (PEM, possibly several during a
/// migration).
#[derive(Clone, Debug)]
pub struct TrustRoots {
    pem: String,
}

impl TrustRoots {
    /// Trust roots from PEM text holding one or more CA certificates.
    ///
    /// # Errors
    /// [`PkiError::Pem`] if the text holds no certificate.
    pub fn from_pem(pem: &str) -> Result<Self, PkiError> {
        parse_certs(pem, "trust roots")?;
        Ok(Self {
            pem: pem.to_owned(),
        })
    }

    /// Reads a PEM file of CA certificates (`ca.crt`).
    ///
    /// # Errors
    /// [`PkiError::Io`] or [`PkiError::Pem`].
    pub fn load(path: &Path) -> Result<Self, PkiError> {
        Self::from_pem(&read(path)?)
    }

    /// The roots as PEM.
    pub fn pem(&self) -> &str {
        &self.pem
    }

    /// The roots as DER.
    ///
    /// # Errors
    /// [`PkiError::Pem`] (never, for roots made by [`TrustRoots::from_pem`]).
    pub fn certs_der(&self) -> Result<Vec<CertificateDer<'static>>, PkiError> {
        parse_certs(&self.pem, "trust roots")
    }
}

/// The cluster certificate authority: its certificate and signing key.
pub struct ClusterCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

impl fmt::Debug for ClusterCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterCa")
            .field("fingerprint", &self.fingerprint().ok())
            .finish_non_exhaustive()
    }
}

impl ClusterCa {
    /// Makes a new self-signed CA for the cluster `cluster_name`, valid from `now`.
    ///
    /// # Errors
    /// [`PkiError::Generate`] if key generation or signing fails.
    pub fn generate(cluster_name: &str, now: WallTime) -> Result<Self, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&format!("ferrocore cluster CA {cluster_name}"));
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        set_validity(&mut params, now, CA_VALIDITY)?;
        params.serial_number = Some(random_serial()?);
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem,
            issuer: Issuer::new(params, key),
        })
    }

    /// A CA from its certificate and key PEM.
    ///
    /// # Errors
    /// [`PkiError::Generate`] if either does not parse.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, PkiError> {
        let key = KeyPair::from_pem(key_pem)?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key)?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    /// Reads `<dir>/ca.crt` and `<dir>/ca.key`.
    ///
    /// # Errors
    /// [`PkiError::Io`] if a file cannot be read, [`PkiError::Generate`] if it does not parse.
    pub fn load(dir: &Path) -> Result<Self, PkiError> {
        Self::from_pem(&read(&dir.join("ca.crt"))?, &read(&dir.join("ca.key"))?)
    }

    /// Writes `<dir>/ca.crt` (0644) and `<dir>/ca.key` (0600).
    ///
    /// # Errors
    /// [`PkiError::Io`] if a file cannot be written.
    pub fn save(&self, dir: &Path) -> Result<(), PkiError> {
        write(&dir.join("ca.crt"), &self.cert_pem, 0o644)?;
        write(&dir.join("ca.key"), &self.key_pem, 0o600)
    }

    /// Issues a certificate for `request`, valid from `now` (back-dated an hour for skew).
    ///
    /// # Errors
    /// [`PkiError::Generate`] if a name is not a valid DNS name or signing fails.
    pub fn issue(&self, request: &CertRequest, now: WallTime) -> Result<Credentials, PkiError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = subject(&request.identity.common_name());
        for name in &request.dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName(name.clone().try_into()?));
        }
        for ip in &request.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match request.usage {
            CertUsage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            CertUsage::ServerAndClient => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params, now, request.valid_for)?;
        params.serial_number = Some(random_serial()?);
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Credentials {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// The CA certificate as PEM (what goes into every config as the trust root).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The trust roots that accept certificates this CA issues.
    pub fn trust_roots(&self) -> TrustRoots {
        TrustRoots {
            pem: self.cert_pem.clone(),
        }
    }

    /// The fingerprint of the CA certificate.
    ///
    /// # Errors
    /// [`PkiError::Pem`] (never, for a CA this type made or loaded).
    pub fn fingerprint(&self) -> Result<Fingerprint, PkiError> {
        let certs = parse_certs(&self.cert_pem, "CA certificate")?;
        Ok(Fingerprint::of_der(&certs[0]))
    }
}

fn subject(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, ORGANIZATION);
    dn.push(DnType::CommonName, common_name);
    dn
}

fn set_validity(
    params: &mut CertificateParams,
    now: WallTime,
    valid_for: Duration,
) -> Result<(), PkiError> {
    let to_time = |t: WallTime| {
        time::OffsetDateTime::from_unix_timestamp(t.as_unix_seconds())
            .map_err(|e| PkiError::X509(format!("Validity date out of range: {e}")))
    };
    let start = WallTime::from_unix_nanos(
        now.as_unix_nanos()
            .saturating_sub(i64::try_from(BACKDATE.as_nanos()).unwrap_or(i64::MAX)),
    );
    params.not_before = to_time(start)?;
    params.not_after = to_time(now + valid_for)?;
    Ok(())
}

/// A random positive 127-bit serial: RFC 5280 wants serials unique per CA, and random ones need
/// no counter kept beside the CA key.
fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| PkiError::X509(format!("No entropy: {e}")))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // Never a leading zero byte, which DER would have to strip.
    Ok(SerialNumber::from_slice(&bytes))
}

fn parse_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PkiError::Pem {
            what: what.into(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(PkiError::Pem {
            what: what.into(),
            reason: "no CERTIFICATE block".into(),
        });
    }
    Ok(certs)
}

fn read(path: &Path) -> Result<String, PkiError> {
    fs::read_to_string(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, contents: &str, mode: u32) -> Result<(), PkiError> {
    let io = |source| PkiError::Io {
        path: path.to_owned(),
        source,
    };
    // Remove first so a pre-existing file's looser mode is not kept.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(e)),
    }
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn now() -> WallTime {
        // 2026-01-01T00:00:00Z.
        WallTime::from_unix_nanos(1_767_225_600_000_000_000)
    }

    #[test]
    fn issued_certificates_carry_identity_and_verify_against_the_ca() {
        let ca = ClusterCa::generate("test", now()).unwrap();
        let req = CertRequest::server(
            Identity::Controller(3),
            vec!["localhost".into()],
            vec!["127.0.0.1".parse().unwrap()],
        );
        let creds = ca.issue(&req, now()).unwrap();
        assert_eq!(creds.identity().unwrap(), Identity::Controller(3));
        let admin = ca
            .issue(&CertRequest::client(Identity::Admin), now())
            .unwrap();
        assert_eq!(admin.identity().unwrap(), Identity::Admin);
        assert_ne!(admin.fingerprint().unwrap(), creds.fingerprint().unwrap());
        let fp = ca.fingerprint().unwrap().to_string();
        assert!(fp.starts_with("sha256:") && fp.len() == 7 + 64, "{fp}");
    }

    #[test]
    fn save_and_load_round_trip_with_private_modes() {
        let dir = std::env::temp_dir().join(format!("ferrocore-pki-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let ca = ClusterCa::generate("test", now()).unwrap();
        ca.save(&dir).unwrap();
        let loaded = ClusterCa::load(&dir).unwrap();
        assert_eq!(loaded.fingerprint().unwrap(), ca.fingerprint().unwrap());
        // A loaded CA can still issue.
        let node = loaded
            .issue(&CertRequest::client(Identity::Node("n1".into())), now())
            .unwrap();
        node.save(&dir, "node").unwrap();
        let back = Credentials::load(&dir, "node").unwrap();
        assert_eq!(back.fingerprint().unwrap(), node.fingerprint().unwrap());
        for key in ["ca.key", "node.key"] {
            let mode = fs::metadata(dir.join(key)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_pem_is_an_error_not_a_panic() {
        assert!(matches!(
            TrustRoots::from_pem("hello"),
            Err(PkiError::Pem { .. })
        ));
        assert!(Credentials::from_pem("", "").is_err());
        assert!(ClusterCa::from_pem("x", "y").is_err());
    }
}
