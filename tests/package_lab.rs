//! `kod helmfile package` end to end against the lab: a platform helmfile (7 releases in
//! 6 namespaces, 12 images sharing base layers, an OCI chart, repository charts, a local
//! chart with a dependency) → one bundle → verify → unpack; a second run transfers nothing;
//! a run killed midway is completed by the next one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use kod_testlab::{push_chart_oci, ChartDependency, ChartRepo, ChartSpec, Helm, ImageSpec, LayerSpec, PublicRegistry, Registry, RegistryOptions, Tools};

fn chart(name: &str, images: &[&str]) -> ChartSpec {
    ChartSpec::running_images(name, "1.0.0", images)
}

fn images(big: usize) -> Vec<ImageSpec> {
    let own = |n: usize| LayerSpec::own(n);
    vec![
        ImageSpec::new("docker.io/bitnami/redis:7.2.4").layers(vec![LayerSpec::base("debian-12"), own(big)]),
        ImageSpec::new("docker.io/bitnami/mongodb:8.0.13").layers(vec![LayerSpec::base("debian-12"), own(big)]),
        ImageSpec::new("docker.io/bitnami/postgresql:16.3.0").layers(vec![LayerSpec::base("debian-12"), own(big)]),
        ImageSpec::new("quay.io/prometheus/prometheus:v3.0.0").layers(vec![LayerSpec::base("busybox"), own(big)]),
        ImageSpec::new("docker.io/grafana/grafana:12.1.0").layers(vec![LayerSpec::base("alpine-3.20"), own(big)]),
        ImageSpec::new("registry.k8s.io/ingress-nginx/controller:v1.11.0")
            .layers(vec![LayerSpec::base("alpine-3.20"), own(big)])
            .platforms(&["linux/amd64", "linux/arm64"]),
        ImageSpec::new("gcr.io/distroless/static:nonroot").layers(vec![LayerSpec::base("distroless")]),
        ImageSpec::new("docker.io/istio/pilot:1.27.1").layers(vec![LayerSpec::base("istio-base"), own(big)]),
        ImageSpec::new("docker.io/istio/proxyv2:1.27.1").layers(vec![LayerSpec::base("istio-base"), own(big)]),
        ImageSpec::new("ghcr.io/example/app:1.0.0").layers(vec![LayerSpec::base("distroless"), own(big)]),
        ImageSpec::new("quay.io/jetstack/cert-manager-controller:v1.21.1").layers(vec![LayerSpec::base("distroless"), own(big)]),
        ImageSpec::new("quay.io/jetstack/cert-manager-webhook:v1.21.1").layers(vec![LayerSpec::base("distroless"), own(big)]),
    ]
}

/// The lab: public registry with the images, an HTTP chart repository, an OCI registry with
/// one chart, and a project directory with the helmfile and a local chart + dependency.
struct Lab {
    public: PublicRegistry,
    _repo: ChartRepo,
    _oci: Registry,
    project: tempfile::TempDir,
}

