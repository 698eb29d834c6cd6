//! Deterministic synthetic OCI images.
//!
//! Every byte is a function of the [`ImageSpec`]: tar entries have fixed
//! mtime/uid/gid/mode, gzip headers carry no timestamp, and layer contents come
//! from a seeded PRNG. Building the same spec twice yields the same digests.

use anyhow::{bail, Context, Result};
use flate2::{Compression, GzBuilder};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index media type.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config media type.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI gzip layer media type.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Docker schema 2 manifest media type.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list media type.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config media type.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer media type.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

/// Manifest flavour of a synthetic image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ImageFormat {
    /// OCI image manifest / OCI image index (default).
    #[default]
    Oci,
    /// Docker schema 2 manifest / manifest list (what many real public images use).
    Docker,
}

/// Fixed timestamp used in tar headers and image configs (2024-01-01T00:00:00Z).
pub const FIXED_EPOCH: u64 = 1_704_067_200;
const FIXED_CREATED: &str = "2024-01-01T00:00:00Z";

/// Default size of a named base layer's payload.
pub const DEFAULT_BASE_SIZE: usize = 48 * 1024;

/// One layer of a synthetic image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LayerSpec {
    /// A shared base layer: its bytes depend only on `name` and `size`, so
    /// every image (and platform) using it has the identical blob/digest.
    Base {
        /// Name, e.g. `"debian-12"`.
        name: String,
        /// Payload size in bytes.
        size: usize,
    },
    /// A layer of this image only: content seeded by image name, platform,
    /// layer position and `salt`.
    Own {
        /// Payload size in bytes (pseudo-random, so gzip barely shrinks it).
        size: usize,
        /// Extra seed material (empty by default).
        salt: String,
    },
}

impl LayerSpec {
    /// Shared base layer with [`DEFAULT_BASE_SIZE`].
    pub fn base(name: &str) -> Self {
        LayerSpec::Base {
            name: name.to_string(),
            size: DEFAULT_BASE_SIZE,
        }
    }
    /// Shared base layer with a payload size.
    pub fn base_sized(name: &str, size: usize) -> Self {
        LayerSpec::Base {
            name: name.to_string(),
            size,
        }
    }
    /// Image-specific layer of `size` bytes.
    pub fn own(size: usize) -> Self {
        LayerSpec::Own {
            size,
            salt: String::new(),
        }
    }
    /// Image-specific layer with extra seed material (e.g. to make a "new build").
    pub fn own_salted(size: usize, salt: &str) -> Self {
        LayerSpec::Own {
            size,
            salt: salt.to_string(),
        }
    }
}

/// A parsed image reference `registry/repository:tag`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    /// `docker.io`, `quay.io`, `127.0.0.1:5000` ...
    pub registry: String,
    /// `bitnami/redis`, `library/nginx` ...
    pub repository: String,
    /// `7.2.4` (default `latest`).
    pub tag: String,
}

impl ImageRef {
    /// Parse and normalise like docker does: no registry → `docker.io`,
    /// single path element on docker.io → `library/…`, no tag → `latest`.
    /// Digest references are not supported.
    pub fn parse(name: &str) -> Result<ImageRef> {
        if name.contains('@') {
            bail!("digest references are not supported by the lab builder: {name}");
        }
        let (first, rest) = match name.split_once('/') {
            Some((f, r)) if f.contains('.') || f.contains(':') || f == "localhost" => {
                (f.to_string(), r.to_string())
            }
            _ => ("docker.io".to_string(), name.to_string()),
        };
        let (repo, tag) = match rest.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (rest.clone(), "latest".to_string()),
        };
        let repo = if first == "docker.io" && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        if repo.is_empty() || tag.is_empty() {
            bail!("invalid image reference {name:?}");
        }
        Ok(ImageRef {
            registry: first,
            repository: repo,
            tag,
        })
    }
    /// `registry/repository` without tag.
    pub fn name_without_tag(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl std::fmt::Display for ImageRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.registry, self.repository, self.tag)
    }
}

