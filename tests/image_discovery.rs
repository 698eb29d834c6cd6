//! Image discovery (strategies 1 and 2) and the chart stage against real helm and skopeo:
//! a lab HTTP chart repository, a lab OCI registry with credentials, a local chart with a
//! `file://` dependency, and the hard-case fixtures of tests/fixtures/charts.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kod::chart::WorkDir;
use kod::exec::Runner;
use kod::helmfile::{self, LoadOptions, LoadedState};
use kod::image::discover::{discover, Confirmation, DiscoverOptions, Discovery, ReleaseImages, Strategy};
use kod_testlab::{ChartRepo, ChartSpec, Helm, ImageSpec, PublicRegistry, Registry, RegistryOptions, Tools};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts")
}

use common::lab_runner_with_lines as runner;

fn load(dir: &Path) -> Vec<LoadedState> {
    helmfile::load(&LoadOptions { file: Some(dir.join("helmfile.yaml")), cwd: Some(dir.to_path_buf()), ..Default::default() })
        .expect("helmfile loads")
}

/// Package fixture charts into a fresh directory and serve it.
fn serve_fixtures(names: &[&str]) -> (tempfile::TempDir, ChartRepo) {
    let helm = Helm::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for n in names {
        helm.package(&fixtures().join(n), dir.path()).unwrap();
    }
    let repo = ChartRepo::new(dir.path()).unwrap();
    (dir, repo)
}

fn release<'a>(d: &'a Discovery, name: &str) -> &'a ReleaseImages {
    d.releases.iter().find(|r| r.release.name == name).unwrap_or_else(|| panic!("release {name} in {d:#?}"))
}

fn images(r: &ReleaseImages) -> BTreeSet<String> {
    r.images.iter().map(|i| i.image.clone()).collect()
}

fn count(runner: &Runner, prefix: &str) -> usize {
    runner.history().iter().filter(|e| e.ran && e.display.contains(prefix)).count()
}

/// `helm pull`s of charts (not of repository indexes).
fn chart_pulls(runner: &Runner) -> Vec<String> {
    runner.history().iter().filter(|e| e.ran && common::is_chart_pull(&e.display)).map(|e| e.display.clone()).collect()
}

const DIGEST: &str = "sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b";

