//! Bundles against real registries: images copied with real skopeo from the lab's stand-in
//! for the public registries into one OCI layout (shared layers once), written to a bundle,
//! verified, unpacked and read back with skopeo; platform choices; resumed fetches; and
//! hostile or damaged bundles refused with precise reports.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kod::bundle::assemble::{assemble, ChartFile, Contents};
use kod::bundle::{read, write};
use kod::exec::{Runner, Tool};
use kod::image::fetch::{fetch_all, FetchOptions, FetchedImage, Platforms};
use kod::image::reference::{parse_normalized_named, Reference};
use kod_testlab::{catalog, ImageSpec, LayerSpec, PublicRegistry, Tools};

use common::lab_runner_with_lines as runner;

/// Twelve images sharing base layers (the lab's eight plus four more).
fn twelve_images() -> Vec<ImageSpec> {
    let mut v = catalog::default_images();
    v.push(ImageSpec::new("docker.io/bitnami/mongodb:8.0.13").layers(vec![LayerSpec::base("debian-12"), LayerSpec::own(16 * 1024)]));
    v.push(ImageSpec::new("quay.io/jetstack/cert-manager-controller:v1.21.1").layers(vec![LayerSpec::base("distroless"), LayerSpec::own(8 * 1024)]));
    v.push(ImageSpec::new("quay.io/jetstack/cert-manager-webhook:v1.21.1").layers(vec![LayerSpec::base("distroless"), LayerSpec::own(8 * 1024)]));
    v.push(ImageSpec::new("docker.io/grafana/grafana:12.1.0").layers(vec![LayerSpec::base("alpine-3.20"), LayerSpec::own(20 * 1024)]));
    v
}

fn refs(specs: &[ImageSpec]) -> Vec<Reference> {
    specs.iter().map(|s| parse_normalized_named(&s.name).unwrap()).collect()
}

fn fetch_opts(dir: &Path, public: &PublicRegistry, platforms: Platforms) -> FetchOptions {
    FetchOptions { dir: dir.to_path_buf(), platforms, registries_conf: Some(public.registries_conf()), concurrency: 4, retry_times: 1 }
}

async fn fetch(r: &Runner, images: &[Reference], opts: &FetchOptions) -> Vec<FetchedImage> {
    fetch_all(r, images, opts, &|_| {}).await.unwrap()
}

/// Build a bundle from fetched images plus a chart and helmfile files.
fn build_bundle(work: &Path, images: Vec<FetchedImage>, out: &Path) -> kod::bundle::format::Manifest {
    let chart = work.join("redis-19.0.0.tgz");
    std::fs::write(&chart, b"not really a chart, but bytes with a checksum").unwrap();
    let hf = work.join("helmfile.yaml");
    std::fs::write(&hf, "releases:\n- name: redis\n  chart: bitnami/redis\n").unwrap();
    let contents = Contents {
        environments: vec!["default".into()],
        platforms: vec!["linux/amd64".into()],
        charts: vec![ChartFile {
            name: "redis".into(),
            version: "19.0.0".into(),
            source: "https://charts.example/bitnami".into(),
            sha256: write::hash_file(&chart).unwrap().0,
            path: chart,
        }],
        images,
        images_dir: work.join("images"),
        helmfile_files: vec![("helmfile/helmfile.yaml".into(), hf)],
        ..Default::default()
    };
    let (mut manifest, staged) = assemble(&contents, "0.0.0-test", "2026-01-01T00:00:00Z", &work.join("staging")).unwrap();
    write::prepare(&mut manifest, &staged).unwrap();
    write::write(out, &manifest, &staged, &|_| {}).unwrap();
    manifest
}