fn lab(big: usize) -> Lab {
    let public = PublicRegistry::start_with_images(&images(big)).unwrap();
    let repo = ChartRepo::from_charts(&[
        chart("cache", &["docker.io/bitnami/redis:7.2.4", "docker.io/bitnami/mongodb:8.0.13"]),
        chart("db", &["bitnami/postgresql:16.3.0"]),
        chart("ingress", &["registry.k8s.io/ingress-nginx/controller:v1.11.0", "gcr.io/distroless/static:nonroot"]),
        chart("mesh", &["docker.io/istio/pilot:1.27.1", "istio/proxyv2:1.27.1"]),
        chart("certs", &["quay.io/jetstack/cert-manager-controller:v1.21.1", "quay.io/jetstack/cert-manager-webhook:v1.21.1"]),
    ])
    .unwrap();
    let oci = Registry::start(RegistryOptions::plain()).unwrap();
    let helm = Helm::new().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let tgz = chart("monitor", &["quay.io/prometheus/prometheus:v3.0.0", "docker.io/grafana/grafana:12.1.0"])
        .package(&helm, &scratch.path().join("src"), &scratch.path().join("out"))
        .unwrap();
    push_chart_oci(&oci, &tgz, "charts").unwrap();

    let project = tempfile::tempdir().unwrap();
    let charts = project.path().join("charts");
    chart("lib", &["ghcr.io/example/app:1.0.0"]).write_to(&charts).unwrap();
    let mut app = ChartSpec::new("app", "0.3.0");
    app.templates = vec![];
    app.values_yaml = "lib:\n  enabled: true\n".into();
    app.dependencies = vec![ChartDependency { name: "lib".into(), version: "1.0.0".into(), repository: "file://../lib".into() }];
    app.write_to(&charts).unwrap();
    let helmfile = format!(
        r#"environments:
  default:
    values:
    - canary:
        enabled: false
  staging:
    values:
    - canary:
        enabled: true
---
repositories:
- name: lab
  url: {repo}
releases:
- name: canary
  namespace: staging-only
  chart: lab/db
  version: 1.0.0
  condition: canary.enabled
- name: cache
  namespace: data
  chart: lab/cache
  version: 1.0.0
- name: db
  namespace: data
  chart: lab/db
  version: ~1.0.0
- name: monitoring
  namespace: monitoring
  chart: oci://{oci}/charts/monitor
  version: 1.0.0
- name: ingress
  namespace: ingress
  chart: lab/ingress
  version: 1.0.0
- name: istiod
  namespace: istio-system
  chart: lab/mesh
  version: 1.0.0
- name: certs
  namespace: cert-manager
  chart: lab/certs
  version: 1.0.0
- name: app
  namespace: apps
  chart: ./charts/app
  needs:
  - data/db
  - cert-manager/certs
"#,
        repo = repo.url(),
        oci = oci.host()
    );
    std::fs::write(project.path().join("helmfile.yaml.gotmpl"), helmfile).unwrap();
    Lab { public, _repo: repo, _oci: oci, project }
}

fn kod(lab: &Lab) -> Command {
    let tools = Tools::find().unwrap();
    let mut c = Command::cargo_bin("kod").unwrap();
    c.current_dir(lab.project.path())
        .env("KOD_HELM", &tools.helm)
        .env("KOD_SKOPEO", &tools.skopeo)
        .env("KOD_HELMFILE", Tools::helmfile().unwrap());
    c
}

fn package_args(lab: &Lab, work: &Path, out: &Path) -> Vec<String> {
    vec![
        "--no-progress".into(),
        "--log-format".into(),
        "json".into(),
        "helmfile".into(),
        "package".into(),
        "--workdir".into(),
        work.display().to_string(),
        "-o".into(),
        out.display().to_string(),
        "--source-registries-conf".into(),
        lab.public.registries_conf().display().to_string(),
    ]
}

/// The commands a run echoed (from `--log-format json`).
fn commands(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "exec")
        .map(|v| v["command"].as_str().unwrap_or("").to_string())
        .collect()
}

