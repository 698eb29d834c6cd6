//! Container image references, parsed and normalised exactly like the
//! distribution reference grammar (`github.com/distribution/reference`,
//! digests validated like `github.com/opencontainers/go-digest`).
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain '/'] remote-name
//! domain           := host [':' port-number]
//! host             := domain-name | IPv4address | \[ IPv6address \]
//! domain-name      := domain-component ['.' domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! remote-name      := path-component ['/' path-component]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! digest           := algorithm ":" hex   ; sha256/sha384/sha512, lowercase hex
//! ```
//!
//! [`parse_normalized_named`] turns a "familiar" name as written in a pod spec
//! (`nginx`, `bitnami/redis:7.2`) into its fully qualified form
//! (`docker.io/library/nginx`, `docker.io/bitnami/redis:7.2`).

use std::fmt;
use std::str::FromStr;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Domain used for Docker Hub images written without a domain.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Legacy Docker Hub domain, normalised to [`DEFAULT_DOMAIN`].
pub const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Namespace of Docker Hub "official" images (`nginx` → `library/nginx`).
pub const OFFICIAL_REPO_PREFIX: &str = "library/";
/// Tag assumed when a reference has neither tag nor digest.
pub const DEFAULT_TAG: &str = "latest";
/// Maximum length of the path (repository name without domain), as in
/// current distribution/reference (older releases counted the domain too).
pub const REPOSITORY_NAME_TOTAL_LENGTH_MAX: usize = 255;

const LOCALHOST: &str = "localhost";

// Building blocks of the grammar, spelled like distribution's regexp.go.
// Go's `\w` is ASCII-only, so it is spelled out here (Rust's `\w` is Unicode).
const ALPHANUMERIC: &str = r"[a-z0-9]+";
const SEPARATOR: &str = r"(?:[._]|__|[-]+)";
const DOMAIN_NAME_COMPONENT: &str = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const OPTIONAL_PORT: &str = r"(?::[0-9]+)?";
const TAG: &str = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}";
const DIGEST: &str = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9A-Fa-f]{32,}";
const IDENTIFIER: &str = r"[a-f0-9]{64}";
const IPV6_ADDRESS: &str = r"\[(?:[a-fA-F0-9:]+)\]";

fn domain_and_port() -> String {
    let domain_name = format!(r"{DOMAIN_NAME_COMPONENT}(?:\.{DOMAIN_NAME_COMPONENT})*");
    format!("(?:{domain_name}|{IPV6_ADDRESS}){OPTIONAL_PORT}")
}

fn remote_name() -> String {
    let path_component = format!("{ALPHANUMERIC}(?:{SEPARATOR}{ALPHANUMERIC})*");
    format!("{path_component}(?:/{path_component})*")
}

fn compile(pattern: &str) -> Regex {
    Regex::new(pattern).expect("reference grammar regex is valid")
}

/// `^(name)(?::(tag))?(?:@(digest))?$`
static REFERENCE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let name = format!("(?:{}/)?{}", domain_and_port(), remote_name());
    compile(&format!("^({name})(?::({TAG}))?(?:@({DIGEST}))?$"))
});

/// `^(?:(domain)/)?(remote-name)$`
static ANCHORED_NAME_RE: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        "^(?:({})/)?({})$",
        domain_and_port(),
        remote_name()
    ))
});

static ANCHORED_DOMAIN_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!("^{}$", domain_and_port())));

static ANCHORED_REMOTE_NAME_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!("^{}$", remote_name())));

static ANCHORED_TAG_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{TAG}$")));

static ANCHORED_DIGEST_RE: LazyLock<Regex> = LazyLock::new(|| compile(&format!("^{DIGEST}$")));

static ANCHORED_IDENTIFIER_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(&format!("^{IDENTIFIER}$")));

/// go-digest's `DigestRegexpAnchored`, used to tell a malformed digest from
/// one with an unsupported algorithm.
static GO_DIGEST_RE: LazyLock<Regex> =
    LazyLock::new(|| compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"));

/// Why a string is not a valid image reference. Every variant quotes the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not match the reference grammar.
    #[error("invalid reference format: {input:?}")]
    InvalidFormat { input: String },

    /// The repository path (after normalisation) contains uppercase letters.
    #[error("invalid reference format: repository name ({remote}) must be lowercase: {input:?}")]
    NameContainsUppercase { input: String, remote: String },

    /// The path is longer than [`REPOSITORY_NAME_TOTAL_LENGTH_MAX`].
    #[error(
        "repository name must not be more than {REPOSITORY_NAME_TOTAL_LENGTH_MAX} characters \
         (it has {length}): {input:?}"
    )]
    NameTooLong { input: String, length: usize },

    /// The string parses but is not written in its normalised form.
    #[error("repository name must be canonical: {input:?} (canonical form: {canonical:?})")]
    NameNotCanonical { input: String, canonical: String },

    /// A bare 64-character hex string: an image ID, not a name.
    #[error("invalid repository name ({input}), cannot specify 64-byte hexadecimal strings")]
    IdentifierAsName { input: String },

    /// The digest is malformed (e.g. wrong length, uppercase hex).
    #[error("invalid checksum digest format: {digest:?} in {input:?}")]
    InvalidDigest { input: String, digest: String },

    /// The digest algorithm is well-formed but not sha256/sha384/sha512.
    #[error("unsupported digest algorithm {algorithm:?}: {input:?}")]
    UnsupportedDigest { input: String, algorithm: String },

    /// A tag given to [`Reference::with_tag`] is not valid.
    #[error("invalid tag format: {input:?}")]
    InvalidTag { input: String },

    /// A registry given to [`Reference::with_registry`] is not valid.
    #[error("invalid registry {input:?}: {reason}")]
    InvalidRegistry { input: String, reason: String },
}