#[tokio::test(flavor = "multi_thread")]
async fn twelve_images_one_layout_shared_blobs_once_verified_and_readable() {
    let specs = twelve_images();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (r, _) = runner();
    let opts = fetch_opts(&work.path().join("images"), &public, Platforms::Some(vec!["linux/amd64".into()]));
    let images = fetch(&r, &refs(&specs), &opts).await;
    assert_eq!(images.len(), 12);

    // Shared layers are stored once: the blob directory holds exactly the distinct blobs.
    let distinct: BTreeSet<String> = images.iter().flat_map(|i| i.blobs.clone()).collect();
    let total_refs: usize = images.iter().map(|i| i.blobs.len()).sum();
    assert!(distinct.len() < total_refs, "some blobs must be shared ({} distinct of {total_refs})", distinct.len());
    let on_disk = std::fs::read_dir(work.path().join("images/blobs/sha256")).unwrap().count();
    assert_eq!(on_disk, distinct.len(), "each blob stored once");

    // Digests are preserved: what kod holds is what the registry serves.
    let pushed = public.pushed();
    for img in &images {
        let p = &pushed[&img.source];
        if img.platforms.len() == 1 && img.source_digest == p.digest && !img.source.contains("ingress-nginx") {
            assert_eq!(img.top.digest, p.digest, "{}", img.source);
        }
    }

    // A second run transfers nothing.
    let (r2, _) = runner();
    let again = fetch(&r2, &refs(&specs), &opts).await;
    assert_eq!(again, images);
    assert!(r2.history().iter().all(|e| e.tool != Tool::Skopeo), "resumed fetch ran skopeo: {:?}", r2.history());

    let bundle = work.path().join("out/platform.kod.tar");
    let manifest = build_bundle(work.path(), images.clone(), &bundle);
    assert_eq!(manifest.totals.unique_blobs as usize, distinct.len());
    assert!(manifest.totals.unique_blob_bytes < manifest.totals.image_bytes);
    let blob_entries = manifest.files.iter().filter(|f| f.path.starts_with("images/blobs/")).count();
    assert_eq!(blob_entries, distinct.len());
    // Bundle size ≈ content + tar headers (512 bytes per entry plus padding).
    let size = std::fs::metadata(&bundle).unwrap().len();
    let content: u64 = manifest.totals.file_bytes;
    assert!(size >= content && size <= content + (manifest.files.len() as u64 + 2) * 1024 + 10240 + 64 * 1024, "bundle {size} vs content {content}");

    let (_, report) = read::verify(&bundle).unwrap();
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(report.images_checked, 12);

    // Unpacked, the OCI layout is readable by skopeo (as a scanner would read it).
    let unpacked = work.path().join("unpacked");
    let (_, report) = read::unpack(&bundle, &unpacked).unwrap();
    assert!(report.ok);
    let tools = Tools::find().unwrap();
    let out = std::process::Command::new(&tools.skopeo)
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:docker.io/bitnami/redis:7.2.4", unpacked.join("images").display()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(format!("sha256:{}", kod::bundle::sha256_hex(&out.stdout)), pushed["docker.io/bitnami/redis:7.2.4"].digest);

    // The CLI reads the same bundle.
    let text = Command::cargo_bin("kod").unwrap().args(["bundle", "inspect"]).arg(&bundle).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(text).unwrap();
    assert!(text.contains("IMAGES (12)") && text.contains("unique blobs; shared layers save"), "{text}");
    Command::cargo_bin("kod").unwrap().args(["bundle", "verify"]).arg(&bundle).assert().success();
}