#[test]
fn package_a_platform_into_one_verified_bundle_then_resume_without_transfers() {
    let lab = lab(8 * 1024);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("platform.kod.tar");
    let wd = work.path().join("work");
    let first = kod(&lab).args(package_args(&lab, &wd, &out)).assert().success().get_output().clone();
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.contains("8 releases, 7 charts, 12 images"), "{stdout}\n{}", String::from_utf8_lossy(&first.stderr));

    let manifest = kod::bundle::read::read_manifest(&out).unwrap();
    assert_eq!(manifest.releases.len(), 8);
    let canary = manifest.releases.iter().find(|r| r.name == "canary").unwrap();
    assert!(!canary.installed, "a release whose condition is off is recorded as not installed");
    let namespaces: std::collections::BTreeSet<&str> = manifest.releases.iter().map(|r| r.namespace.as_str()).collect();
    assert!(namespaces.len() >= 3);
    assert_eq!(manifest.images.len(), 12);
    assert!(manifest.totals.unique_blob_bytes < manifest.totals.image_bytes, "shared base layers stored once");
    let distinct: std::collections::BTreeSet<&str> = manifest.files.iter().filter(|f| f.path.starts_with("images/blobs/")).map(|f| f.path.as_str()).collect();
    assert_eq!(distinct.len() as u64, manifest.totals.unique_blobs);
    assert!(manifest.charts.iter().any(|c| c.name == "monitor"), "the OCI chart is bundled");
    assert!(manifest.charts.iter().any(|c| c.name == "app"), "the local chart is bundled");
    assert!(manifest.files.iter().any(|f| f.path == "helmfile/helmfile.yaml.gotmpl"));
    assert!(manifest.files.iter().any(|f| f.path == "helmfile/charts/app/Chart.yaml"));
    assert!(manifest.files.iter().any(|f| f.path == "rendered/default/state.yaml"));
    let app = manifest.releases.iter().find(|r| r.name == "app").unwrap();
    assert_eq!(app.images[0].source, "ghcr.io/example/app:1.0.0", "the dependency's image is found");
    let plan = &manifest.plans[0].plan;
    assert!(plan["waves"].as_array().unwrap().len() >= 2, "app waits for db and certs: {plan}");

    kod(&lab).args(["bundle", "verify"]).arg(&out).assert().success();
    let unpacked = work.path().join("unpacked");
    kod(&lab).args(["bundle", "unpack"]).arg(&out).arg(&unpacked).assert().success();
    assert!(unpacked.join("images/index.json").is_file());

    // Second run, same work directory: no chart pull, no render, no image copy.
    let out2 = work.path().join("again.kod.tar");
    let second = kod(&lab).args(package_args(&lab, &wd, &out2)).assert().success().get_output().clone();
    let cmds = commands(&second.stderr);
    // (A version constraint is resolved again, against a fresh index: that is its meaning.)
    let transfers: Vec<&String> = cmds.iter().filter(|c| c.contains("skopeo") && c.contains(" copy ") || common::is_chart_pull(c) || c.contains("helm template")).collect();
    assert!(transfers.is_empty(), "second run transferred: {transfers:?}");
    let m2 = kod::bundle::read::read_manifest(&out2).unwrap();
    assert_eq!(m2.images, manifest.images);

    // Two environments: their union, one plan each; then --cleanup removes the work dir.
    let out3 = work.path().join("both.kod.tar");
    let mut args = package_args(&lab, &wd, &out3);
    args.extend(["-e".to_string(), "default".to_string(), "-e".to_string(), "staging".to_string(), "--cleanup".to_string()]);
    kod(&lab).args(args).assert().success();
    let m3 = kod::bundle::read::read_manifest(&out3).unwrap();
    assert_eq!(m3.environments, vec!["default", "staging"]);
    assert_eq!(m3.plans.len(), 2);
    assert!(m3.releases.iter().any(|r| r.environment == "staging" && r.name == "canary" && r.installed));
    assert!(m3.releases.iter().any(|r| r.environment == "default" && r.name == "canary" && !r.installed));
    assert!(!wd.exists(), "--cleanup removes the work directory");
    kod(&lab).args(["bundle", "verify"]).arg(&out3).assert().success();
}

