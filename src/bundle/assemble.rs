//! Turning a work directory (fetched images, pulled charts, helmfile files, rendered
//! states) into the list of bundle entries and the manifest that describes them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::format::{Chart, Image, Manifest, PlatformManifest, Totals, KIND, SCHEMA_VERSION};
use super::oci::{self, Descriptor, Index, OCI_LAYOUT_FILE, REF_NAME};
use super::write::StagedFile;
use crate::image::fetch::FetchedImage;

/// A chart archive to bundle.
#[derive(Clone, Debug)]
pub struct ChartFile {
    pub name: String,
    pub version: String,
    pub source: String,
    pub path: PathBuf,
    pub sha256: String,
}

/// Everything that goes into a bundle.
#[derive(Clone, Debug, Default)]
pub struct Contents {
    pub environments: Vec<String>,
    pub platforms: Vec<String>,
    pub plans: Vec<super::format::EnvironmentPlan>,
    pub releases: Vec<super::format::Release>,
    pub charts: Vec<ChartFile>,
    pub images: Vec<FetchedImage>,
    /// Directory of the fetched images (holds `blobs/`).
    pub images_dir: PathBuf,
    /// (bundle path under `helmfile/`, file on disk) for the helmfile files as read.
    pub helmfile_files: Vec<(String, PathBuf)>,
    /// (bundle path under `rendered/`, file on disk).
    pub rendered_files: Vec<(String, PathBuf)>,
    /// Source mirror used per image, when any.
    pub pulled_from: BTreeMap<String, String>,
    /// Reference images by digest on the offline side by default.
    pub pin_digests: bool,
}

/// The bundle's OCI `index.json`: one entry per image, named by its source reference.
pub fn oci_index(images: &[FetchedImage]) -> Index {
    let mut manifests: Vec<Descriptor> = images
        .iter()
        .map(|img| {
            let mut d = img.top.clone();
            d.annotations = BTreeMap::from([(REF_NAME.to_string(), img.source.clone())]);
            d
        })
        .collect();
    manifests.sort_by(|a, b| a.annotations.get(REF_NAME).cmp(&b.annotations.get(REF_NAME)));
    Index { schema_version: 2, media_type: Some(oci::OCI_INDEX.to_string()), manifests }
}

/// Build the manifest (without `files`, which [`super::write::prepare`] fills) and the
/// staged entries. `staging` is a directory for the generated files (`index.json`,
/// `oci-layout`).
pub fn assemble(contents: &Contents, kod_version: &str, created_at: &str, staging: &Path) -> Result<(Manifest, Vec<StagedFile>)> {
    std::fs::create_dir_all(staging).with_context(|| format!("creating {}", staging.display()))?;
    let mut staged = Vec::new();

    let mut charts = Vec::new();
    let mut seen_charts = BTreeSet::new();
    for c in &contents.charts {
        let file = format!("charts/{}-{}.tgz", c.name, c.version);
        if !seen_charts.insert(file.clone()) {
            continue;
        }
        let size = std::fs::metadata(&c.path).with_context(|| format!("chart {}", c.path.display()))?.len();
        staged.push(StagedFile { path: file.clone(), source: c.path.clone(), sha256: Some(c.sha256.clone()) });
        charts.push(Chart { name: c.name.clone(), version: c.version.clone(), source: c.source.clone(), file, sha256: c.sha256.clone(), size });
    }

    for (path, src) in contents.helmfile_files.iter().chain(&contents.rendered_files) {
        staged.push(StagedFile { path: path.clone(), source: src.clone(), sha256: None });
    }

    let mut images = Vec::new();
    let mut blobs: BTreeMap<String, u64> = BTreeMap::new();
    let blob_dir = contents.images_dir.join("blobs");
    if !contents.images.is_empty() {
        for img in &contents.images {
            let closure = oci::closure(&oci::BlobDir(&blob_dir), &img.top)?;
            for d in &closure {
                blobs.insert(d.digest.clone(), d.size);
            }
            images.push(Image {
                source: img.source.clone(),
                digest: img.top.digest.clone(),
                media_type: img.top.media_type.clone(),
                source_digest: img.source_digest.clone(),
                platforms: img.platforms.iter().map(|(p, d)| PlatformManifest { platform: p.clone(), digest: d.clone() }).collect(),
                size: closure.iter().map(|d| d.size).sum(),
                blobs: closure.len() as u64,
                pulled_from: contents.pulled_from.get(&img.source).cloned(),
            });
        }
        let layout = staging.join("oci-layout");
        std::fs::write(&layout, OCI_LAYOUT_FILE)?;
        let index = staging.join("index.json");
        std::fs::write(&index, serde_json::to_vec_pretty(&oci_index(&contents.images))?)?;
        staged.push(StagedFile { path: "images/oci-layout".into(), source: layout, sha256: None });
        staged.push(StagedFile { path: "images/index.json".into(), source: index, sha256: None });
        for digest in blobs.keys() {
            let hex = oci::digest_hex(digest)?.to_string();
            staged.push(StagedFile { path: format!("images/blobs/sha256/{hex}"), source: oci::blob_path(&blob_dir, digest)?, sha256: Some(hex) });
        }
    }
    images.sort_by(|a, b| a.source.cmp(&b.source));

    let totals = Totals {
        image_bytes: images.iter().map(|i| i.size).sum(),
        unique_blob_bytes: blobs.values().sum(),
        unique_blobs: blobs.len() as u64,
        chart_bytes: charts.iter().map(|c| c.size).sum(),
        file_bytes: 0,
    };
    let manifest = Manifest {
        schema_version: SCHEMA_VERSION,
        kind: KIND.to_string(),
        kod_version: kod_version.to_string(),
        created_at: created_at.to_string(),
        environments: contents.environments.clone(),
        platforms: contents.platforms.clone(),
        pin_digests: contents.pin_digests,
        plans: contents.plans.clone(),
        releases: contents.releases.clone(),
        charts,
        images,
        files: Vec::new(),
        totals,
    };
    Ok((manifest, staged))
}