#[tokio::test(flavor = "multi_thread")]
async fn hard_cases_from_an_http_repo_and_a_local_chart_with_cache() {
    let public = PublicRegistry::start_with_images(&[ImageSpec::new("quay.io/lab/present:1.0")]).unwrap();
    let (_dir, repo) = serve_fixtures(&["hard"]);
    let project = tempfile::tempdir().unwrap();
    for c in ["localapp", "libsub"] {
        copy_dir(&fixtures().join(c), &project.path().join("charts").join(c));
    }
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!(
            "repositories:\n- name: lab\n  url: {url}\nreleases:\n\
             - {{name: a, namespace: demo, chart: lab/hard, version: 1.0.0}}\n\
             - {{name: b, namespace: demo, chart: lab/hard, version: '^1'}}\n\
             - {{name: shared, namespace: demo, kubeContext: c1, chart: lab/hard, version: 1.0.0}}\n\
             - {{name: shared, namespace: demo, kubeContext: c2, chart: lab/hard, version: 1.0.0}}\n\
             - {{name: local, namespace: demo, chart: ./charts/localapp}}\n\
             - {{name: off, namespace: demo, chart: lab/hard, installed: false}}\n",
            url = repo.url()
        ),
    )
    .unwrap();
    let states = load(project.path());
    let work = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(work.path()).unwrap();
    let opts = DiscoverOptions {
        include_test_images: false,
        registry_check: true,
        source_registries_conf: Some(public.registries_conf()),
        concurrency: 4,
        ..Default::default()
    };
    let (r1, _) = runner();
    let d = discover(&r1, &wd, &states, &opts).await.unwrap();
    assert!(d.failures.is_empty(), "{:#?}", d.failures);
    assert_eq!(d.skipped.len(), 1);
    assert_eq!(d.skipped[0].release.name, "off");

    let a = release(&d, "a");
    let expected: BTreeSet<String> = [
        format!("quay.io/team/app@{DIGEST}"),        // digest-only (pod spec)
        "quay.io/team/sidecar:1.0".to_string(),      // only in args, confirmed by values
        "quay.io/lab/present:1.0".to_string(),       // only in args, confirmed by the registry
        "quay.io/mesh/proxy:2.1".to_string(),        // only in a ConfigMap injection template
        "quay.io/widgets/widget:3.0".to_string(),    // only in a custom resource
        "docker.io/istio/proxyv2:1.22.0".to_string(), // hub/tag split in a custom resource
    ]
    .into_iter()
    .collect();
    assert_eq!(images(a), expected, "{a:#?}");
    // Disabled subchart and test hook images are not there; the ghost is reported.
    assert!(!images(a).iter().any(|i| i.contains("sub/disabled")));
    assert_eq!(a.excluded_test_images, vec!["quay.io/team/tester:1.0"]);
    assert_eq!(a.unconfirmed.len(), 1, "{:#?}", a.unconfirmed);
    assert_eq!(a.unconfirmed[0].image, "quay.io/nowhere/ghost:9.9");
    assert!(a.unconfirmed[0].reason.contains("not found in the source registry"), "{}", a.unconfirmed[0].reason);
    // Provenance.
    let prov = |img: &str| a.images.iter().find(|i| i.image == img).unwrap().provenance.clone();
    let p = prov("quay.io/team/sidecar:1.0");
    assert_eq!(p[0].strategy, Strategy::Candidate);
    assert_eq!(p[0].confirmed_by, Some(Confirmation::ChartValues { file: "hard/values.yaml".into() }));
    assert_eq!(p[0].object.as_ref().unwrap().kind, "Deployment");
    assert!(p[0].field_path.as_deref().unwrap().contains("args"), "{p:?}");
    assert_eq!(prov("quay.io/lab/present:1.0")[0].confirmed_by, Some(Confirmation::Registry));
    let w = prov("quay.io/widgets/widget:3.0");
    assert_eq!((w[0].strategy, w[0].field_path.as_deref()), (Strategy::Render, Some("spec.image")));
    assert_eq!(a.chart.name, "hard");
    assert_eq!(a.chart.version, "1.0.0");
    assert!(a.chart.digest.starts_with("sha256:") && a.chart.digest.len() == 71);

    // The same images in the other releases of the chart (an image used by several releases).
    assert_eq!(images(release(&d, "b")), expected);
    assert_eq!(d.releases.iter().filter(|r| r.release.name == "shared").count(), 2);
    // The local chart with its file:// dependency built.
    let local = release(&d, "local");
    assert_eq!(
        images(local),
        ["quay.io/team/local:1.0", "quay.io/team/libsub:0.1"].iter().map(|s| s.to_string()).collect()
    );
    assert!(d.all_images().contains(&"quay.io/team/libsub:0.1".to_string()));

    // Each chart fetched once, each distinct render once (the two `shared` releases differ
    // only by kube context: one render).
    assert_eq!(chart_pulls(&r1).len(), 1, "{:#?}", r1.history());
    assert_eq!(count(&r1, "helm dependency build --skip-refresh"), 1);
    assert_eq!(count(&r1, "helm template "), 4, "{:#?}", r1.history());
    assert!(!std::fs::read_dir(project.path().join("charts/localapp")).unwrap().any(|e| e.unwrap().file_name() == "charts"),
        "the user's chart directory must not be written");

    // A second run with the cache present: no pull, no package, no render; same answer.
    let (r2, _) = runner();
    let again = discover(&r2, &wd, &states, &opts).await.unwrap();
    assert_eq!(chart_pulls(&r2).len(), 0, "{:#?}", r2.history());
    assert_eq!(count(&r2, "helm template "), 0);
    assert_eq!(count(&r2, "helm package "), 0);
    assert_eq!(again, d);
    // Nothing left in scratch space.
    assert_eq!(std::fs::read_dir(work.path().join("tmp")).unwrap().count(), 0);

    // Test hook images on request.
    let (r3, _) = runner();
    let with_tests = discover(&r3, &wd, &states, &DiscoverOptions { include_test_images: true, ..opts.clone() }).await.unwrap();
    assert!(images(release(&with_tests, "a")).contains("quay.io/team/tester:1.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn oci_registry_with_credentials_never_echoed() {
    let reg = Registry::start(RegistryOptions::plain().with_auth("kod", "s3cret-pw")).unwrap();
    let helm = Helm::new().unwrap();
    let build = tempfile::tempdir().unwrap();
    let tgz = ChartSpec::new("ociapp", "0.3.0")
        .with_image("quay.io/team/oci:1.0")
        .unwrap()
        .package(&helm, &build.path().join("src"), &build.path().join("out"))
        .unwrap();
    kod_testlab::push_chart_oci(&reg, &tgz, "charts").unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!(
            "repositories:\n- name: oci-lab\n  url: {host}/charts\n  oci: true\n  username: kod\n  skipTLSVerify: true\nreleases:\n\
             - {{name: o, namespace: demo, chart: oci-lab/ociapp, version: 0.3.0}}\n",
            host = reg.helm_host()
        ),
    )
    .unwrap();
    // The password comes from OCI_LAB_PASSWORD (name upper-cased, `-` → `_`).
    std::env::set_var("OCI_LAB_PASSWORD", "s3cret-pw");
    let states = load(project.path());
    let work = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(work.path()).unwrap();
    let (r, lines) = runner();
    let d = discover(&r, &wd, &states, &DiscoverOptions { registry_check: false, ..Default::default() }).await.unwrap();
    assert!(d.failures.is_empty(), "{:#?}", d.failures);
    assert_eq!(images(release(&d, "o")), ["quay.io/team/oci:1.0".to_string()].into_iter().collect());
    assert_eq!(count(&r, "helm registry login"), 1);
    assert_eq!(count(&r, &format!("helm pull oci://{}/charts/ociapp --version 0.3.0", reg.helm_host())), 1, "{:#?}", r.history());
    let echoed = lines.lock().unwrap().join("\n");
    assert!(echoed.contains("--password-stdin") && !echoed.contains("s3cret-pw"), "{echoed}");
    // The isolated helm state holds the login; the user's is untouched.
    assert!(wd.registry_config().is_file());
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_reported_with_release_and_cause() {
    let (_dir, repo) = serve_fixtures(&["hard"]);
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!(
            "repositories:\n- {{name: lab, url: '{url}'}}\n- {{name: down, url: 'http://127.0.0.1:9'}}\nreleases:\n\
             - {{name: broken, chart: lab/hard, version: 1.0.0, set: [{{name: broken, value: 'true'}}]}}\n\
             - {{name: unreachable, chart: down/hard, version: 1.0.0}}\n\
             - {{name: noversion, chart: lab/hard, version: 7.7.7}}\n\
             - {{name: nochart, chart: lab/nothing}}\n\
             - {{name: badimage, chart: lab/hard, version: 1.0.0, values: [{{badImage: true}}]}}\n",
            url = repo.url()
        ),
    )
    .unwrap();
    let states = load(project.path());
    let work = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(work.path()).unwrap();
    let (r, _) = runner();
    let d = discover(&r, &wd, &states, &DiscoverOptions { registry_check: false, ..Default::default() }).await.unwrap();
    let failure = |name: &str| {
        d.failures.iter().find(|f| f.release.name == name).unwrap_or_else(|| panic!("failure of {name} in {:#?}", d.failures)).error.clone()
    };
    let e = failure("broken");
    assert!(e.contains("helm template broken") && e.contains("this chart refuses to render: broken=true"), "{e}");
    let e = failure("unreachable");
    assert!(e.contains("cannot read the index of chart repository \"down\" (http://127.0.0.1:9)"), "{e}");
    let e = failure("noversion");
    assert!(e.contains("no version matching \"7.7.7\"") && e.contains("newest versions: 1.0.0"), "{e}");
    let e = failure("nochart");
    assert!(e.contains("chart \"nothing\" not found in repository \"lab\"") && e.contains("it has: hard"), "{e}");
    assert_eq!(d.failures.len(), 4);
    let bad = release(&d, "badimage");
    assert_eq!(bad.invalid.len(), 1, "{bad:#?}");
    assert_eq!(bad.invalid[0].provenance.written, "Not A Valid:Image!");
    assert!(bad.invalid[0].provenance.field_path.as_deref().unwrap().contains("containers[name=bad]"));
    // The rest of the release is still discovered.
    assert!(images(bad).contains("quay.io/widgets/widget:3.0"));
    assert!(kod::image::discover::require_complete(&d).unwrap_err().to_string().contains("4 release(s) could not be processed"));
    // The binary exits non-zero and names every failed release.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kod"))
        .args(["helmfile", "images", "--no-registry-check", "--workdir"])
        .arg(work.path())
        .arg("-f")
        .arg(project.path().join("helmfile.yaml"))
        .env("KOD_HELM", Tools::find().unwrap().helm)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unreachable") && stderr.contains("noversion") && stderr.contains("broken"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("invalid image \"Not A Valid:Image!\""), "{stdout}");
}