#[test]
// A failed assertion may leave the child unreaped; the test process ends right after.
#[allow(clippy::zombie_processes)]
fn a_package_killed_midway_leaves_no_bundle_and_the_next_run_completes() {
    // Bigger layers so the copy takes long enough to be interrupted.
    let lab = lab(6 * 1024 * 1024);
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("platform.kod.tar");
    let wd = work.path().join("work");
    let tools = Tools::find().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kod"))
        .current_dir(lab.project.path())
        .env("KOD_HELM", &tools.helm)
        .env("KOD_SKOPEO", &tools.skopeo)
        .args(package_args(&lab, &wd, &out))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL) as soon as the first image is in the work directory.
    let refs = wd.join("images/refs");
    let start = Instant::now();
    let mut killed_midway = false;
    while start.elapsed() < Duration::from_secs(120) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("package finished ({status}) before it could be interrupted; make the images bigger");
        }
        let done = std::fs::read_dir(&refs).map(|rd| rd.flatten().filter(|e| e.path().join("kod-image.json").exists()).count()).unwrap_or(0);
        if done >= 1 {
            child.kill().unwrap();
            child.wait().unwrap();
            killed_midway = done < 12;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(killed_midway, "the run was not interrupted in the middle of copying images");
    assert!(!out.exists(), "an interrupted package must not leave a bundle");
    let complete_before = std::fs::read_dir(&refs).unwrap().flatten().filter(|e| e.path().join("kod-image.json").exists()).count();

    let again = kod(&lab).args(package_args(&lab, &wd, &out)).assert().success().get_output().clone();
    let copies = commands(&again.stderr).into_iter().filter(|c| c.contains("skopeo") && c.contains(" copy ")).count();
    assert!(copies <= 12 - complete_before + 2, "the re-run redid finished copies ({copies} copies, {complete_before} were complete)");
    kod(&lab).args(["bundle", "verify"]).arg(&out).assert().success();
    let leftovers: Vec<PathBuf> = std::fs::read_dir(work.path()).unwrap().flatten().map(|e| e.path()).filter(|p| p.to_string_lossy().contains("kod-partial")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Source mirrors from the command line and from a hints file's `global.mirrors`: images are
/// pulled from the mirrors, the bundle keeps their public names and records where they came
/// from.
#[test]
fn source_mirrors_from_flags_hints_and_chart_hints_keep_public_names() {
    let lab = lab(4 * 1024);
    let host = lab.public.host();
    let work = tempfile::tempdir().unwrap();
    let hints = work.path().join("kod-hints.yaml");
    std::fs::write(
        &hints,
        format!(
            // quay.io's global mirror does not exist: the charts that use quay.io images
            // (certs, monitor) name the working one, and chart mirrors win.
            "global:\n  mirrors:\n    quay.io: 127.0.0.1:1/unused\n    registry.k8s.io: {host}/registry.k8s.io\n    gcr.io: {host}/gcr.io\n    ghcr.io: {host}/ghcr.io\n    docker.io: 127.0.0.1:1/unused\ncharts:\n- chart: [certs, monitor]\n  mirrors:\n    quay.io: {host}/quay.io\n"
        ),
    )
    .unwrap();
    let out = work.path().join("m.kod.tar");
    kod(&lab)
        .args(["--no-progress", "helmfile", "package", "--workdir"])
        .arg(work.path().join("w"))
        .arg("-o")
        .arg(&out)
        .arg("--hints")
        .arg(&hints)
        // The flag wins over the hints file for docker.io.
        .args(["--source-registry-mirror", &format!("docker.io={host}/docker.io")])
        .assert()
        .success();
    let m = kod::bundle::read::read_manifest(&out).unwrap();
    assert_eq!(m.images.len(), 12);
    for img in &m.images {
        assert!(!img.source.starts_with("127.0.0.1"), "public names are kept: {}", img.source);
        let from = img.pulled_from.as_deref().unwrap_or_else(|| panic!("{} has no pulledFrom", img.source));
        assert!(from.starts_with(&host), "{} pulled from {from}", img.source);
        if img.source.starts_with("quay.io/") {
            assert_eq!(from, format!("{host}/quay.io"), "the chart's mirror");
        }
    }
    kod(&lab).args(["bundle", "verify"]).arg(&out).assert().success();
}