#[tokio::test(flavor = "multi_thread")]
async fn platform_choices_keep_digests() {
    let specs: Vec<ImageSpec> = catalog::default_images().into_iter().filter(|s| s.name.contains("ingress-nginx")).collect();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let source = parse_normalized_named(&specs[0].name).unwrap();
    let index_digest = public.pushed()[&specs[0].name].digest.clone();
    let (r, _) = runner();

    let work = tempfile::tempdir().unwrap();
    let one = fetch(&r, std::slice::from_ref(&source), &fetch_opts(work.path(), &public, Platforms::Some(vec!["linux/arm64".into()]))).await;
    assert_eq!(one[0].source_digest, index_digest);
    assert_eq!(one[0].platforms.len(), 1);
    assert_eq!(one[0].top.digest, one[0].platforms[0].1, "a single platform keeps that platform's manifest digest");

    let work = tempfile::tempdir().unwrap();
    let two = fetch(&r, std::slice::from_ref(&source), &fetch_opts(work.path(), &public, Platforms::Some(vec!["linux/amd64".into(), "linux/arm64".into()]))).await;
    assert_eq!(two[0].platforms.len(), 2);
    assert!(two[0].platforms.iter().any(|(_, d)| d == &one[0].top.digest), "per-platform digests preserved");

    let work = tempfile::tempdir().unwrap();
    let all = fetch(&r, std::slice::from_ref(&source), &fetch_opts(work.path(), &public, Platforms::All)).await;
    assert_eq!(all[0].top.digest, index_digest, "--all-platforms keeps the published index");

    let work = tempfile::tempdir().unwrap();
    let err = fetch_all(&r, &[source], &fetch_opts(work.path(), &public, Platforms::Some(vec!["linux/s390x".into()])), &|_| {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("has no linux/s390x manifest (it offers: linux/amd64, linux/arm64)"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_image_names_the_image_and_skopeos_reason() {
    let public = PublicRegistry::start_with_images(&[catalog::tiny("docker.io/library/present:1")]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let (r, _) = runner();
    let missing = parse_normalized_named("docker.io/library/absent:9.9").unwrap();
    let err = fetch_all(&r, &[missing], &fetch_opts(work.path(), &public, Platforms::Some(vec!["linux/amd64".into()])), &|_| {})
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.starts_with("image docker.io/library/absent:9.9: `skopeo"), "{text}");
    assert!(text.contains("manifest unknown"), "{text}");
}

// ---- damaged and hostile bundles --------------------------------------------------------

/// A small valid bundle without images.
fn small_bundle(dir: &Path) -> PathBuf {
    let a = dir.join("a.yaml");
    std::fs::write(&a, "a: 1\n").unwrap();
    let b = dir.join("b.yaml");
    std::fs::write(&b, "b: 2\n".repeat(100)).unwrap();
    let contents = Contents {
        environments: vec!["default".into()],
        helmfile_files: vec![("helmfile/a.yaml".into(), a), ("helmfile/values/b.yaml".into(), b)],
        images_dir: dir.join("images"),
        ..Default::default()
    };
    let (mut m, staged) = assemble(&contents, "0.0.0-test", "2026-01-01T00:00:00Z", &dir.join("staging")).unwrap();
    write::prepare(&mut m, &staged).unwrap();
    let out = dir.join("small.kod.tar");
    write::write(&out, &m, &staged, &|_| {}).unwrap();
    out
}

/// Rewrite a bundle's tar, letting `edit` change the list of (header, data) entries.
fn rewrite(src: &Path, dst: &Path, edit: impl FnOnce(&mut Vec<(tar::Header, Vec<u8>)>)) {
    let mut entries = Vec::new();
    let mut ar = tar::Archive::new(std::fs::File::open(src).unwrap());
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        entries.push((e.header().clone(), data));
    }
    edit(&mut entries);
    let mut b = tar::Builder::new(std::fs::File::create(dst).unwrap());
    for (mut h, data) in entries {
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data.as_slice()).unwrap();
    }
    b.finish().unwrap();
}

fn raw_header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    {
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name[..name.len()].copy_from_slice(name.as_bytes());
    }
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    h
}

fn problems(bundle: &Path) -> Vec<String> {
    let (_, report) = read::verify(bundle).unwrap();
    assert!(!report.ok);
    report.problems
}

fn assert_unpack_refused(bundle: &Path, dir: &Path) {
    let target = dir.join("target");
    let before: BTreeSet<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    let (_, report) = read::unpack(bundle, &target).unwrap();
    assert!(!report.ok);
    assert!(!target.exists(), "a refused unpack leaves nothing behind");
    let after: BTreeSet<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(before, after, "nothing written next to the target");
    assert!(!dir.parent().unwrap().join("evil").exists());
}

#[test]
fn flipped_byte_is_named() {
    let d = tempfile::tempdir().unwrap();
    let good = small_bundle(d.path());
    let bad = d.path().join("flipped.kod.tar");
    rewrite(&good, &bad, |e| {
        let data = &mut e.iter_mut().find(|(h, _)| h.path().unwrap().ends_with("b.yaml")).unwrap().1;
        data[10] ^= 0x20;
    });
    let p = problems(&bad);
    assert_eq!(p.len(), 1, "{p:?}");
    assert!(p[0].starts_with("helmfile/values/b.yaml: checksum mismatch: manifest says sha256:"), "{p:?}");
    assert_unpack_refused(&bad, d.path());
}

#[test]
fn truncated_bundle_is_reported() {
    let d = tempfile::tempdir().unwrap();
    let good = small_bundle(d.path());
    let bytes = std::fs::read(&good).unwrap();
    let bad = d.path().join("truncated.kod.tar");
    std::fs::write(&bad, &bytes[..bytes.len() / 2 + 700]).unwrap();
    let p = problems(&bad);
    assert!(p.iter().any(|x| x.contains("truncated") || x.contains("missing from the bundle")), "{p:?}");
    assert_unpack_refused(&bad, d.path());
}

#[test]
fn hostile_entries_are_refused() {
    type Mutation = Box<dyn Fn(&mut Vec<(tar::Header, Vec<u8>)>)>;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        ("dotdot", Box::new(|e| e.push((raw_header("../evil", tar::EntryType::Regular, 4), b"evil".to_vec()))), "`.` and `..` components are not allowed"),
        ("absolute", Box::new(|e| e.push((raw_header("/tmp/evil", tar::EntryType::Regular, 4), b"evil".to_vec()))), "absolute paths are not allowed"),
        ("symlink", Box::new(|e| {
            let mut h = raw_header("helmfile/link", tar::EntryType::Symlink, 0);
            h.set_link_name("../../evil").unwrap();
            e.push((h, Vec::new()));
        }), "is a symbolic link"),
        ("hardlink", Box::new(|e| {
            let mut h = raw_header("helmfile/hard", tar::EntryType::Link, 0);
            h.set_link_name("/etc/passwd").unwrap();
            e.push((h, Vec::new()));
        }), "is a hard link"),
        ("device", Box::new(|e| e.push((raw_header("helmfile/dev", tar::EntryType::Char, 0), Vec::new()))), "is a device file"),
        ("duplicate", Box::new(|e| {
            let dup = e.iter().find(|(h, _)| h.path().unwrap().ends_with("a.yaml")).unwrap().clone();
            e.push(dup);
        }), "appears more than once"),
        ("unlisted", Box::new(|e| e.push((raw_header("helmfile/extra.yaml", tar::EntryType::Regular, 2), b"x\n".to_vec()))), "is not listed in kod-bundle.json"),
        ("dropped", Box::new(|e| e.retain(|(h, _)| !h.path().unwrap().ends_with("a.yaml"))), "helmfile/a.yaml: listed in kod-bundle.json but missing from the bundle"),
    ];
    for (name, edit, expected) in cases {
        let d = tempfile::tempdir().unwrap();
        let good = small_bundle(d.path());
        let bad = d.path().join(format!("{name}.kod.tar"));
        rewrite(&good, &bad, |e| edit(e));
        let p = problems(&bad);
        assert!(p.iter().any(|x| x.contains(expected)), "{name}: expected {expected:?} in {p:?}");
        assert_unpack_refused(&bad, d.path());
    }
}