/// Description of a synthetic image.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageSpec {
    /// Full reference, e.g. `docker.io/bitnami/redis:7.2.4`.
    pub name: String,
    /// Layers, bottom first.
    pub layers: Vec<LayerSpec>,
    /// `os/arch[/variant]`; more than one → an image index / manifest list.
    pub platforms: Vec<String>,
    /// OCI (default) or Docker schema 2 media types.
    pub format: ImageFormat,
}

impl ImageSpec {
    /// Image with base layer `base-os` plus one 16 KiB own layer, `linux/amd64`.
    pub fn new(name: &str) -> Self {
        ImageSpec {
            name: name.to_string(),
            layers: vec![LayerSpec::base("base-os"), LayerSpec::own(16 * 1024)],
            platforms: vec!["linux/amd64".to_string()],
            format: ImageFormat::Oci,
        }
    }
    /// Use Docker schema 2 media types (manifest list for several platforms).
    pub fn docker_format(mut self) -> Self {
        self.format = ImageFormat::Docker;
        self
    }
    /// Replace the layers.
    pub fn layers(mut self, layers: Vec<LayerSpec>) -> Self {
        self.layers = layers;
        self
    }
    /// Replace the platforms.
    pub fn platforms(mut self, platforms: &[&str]) -> Self {
        self.platforms = platforms.iter().map(|s| s.to_string()).collect();
        self
    }
    /// Parsed reference.
    pub fn image_ref(&self) -> Result<ImageRef> {
        ImageRef::parse(&self.name)
    }
    /// Build into a new OCI layout directory `dir` (created; must be empty or absent).
    pub fn build_oci_layout(&self, dir: &Path) -> Result<BuiltImage> {
        build_oci_layout(self, dir)
    }
}

/// One platform's image inside a [`BuiltImage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformImage {
    /// `linux/amd64` ...
    pub platform: String,
    /// Digest of this platform's image manifest.
    pub manifest_digest: String,
    /// Digest of the image config blob.
    pub config_digest: String,
    /// Digests of the compressed layer blobs, bottom first.
    pub layer_digests: Vec<String>,
    /// `rootfs.diff_ids`: sha256 of the uncompressed tars.
    pub diff_ids: Vec<String>,
}

/// Result of building an [`ImageSpec`] into an OCI layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The spec's name.
    pub name: String,
    /// Layout directory (use as `oci:DIR:TAG`).
    pub layout_dir: PathBuf,
    /// Ref name inside the layout (the image tag).
    pub tag: String,
    /// Digest of the top-level manifest (single platform) or index.
    pub digest: String,
    /// Media type of the top-level object ([`OCI_MANIFEST`], [`OCI_INDEX`],
    /// [`DOCKER_MANIFEST`] or [`DOCKER_MANIFEST_LIST`]).
    pub media_type: String,
    /// Per-platform details.
    pub platforms: Vec<PlatformImage>,
    /// skopeo source reference: `oci:DIR:TAG`, or for Docker-format images
    /// `dir:DIR/dir-transport` (containers/image only resolves OCI media types
    /// in an OCI layout's `index.json`, so Docker manifests go through `dir:`).
    pub source_reference: String,
}

impl BuiltImage {
    /// `oci:DIR:TAG` reference of the OCI layout (OCI-format images).
    pub fn oci_reference(&self) -> String {
        format!("oci:{}:{}", self.layout_dir.display(), self.tag)
    }
    /// All blob digests (layers, configs, manifests, index), deduplicated.
    pub fn all_digests(&self) -> Vec<String> {
        let mut v = vec![self.digest.clone()];
        for p in &self.platforms {
            v.push(p.manifest_digest.clone());
            v.push(p.config_digest.clone());
            v.extend(p.layer_digests.iter().cloned());
        }
        v.sort();
        v.dedup();
        v
    }
}

/// sha256 digest string `sha256:<hex>`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Deterministic pseudo-random bytes (splitmix64 seeded from sha256(seed)).
pub fn pseudo_random_bytes(seed: &str, len: usize) -> Vec<u8> {
    let h = Sha256::digest(seed.as_bytes());
    let mut state = u64::from_le_bytes(h[..8].try_into().unwrap());
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(len);
    out
}