/// A fully qualified image reference: `domain/path[:tag][@digest]`.
///
/// Always normalised: `domain` is never empty (Docker Hub images get
/// `docker.io`, official images the `library/` prefix). Tag and digest may
/// both be present, as Kubernetes and containerd accept `name:tag@digest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

/// Parses a reference as written by users and normalises it, like Go's
/// `reference.ParseNormalizedNamed`.
///
/// The first `/`-separated component is taken as the domain if it contains
/// `.` or `:`, is `localhost`, or has uppercase letters; otherwise the image
/// lives on Docker Hub (`docker.io`). `index.docker.io` becomes `docker.io`.
///
/// One deliberate difference from Go: when that first component is taken
/// as a domain but is not a valid one (`a_b.c/x`), Go returns a reference
/// without a domain; here it is [`ReferenceError::InvalidFormat`], because a
/// reference without a registry cannot be pulled or relocated.
pub fn parse_normalized_named(s: &str) -> Result<Reference, ReferenceError> {
    if ANCHORED_IDENTIFIER_RE.is_match(s) {
        return Err(ReferenceError::IdentifierAsName {
            input: s.to_owned(),
        });
    }
    let (domain, remainder) = split_docker_domain(s);
    let remote = remainder.split(':').next().unwrap_or_default();
    if remote.to_lowercase() != remote {
        return Err(ReferenceError::NameContainsUppercase {
            input: s.to_owned(),
            remote: remote.to_owned(),
        });
    }
    parse_qualified(&format!("{domain}/{remainder}"), s)
}

/// Parses a reference that must already be written in normalised form, like
/// Go's `reference.ParseNamed`: `docker.io/library/nginx:1.25` is accepted,
/// `nginx:1.25` is rejected with [`ReferenceError::NameNotCanonical`].
pub fn parse_named(s: &str) -> Result<Reference, ReferenceError> {
    let reference = parse_normalized_named(s)?;
    let canonical = reference.string_without_default_tag();
    if canonical != s {
        return Err(ReferenceError::NameNotCanonical {
            input: s.to_owned(),
            canonical,
        });
    }
    Ok(reference)
}

/// Splits a familiar name into domain and remainder (`splitDockerDomain`).
fn split_docker_domain(name: &str) -> (&str, String) {
    let Some((maybe_domain, maybe_remote)) = name.split_once('/') else {
        return (DEFAULT_DOMAIN, format!("{OFFICIAL_REPO_PREFIX}{name}"));
    };
    let (domain, remote) = if maybe_domain == LOCALHOST {
        (maybe_domain, maybe_remote)
    } else if maybe_domain == LEGACY_DEFAULT_DOMAIN {
        (DEFAULT_DOMAIN, maybe_remote)
    } else if maybe_domain.contains(['.', ':']) || maybe_domain.to_lowercase() != maybe_domain {
        (maybe_domain, maybe_remote)
    } else {
        (DEFAULT_DOMAIN, name)
    };
    if domain == DEFAULT_DOMAIN && !remote.contains('/') {
        (domain, format!("{OFFICIAL_REPO_PREFIX}{remote}"))
    } else {
        (domain, remote.to_owned())
    }
}

/// Go's `reference.Parse`, restricted to strings that carry a domain.
/// `input` is the original text, quoted in errors.
fn parse_qualified(s: &str, input: &str) -> Result<Reference, ReferenceError> {
    let Some(caps) = REFERENCE_RE.captures(s) else {
        let lower = s.to_lowercase();
        if lower != s && REFERENCE_RE.is_match(&lower) {
            return Err(ReferenceError::NameContainsUppercase {
                input: input.to_owned(),
                remote: s.to_owned(),
            });
        }
        return Err(ReferenceError::InvalidFormat {
            input: input.to_owned(),
        });
    };
    let name = caps.get(1).map_or("", |m| m.as_str());
    let (domain, path) = split_name(name).ok_or_else(|| ReferenceError::InvalidFormat {
        input: input.to_owned(),
    })?;
    if domain.is_empty() {
        return Err(ReferenceError::InvalidFormat {
            input: input.to_owned(),
        });
    }
    if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
        return Err(ReferenceError::NameTooLong {
            input: input.to_owned(),
            length: path.len(),
        });
    }
    let tag = caps.get(2).map(|m| m.as_str().to_owned());
    let digest = caps.get(3).map(|m| m.as_str().to_owned());
    if let Some(digest) = &digest {
        validate_digest(digest, input)?;
    }
    Ok(Reference {
        domain: domain.to_owned(),
        path: path.to_owned(),
        tag,
        digest,
    })
}