#[test]
fn a_manifest_claiming_huge_absent_blobs_costs_no_memory() {
    // A "10 GiB image" whose blobs are absent: verify reports them missing without
    // allocating anything close to the claimed size.
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.yaml");
    std::fs::write(&a, "a: 1\n").unwrap();
    let layer = format!("sha256:{}", "ab".repeat(32));
    let m = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": layer, "size": 10u64 << 30},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer, "size": 10u64 << 30}]});
    let bytes = serde_json::to_vec(&m).unwrap();
    let blobs = d.path().join("images/blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let hex = kod::bundle::sha256_hex(&bytes);
    std::fs::write(blobs.join(&hex), &bytes).unwrap();
    let top = kod::bundle::oci::Descriptor {
        media_type: kod::bundle::oci::OCI_MANIFEST.into(),
        digest: format!("sha256:{hex}"),
        size: bytes.len() as u64,
        platform: None,
        annotations: BTreeMap::new(),
    };
    let img = FetchedImage {
        source: "docker.io/library/huge:1".into(),
        top,
        source_digest: String::new(),
        platforms: vec![],
        size: 20u64 << 30,
        blobs: vec![],
        requested: vec![],
    };
    // Assemble needs the closure on disk; give it only the manifest, then build the tar by hand.
    let contents = Contents { images: vec![], images_dir: d.path().join("images"), helmfile_files: vec![("helmfile/a.yaml".into(), a)], ..Default::default() };
    let (mut manifest, mut staged) = assemble(&contents, "t", "2026-01-01T00:00:00Z", &d.path().join("staging")).unwrap();
    let index = kod::bundle::assemble::oci_index(std::slice::from_ref(&img));
    let index_path = d.path().join("index.json");
    std::fs::write(&index_path, serde_json::to_vec(&index).unwrap()).unwrap();
    staged.push(write::StagedFile { path: "images/index.json".into(), source: index_path, sha256: None });
    staged.push(write::StagedFile { path: format!("images/blobs/sha256/{hex}"), source: blobs.join(&hex), sha256: Some(hex.clone()) });
    manifest.images.push(kod::bundle::format::Image {
        source: img.source.clone(),
        digest: img.top.digest.clone(),
        media_type: img.top.media_type.clone(),
        source_digest: String::new(),
        platforms: vec![],
        size: 20u64 << 30,
        blobs: 2,
        pulled_from: None,
    });
    write::prepare(&mut manifest, &staged).unwrap();
    let out = d.path().join("huge.kod.tar");
    write::write(&out, &manifest, &staged, &|_| {}).unwrap();
    let p = problems(&out);
    assert!(p.iter().any(|x| x.contains("image docker.io/library/huge:1: 1 blob(s) missing")), "{p:?}");
}

#[test]
fn not_a_bundle() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("x.tar");
    std::fs::write(&p, b"hello").unwrap();
    assert!(read::read_manifest(&p).is_err());
    Command::cargo_bin("kod").unwrap().args(["bundle", "verify"]).arg(&p).assert().code(1);
}

