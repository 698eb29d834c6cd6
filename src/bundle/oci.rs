//! The parts of the OCI image layout kod reads and writes: descriptors, manifests, image
//! indexes, and the closure of blobs an image needs.
//!
//! Manifests are handled as raw JSON so every media type passes through untouched: OCI
//! manifests and indexes, and Docker schema-2 manifests and manifest lists (kod copies with
//! `--preserve-digests`, so a Docker image keeps its Docker manifest and its digest).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// The annotation an OCI layout uses to name an entry of `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Largest manifest kod accepts (registries use 4 MiB).
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// An OCI content descriptor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType", default)]
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `platform` of an index entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

impl Platform {
    /// `os/arch[/variant]`.
    pub fn key(&self) -> String {
        match &self.variant {
            Some(v) if !v.is_empty() => format!("{}/{}/{}", self.os, self.architecture, v),
            _ => format!("{}/{}", self.os, self.architecture),
        }
    }
}

/// Whether a media type is an index / manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_LIST
}

/// Whether a media type is a single-image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// The parsed parts of a manifest or index kod needs.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ManifestDoc {
    #[serde(rename = "mediaType", default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
}

/// `sha256:<hex>` → `<hex>`, validated.
pub fn digest_hex(digest: &str) -> Result<&str> {
    let hex = digest.strip_prefix("sha256:").ok_or_else(|| anyhow!("unsupported digest {digest:?} (only sha256 is supported)"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        bail!("malformed digest {digest:?}");
    }
    Ok(hex)
}

/// Where a blob lives under an OCI layout's `blobs/` directory.
pub fn blob_path(blobs_dir: &Path, digest: &str) -> Result<PathBuf> {
    Ok(blobs_dir.join("sha256").join(digest_hex(digest)?))
}

/// A source of manifest bytes by digest (a directory, or blobs kept while streaming a tar).
pub trait BlobSource {
    fn manifest_bytes(&self, digest: &str) -> Result<Vec<u8>>;
}

/// Blobs in a directory (`DIR/sha256/<hex>`).
pub struct BlobDir<'a>(pub &'a Path);

impl BlobSource for BlobDir<'_> {
    fn manifest_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        let p = blob_path(self.0, digest)?;
        let meta = std::fs::metadata(&p).with_context(|| format!("blob {digest} is missing ({})", p.display()))?;
        if meta.len() > MAX_MANIFEST_BYTES {
            bail!("manifest {digest} is {} bytes, more than the {MAX_MANIFEST_BYTES} a manifest may have", meta.len());
        }
        std::fs::read(&p).with_context(|| format!("reading blob {digest}"))
    }
}

/// Blobs kept in memory (manifest-sized JSON blobs seen while reading a bundle).
impl BlobSource for BTreeMap<String, Vec<u8>> {
    fn manifest_bytes(&self, digest: &str) -> Result<Vec<u8>> {
        self.get(digest).cloned().ok_or_else(|| anyhow!("manifest blob {digest} is not in the bundle"))
    }
}

/// Parse a manifest/index blob and check it hashes to `digest`.
pub fn read_manifest(src: &dyn BlobSource, desc: &Descriptor) -> Result<ManifestDoc> {
    let bytes = src.manifest_bytes(&desc.digest)?;
    let actual = crate::bundle::sha256_hex(&bytes);
    if format!("sha256:{actual}") != desc.digest {
        bail!("manifest blob {} has the wrong content (sha256:{actual})", desc.digest);
    }
    serde_json::from_slice(&bytes).with_context(|| format!("manifest {} is not valid JSON", desc.digest))
}