fn tar_header(path: &str, size: u64, dir: bool) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(if dir {
        tar::EntryType::Directory
    } else {
        tar::EntryType::Regular
    });
    h.set_size(size);
    h.set_mtime(FIXED_EPOCH);
    h.set_uid(0);
    h.set_gid(0);
    let _ = h.set_username("");
    let _ = h.set_groupname("");
    h.set_mode(if dir { 0o755 } else { 0o644 });
    h.set_path(path).expect("valid tar path");
    h.set_cksum();
    h
}

/// Build one layer: returns (uncompressed tar, gzip bytes).
fn layer_bytes(dir_name: &str, payload_seed: &str, size: usize) -> Result<(Vec<u8>, Vec<u8>)> {
    let mut b = tar::Builder::new(Vec::new());
    b.mode(tar::HeaderMode::Deterministic);
    let top = "opt/kod-lab/".to_string();
    let sub = format!("{top}{dir_name}/");
    for d in ["opt/", top.as_str(), sub.as_str()] {
        let h = tar_header(d, 0, true);
        b.append(&h, std::io::empty())?;
    }
    let info = format!("kod-testlab synthetic layer\nseed: {payload_seed}\nsize: {size}\n");
    let h = tar_header(&format!("{sub}INFO"), info.len() as u64, false);
    b.append(&h, info.as_bytes())?;
    let data = pseudo_random_bytes(payload_seed, size);
    let h = tar_header(&format!("{sub}payload.bin"), data.len() as u64, false);
    b.append(&h, &data[..])?;
    let tar = b.into_inner()?;
    let mut gz = GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), Compression::new(6));
    gz.write_all(&tar)?;
    let gz = gz.finish()?;
    Ok((tar, gz))
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

struct Blobs<'a> {
    dir: &'a Path,
}

impl Blobs<'_> {
    fn put(&self, bytes: &[u8]) -> Result<(String, u64)> {
        let d = sha256_digest(bytes);
        let p = self.dir.join("blobs/sha256").join(&d[7..]);
        if !p.exists() {
            std::fs::write(&p, bytes).with_context(|| format!("write {}", p.display()))?;
        }
        Ok((d, bytes.len() as u64))
    }
}

fn platform_json(p: &str) -> Result<serde_json::Value> {
    let parts: Vec<&str> = p.split('/').collect();
    match parts.as_slice() {
        [os, arch] => Ok(json!({"architecture": arch, "os": os})),
        [os, arch, variant] => Ok(json!({"architecture": arch, "os": os, "variant": variant})),
        _ => bail!("invalid platform {p:?} (want os/arch[/variant])"),
    }
}

