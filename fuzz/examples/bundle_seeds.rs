//! Writes the seed bundles of the `bundle_unpack` fuzz target (fuzz/seeds/bundle_unpack)
//! with kod's own bundle writer, from files of tests/fixtures:
//!
//! ```sh
//! cargo run --manifest-path fuzz/Cargo.toml --example bundle_seeds -- fuzz/seeds/bundle_unpack
//! ```
//!
//! Each bundle is written twice, prefixed with the target's mode byte: `0` (the bytes as
//! they are) and `7` (re-headered, blobs renamed to their hash, manifest re-listed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kod::bundle::assemble::{assemble, ChartFile, Contents};
use kod::bundle::format::{Release, ReleaseImage};
use kod::bundle::oci::{Descriptor, OCI_INDEX, OCI_MANIFEST};
use kod::bundle::{sha256_hex, write};
use kod::image::fetch::FetchedImage;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures")
}

/// Store `bytes` as a blob and describe it.
fn blob(blobs: &Path, media_type: &str, bytes: &[u8]) -> Descriptor {
    let hex = sha256_hex(bytes);
    std::fs::create_dir_all(blobs.join("sha256")).unwrap();
    std::fs::write(blobs.join("sha256").join(&hex), bytes).unwrap();
    Descriptor { media_type: media_type.into(), digest: format!("sha256:{hex}"), size: bytes.len() as u64, platform: None, annotations: BTreeMap::new() }
}

/// A one-layer image whose layer is a fixture file.
fn image(images: &Path, source: &str, layer_file: &str) -> FetchedImage {
    let blobs = images.join("blobs");
    let layer = blob(&blobs, "application/vnd.oci.image.layer.v1.tar", &std::fs::read(fixtures().join(layer_file)).unwrap());
    let config = blob(&blobs, "application/vnd.oci.image.config.v1+json", br#"{"architecture":"amd64","os":"linux"}"#);
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]});
    let top = blob(&blobs, OCI_MANIFEST, &serde_json::to_vec(&manifest).unwrap());
    FetchedImage {
        source: source.into(),
        source_digest: top.digest.clone(),
        size: top.size + config.size + layer.size,
        blobs: vec![top.digest.clone(), config.digest.clone(), layer.digest.clone()],
        top,
        platforms: vec![],
        requested: vec![],
    }
}

/// An index over two platform manifests sharing the config.
fn multi_platform(images: &Path, source: &str) -> FetchedImage {
    let a = image(images, source, "helmfiles/01-basic/helmfile.yaml");
    let b = image(images, source, "helmfiles/13-condition/helmfile.yaml");
    let mut ma = a.top.clone();
    ma.platform = Some(kod::bundle::oci::Platform { architecture: "amd64".into(), os: "linux".into(), variant: None });
    let mut mb = b.top.clone();
    mb.platform = Some(kod::bundle::oci::Platform { architecture: "arm64".into(), os: "linux".into(), variant: Some("v8".into()) });
    let index = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [ma, mb]});
    let top = blob(&images.join("blobs"), OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    FetchedImage {
        source: source.into(),
        source_digest: top.digest.clone(),
        size: top.size + a.size + b.size,
        blobs: vec![top.digest.clone()],
        top,
        platforms: vec![("linux/amd64".into(), a.top.digest.clone()), ("linux/arm64/v8".into(), b.top.digest.clone())],
        requested: vec!["linux/amd64".into(), "linux/arm64/v8".into()],
    }
}

fn release(id: &str, images: &[&str]) -> Release {
    Release {
        environment: "default".into(),
        id: id.into(),
        name: id.rsplit('/').next().unwrap().into(),
        namespace: "default".into(),
        kube_context: String::new(),
        state_file: "helmfile.yaml".into(),
        chart_ref: "./charts/localapp".into(),
        chart_file: "charts/localapp-0.1.0.tgz".into(),
        installed: true,
        images: images.iter().map(|s| ReleaseImage { source: s.to_string(), value_path: Some("image".into()), provenance: vec![] }).collect(),
    }
}

fn write_bundle(work: &Path, name: &str, contents: &Contents, out_dir: &Path) {
    let (mut manifest, staged) = assemble(contents, "0.1.0", "2026-01-01T00:00:00Z", &work.join(format!("staging-{name}"))).unwrap();
    write::prepare(&mut manifest, &staged).unwrap();
    let tar = work.join(format!("{name}.kod.tar"));
    write::write(&tar, &manifest, &staged, &|_| {}).unwrap();
    // the reader must accept what the writer wrote
    let (_, report) = kod::bundle::read::verify(&tar).unwrap();
    assert!(report.ok, "{name}: {:?}", report.problems);
    let bytes = std::fs::read(&tar).unwrap();
    for mode in [0u8, 7] {
        let mut seed = vec![mode];
        seed.extend_from_slice(&bytes);
        std::fs::write(out_dir.join(format!("{name}-mode{mode}")), &seed).unwrap();
    }
    println!("{name}: {} bytes, {} files", bytes.len(), manifest.files.len());
}

fn main() {
    let out_dir = PathBuf::from(std::env::args().nth(1).expect("usage: bundle_seeds OUT_DIR"));
    std::fs::create_dir_all(&out_dir).unwrap();
    let work = tempfile::tempdir().unwrap();
    let fx = fixtures();
    let helmfile = |rel: &str| (format!("helmfile/{}", rel.trim_start_matches("helmfiles/")), fx.join(rel));

    // helmfile files only (no images)
    let plain = Contents {
        environments: vec!["default".into()],
        helmfile_files: vec![helmfile("helmfiles/01-basic/helmfile.yaml"), helmfile("helmfiles/12-values-gotmpl/static.yaml")],
        images_dir: work.path().join("no-images"),
        ..Default::default()
    };
    write_bundle(work.path(), "plain", &plain, &out_dir);

    // a chart, two images sharing nothing, a multi-platform index, releases naming them
    let images_dir = work.path().join("images");
    let chart = fx.join("charts/localapp/Chart.yaml");
    let with_images = Contents {
        environments: vec!["default".into()],
        platforms: vec!["linux/amd64".into(), "linux/arm64/v8".into()],
        releases: vec![
            release("default/app", &["quay.io/team/local:1.0"]),
            release("default/multi", &["docker.io/library/nginx:1.27"]),
        ],
        charts: vec![ChartFile {
            name: "localapp".into(),
            version: "0.1.0".into(),
            source: "./charts/localapp".into(),
            sha256: write::hash_file(&chart).unwrap().0,
            path: chart,
        }],
        images: vec![
            image(&images_dir, "quay.io/team/local:1.0", "charts/localapp/values.yaml"),
            multi_platform(&images_dir, "docker.io/library/nginx:1.27"),
        ],
        images_dir,
        helmfile_files: vec![helmfile("helmfiles/03-gotmpl/helmfile.yaml.gotmpl")],
        ..Default::default()
    };
    write_bundle(work.path(), "images", &with_images, &out_dir);
}
