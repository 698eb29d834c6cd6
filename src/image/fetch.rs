//! Copying images from their source registries into kod's work directory, with skopeo.
//!
//! Every image is copied with `skopeo copy --preserve-digests` into its own small OCI layout
//! (`refs/<key>/`), all of them sharing one blob directory (`--dest-shared-blob-dir
//! blobs/`), so a layer used by many images is downloaded and stored once. Digests are
//! preserved: a Docker-format image keeps its Docker manifest.
//!
//! Platforms: with one platform (the default, `linux/amd64`) kod keeps that platform's
//! manifest of a multi-platform image; with several it keeps those platforms' manifests and
//! writes an image index listing just them (each platform manifest keeps its digest; the
//! index is new); with `--all-platforms` the source index is kept whole.
//!
//! The work directory is content-addressed and resumable: an image whose record
//! (`refs/<key>/kod-image.json`, written last) exists and whose blobs are all present is not
//! copied again.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::bundle::oci::{self, BlobDir, Descriptor, Index, Platform};
use crate::bundle::sha256_hex;
use crate::exec::{bounded, Cmd, Runner, Tool};
use crate::image::reference::Reference;

/// Which platforms of multi-platform images to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Platforms {
    /// These platforms (`os/arch[/variant]`), at least one.
    Some(Vec<String>),
    /// The whole index, as published.
    All,
}

impl Platforms {
    pub fn describe(&self) -> Vec<String> {
        match self {
            Platforms::Some(p) => p.clone(),
            Platforms::All => vec!["all".to_string()],
        }
    }
}

/// Parse `os/arch[/variant]`.
pub fn parse_platform(s: &str) -> Result<(String, String, Option<String>)> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] if !os.is_empty() && !arch.is_empty() => Ok((os.to_string(), arch.to_string(), None)),
        [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
            Ok((os.to_string(), arch.to_string(), Some(v.to_string())))
        }
        _ => bail!("--platform {s:?}: expected OS/ARCH or OS/ARCH/VARIANT, e.g. linux/amd64"),
    }
}

/// Where and how to copy images.
#[derive(Clone, Debug)]
pub struct FetchOptions {
    /// The images part of the work directory (holds `blobs/` and `refs/`).
    pub dir: PathBuf,
    pub platforms: Platforms,
    /// A containers `registries.conf` for the source side (mirrors); passed to skopeo with
    /// `--registries-conf` (skopeo 1.9 ignores `CONTAINERS_REGISTRIES_CONF`).
    pub registries_conf: Option<PathBuf>,
    pub concurrency: usize,
    pub retry_times: u32,
}

/// An image in the work directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchedImage {
    /// Normalised source reference.
    pub source: String,
    /// The stored top descriptor.
    pub top: Descriptor,
    /// sha256 of the source registry's manifest for the reference.
    pub source_digest: String,
    /// Platform → manifest digest, for what was kept.
    pub platforms: Vec<(String, String)>,
    /// Bytes of every blob the image needs.
    pub size: u64,
    /// Digests of every blob the image needs (manifests, configs, layers).
    pub blobs: Vec<String>,
    /// The platforms that were asked for.
    pub requested: Vec<String>,
}

impl FetchOptions {
    pub fn blobs_dir(&self) -> PathBuf {
        self.dir.join("blobs")
    }
    fn ref_dir(&self, source: &str) -> PathBuf {
        self.dir.join("refs").join(&sha256_hex(source.as_bytes())[..32])
    }
}

/// Copy every image (each once) into the work directory; results in input order.
pub async fn fetch_all(runner: &Runner, images: &[Reference], opts: &FetchOptions, on_done: &(dyn Fn(&FetchedImage) + Sync)) -> Result<Vec<FetchedImage>> {
    std::fs::create_dir_all(opts.blobs_dir().join("sha256")).with_context(|| format!("creating {}", opts.dir.display()))?;
    skopeo_policy(&opts.dir)?;
    let results = bounded(images.iter().cloned(), opts.concurrency, |r| async move {
        let out = fetch_one(runner, &r, opts).await.with_context(|| format!("image {r}"));
        if let Ok(img) = &out {
            on_done(img);
        }
        out
    })
    .await;
    results.into_iter().collect()
}