#[test]
fn cli_text_and_json_output() {
    let (_dir, repo) = serve_fixtures(&["hard"]);
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!("repositories:\n- {{name: lab, url: '{}'}}\nreleases:\n- {{name: a, namespace: demo, chart: lab/hard, version: 1.0.0}}\n", repo.url()),
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kod"))
            .args(["helmfile", "images", "--no-registry-check", "--workdir"])
            .arg(work.path())
            .args(extra)
            .current_dir(project.path())
            .env("KOD_HELM", Tools::find().unwrap().helm)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let text = run(&["--why"]);
    assert!(text.starts_with("demo/a  (chart hard 1.0.0, sha256:"), "{text}");
    assert!(
        text.contains(
            "  quay.io/widgets/widget:3.0\n      value path: widget (image string: widget.image)\n      <- render: Widget/a-widget (hard/templates/widget.yaml) spec.image\n      <- value-path values widget [image string: widget.image]\n"
        ),
        "{text}"
    );
    assert!(text.contains("  quay.io/team/app@sha256:6c3c624b58dbbcd3c0dd82b4c53f04194d1247c6eebdaab7c610cf7d66709b3b\n      value path: none — needs a hint or post-render\n"), "{text}");
    assert!(text.contains("confirmed by chart values hard/values.yaml"), "{text}");
    assert!(text.contains("unconfirmed (not bundled): quay.io/nowhere/ghost:9.9"), "{text}");
    assert!(text.contains("test hook images left out: quay.io/team/tester:1.0"), "{text}");
    let plain = run(&[]);
    assert!(!plain.contains("<- render"), "{plain}");
    let json: serde_json::Value = serde_json::from_str(&run(&["-o", "json"])).unwrap();
    let rel = &json["releases"][0];
    assert_eq!(rel["release"]["id"], "demo/a");
    let widget = rel["images"].as_array().unwrap().iter().find(|i| i["image"] == "quay.io/widgets/widget:3.0").unwrap();
    assert_eq!(widget["provenance"][0]["strategy"], "render");
    assert_eq!(widget["provenance"][0]["object"]["kind"], "Widget");
    assert_eq!(widget["provenance"][1]["strategy"], "value-path");
    assert_eq!(widget["provenance"][1]["value_path"], "widget");
    assert_eq!(rel["unconfirmed"][0]["image"], "quay.io/nowhere/ghost:9.9");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fetch_all_fetches_each_chart_once_and_answers_per_request() {
    let (_dir, repo) = serve_fixtures(&["hard"]);
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!(
            "repositories:\n- {{name: lab, url: '{}'}}\nreleases:\n- {{name: a, chart: lab/hard, version: 1.0.0}}\n- {{name: b, chart: lab/hard, version: '>=1.0.0 <2'}}\n- {{name: c, chart: lab/hard, version: 3.0.0}}\n",
            repo.url()
        ),
    )
    .unwrap();
    let states = load(project.path());
    let none = |_: &str| None;
    let requests: Vec<_> = states[0].spec.releases.iter().map(|r| kod::chart::chart_request(&states[0], r, &none).unwrap()).collect();
    let work = tempfile::tempdir().unwrap();
    let (r, _) = runner();
    let fetcher = kod::chart::ChartFetcher::new(r.clone(), WorkDir::open(work.path()).unwrap());
    let got = fetcher.fetch_all(&requests, 3).await;
    let (a, b) = (got[0].as_ref().unwrap(), got[1].as_ref().unwrap());
    assert_eq!(a, b);
    assert_eq!((a.name.as_str(), a.version.as_str()), ("hard", "1.0.0"));
    assert_eq!(std::fs::read(&a.path).map(|bytes| kod::chart::workdir::sha256_digest(&bytes)).unwrap(), a.digest);
    let e = format!("{:#}", got[2].as_ref().unwrap_err());
    assert!(e.contains("no version matching \"3.0.0\""), "{e}");
    // The index is downloaded once (no `helm repo add`: it would parse the index too), the
    // chart pulled once.
    assert_eq!(count(&r, "/index.yaml --repository-config "), 1, "{:#?}", r.history());
    assert_eq!(chart_pulls(&r).len(), 1, "{:#?}", r.history());
    assert_eq!(count(&r, "helm repo add "), 0);
}