#[test]
fn interrupted_write_leaves_no_bundle() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.yaml");
    std::fs::write(&a, "a").unwrap();
    let contents = Contents { helmfile_files: vec![("helmfile/a.yaml".into(), a.clone())], images_dir: d.path().join("images"), ..Default::default() };
    let (mut m, staged) = assemble(&contents, "t", "2026-01-01T00:00:00Z", &d.path().join("staging")).unwrap();
    write::prepare(&mut m, &staged).unwrap();
    // The file changes after it was hashed: the write must fail and leave nothing.
    std::fs::write(&a, "b").unwrap();
    let out = d.path().join("o.kod.tar");
    let err = write::write(&out, &m, &staged, &|_| {}).unwrap_err();
    assert!(format!("{err:#}").contains("does not match its checksum"), "{err:#}");
    assert!(!out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(d.path()).unwrap().map(|e| e.unwrap().file_name()).filter(|n| n.to_string_lossy().contains("kod-partial")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // A stale partial from a killed run is cleaned by the next write.
    std::fs::write(d.path().join(".o.kod.tar.kod-partial-99999"), "stale").unwrap();
    std::fs::write(&a, "a").unwrap();
    write::write(&out, &m, &staged, &|_| {}).unwrap();
    assert!(!d.path().join(".o.kod.tar.kod-partial-99999").exists());
}