fn build_oci_layout(spec: &ImageSpec, dir: &Path) -> Result<BuiltImage> {
    let r = spec.image_ref()?;
    if spec.platforms.is_empty() {
        bail!("image {} has no platforms", spec.name);
    }
    std::fs::create_dir_all(dir.join("blobs/sha256"))?;
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    let blobs = Blobs { dir };
    let (mt_manifest, mt_index, mt_config, mt_layer) = match spec.format {
        ImageFormat::Oci => (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER_GZIP),
        ImageFormat::Docker => (
            DOCKER_MANIFEST,
            DOCKER_MANIFEST_LIST,
            DOCKER_CONFIG,
            DOCKER_LAYER_GZIP,
        ),
    };
    let mut plats = Vec::new();
    let mut manifest_descs = Vec::new();
    for platform in &spec.platforms {
        let pj = platform_json(platform)?;
        let mut layer_descs = Vec::new();
        let mut diff_ids = Vec::new();
        let mut layer_digests = Vec::new();
        let mut history = Vec::new();
        for (i, l) in spec.layers.iter().enumerate() {
            let (dir_name, seed, size) = match l {
                LayerSpec::Base { name, size } => (
                    format!("base-{}", sanitize(name)),
                    format!("base:{name}:{size}"),
                    *size,
                ),
                LayerSpec::Own { size, salt } => (
                    format!("own-{i}"),
                    format!("own:{}:{platform}:{i}:{size}:{salt}", r),
                    *size,
                ),
            };
            let (tar, gz) = layer_bytes(&dir_name, &seed, size)?;
            diff_ids.push(sha256_digest(&tar));
            let (d, sz) = blobs.put(&gz)?;
            layer_digests.push(d.clone());
            layer_descs.push(json!({"mediaType": mt_layer, "digest": d, "size": sz}));
            history.push(
                json!({"created": FIXED_CREATED, "created_by": format!("kod-testlab: {dir_name}")}),
            );
        }
        let mut config = json!({
            "created": FIXED_CREATED,
            "architecture": pj["architecture"],
            "os": pj["os"],
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Labels": {"org.opencontainers.image.title": r.to_string(), "kod.testlab": "synthetic"}
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        });
        if let Some(v) = pj.get("variant") {
            config["variant"] = v.clone();
        }
        let (config_digest, config_size) = blobs.put(&serde_json::to_vec(&config)?)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": mt_manifest,
            "config": {"mediaType": mt_config, "digest": config_digest, "size": config_size},
            "layers": layer_descs,
        });
        let (md, ms) = blobs.put(&serde_json::to_vec(&manifest)?)?;
        manifest_descs
            .push(json!({"mediaType": mt_manifest, "digest": md, "size": ms, "platform": pj}));
        plats.push(PlatformImage {
            platform: platform.clone(),
            manifest_digest: md,
            config_digest,
            layer_digests,
            diff_ids: config["rootfs"]["diff_ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect(),
        });
    }
    let (digest, media_type, size) = if spec.platforms.len() == 1 {
        let d = &manifest_descs[0];
        (
            d["digest"].as_str().unwrap().to_string(),
            mt_manifest,
            d["size"].as_u64().unwrap(),
        )
    } else {
        let index = json!({"schemaVersion": 2, "mediaType": mt_index, "manifests": manifest_descs});
        let (d, s) = blobs.put(&serde_json::to_vec(&index)?)?;
        (d, mt_index, s)
    };
    let layout_index = json!({
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [{
            "mediaType": media_type,
            "digest": digest,
            "size": size,
            "annotations": {"org.opencontainers.image.ref.name": r.tag},
        }],
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&layout_index)?)?;
    let source_reference = match spec.format {
        ImageFormat::Oci => format!("oci:{}:{}", dir.display(), r.tag),
        ImageFormat::Docker => {
            // containers/image `dir:` transport: version, manifest.json,
            // <hex> per blob, <hex>.manifest.json per list instance.
            let d = dir.join("dir-transport");
            std::fs::create_dir_all(&d)?;
            std::fs::write(d.join("version"), "Directory Transport Version: 1.1\n")?;
            let blob = |dg: &str| dir.join("blobs/sha256").join(&dg[7..]);
            std::fs::copy(blob(&digest), d.join("manifest.json"))?;
            for p in &plats {
                if spec.platforms.len() > 1 {
                    std::fs::copy(
                        blob(&p.manifest_digest),
                        d.join(format!("{}.manifest.json", &p.manifest_digest[7..])),
                    )?;
                }
                for b in p
                    .layer_digests
                    .iter()
                    .chain(std::iter::once(&p.config_digest))
                {
                    std::fs::copy(blob(b), d.join(&b[7..]))?;
                }
            }
            format!("dir:{}", d.display())
        }
    };
    Ok(BuiltImage {
        name: spec.name.clone(),
        layout_dir: dir.to_path_buf(),
        tag: r.tag.clone(),
        digest,
        media_type: media_type.to_string(),
        platforms: plats,
        source_reference,
    })
}

/// Ready-made catalogues of real-looking images.
pub mod catalog {
    use super::{ImageSpec, LayerSpec};