/// Charts of an HTTP repository are pulled several per `helm pull` (one helm start per chart
/// cost more CPU than the pulls); `fetch` then answers from the cache, and what a batch did
/// not bring (a version that does not exist) fails per chart as before.
#[tokio::test(flavor = "multi_thread")]
async fn prefetch_batches_pulls_and_fetch_answers_from_the_cache() {
    let src = tempfile::tempdir().unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    let helm = Helm::new().unwrap();
    helm.package(&fixtures().join("hard"), repo_dir.path()).unwrap();
    for name in ["alpha", "beta", "gamma"] {
        package_chart(src.path(), repo_dir.path(), name, &[("Chart.yaml", &format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n"))]);
    }
    let repo = ChartRepo::new(repo_dir.path()).unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!(
            "repositories:\n- {{name: lab, url: '{}'}}\nreleases:\n\
             - {{name: a, chart: lab/hard, version: 1.0.0}}\n- {{name: b, chart: lab/alpha, version: '^0.1'}}\n\
             - {{name: c, chart: lab/beta, version: 0.1.0}}\n- {{name: d, chart: lab/gamma, version: 0.1.0}}\n\
             - {{name: e, chart: lab/hard, version: 1.0.0}}\n- {{name: f, chart: lab/beta, version: 9.9.9}}\n",
            repo.url()
        ),
    )
    .unwrap();
    let states = load(project.path());
    let none = |_: &str| None;
    let requests: Vec<_> = states[0].spec.releases.iter().map(|r| kod::chart::chart_request(&states[0], r, &none).unwrap()).collect();
    for batches in [1, 2] {
        let work = tempfile::tempdir().unwrap();
        let (r, _) = runner();
        let fetcher = kod::chart::ChartFetcher::new(r.clone(), WorkDir::open(work.path()).unwrap());
        fetcher.prefetch(&requests.iter().collect::<Vec<_>>(), batches, 2).await;
        let pulls = chart_pulls(&r);
        assert_eq!(pulls.len(), batches, "{pulls:#?}");
        // Four distinct archives (hard once although two releases use it), none twice.
        let urls: Vec<&str> = pulls.iter().flat_map(|p| p.split(' ')).filter(|w| w.ends_with(".tgz")).collect();
        let mut sorted = urls.clone();
        sorted.sort();
        assert_eq!(sorted.len(), 4, "{pulls:#?}");
        for name in ["alpha-0.1.0.tgz", "beta-0.1.0.tgz", "gamma-0.1.0.tgz", "hard-1.0.0.tgz"] {
            assert_eq!(urls.iter().filter(|u| u.ends_with(&format!("/{name}"))).count(), 1, "{name} in {pulls:#?}");
        }
        let got = fetcher.fetch_all(&requests, 2).await;
        assert_eq!(chart_pulls(&r).len(), batches, "fetch pulled again: {:#?}", r.history());
        for (i, name) in ["hard", "alpha", "beta", "gamma", "hard"].iter().enumerate() {
            let c = got[i].as_ref().unwrap();
            assert_eq!((c.name.as_str(), c.version.as_str()), (*name, if *name == "hard" { "1.0.0" } else { "0.1.0" }));
            assert_eq!(kod::chart::workdir::sha256_digest(&std::fs::read(&c.path).unwrap()), c.digest);
        }
        let e = format!("{:#}", got[5].as_ref().unwrap_err());
        assert!(e.contains("no version matching \"9.9.9\""), "{e}");
        // Nothing left in scratch space.
        assert_eq!(std::fs::read_dir(work.path().join("tmp")).unwrap().count(), 0);
    }
}

/// Writes chart `name` (files given relative to its directory) under `root`, and packages
/// it into `out`.
fn package_chart(root: &Path, out: &Path, name: &str, files: &[(&str, &str)]) {
    let dir = root.join(name);
    for (file, text) in files {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    Helm::new().unwrap().package(&dir, out).unwrap();
}

/// A Bitnami-style chart (`image.registry/repository/tag` with `global.imageRegistry`, an
/// `images` annotation, a disabled metrics image) and an istio-style hub/tag chart, served
/// from a lab repository; the project uses both.
fn value_path_charts() -> (tempfile::TempDir, ChartRepo, tempfile::TempDir) {
    let src = tempfile::tempdir().unwrap();
    let out = src.path().join("repo");
    package_chart(
        src.path(),
        &out,
        "bitnamiish",
        &[
            (
                "Chart.yaml",
                "apiVersion: v2\nname: bitnamiish\nversion: 1.0.0\nappVersion: 7.2.4\nannotations:\n  images: |\n    - name: redis\n      image: docker.io/bitnami/redis:7.2.4\n    - name: redis-exporter\n      image: docker.io/bitnami/redis-exporter:1.0.0\n",
            ),
            (
                "values.yaml",
                "global:\n  imageRegistry: \"\"\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.2.4\nmetrics:\n  enabled: false\n  image:\n    registry: docker.io\n    repository: bitnami/redis-exporter\n    tag: 1.0.0\n",
            ),
            (
                "templates/deployment.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n      - name: redis\n        image: {{ .Values.global.imageRegistry | default .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}\n      - name: hardcoded\n        image: quay.io/team/hardcoded:2.0\n      {{- if .Values.metrics.enabled }}\n      - name: metrics\n        image: {{ .Values.metrics.image.registry }}/{{ .Values.metrics.image.repository }}:{{ .Values.metrics.image.tag }}\n      {{- end }}\n",
            ),
        ],
    );
    package_chart(
        src.path(),
        &out,
        "meshish",
        &[
            ("Chart.yaml", "apiVersion: v2\nname: meshish\nversion: 1.22.0\nappVersion: 1.22.0\n"),
            ("values.yaml", "image: pilot\nglobal:\n  hub: docker.io/istio\n  tag: 1.22.0\n  proxy:\n    image: proxyv2\n"),
            (
                "templates/deployment.yaml",
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\nspec:\n  template:\n    spec:\n      containers:\n      - name: discovery\n        image: \"{{ .Values.global.hub }}/{{ .Values.image }}:{{ .Values.global.tag }}\"\n      - name: proxy\n        image: \"{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}\"\n",
            ),
        ],
    );
    let repo = ChartRepo::new(&out).unwrap();
    let project = tempfile::tempdir().unwrap();
    std::fs::write(
        project.path().join("helmfile.yaml"),
        format!(
            "repositories:\n- {{name: lab, url: '{}'}}\nreleases:\n\
             - {{name: cache, namespace: demo, chart: lab/bitnamiish, version: 1.0.0, values: [{{global: {{imageRegistry: registry.example.org}}}}, {{image: {{tag: 7.2.5}}}}]}}\n\
             - {{name: plain, namespace: demo, chart: lab/bitnamiish, version: 1.0.0}}\n\
             - {{name: mesh, namespace: demo, chart: lab/meshish, version: 1.22.0}}\n",
            repo.url()
        ),
    )
    .unwrap();
    (src, repo, project)
}

fn image<'a>(r: &'a ReleaseImages, reference: &str) -> &'a kod::image::discover::DiscoveredImage {
    r.images.iter().find(|i| i.image == reference).unwrap_or_else(|| panic!("{reference} in {r:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn value_paths_annotations_and_possible_images() {
    let (_src, _repo, project) = value_path_charts();
    let states = load(project.path());
    let work = tempfile::tempdir().unwrap();
    let wd = WorkDir::open(work.path()).unwrap();
    let (r, _) = runner();
    let d = discover(&r, &wd, &states, &DiscoverOptions { registry_check: false, ..Default::default() }).await.unwrap();
    assert!(d.failures.is_empty(), "{:#?}", d.failures);

    // Bitnami style, with the release's values (global registry, tag) in effect.
    let cache = release(&d, "cache");
    assert_eq!(images(cache), ["quay.io/team/hardcoded:2.0", "registry.example.org/bitnami/redis:7.2.5"].iter().map(|s| s.to_string()).collect());
    let redis = image(cache, "registry.example.org/bitnami/redis:7.2.5");
    assert_eq!(redis.value_path(), Some("image"));
    let by_values = redis.provenance.iter().find(|p| p.strategy == Strategy::ValuePath).unwrap();
    assert_eq!(
        by_values.detail.as_deref(),
        Some("registry/repository/tag: global.imageRegistry, image.registry, image.repository, image.tag")
    );
    // Hard-coded in the template: no value path.
    assert_eq!(image(cache, "quay.io/team/hardcoded:2.0").value_path(), None);
    // The disabled metrics image and the annotation's default redis are possible, not bundled.
    let possible: Vec<(&str, Option<&str>)> = cache.possible.iter().map(|p| (p.image.as_str(), p.value_path.as_deref())).collect();
    assert_eq!(
        possible,
        vec![
            // The release's global registry applies to it too.
            ("registry.example.org/bitnami/redis-exporter:1.0.0", Some("metrics.image")),
            // The annotations list the chart's defaults.
            ("docker.io/bitnami/redis:7.2.4", None),
            ("docker.io/bitnami/redis-exporter:1.0.0", None),
        ],
        "{:#?}",
        cache.possible
    );
    assert!(cache.possible[0].reason.contains("metrics.enabled"), "{}", cache.possible[0].reason);
    assert_eq!(cache.possible[1].reason, "listed in bitnamiish/Chart.yaml annotation \"images\" entry 0, not in the rendered manifests");

    // Without release values: the chart default, named by the annotation too.
    let plain = release(&d, "plain");
    let redis = image(plain, "docker.io/bitnami/redis:7.2.4");
    assert_eq!(redis.value_path(), Some("image"));
    let annotated = redis.provenance.iter().find(|p| p.strategy == Strategy::ChartAnnotation).unwrap();
    assert_eq!(annotated.detail.as_deref(), Some("bitnamiish/Chart.yaml annotation \"images\" entry 0"));

    // istio style: the hub controls both images.
    let mesh = release(&d, "mesh");
    assert_eq!(images(mesh), ["docker.io/istio/pilot:1.22.0", "docker.io/istio/proxyv2:1.22.0"].iter().map(|s| s.to_string()).collect());
    for i in &mesh.images {
        assert_eq!(i.value_path(), Some("global.hub"), "{i:#?}");
    }

    // The text report says it per image.
    let text = kod::image::discover::text_report(&d, false);
    assert!(text.contains("  quay.io/team/hardcoded:2.0\n      value path: none — needs a hint or post-render\n"), "{text}");
    assert!(text.contains("  docker.io/istio/pilot:1.22.0\n      value path: global.hub (hub/tag: global.hub, image, global.tag)\n"), "{text}");
    assert!(text.contains("  possible (not bundled): registry.example.org/bitnami/redis-exporter:1.0.0 (values metrics.image)\n"), "{text}");
}

#[test]
fn hints_files_add_and_exclude_images_and_bad_ones_are_refused() {
    let (_src, _repo, project) = value_path_charts();
    let hints = project.path().join("kod-hints.yaml");
    std::fs::write(
        &hints,
        "charts:\n  - chart: bitnamiish\n    images:\n      - image: \"quay.io/team/extra:{appVersion}\"\n        reason: started by the operator at runtime\n    exclude:\n      - quay.io/team/hardcoded\n",
    )
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_kod"))
            .args(["helmfile", "images", "--no-registry-check", "-l", "name=plain", "--workdir"])
            .arg(work.path())
            .args(extra)
            .current_dir(project.path())
            .env("KOD_HELM", Tools::find().unwrap().helm)
            .output()
            .unwrap()
    };
    let out = run(&["--hints", "kod-hints.yaml", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rel = &json["releases"][0];
    assert_eq!(rel["release"]["name"], "plain");
    let listed: Vec<&str> = rel["images"].as_array().unwrap().iter().map(|i| i["image"].as_str().unwrap()).collect();
    assert_eq!(listed, vec!["docker.io/bitnami/redis:7.2.4", "quay.io/team/extra:7.2.4"]);
    let extra = &rel["images"][1]["provenance"][0];
    assert_eq!(extra["strategy"], "hint");
    assert!(extra["detail"].as_str().unwrap().contains("started by the operator at runtime"), "{extra}");
    assert!(extra["detail"].as_str().unwrap().contains("kod-hints.yaml"), "{extra}");
    let excluded = &rel["excluded_by_hint"][0];
    assert_eq!(excluded["image"], "quay.io/team/hardcoded:2.0");
    assert_eq!(excluded["pattern"], "quay.io/team/hardcoded");
    assert_eq!(excluded["provenance"][0]["strategy"], "render");

    // The text report shows both.
    let out = run(&["--hints", "kod-hints.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("  quay.io/team/extra:7.2.4\n      value path: none (added by a hint)\n"), "{text}");
    assert!(text.contains("  excluded by hint (not bundled): quay.io/team/hardcoded:2.0\n"), "{text}");

    // A malformed hints file: refused with file:line, before anything is rendered.
    std::fs::write(project.path().join("bad-hints.yaml"), "charts:\n  - chart: bitnamiish\n    imagez: []\n").unwrap();
    let out = run(&["--hints", "kod-hints.yaml", "--hints", "bad-hints.yaml"]);
    assert_ne!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad-hints.yaml:3:") && stderr.contains("unknown field `imagez`"), "{stderr}");
    assert!(out.stdout.is_empty(), "{}", String::from_utf8_lossy(&out.stdout));
    let out = run(&["--hints", "missing.yaml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read hints file missing.yaml"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Renders start with the largest charts (their cached archives' uncompressed size), so that
/// no large render is left running alone at the end; results keep the helmfile's order.
#[tokio::test(flavor = "multi_thread")]
async fn renders_start_with_the_largest_charts() {
    let src = tempfile::tempdir().unwrap();
    let repo_dir = tempfile::tempdir().unwrap();
    // Pseudo-random text (it must not compress away) of a given size in files/.
    let filler = |kib: usize| {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        (0..kib * 16).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; format!("{x:063x}\n") }).collect::<String>()
    };
    for (name, kib) in [("small", 0), ("large", 256), ("medium", 64)] {
        let chart = format!("apiVersion: v2\nname: {name}\nversion: 0.1.0\n");
        let pod = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - {{name: c, image: 'quay.io/team/{name}:1'}}\n");
        package_chart(src.path(), repo_dir.path(), name, &[("Chart.yaml", &chart), ("templates/pod.yaml", &pod), ("files/filler.txt", &filler(kib))]);
    }
    let repo = ChartRepo::new(repo_dir.path()).unwrap();
    let project = tempfile::tempdir().unwrap();
    let releases = ["small", "large", "medium"].iter().map(|c| format!("- {{name: {c}, chart: lab/{c}, version: 0.1.0}}\n")).collect::<String>();
    std::fs::write(project.path().join("helmfile.yaml"), format!("repositories:\n- {{name: lab, url: '{}'}}\nreleases:\n{releases}", repo.url())).unwrap();
    let states = load(project.path());
    let work = tempfile::tempdir().unwrap();
    let (r, _) = runner();
    let opts = DiscoverOptions { registry_check: false, concurrency: 1, ..Default::default() };
    let d = discover(&r, &WorkDir::open(work.path()).unwrap(), &states, &opts).await.unwrap();
    assert!(d.failures.is_empty(), "{:#?}", d.failures);
    let renders: Vec<String> = r.history().iter().filter(|e| e.ran && e.display.contains("helm template ")).map(|e| e.display.split("helm template ").nth(1).unwrap().split(' ').next().unwrap().to_string()).collect();
    assert_eq!(renders, ["large", "medium", "small"], "{:#?}", r.history());
    let order: Vec<&str> = d.releases.iter().map(|rel| rel.release.name.as_str()).collect();
    assert_eq!(order, ["small", "large", "medium"]);
    assert_eq!(images(release(&d, "medium")), ["quay.io/team/medium:1".to_string()].into_iter().collect());
}