/// Splits a name into `(domain, path)`; the domain is empty if absent.
fn split_name(name: &str) -> Option<(&str, &str)> {
    let caps = ANCHORED_NAME_RE.captures(name)?;
    let domain = caps.get(1).map_or("", |m| m.as_str());
    let path = caps.get(2).map_or("", |m| m.as_str());
    Some((domain, path))
}

/// go-digest's `Digest.Validate`: sha256/sha384/sha512 with lowercase hex of
/// exactly the hash size; other well-formed algorithms are "unsupported".
fn validate_digest(digest: &str, input: &str) -> Result<(), ReferenceError> {
    let invalid = || ReferenceError::InvalidDigest {
        input: input.to_owned(),
        digest: digest.to_owned(),
    };
    let Some((algorithm, encoded)) = digest.split_once(':') else {
        return Err(invalid());
    };
    if algorithm.is_empty() || encoded.is_empty() {
        return Err(invalid());
    }
    let hex_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ if GO_DIGEST_RE.is_match(digest) => {
            return Err(ReferenceError::UnsupportedDigest {
                input: input.to_owned(),
                algorithm: algorithm.to_owned(),
            })
        }
        _ => return Err(invalid()),
    };
    let lower_hex = encoded
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if encoded.len() == hex_len && lower_hex {
        Ok(())
    } else {
        Err(invalid())
    }
}

impl Reference {
    /// Registry host, with port if any: `docker.io`, `localhost:5000`, `[::1]:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// Repository path inside the registry: `library/nginx`, `bitnami/redis`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if one was written (no default is filled in).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if one was written.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// `domain/path`, without tag or digest (Go's `Name()`).
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// True if the reference has neither tag nor digest.
    pub fn is_name_only(&self) -> bool {
        self.tag.is_none() && self.digest.is_none()
    }

    /// Adds the `latest` tag if there is neither tag nor digest (`TagNameOnly`).
    pub fn tag_name_only(&self) -> Reference {
        if self.is_name_only() {
            Reference {
                tag: Some(DEFAULT_TAG.to_owned()),
                ..self.clone()
            }
        } else {
            self.clone()
        }
    }

    /// The reference as it would be pulled by Docker (`ParseDockerRef`): a
    /// reference with both tag and digest keeps only the digest; a name-only
    /// reference gets `:latest`.
    pub fn docker_ref(&self) -> Reference {
        if self.digest.is_some() {
            Reference {
                tag: None,
                ..self.clone()
            }
        } else {
            self.tag_name_only()
        }
    }

    /// The repository alone, without tag or digest (`TrimNamed`).
    pub fn name_only(&self) -> Reference {
        Reference {
            tag: None,
            digest: None,
            ..self.clone()
        }
    }

    /// Replaces the tag, keeping any digest (`WithTag`).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !ANCHORED_TAG_RE.is_match(tag) {
            return Err(ReferenceError::InvalidTag {
                input: tag.to_owned(),
            });
        }
        Ok(Reference {
            tag: Some(tag.to_owned()),
            ..self.clone()
        })
    }

    /// Replaces the digest, keeping any tag (`WithDigest`).
    pub fn with_digest(&self, digest: &str) -> Result<Reference, ReferenceError> {
        if !ANCHORED_DIGEST_RE.is_match(digest) {
            return Err(ReferenceError::InvalidDigest {
                input: digest.to_owned(),
                digest: digest.to_owned(),
            });
        }
        validate_digest(digest, digest)?;
        Ok(Reference {
            digest: Some(digest.to_owned()),
            ..self.clone()
        })
    }

    /// Relocates the image into another registry, keeping its path, tag and
    /// digest. `registry` is a domain optionally followed by a path prefix:
    /// `docker.io/bitnami/redis:7.2` under `reg.local:5000/mirror` becomes
    /// `reg.local:5000/mirror/bitnami/redis:7.2`.
    ///
    /// The domain must be explicit (contain `.` or `:`, or be `localhost`),
    /// otherwise the result would silently be read back as a Docker Hub name.
    pub fn with_registry(&self, registry: &str) -> Result<Reference, ReferenceError> {
        let invalid = |reason: &str| ReferenceError::InvalidRegistry {
            input: registry.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = registry.trim_end_matches('/');
        let (domain, prefix) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        if domain.is_empty() {
            return Err(invalid("empty registry domain"));
        }
        if !ANCHORED_DOMAIN_RE.is_match(domain) {
            return Err(invalid("not a valid domain[:port]"));
        }
        if !is_explicit_domain(domain) {
            return Err(invalid(
                "the domain must contain '.' or ':' or be 'localhost' to be read back as a registry",
            ));
        }
        if domain == LEGACY_DEFAULT_DOMAIN {
            return Err(invalid("use docker.io instead of index.docker.io"));
        }
        if !prefix.is_empty() && !ANCHORED_REMOTE_NAME_RE.is_match(prefix) {
            return Err(invalid("path prefix is not a valid repository path"));
        }
        let mut path = if prefix.is_empty() {
            self.path.clone()
        } else {
            format!("{prefix}/{}", self.path)
        };
        // Docker Hub names of one component are official images: `quay.io/x` moved to
        // `docker.io` is `docker.io/library/x`, which is what its string reads back as
        // (found by fuzzing).
        if domain == DEFAULT_DOMAIN && !path.contains('/') {
            path = format!("{OFFICIAL_REPO_PREFIX}{path}");
        }
        if path.len() > REPOSITORY_NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong {
                input: format!("{domain}/{path}"),
                length: path.len(),
            });
        }
        Ok(Reference {
            domain: domain.to_owned(),
            path,
            ..self.clone()
        })
    }

    /// The short name shown by Docker (`FamiliarName`): `docker.io/library/nginx`
    /// → `nginx`, `docker.io/bitnami/redis` → `bitnami/redis`.
    ///
    /// One deliberate difference from Go: a Docker Hub path whose first component would be
    /// read back as a registry (`docker.io/quay.io/x` → `quay.io/x`, `docker.io/localhost/x`)
    /// keeps its `docker.io/` prefix, so the familiar name always parses back to the same
    /// image (found by fuzzing; Go prints the ambiguous short form). Likewise an official
    /// image named by 64 hex digits keeps `library/`: the bare name would be refused as an
    /// image ID.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.repository();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            Some(rest) if !rest.contains('/') && !ANCHORED_IDENTIFIER_RE.is_match(rest) => rest.to_owned(),
            _ => {
                let first = self.path.split('/').next().unwrap_or_default();
                if is_explicit_domain(first) {
                    self.repository()
                } else {
                    self.path.clone()
                }
            }
        }
    }

    /// The familiar name with tag and digest as written (`FamiliarString`);
    /// no default tag is added.
    pub fn familiar_string(&self) -> String {
        let mut s = self.familiar_name();
        self.push_suffixes(&mut s);
        s
    }

    /// The normalised string without filling in a default tag (Go's
    /// `String()`): `docker.io/library/nginx` stays tagless.
    pub fn string_without_default_tag(&self) -> String {
        let mut s = self.repository();
        self.push_suffixes(&mut s);
        s
    }

    fn push_suffixes(&self, s: &mut String) {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(digest);
        }
    }
}

