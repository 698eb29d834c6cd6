//! Lab certificate authority and the loopback host alias needed by helm.

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;

/// Host name suggested for `/etc/hosts` when no loopback alias exists.
pub const SUGGESTED_TLS_HOST: &str = "kod-registry.test";

/// A throw-away CA plus one server certificate signed by it.
#[derive(Debug, Clone)]
pub struct TlsMaterial {
    /// CA certificate, PEM.
    pub ca_pem: String,
    /// CA certificate, DER (for rustls root stores).
    pub ca_der: Vec<u8>,
    /// Server certificate, PEM.
    pub server_cert_pem: String,
    /// Server private key, PEM.
    pub server_key_pem: String,
    /// Subject alternative names in the server certificate.
    pub sans: Vec<String>,
}

impl TlsMaterial {
    /// Generate a fresh CA and a server certificate for `sans` (DNS names or IPs).
    pub fn generate(sans: &[String]) -> Result<TlsMaterial> {
        let mut ca = CertificateParams::new(Vec::<String>::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "kod-testlab CA");
        ca.distinguished_name
            .push(DnType::OrganizationName, "kod-testlab");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate()?;
        let ca_cert = ca.self_signed(&ca_key)?;

        let mut leaf = CertificateParams::new(sans.to_vec()).context("invalid certificate SAN")?;
        leaf.distinguished_name.push(
            DnType::CommonName,
            sans.first().cloned().unwrap_or_default(),
        );
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate()?;
        let cert = leaf.signed_by(&key, &ca_cert, &ca_key)?;
        Ok(TlsMaterial {
            ca_pem: ca_cert.pem(),
            ca_der: ca_cert.der().to_vec(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
            sans: sans.to_vec(),
        })
    }
}

/// Find a host name other than `localhost*` that resolves to 127.0.0.1.
///
/// helm 3 always speaks plain HTTP to loopback IPs and `localhost`, so a TLS
/// registry is addressed by helm through this alias. Order: `$KOD_LAB_TLS_HOST`,
/// then `/etc/hosts` (preferring [`SUGGESTED_TLS_HOST`]).
pub fn find_tls_host() -> Result<String> {
    let text = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    choose_tls_host(std::env::var("KOD_LAB_TLS_HOST").ok().as_deref(), &text)
}

/// [`find_tls_host`] on explicit inputs (override value, `/etc/hosts` text).
pub fn choose_tls_host(env_override: Option<&str>, hosts: &str) -> Result<String> {
    if let Some(h) = env_override {
        let h = h.trim().to_string();
        if !h.is_empty() {
            return Ok(h);
        }
    }
    let names = loopback_aliases(hosts);
    if let Some(n) = names.iter().find(|n| n.as_str() == SUGGESTED_TLS_HOST) {
        return Ok(n.clone());
    }
    if let Some(n) = names.into_iter().next() {
        return Ok(n);
    }
    bail!(
        "no host alias for 127.0.0.1 found: helm talks plain HTTP to 127.0.0.1/localhost, so a TLS lab \
         registry needs another name. Add the line `127.0.0.1 {SUGGESTED_TLS_HOST}` to /etc/hosts \
         (scripts/install-tools.sh does this) or set KOD_LAB_TLS_HOST to a name that resolves to 127.0.0.1"
    )
}

/// Names mapped to exactly 127.0.0.1 in an `/etc/hosts` text, excluding `localhost*`.
pub fn loopback_aliases(hosts: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        if fields.next() != Some("127.0.0.1") {
            continue;
        }
        for name in fields {
            let lower = name.to_ascii_lowercase();
            let valid = !lower.starts_with("localhost")
                && lower
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
                && !lower.starts_with('-')
                && lower.parse::<std::net::IpAddr>().is_err();
            if valid && !out.contains(&lower) {
                out.push(lower);
            }
        }
    }
    out
}

/// Write `pem` to `path`, creating parent dirs.
pub(crate) fn write_file(path: &Path, content: &str) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    std::fs::write(path, content).with_context(|| format!("write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_from_hosts() {
        let hosts = "127.0.0.1 localhost localhost.localdomain\n::1 ip6-localhost\n# 127.0.0.1 commented\n127.0.0.1 vm runsc # x\n127.0.1.1 other\n";
        assert_eq!(
            loopback_aliases(hosts),
            vec!["vm".to_string(), "runsc".to_string()]
        );
        assert!(loopback_aliases("127.0.0.1 localhost\n").is_empty());
    }

    #[test]
    fn tls_host_choice() {
        assert_eq!(choose_tls_host(Some("my.alias"), "").unwrap(), "my.alias");
        assert_eq!(
            choose_tls_host(Some(" "), "127.0.0.1 vm kod-registry.test\n").unwrap(),
            "kod-registry.test"
        );
        assert_eq!(
            choose_tls_host(None, "127.0.0.1 localhost vm\n").unwrap(),
            "vm"
        );
        let err = choose_tls_host(None, "127.0.0.1 localhost\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("127.0.0.1 kod-registry.test") && err.contains("/etc/hosts"),
            "{err}"
        );
    }

    #[test]
    fn generates_certs() {
        let m =
            TlsMaterial::generate(&["vm".into(), "localhost".into(), "127.0.0.1".into()]).unwrap();
        assert!(m.ca_pem.contains("BEGIN CERTIFICATE"));
        assert!(m.server_key_pem.contains("PRIVATE KEY"));
    }
}
