//! The bundle format (documented for third parties in docs/bundle-format.md).
//!
//! A bundle is one uncompressed POSIX tar file. Its first entry is `kod-bundle.json`, the
//! manifest below, which lists every other entry with its sha256 and size, so a reader can
//! inspect a bundle from its first entry and verify it in one streaming pass. Container
//! image blobs are already compressed and are stored as they are (never recompressed).
//!
//! ```text
//! kod-bundle.json                  the manifest (this module)
//! charts/<name>-<version>.tgz      every chart, as pulled
//! images/oci-layout                an OCI image layout holding every image;
//! images/index.json                one entry per image, annotated with its source name
//! images/blobs/sha256/<hex>        every blob once, however many images share it
//! helmfile/...                     the helmfile files and values as read
//! rendered/<env>/state.yaml        the rendered state per environment
//! ```

use serde::{Deserialize, Serialize};

/// The manifest's file name (always the first tar entry).
pub const MANIFEST_NAME: &str = "kod-bundle.json";
/// The current schema version; readers refuse newer ones.
pub const SCHEMA_VERSION: u32 = 1;
/// `kind` of a kod bundle manifest.
pub const KIND: &str = "kod-bundle";

/// `kod-bundle.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    pub kind: String,
    #[serde(rename = "kodVersion")]
    pub kod_version: String,
    /// RFC 3339 UTC.
    #[serde(rename = "createdAt")]
    pub created_at: String,
    /// The environments packaged (`-e`, in order); `sync` picks one.
    pub environments: Vec<String>,
    /// The platforms kept for multi-platform images (`os/arch[/variant]`), or `["all"]`.
    pub platforms: Vec<String>,
    /// `package --pin-digests`: the offline side references images by digest
    /// (`repo@sha256:…`) by default rather than by tag.
    #[serde(rename = "pinDigests", default)]
    pub pin_digests: bool,
    /// Per environment: the release plan (`kod helmfile plan -o json`).
    #[serde(default)]
    pub plans: Vec<EnvironmentPlan>,
    /// Every release of every environment, with its chart and images.
    pub releases: Vec<Release>,
    pub charts: Vec<Chart>,
    pub images: Vec<Image>,
    /// Every other entry of the tar, with its checksum.
    pub files: Vec<FileEntry>,
    pub totals: Totals,
}

/// The plan of one environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentPlan {
    pub environment: String,
    pub plan: serde_json::Value,
}

/// A release as packaged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub environment: String,
    /// helmfile's release ID (`[ctx/][ns/]name`).
    pub id: String,
    pub name: String,
    pub namespace: String,
    #[serde(rename = "kubeContext", default, skip_serializing_if = "String::is_empty")]
    pub kube_context: String,
    /// The state file that defines it (relative to the helmfile root).
    #[serde(rename = "stateFile")]
    pub state_file: String,
    /// The `chart:` as written (`repo/chart`, `oci://…`, `./path`).
    #[serde(rename = "chartRef")]
    pub chart_ref: String,
    /// The bundle path of the chart archive.
    #[serde(rename = "chartFile")]
    pub chart_file: String,
    pub installed: bool,
    pub images: Vec<ReleaseImage>,
}

/// An image a release pulls, and how to redirect it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReleaseImage {
    /// The normalised source reference (`docker.io/bitnami/redis:7.2.4`).
    pub source: String,
    /// The value path that controls it, when one does (`image`, `global.hub`).
    #[serde(rename = "valuePath", default, skip_serializing_if = "Option::is_none")]
    pub value_path: Option<String>,
    /// The fields at `valuePath` the offline rewrite sets (style and field paths).
    #[serde(rename = "valueShape", default, skip_serializing_if = "Option::is_none")]
    pub value_shape: Option<crate::image::values::ValueShape>,
    /// Why kod believes the release pulls it (strategy, object, field).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub provenance: Vec<String>,
}

/// A chart archive in the bundle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chart {
    pub name: String,
    pub version: String,
    /// Where it came from (`https://repo/…`, `oci://…`, a local path).
    pub source: String,
    /// The bundle path (`charts/<name>-<version>.tgz`).
    pub file: String,
    pub sha256: String,
    pub size: u64,
}

/// An image in the bundle's OCI layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// The normalised source reference; also the `org.opencontainers.image.ref.name` of its
    /// `images/index.json` entry.
    pub source: String,
    /// The digest of the stored top manifest (or index).
    pub digest: String,
    #[serde(rename = "mediaType")]
    pub media_type: String,
    /// The digest the source registry reported for the reference (differs from `digest`
    /// when a single platform was kept out of a multi-platform index).
    #[serde(rename = "sourceDigest")]
    pub source_digest: String,
    /// Per-platform manifests (`os/arch` → digest), when known.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<PlatformManifest>,
    /// Bytes of every blob the image needs (shared blobs counted for each image).
    pub size: u64,
    /// How many blobs it needs.
    pub blobs: u64,
    /// Where it was copied from when a source mirror was used.
    #[serde(rename = "pulledFrom", default, skip_serializing_if = "Option::is_none")]
    pub pulled_from: Option<String>,
}

/// One platform of an image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformManifest {
    pub platform: String,
    pub digest: String,
}

/// A tar entry other than the manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

/// Size accounting.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    /// Sum of every image's `size` (what per-image archives would hold).
    #[serde(rename = "imageBytes")]
    pub image_bytes: u64,
    /// Bytes of distinct blobs (what the bundle holds).
    #[serde(rename = "uniqueBlobBytes")]
    pub unique_blob_bytes: u64,
    #[serde(rename = "uniqueBlobs")]
    pub unique_blobs: u64,
    #[serde(rename = "chartBytes")]
    pub chart_bytes: u64,
    /// Bytes of every file listed in `files`.
    #[serde(rename = "fileBytes")]
    pub file_bytes: u64,
}

impl Manifest {
    /// Check the fields a reader relies on before trusting the rest.
    pub fn validate_header(&self) -> anyhow::Result<()> {
        if self.kind != KIND {
            anyhow::bail!("{MANIFEST_NAME}: kind is {:?}, not {KIND:?} (not a kod bundle)", self.kind);
        }
        if self.schema_version > SCHEMA_VERSION {
            anyhow::bail!(
                "{MANIFEST_NAME}: schema version {} is newer than this kod understands ({SCHEMA_VERSION}); use kod {} or newer",
                self.schema_version,
                self.kod_version
            );
        }
        Ok(())
    }
}