/// True if `first_component` would be read as a registry domain by
/// [`parse_normalized_named`] without relying on uppercase letters: it
/// contains `.` or `:`, or is `localhost`.
pub fn is_explicit_domain(first_component: &str) -> bool {
    first_component == LOCALHOST || first_component.contains(['.', ':'])
}

/// The fully normalised string with `:latest` filled in when there is
/// neither tag nor digest: `nginx` → `docker.io/library/nginx:latest`.
impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.tag_name_only().string_without_default_tag())
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_normalized_named(s)
    }
}

/// Serialised as the normalised string without a default tag, so that it
/// reads back to an equal value.
impl Serialize for Reference {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.string_without_default_tag())
    }
}

impl<'de> Deserialize<'de> for Reference {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        parse_normalized_named(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:4c0f1fc2b6a3bd2b41be2d8b3a6d41dbd8b3b0f3b8c8f0e0c2d4b9f3a1e2d3c4";

    fn sha256_of_len(n: usize) -> String {
        format!("sha256:{}", "a".repeat(n))
    }

    /// (input, display, familiar_string, domain, path, tag, digest)
    type OkCase<'a> = (
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
    );

    #[test]
    fn parses_and_normalises_valid_references() {
        let sha_nginx = format!("nginx:1.25@{SHA}");
        let sha_nginx_full = format!("docker.io/library/nginx:1.25@{SHA}");
        let digest_only = format!("nginx@{SHA}");
        let digest_only_full = format!("docker.io/library/nginx@{SHA}");
        let k8s = format!("registry.k8s.io/ingress-nginx/controller:v1.11.0@{SHA}");
        let cases: Vec<OkCase> = vec![
            (
                "nginx",
                "docker.io/library/nginx:latest",
                "nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            (
                "library/nginx",
                "docker.io/library/nginx:latest",
                "nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "docker.io/library/nginx",
                "docker.io/library/nginx:latest",
                "nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "index.docker.io/nginx",
                "docker.io/library/nginx:latest",
                "nginx",
                "docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "index.docker.io/library/nginx:1.25",
                "docker.io/library/nginx:1.25",
                "nginx:1.25",
                "docker.io",
                "library/nginx",
                Some("1.25"),
                None,
            ),
            (
                "bitnami/redis:7.2",
                "docker.io/bitnami/redis:7.2",
                "bitnami/redis:7.2",
                "docker.io",
                "bitnami/redis",
                Some("7.2"),
                None,
            ),
            // Nested paths under library/ are not shortened.
            (
                "docker.io/library/foo/bar",
                "docker.io/library/foo/bar:latest",
                "library/foo/bar",
                "docker.io",
                "library/foo/bar",
                None,
                None,
            ),
            // A registry that merely mirrors Docker Hub is not Docker Hub.
            (
                "registry-1.docker.io/library/nginx",
                "registry-1.docker.io/library/nginx:latest",
                "registry-1.docker.io/library/nginx",
                "registry-1.docker.io",
                "library/nginx",
                None,
                None,
            ),
            (
                "localhost/foo",
                "localhost/foo:latest",
                "localhost/foo",
                "localhost",
                "foo",
                None,
                None,
            ),
            (
                "localhost:5000/foo/bar:v1",
                "localhost:5000/foo/bar:v1",
                "localhost:5000/foo/bar:v1",
                "localhost:5000",
                "foo/bar",
                Some("v1"),
                None,
            ),
            // Port-only host: the ':' makes it a domain.
            (
                "registry:5000/x",
                "registry:5000/x:latest",
                "registry:5000/x",
                "registry:5000",
                "x",
                None,
                None,
            ),
            (
                "example.com/foo",
                "example.com/foo:latest",
                "example.com/foo",
                "example.com",
                "foo",
                None,
                None,
            ),
            (
                "127.0.0.1:5000/foo:1",
                "127.0.0.1:5000/foo:1",
                "127.0.0.1:5000/foo:1",
                "127.0.0.1:5000",
                "foo",
                Some("1"),
                None,
            ),
            (
                "[::1]:5000/foo:1",
                "[::1]:5000/foo:1",
                "[::1]:5000/foo:1",
                "[::1]:5000",
                "foo",
                Some("1"),
                None,
            ),
            (
                "[2001:db8::1]/foo",
                "[2001:db8::1]/foo:latest",
                "[2001:db8::1]/foo",
                "[2001:db8::1]",
                "foo",
                None,
                None,
            ),
            // Uppercase first component: assumed to be a domain.
            (
                "Foo/bar",
                "Foo/bar:latest",
                "Foo/bar",
                "Foo",
                "bar",
                None,
                None,
            ),
            (
                "EXAMPLE.COM:443/foo",
                "EXAMPLE.COM:443/foo:latest",
                "EXAMPLE.COM:443/foo",
                "EXAMPLE.COM:443",
                "foo",
                None,
                None,
            ),
            // Separators: one period, one or two underscores, any number of dashes.
            (
                "a__b",
                "docker.io/library/a__b:latest",
                "a__b",
                "docker.io",
                "library/a__b",
                None,
                None,
            ),
            (
                "a_b.c",
                "docker.io/library/a_b.c:latest",
                "a_b.c",
                "docker.io",
                "library/a_b.c",
                None,
                None,
            ),
            (
                "a-----b/c",
                "docker.io/a-----b/c:latest",
                "a-----b/c",
                "docker.io",
                "a-----b/c",
                None,
                None,
            ),
            // Without '/', "host:port" is a name and a tag (Go's FIXME).
            (
                "example.com:5000",
                "docker.io/library/example.com:5000",
                "example.com:5000",
                "docker.io",
                "library/example.com",
                Some("5000"),
                None,
            ),
            (
                "localhost",
                "docker.io/library/localhost:latest",
                "localhost",
                "docker.io",
                "library/localhost",
                None,
                None,
            ),
            // Tags may contain uppercase letters.
            (
                "ubuntu:Jammy_2024.01-rc",
                "docker.io/library/ubuntu:Jammy_2024.01-rc",
                "ubuntu:Jammy_2024.01-rc",
                "docker.io",
                "library/ubuntu",
                Some("Jammy_2024.01-rc"),
                None,
            ),
            (
                &sha_nginx,
                &sha_nginx_full,
                &sha_nginx,
                "docker.io",
                "library/nginx",
                Some("1.25"),
                Some(SHA),
            ),
            (
                &digest_only,
                &digest_only_full,
                &digest_only,
                "docker.io",
                "library/nginx",
                None,
                Some(SHA),
            ),
            (
                &k8s,
                &k8s,
                &k8s,
                "registry.k8s.io",
                "ingress-nginx/controller",
                Some("v1.11.0"),
                Some(SHA),
            ),
        ];
        for (input, display, familiar, domain, path, tag, digest) in cases {
            let r = parse_normalized_named(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(r.to_string(), display, "display of {input}");
            assert_eq!(r.familiar_string(), familiar, "familiar of {input}");
            assert_eq!(r.domain(), domain, "domain of {input}");
            assert_eq!(r.path(), path, "path of {input}");
            assert_eq!(r.tag(), tag, "tag of {input}");
            assert_eq!(r.digest(), digest, "digest of {input}");
            assert_eq!(r.repository(), format!("{domain}/{path}"));
            // The normalised form is a fixed point.
            assert_eq!(
                parse_normalized_named(&r.to_string()).unwrap(),
                r.tag_name_only(),
                "{input}"
            );
        }
    }

    #[derive(Debug, PartialEq)]
    enum Kind {
        Format,
        Upper,
        TooLong,
        Identifier,
        Digest,
        Unsupported,
    }

    fn kind(e: &ReferenceError) -> Kind {
        match e {
            ReferenceError::InvalidFormat { .. } => Kind::Format,
            ReferenceError::NameContainsUppercase { .. } => Kind::Upper,
            ReferenceError::NameTooLong { .. } => Kind::TooLong,
            ReferenceError::IdentifierAsName { .. } => Kind::Identifier,
            ReferenceError::InvalidDigest { .. } => Kind::Digest,
            ReferenceError::UnsupportedDigest { .. } => Kind::Unsupported,
            other => panic!("unexpected error kind: {other:?}"),
        }
    }

    #[test]
    fn rejects_invalid_references() {
        let tag128 = format!("nginx:{}", "t".repeat(128));
        assert!(
            parse_normalized_named(&tag128).is_ok(),
            "128-char tag is allowed"
        );
        let cases: Vec<(String, Kind)> = vec![
            (String::new(), Kind::Format),
            (":tag".into(), Kind::Format),
            (format!("@{SHA}"), Kind::Format),
            (format!(":tag@{SHA}"), Kind::Format),
            ("a".repeat(64).replace('a', "f"), Kind::Identifier),
            ("Foo".into(), Kind::Upper),
            ("example.com/Foo".into(), Kind::Upper),
            ("docker.io/Library/nginx".into(), Kind::Upper),
            ("localhost:5000/Foo:v1".into(), Kind::Upper),
            ("Foo::bar".into(), Kind::Upper),
            ("foo::bar".into(), Kind::Format),
            ("a..b".into(), Kind::Format),
            ("a...b".into(), Kind::Format),
            ("a___b".into(), Kind::Format),
            ("-foo".into(), Kind::Format),
            ("foo-".into(), Kind::Format),
            ("foo/-bar".into(), Kind::Format),
            ("foo/bar/".into(), Kind::Format),
            ("foo//bar".into(), Kind::Format),
            ("/foo".into(), Kind::Format),
            ("foo:".into(), Kind::Format),
            ("foo:-bar".into(), Kind::Format),
            ("foo:.bar".into(), Kind::Format),
            ("foo:v1:v2".into(), Kind::Format),
            (" nginx".into(), Kind::Format),
            ("nginx ".into(), Kind::Format),
            (format!("nginx:{}", "t".repeat(129)), Kind::Format),
            ("example.com:port/foo".into(), Kind::Format),
            ("-example.com/foo".into(), Kind::Format),
            ("::1/foo".into(), Kind::Format),
            ("[fe80::1%eth0]:5000/foo".into(), Kind::Format),
            ("http://example.com/foo:1".into(), Kind::Format),
            // Like Go, the lowercase check on the path runs first.
            ("{{ .ProxyImage }}".into(), Kind::Upper),
            ("{{ .image }}".into(), Kind::Format),
            // Fewer than 32 hex digits does not even match the grammar.
            (format!("nginx@{}", sha256_of_len(31)), Kind::Format),
            (format!("nginx@{}", sha256_of_len(63)), Kind::Digest),
            (format!("nginx@{}", sha256_of_len(65)), Kind::Digest),
            (format!("nginx@{}", sha256_of_len(32)), Kind::Digest),
            (format!("nginx@sha256:{}", "A".repeat(64)), Kind::Digest),
            // Go's lowercase check looks at everything before the first ':'.
            (format!("nginx@SHA256:{}", "a".repeat(64)), Kind::Upper),
            (format!("nginx:1@SHA256:{}", "a".repeat(64)), Kind::Digest),
            (format!("nginx@sha512:{}", "a".repeat(64)), Kind::Digest),
            (format!("nginx@md5:{}", "a".repeat(32)), Kind::Unsupported),
            (
                format!("nginx@sha256+b64:{}", "a".repeat(64)),
                Kind::Unsupported,
            ),
            (format!("example.com/{}", "a".repeat(256)), Kind::TooLong),
            // "library/" counts towards the limit.
            ("a".repeat(248), Kind::TooLong),
        ];
        for (input, expected) in cases {
            match parse_normalized_named(&input) {
                Ok(r) => panic!("{input:?} unexpectedly parsed as {r}"),
                Err(e) => assert_eq!(kind(&e), expected, "{input:?}: {e}"),
            }
        }
    }

    /// Names distribution/reference's own normalisation tests accept or reject.
    #[test]
    fn upstream_validity_cases() {
        let hex_name = format!("docker.io/{}", "1a3f5e7d".repeat(8));
        let valid = [
            "docker/docker",
            "library/debian",
            "index.docker.io/docker/docker",
            "127.0.0.1:5000/library/debian",
            "192.168.0.1",
            "192.168.0.1:80",
            "192.168.0.1:8/debian",
            "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
            "[fc00::1]:5000/docker/docker",
            "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
            &hex_name,
            "Docker/docker",
            "DOCKER/docker",
            "docker---rules/docker",
            "dock__er/docker",
            "d/docker",
            "xn--n3h.com:18080/foo",
            "test-com:8080/foo",
        ];
        for input in valid {
            assert!(
                parse_normalized_named(input).is_ok(),
                "{input} should be valid"
            );
        }
        let invalid = [
            "https://github.com/docker/docker",
            "docker/Docker",
            "-docker/docker",
            "docker-/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker///docker",
            "[fc00::1]",
            "[fc00::1]:5000",
            "fc00::1:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
        ];
        for input in invalid {
            assert!(
                parse_normalized_named(input).is_err(),
                "{input} should be invalid"
            );
        }
        // No '.' or ':' and lowercase: part of the Docker Hub path.
        let r = parse_normalized_named("test_com/foo").unwrap();
        assert_eq!((r.domain(), r.path()), ("docker.io", "test_com/foo"));
        let r = parse_normalized_named("192.168.0.1:80").unwrap();
        assert_eq!((r.path(), r.tag()), ("library/192.168.0.1", Some("80")));
    }

    #[test]
    fn accepts_other_registered_digest_algorithms_and_max_length() {
        let sha384 = format!("nginx@sha384:{}", "b".repeat(96));
        let sha512 = format!("nginx@sha512:{}", "c".repeat(128));
        for input in [&sha384, &sha512] {
            let r = parse_normalized_named(input).unwrap();
            assert_eq!(r.familiar_string(), *input);
        }
        let longest = format!("example.com/{}", "a".repeat(255));
        assert_eq!(parse_normalized_named(&longest).unwrap().path().len(), 255);
        assert!(parse_normalized_named(&"a".repeat(247)).is_ok());
    }

    #[test]
    fn a_first_component_that_is_not_a_valid_domain_is_rejected() {
        // Go would return a name without domain here; kod requires one.
        let err = parse_normalized_named("a_b.c/x").unwrap_err();
        assert_eq!(kind(&err), Kind::Format);
    }

    #[test]
    fn errors_say_what_is_wrong_and_quote_the_input() {
        let e = parse_normalized_named("Foo::bar").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/Foo) must be lowercase: \"Foo::bar\""
        );
        let e = parse_normalized_named("a...b").unwrap_err();
        assert_eq!(e.to_string(), "invalid reference format: \"a...b\"");
        let input = format!("nginx@{}", sha256_of_len(63));
        let e = parse_normalized_named(&input).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid checksum digest format"),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("{input:?}")), "{e}");
        let e = parse_normalized_named(&format!("example.com/{}", "a".repeat(256))).unwrap_err();
        assert!(
            e.to_string()
                .contains("must not be more than 255 characters (it has 256)"),
            "{e}"
        );
        let e = parse_normalized_named(&"f".repeat(64)).unwrap_err();
        assert!(
            e.to_string()
                .contains("cannot specify 64-byte hexadecimal strings"),
            "{e}"
        );
    }

    #[test]
    fn parse_named_requires_the_canonical_form() {
        let ok = parse_named("docker.io/library/nginx:1.25").unwrap();
        assert_eq!(ok.familiar_string(), "nginx:1.25");
        assert!(parse_named("docker.io/library/nginx").is_ok());
        for input in [
            "nginx:1.25",
            "library/nginx",
            "docker.io/nginx",
            "index.docker.io/library/nginx",
        ] {
            match parse_named(input) {
                Err(ReferenceError::NameNotCanonical { canonical, .. }) => {
                    assert!(canonical.starts_with("docker.io/library/nginx"), "{input}");
                }
                other => panic!("{input}: expected NameNotCanonical, got {other:?}"),
            }
        }
        let e = parse_named("nginx").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("repository name must be canonical"),
            "{e}"
        );
    }

    #[test]
    fn relocates_into_a_private_registry() {
        let redis = parse_normalized_named("docker.io/bitnami/redis:7.2").unwrap();
        let cases = [
            (
                "reg.local:5000/mirror",
                "reg.local:5000/mirror/bitnami/redis:7.2",
            ),
            (
                "reg.local:5000/mirror/",
                "reg.local:5000/mirror/bitnami/redis:7.2",
            ),
            ("reg.local:5000", "reg.local:5000/bitnami/redis:7.2"),
            ("localhost/a/b", "localhost/a/b/bitnami/redis:7.2"),
            ("[::1]:5000/m", "[::1]:5000/m/bitnami/redis:7.2"),
        ];
        for (registry, expected) in cases {
            let moved = redis.with_registry(registry).unwrap();
            assert_eq!(moved.to_string(), expected, "{registry}");
            // What we write must be read back identically.
            assert_eq!(parse_normalized_named(&moved.to_string()).unwrap(), moved);
        }
        let nginx = parse_normalized_named(&format!("nginx:1.25@{SHA}")).unwrap();
        assert_eq!(
            nginx.with_registry("reg.local/hub").unwrap().to_string(),
            format!("reg.local/hub/library/nginx:1.25@{SHA}")
        );
        let bare = parse_normalized_named("nginx").unwrap();
        assert_eq!(
            bare.with_registry("reg.local").unwrap().to_string(),
            "reg.local/library/nginx:latest"
        );
    }

    #[test]
    fn rejects_registries_that_would_not_read_back() {
        let redis = parse_normalized_named("bitnami/redis:7.2").unwrap();
        for registry in [
            "",
            "/x",
            "mirror",
            "mirror/x",
            "reg_local.io",
            "https://reg.local",
            "reg.local/Mirror",
            "reg.local/a//b",
            "index.docker.io",
        ] {
            match redis.with_registry(registry) {
                Err(ReferenceError::InvalidRegistry { input, .. }) => assert_eq!(input, registry),
                other => panic!("{registry:?}: expected InvalidRegistry, got {other:?}"),
            }
        }
        let long = parse_normalized_named(&format!("example.com/{}", "a".repeat(250))).unwrap();
        assert!(matches!(
            long.with_registry("reg.local/mirror"),
            Err(ReferenceError::NameTooLong { .. })
        ));
    }

    #[test]
    fn tag_and_digest_helpers() {
        let r = parse_normalized_named("nginx").unwrap();
        assert!(r.is_name_only());
        assert_eq!(r.string_without_default_tag(), "docker.io/library/nginx");
        assert_eq!(r.tag_name_only().tag(), Some("latest"));
        assert_eq!(r.docker_ref().to_string(), "docker.io/library/nginx:latest");

        let both = parse_normalized_named(&format!("nginx:1.25@{SHA}")).unwrap();
        assert_eq!(
            both.docker_ref().string_without_default_tag(),
            format!("docker.io/library/nginx@{SHA}")
        );
        assert_eq!(
            both.name_only().string_without_default_tag(),
            "docker.io/library/nginx"
        );
        assert_eq!(
            both.with_tag("1.26").unwrap().to_string(),
            format!("docker.io/library/nginx:1.26@{SHA}")
        );
        assert!(matches!(
            both.with_tag("-bad"),
            Err(ReferenceError::InvalidTag { .. })
        ));
        assert!(matches!(
            both.with_tag(&"t".repeat(129)),
            Err(ReferenceError::InvalidTag { .. })
        ));

        let pinned = r.with_digest(SHA).unwrap();
        assert_eq!(pinned.to_string(), format!("docker.io/library/nginx@{SHA}"));
        assert!(matches!(
            r.with_digest("sha256:abc"),
            Err(ReferenceError::InvalidDigest { .. })
        ));
        assert!(matches!(
            r.with_digest(&sha256_of_len(63)),
            Err(ReferenceError::InvalidDigest { .. })
        ));
    }

    #[test]
    fn familiar_names() {
        let cases = [
            ("docker.io/library/redis:7", "redis", "redis:7"),
            (
                "docker.io/dmcgowan/myapp",
                "dmcgowan/myapp",
                "dmcgowan/myapp",
            ),
            (
                "quay.io/prometheus/prometheus:v2.53.0",
                "quay.io/prometheus/prometheus",
                "quay.io/prometheus/prometheus:v2.53.0",
            ),
            (
                "localhost:5000/library/foo",
                "localhost:5000/library/foo",
                "localhost:5000/library/foo",
            ),
        ];
        for (input, name, string) in cases {
            let r = parse_normalized_named(input).unwrap();
            assert_eq!(r.familiar_name(), name);
            assert_eq!(r.familiar_string(), string);
        }
    }

    /// Found by fuzzing (fuzz/seeds/image_reference/regression-familiar-*): a Docker Hub
    /// path whose first component looks like a registry printed its familiar form without
    /// `docker.io/`, which parses back as another registry's image; an official image named
    /// by 64 hex digits printed a familiar form that is refused as an image ID.
    /// Found by fuzzing (fuzz/seeds/image_reference/regression-relocate-to-docker-hub):
    /// relocating a one-component path to `docker.io` gave `docker.io/at`, a reference that
    /// reads back as `docker.io/library/at`.
    #[test]
    fn relocating_to_docker_hub_normalises_official_images() {
        let r = parse_normalized_named("ghcr.io/at:1").unwrap();
        let moved = r.with_registry("docker.io").unwrap();
        assert_eq!(moved.path(), "library/at");
        assert_eq!(parse_normalized_named(&moved.string_without_default_tag()), Ok(moved.clone()));
        assert_eq!(moved.familiar_string(), "at:1");
        let moved = r.with_registry("docker.io/team").unwrap();
        assert_eq!(moved.path(), "team/at");
        let moved = parse_normalized_named("quay.io/org/app").unwrap().with_registry("docker.io").unwrap();
        assert_eq!(moved.path(), "org/app");
    }

    #[test]
    fn familiar_form_of_a_domain_like_docker_hub_path_parses_back_to_itself() {
        for input in [
            "docker.io/quay.io/team/app:1.0",
            "docker.io/localhost/x",
            "docker.io/a.b/c@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b",
            "docker.io/library/localhost",
            "docker.io/library/a.b/c",
        ] {
            let r = parse_normalized_named(input).unwrap();
            assert_eq!(parse_normalized_named(&r.familiar_string()), Ok(r.clone()), "{input} → {}", r.familiar_string());
        }
        // an official image named like an image ID keeps `library/`
        let hex = "3c624b58dbbcd3c0dd84bc253f0419ab7c610c419ab7c610cf7d6f7d66709b3b";
        let r = parse_normalized_named(&format!("docker.io/{hex}")).unwrap();
        assert_eq!(r.familiar_string(), format!("library/{hex}"));
        assert_eq!(parse_normalized_named(&r.familiar_string()), Ok(r));
        let r = parse_normalized_named("docker.io/quay.io/team/app:1.0").unwrap();
        assert_eq!(r.familiar_string(), "docker.io/quay.io/team/app:1.0");
        assert_eq!(parse_normalized_named("docker.io/library/localhost").unwrap().familiar_string(), "localhost");
    }

    #[test]
    fn from_str_and_serde_round_trip() {
        let r: Reference = "bitnami/redis".parse().unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/bitnami/redis\"");
        let back: Reference = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<Reference>("\"Foo::bar\"").is_err());
        assert!("a...b".parse::<Reference>().is_err());
    }

    #[test]
    fn explicit_domain_heuristic() {
        for yes in ["localhost", "example.com", "registry:5000", "[::1]"] {
            assert!(is_explicit_domain(yes), "{yes}");
        }
        for no in ["library", "bitnami", "Foo", "localhost2"] {
            assert!(!is_explicit_domain(no), "{no}");
        }
    }
}