/// The containers signature policy kod passes to skopeo (`--policy DIR/policy.json`):
/// accept anything — kod checks digests itself; signature policy is the site's business.
/// Written once per directory.
pub fn skopeo_policy(dir: &Path) -> Result<PathBuf> {
    let p = dir.join("policy.json");
    if !p.exists() {
        std::fs::write(&p, r#"{"default":[{"type":"insecureAcceptAnything"}]}"#).with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(p)
}

fn skopeo_base(opts: &FetchOptions) -> Cmd {
    let mut cmd = Cmd::new(Tool::Skopeo);
    if let Some(conf) = &opts.registries_conf {
        cmd = cmd.arg("--registries-conf").arg(conf.display().to_string());
    }
    cmd
}

/// A previously completed copy, if it is intact.
fn resume(opts: &FetchOptions, source: &str) -> Option<FetchedImage> {
    let record = opts.ref_dir(source).join("kod-image.json");
    let img: FetchedImage = serde_json::from_slice(&std::fs::read(record).ok()?).ok()?;
    if img.source != source || img.requested != opts.platforms.describe() {
        return None;
    }
    let blobs = opts.blobs_dir();
    let all_there = img.blobs.iter().all(|d| oci::blob_path(&blobs, d).map(|p| p.is_file()).unwrap_or(false));
    all_there.then_some(img)
}

async fn fetch_one(runner: &Runner, r: &Reference, opts: &FetchOptions) -> Result<FetchedImage> {
    let source = r.to_string();
    if let Some(done) = resume(opts, &source) {
        return Ok(done);
    }
    let ref_dir = opts.ref_dir(&source);
    if ref_dir.exists() {
        std::fs::remove_dir_all(&ref_dir).with_context(|| format!("clearing the incomplete copy in {}", ref_dir.display()))?;
    }
    std::fs::create_dir_all(&ref_dir)?;
    // What does the source publish for this reference?
    let raw = runner
        .run(&skopeo_base(opts).args(["inspect", "--raw", "--retry-times"]).arg(opts.retry_times.to_string()).arg(format!("docker://{source}")).read_only().capture())
        .await?;
    let raw_bytes = raw.stdout.trim_end_matches('\n').as_bytes().to_vec();
    let source_digest = format!("sha256:{}", sha256_hex(&raw_bytes));
    let doc: oci::ManifestDoc = serde_json::from_slice(&raw_bytes).with_context(|| format!("the registry's manifest for {source} is not JSON"))?;
    let is_index = !doc.manifests.is_empty();

    let blobs = opts.blobs_dir();
    let copy = |src: String, name: String, extra: Vec<String>| {
        skopeo_base(opts)
            .arg("--policy")
            .arg(opts.dir.join("policy.json").display().to_string())
            .args(["copy", "--preserve-digests", "--retry-times"])
            .arg(opts.retry_times.to_string())
            .args(extra)
            .arg("--dest-shared-blob-dir")
            .arg(blobs.display().to_string())
            .arg(format!("docker://{src}"))
            .arg(format!("oci:{}:{name}", ref_dir.display()))
            .read_only()
    };
    let repo = r.repository();
    let (top, platforms) = match (&opts.platforms, is_index) {
        (Platforms::All, _) => {
            runner.run(&copy(source.clone(), source.clone(), vec!["--all".into()])).await?;
            let top = layout_entry(&ref_dir, &source)?;
            let platforms = doc.manifests.iter().filter_map(|d| d.platform.as_ref().map(|p| (p.key(), d.digest.clone()))).collect();
            (top, platforms)
        }
        (Platforms::Some(wanted), false) => {
            // A single-platform image: keep it as it is.
            runner.run(&copy(source.clone(), source.clone(), vec![])).await?;
            let top = layout_entry(&ref_dir, &source)?;
            let p = wanted.first().cloned().unwrap_or_default();
            (top.clone(), vec![(p, top.digest)])
        }
        (Platforms::Some(wanted), true) => {
            let mut chosen = Vec::new();
            for w in wanted {
                let d = doc
                    .manifests
                    .iter()
                    .find(|d| d.platform.as_ref().is_some_and(|p| platform_matches(p, w)))
                    .ok_or_else(|| {
                        let offered: Vec<String> = doc.manifests.iter().filter_map(|d| d.platform.as_ref().map(Platform::key)).collect();
                        anyhow!("{source} has no {w} manifest (it offers: {})", offered.join(", "))
                    })?;
                chosen.push((w.clone(), d.clone()));
            }
            for (p, d) in &chosen {
                let by_digest = format!("{repo}@{}", d.digest);
                runner.run(&copy(by_digest, format!("{source}--{}", p.replace('/', "-")), vec![])).await?;
            }
            if chosen.len() == 1 {
                let (p, d) = &chosen[0];
                (d.clone(), vec![(p.clone(), d.digest.clone())])
            } else {
                // An index of just the chosen platforms (their manifests keep their digests).
                let media = doc.media_type.clone().unwrap_or_else(|| oci::OCI_INDEX.to_string());
                let index = serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": media,
                    "manifests": chosen.iter().map(|(_, d)| d).collect::<Vec<_>>(),
                });
                let bytes = serde_json::to_vec(&index)?;
                let digest = format!("sha256:{}", sha256_hex(&bytes));
                let path = oci::blob_path(&blobs, &digest)?;
                std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
                let top = Descriptor { media_type: media, digest, size: bytes.len() as u64, platform: None, annotations: Default::default() };
                (top, chosen.iter().map(|(p, d)| (p.clone(), d.digest.clone())).collect())
            }
        }
    };
    let closure = oci::closure(&BlobDir(&blobs), &top)?;
    let img = FetchedImage {
        source: source.clone(),
        size: closure.iter().map(|d| d.size).sum(),
        blobs: closure.iter().map(|d| d.digest.clone()).collect(),
        top,
        source_digest,
        platforms,
        requested: opts.platforms.describe(),
    };
    let record = ref_dir.join("kod-image.json");
    let tmp = ref_dir.join("kod-image.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&img)?)?;
    std::fs::rename(&tmp, &record)?;
    Ok(img)
}

fn platform_matches(p: &Platform, wanted: &str) -> bool {
    match parse_platform(wanted) {
        Ok((os, arch, variant)) => p.os == os && p.architecture == arch && (variant.is_none() || p.variant == variant),
        Err(_) => false,
    }
}

/// The descriptor skopeo recorded for `name` in a per-image layout.
fn layout_entry(dir: &Path, name: &str) -> Result<Descriptor> {
    let index: Index = serde_json::from_slice(&std::fs::read(dir.join("index.json")).with_context(|| format!("{}/index.json", dir.display()))?)?;
    index
        .manifests
        .into_iter()
        .find(|d| d.annotations.get(oci::REF_NAME).map(String::as_str) == Some(name))
        .map(|mut d| {
            d.annotations.clear();
            d
        })
        .ok_or_else(|| anyhow!("skopeo did not record {name} in {}", dir.display()))
}

/// Write a containers `registries.conf` that pulls each source registry from a mirror
/// (`docker.io=mirror.local:5000[/prefix]`); loopback and `http://` mirrors are marked
/// insecure (plain HTTP).
pub fn mirrors_registries_conf(path: &Path, mirrors: &[(String, String)]) -> Result<()> {
    let mut text = String::from("# written by kod for --source-registry-mirror\nunqualified-search-registries = [\"docker.io\"]\n");
    for (source, mirror) in mirrors {
        let (location, insecure) = match mirror.strip_prefix("http://") {
            Some(rest) => (rest.to_string(), true),
            None => {
                let loc = mirror.trim_start_matches("https://").to_string();
                let host = loc.split('/').next().unwrap_or("");
                let loopback = host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
                (loc, loopback)
            }
        };
        text.push_str(&format!("\n[[registry]]\nprefix = \"{source}\"\nlocation = \"{location}\"\ninsecure = {insecure}\n"));
    }
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Parse `--source-registry-mirror REG=MIRROR`.
pub fn parse_mirror(spec: &str) -> Result<(String, String)> {
    let (reg, mirror) = spec
        .split_once('=')
        .ok_or_else(|| anyhow!("--source-registry-mirror {spec:?}: expected REGISTRY=MIRROR, e.g. docker.io=mirror.local:5000"))?;
    if reg.is_empty() || mirror.is_empty() || reg.contains('/') && !reg.contains('.') {
        bail!("--source-registry-mirror {spec:?}: expected REGISTRY=MIRROR, e.g. docker.io=mirror.local:5000");
    }
    Ok((reg.to_string(), mirror.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms() {
        assert_eq!(parse_platform("linux/amd64").unwrap(), ("linux".into(), "amd64".into(), None));
        assert_eq!(parse_platform("linux/arm/v7").unwrap().2.as_deref(), Some("v7"));
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux/").is_err());
    }

    #[test]
    fn mirrors() {
        assert_eq!(parse_mirror("docker.io=127.0.0.1:5000/docker.io").unwrap().1, "127.0.0.1:5000/docker.io");
        assert!(parse_mirror("docker.io").is_err());
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.conf");
        mirrors_registries_conf(&p, &[("docker.io".into(), "127.0.0.1:5000/hub".into()), ("quay.io".into(), "mirror.example:443".into())]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("prefix = \"docker.io\"\nlocation = \"127.0.0.1:5000/hub\"\ninsecure = true"));
        assert!(text.contains("prefix = \"quay.io\"\nlocation = \"mirror.example:443\"\ninsecure = false"));
    }
}