/// Every blob an image needs, starting from its top descriptor: the descriptor itself, for
/// an index its child manifests, and for each manifest its config and layers. Each blob
/// appears once. The media type of a manifest is taken from its descriptor, or from the
/// manifest itself when the descriptor has none.
pub fn closure(src: &dyn BlobSource, top: &Descriptor) -> Result<Vec<Descriptor>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut stack = vec![top.clone()];
    let mut depth_guard = 0usize;
    while let Some(desc) = stack.pop() {
        depth_guard += 1;
        if depth_guard > 100_000 {
            bail!("image {} references too many blobs", top.digest);
        }
        if !seen.insert(desc.digest.clone()) {
            continue;
        }
        digest_hex(&desc.digest)?;
        out.push(desc.clone());
        let looks_like_manifest = is_index(&desc.media_type) || is_manifest(&desc.media_type) || desc.media_type.is_empty() && desc.digest == top.digest;
        if !looks_like_manifest {
            continue;
        }
        let doc = read_manifest(src, &desc)?;
        let mt = if desc.media_type.is_empty() { doc.media_type.clone().unwrap_or_default() } else { desc.media_type.clone() };
        if is_index(&mt) || !doc.manifests.is_empty() {
            for m in doc.manifests.iter().rev() {
                stack.push(m.clone());
            }
        } else {
            for l in doc.layers.iter().rev() {
                stack.push(l.clone());
            }
            if let Some(c) = &doc.config {
                stack.push(c.clone());
            }
        }
    }
    Ok(out)
}

/// An OCI layout's `index.json`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Index {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
}

/// The `oci-layout` marker file's content.
pub const OCI_LAYOUT_FILE: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";

#[cfg(test)]
mod tests {
    use super::*;

    fn put(dir: &Path, bytes: &[u8]) -> Descriptor {
        let hex = crate::bundle::sha256_hex(bytes);
        std::fs::create_dir_all(dir.join("sha256")).unwrap();
        std::fs::write(dir.join("sha256").join(&hex), bytes).unwrap();
        Descriptor { media_type: String::new(), digest: format!("sha256:{hex}"), size: bytes.len() as u64, platform: None, annotations: BTreeMap::new() }
    }

    #[test]
    fn closure_of_an_index_with_shared_layers() {
        let d = tempfile::tempdir().unwrap();
        let layer = put(d.path(), b"shared layer");
        let own = put(d.path(), b"own layer");
        let cfg = put(d.path(), b"{\"config\":1}");
        let mk = |layers: Vec<&Descriptor>| {
            let m = serde_json::json!({
                "schemaVersion": 2, "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg.digest, "size": cfg.size},
                "layers": layers.iter().map(|l| serde_json::json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": l.digest, "size": l.size})).collect::<Vec<_>>(),
            });
            let mut desc = put(d.path(), m.to_string().as_bytes());
            desc.media_type = OCI_MANIFEST.into();
            desc
        };
        let amd = mk(vec![&layer, &own]);
        let arm = mk(vec![&layer]);
        let idx = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [amd, arm]});
        let mut top = put(d.path(), idx.to_string().as_bytes());
        top.media_type = OCI_INDEX.into();
        let c = closure(&BlobDir(d.path()), &top).unwrap();
        let digests: BTreeSet<String> = c.iter().map(|x| x.digest.clone()).collect();
        assert_eq!(c.len(), 6, "index + 2 manifests + config + 2 layers, each once");
        assert!(digests.contains(&layer.digest) && digests.contains(&own.digest) && digests.contains(&cfg.digest));
    }

    #[test]
    fn missing_or_tampered_manifests_are_errors() {
        let d = tempfile::tempdir().unwrap();
        let mut m = put(d.path(), br#"{"schemaVersion":2,"layers":[]}"#);
        m.media_type = OCI_MANIFEST.into();
        std::fs::write(blob_path(d.path(), &m.digest).unwrap(), b"tampered").unwrap();
        assert!(closure(&BlobDir(d.path()), &m).unwrap_err().to_string().contains("wrong content"));
        let gone = Descriptor { digest: format!("sha256:{}", "0".repeat(64)), media_type: OCI_MANIFEST.into(), ..m };
        assert!(closure(&BlobDir(d.path()), &gone).unwrap_err().to_string().contains("is missing"));
        assert!(digest_hex("sha256:xyz").is_err());
        assert!(digest_hex("md5:abc").unwrap_err().to_string().contains("only sha256"));
    }
}