    /// The default catalogue: eight well-known names, small layers, several
    /// shared base layers (`debian-12`, `distroless`, `istio-base`), istio
    /// images and ingress-nginx multi-arch.
    pub fn default_images() -> Vec<ImageSpec> {
        vec![
            ImageSpec::new("docker.io/bitnami/redis:7.2.4").layers(vec![
                LayerSpec::base("debian-12"),
                LayerSpec::own(24 * 1024),
                LayerSpec::own(8 * 1024),
            ]),
            ImageSpec::new("docker.io/bitnami/postgresql:16.3.0").layers(vec![
                LayerSpec::base("debian-12"),
                LayerSpec::own(32 * 1024),
            ]),
            ImageSpec::new("quay.io/prometheus/prometheus:v3.0.0")
                .layers(vec![LayerSpec::base("busybox"), LayerSpec::own(40 * 1024)]),
            ImageSpec::new("registry.k8s.io/ingress-nginx/controller:v1.11.0")
                .layers(vec![
                    LayerSpec::base("alpine-3.20"),
                    LayerSpec::own(24 * 1024),
                ])
                .platforms(&["linux/amd64", "linux/arm64"]),
            ImageSpec::new("ghcr.io/example/app:1.0.0").layers(vec![
                LayerSpec::base("distroless"),
                LayerSpec::own(12 * 1024),
            ]),
            ImageSpec::new("gcr.io/distroless/static:nonroot")
                .layers(vec![LayerSpec::base("distroless")]),
            ImageSpec::new("docker.io/istio/pilot:1.27.1").layers(vec![
                LayerSpec::base("istio-base"),
                LayerSpec::own(20 * 1024),
            ]),
            ImageSpec::new("docker.io/istio/proxyv2:1.27.1").layers(vec![
                LayerSpec::base("istio-base"),
                LayerSpec::own(28 * 1024),
            ]),
        ]
    }

    /// Two images sharing the `debian-12` base (redis + postgresql).
    pub fn shared_base_pair() -> Vec<ImageSpec> {
        default_images().into_iter().take(2).collect()
    }

    /// Istio's pair (pilot + proxyv2), sharing `istio-base`.
    pub fn istio(version: &str) -> Vec<ImageSpec> {
        ["pilot", "proxyv2"]
            .iter()
            .map(|n| {
                ImageSpec::new(&format!("docker.io/istio/{n}:{version}")).layers(vec![
                    LayerSpec::base("istio-base"),
                    LayerSpec::own(20 * 1024),
                ])
            })
            .collect()
    }

    /// A single tiny image (one 4 KiB own layer) — fastest possible push.
    pub fn tiny(name: &str) -> ImageSpec {
        ImageSpec::new(name).layers(vec![LayerSpec::own(4 * 1024)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_refs() {
        let r = ImageRef::parse("redis").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/redis:latest");
        let r = ImageRef::parse("docker.io/bitnami/redis:7.2.4").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("docker.io", "bitnami/redis", "7.2.4")
        );
        let r = ImageRef::parse("127.0.0.1:5000/a/b").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/a/b:latest");
        let r = ImageRef::parse("gcr.io/distroless/static:nonroot").unwrap();
        assert_eq!(r.tag, "nonroot");
    }

    #[test]
    fn deterministic_and_shared_base() {
        let t = tempfile::tempdir().unwrap();
        let spec = ImageSpec::new("docker.io/bitnami/redis:7.2.4")
            .platforms(&["linux/amd64", "linux/arm64"]);
        let a = spec.build_oci_layout(&t.path().join("a")).unwrap();
        let b = spec.build_oci_layout(&t.path().join("b")).unwrap();
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.media_type, OCI_INDEX);
        assert_eq!(a.platforms.len(), 2);
        // base layer shared across platforms, own layer differs
        assert_eq!(
            a.platforms[0].layer_digests[0],
            a.platforms[1].layer_digests[0]
        );
        assert_ne!(
            a.platforms[0].layer_digests[1],
            a.platforms[1].layer_digests[1]
        );
        let other = ImageSpec::new("docker.io/bitnami/postgresql:16.3.0")
            .build_oci_layout(&t.path().join("c"))
            .unwrap();
        assert_eq!(
            other.platforms[0].layer_digests[0],
            a.platforms[0].layer_digests[0]
        );
        assert_ne!(other.digest, a.digest);
        // diff_id is the sha256 of the uncompressed tar
        let gz = std::fs::read(
            a.layout_dir
                .join("blobs/sha256")
                .join(&a.platforms[0].layer_digests[1][7..]),
        )
        .unwrap();
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&gz[..]), &mut tar).unwrap();
        assert_eq!(sha256_digest(&tar), a.platforms[0].diff_ids[1]);
    }
}
