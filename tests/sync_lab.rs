//! The offline side end to end, with no route to any public registry: a platform shaped
//! like an Istio install (base → istiod → an ingress and an egress gateway from one chart in
//! two namespaces), a Bitnami-style chart with `global.imageRegistry`, a chart whose image
//! no value path controls, and an OCI chart are packaged from the lab's public stand-ins;
//! then the public side is stopped and `kod helmfile sync` pushes to a TLS + htpasswd
//! registry, rewrites the helmfile, proves it offline-ready and installs it in waves into
//! the Kubernetes API test double (a loopback HTTP stand-in, not a cluster).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use kod_testlab::{push_chart_oci, ChartRepo, ChartSpec, Helm, ImageSpec, KubeApiDouble, LayerSpec, PublicRegistry, Registry, RegistryOptions, Tools};

const USER: &str = "site-ops";
const PASSWORD: &str = "Offline-Sync-2026";

const ISTIOD_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: istiod
spec:
  selector:
    matchLabels: {app: istiod}
  template:
    metadata:
      labels: {app: istiod}
    spec:
      containers:
      - name: discovery
        image: "{{ .Values.global.hub }}/{{ .Values.pilot.image }}:{{ .Values.global.tag }}"
"#;

/// The injector template: the proxy image only appears in ConfigMap text.
const ISTIOD_INJECTOR: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: istio-sidecar-injector
data:
  config: |
    template: |
      containers:
      - name: istio-proxy
        image: "{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}"
"#;

const GATEWAY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: istio-proxy
        image: "{{ .Values.global.hub }}/{{ .Values.global.proxy.image }}:{{ .Values.global.tag }}"
"#;

const BASE: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: mesh-base
data:
  mesh: "on"
"#;

/// Bitnami's image helper in small: global.imageRegistry wins over image.registry, and a
/// relocated image needs global.security.allowInsecureImages.
const BITNAMI: &str = r#"{{- $registry := .Values.image.registry -}}
{{- if .Values.global.imageRegistry }}{{ $registry = .Values.global.imageRegistry }}{{ end -}}
{{- if and (ne $registry "docker.io") (not .Values.global.security.allowInsecureImages) }}
{{- fail "Original containers have been substituted: set global.security.allowInsecureImages" }}
{{- end -}}
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}-redis
spec:
  selector:
    matchLabels: {app: redis}
  template:
    metadata:
      labels: {app: redis}
    spec:
      containers:
      - name: redis
        image: {{ $registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}
"#;

/// No value controls this image: only the post-renderer can redirect it.
const HARDCODED: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-setup
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: setup
        image: gcr.io/distroless/static:nonroot
"#;

const MONITOR: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-prometheus
spec:
  selector:
    matchLabels: {app: prometheus}
  template:
    metadata:
      labels: {app: prometheus}
    spec:
      containers:
      - name: prometheus
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"#;

fn chart(name: &str, version: &str, values: &str, templates: &[(&str, &str)]) -> ChartSpec {
    let mut c = ChartSpec::new(name, version);
    c.values_yaml = values.into();
    c.templates = templates.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
    c
}

const ISTIO_VALUES: &str = "global:\n  hub: docker.io/istio\n  tag: 1.27.1\n  proxy:\n    image: proxyv2\npilot:\n  image: pilot\n";

fn images() -> Vec<ImageSpec> {
    vec![
        ImageSpec::new("docker.io/istio/pilot:1.27.1").layers(vec![LayerSpec::base("istio-base"), LayerSpec::own(4096)]),
        ImageSpec::new("docker.io/istio/proxyv2:1.27.1").layers(vec![LayerSpec::base("istio-base"), LayerSpec::own(4096)]),
        ImageSpec::new("docker.io/bitnami/redis:7.2.4").layers(vec![LayerSpec::base("debian-12"), LayerSpec::own(4096)]),
        ImageSpec::new("gcr.io/distroless/static:nonroot").layers(vec![LayerSpec::base("distroless")]),
        ImageSpec::new("quay.io/prometheus/prometheus:v3.0.0").layers(vec![LayerSpec::base("busybox"), LayerSpec::own(4096)]),
    ]
}

/// The connected side: public registry, chart repository, OCI chart registry, project.
struct Connected {
    public: PublicRegistry,
    _repo: ChartRepo,
    _oci: Registry,
    project: tempfile::TempDir,
}

fn connected(hints: Option<&str>) -> Connected {
    let public = PublicRegistry::start_with_images(&images()).unwrap();
    let repo = ChartRepo::from_charts(&[
        chart("mesh-base", "1.27.1", "global: {}\n", &[("base.yaml", BASE)]),
        chart("mesh-control", "1.27.1", ISTIO_VALUES, &[("deployment.yaml", ISTIOD_DEPLOYMENT), ("injector.yaml", ISTIOD_INJECTOR)]),
        chart("mesh-gateway", "1.27.1", ISTIO_VALUES, &[("deployment.yaml", GATEWAY)]),
        chart(
            "cache",
            "19.0.0",
            "global:\n  imageRegistry: \"\"\n  security:\n    allowInsecureImages: false\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.2.4\n  digest: \"\"\n",
            &[("statefulset.yaml", BITNAMI)],
        ),
        chart("setup", "0.1.0", "replicas: 1\n", &[("job.yaml", HARDCODED)]),
    ])
    .unwrap();
    let oci = Registry::start(RegistryOptions::plain()).unwrap();
    let helm = Helm::new().unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let tgz = chart("monitor", "2.0.0", "image:\n  repository: quay.io/prometheus/prometheus\n  tag: v3.0.0\n", &[("deployment.yaml", MONITOR)])
        .package(&helm, &scratch.path().join("src"), &scratch.path().join("out"))
        .unwrap();
    push_chart_oci(&oci, &tgz, "charts").unwrap();

    let project = tempfile::tempdir().unwrap();
    let helmfile = format!(
        r#"repositories:
- name: lab
  url: {repo}
environments:
  default:
    values:
    - gatewayReplicas: 1
---
releases:
- name: istio-base
  namespace: istio-system
  chart: lab/mesh-base
  version: 1.27.1
- name: istiod
  namespace: istio-system
  chart: lab/mesh-control
  version: 1.27.1
  needs: [istio-system/istio-base]
- name: ingress
  namespace: istio-ingress
  chart: lab/mesh-gateway
  version: 1.27.1
  needs: [istio-system/istiod]
  values:
  - values/gateway.yaml.gotmpl
- name: egress
  namespace: istio-egress
  chart: lab/mesh-gateway
  version: 1.27.1
  needs: [istio-system/istiod]
  hooks:
  - events: [postsync]
    command: "true"
    args: ["{{{{`{{{{ .Release.Name }}}}`}}}}"]
- name: cache
  namespace: data
  chart: lab/cache
  version: 19.0.0
  set:
  - name: image.registry
    value: docker.io
- name: setup
  namespace: data
  chart: lab/setup
  version: 0.1.0
  needs: [data/cache]
- name: monitoring
  namespace: monitoring
  chart: oci://{oci}/charts/monitor
  version: 2.0.0
"#,
        repo = repo.url(),
        oci = oci.host()
    );
    std::fs::create_dir_all(project.path().join("values")).unwrap();
    std::fs::write(project.path().join("values/gateway.yaml.gotmpl"), "replicas: {{ .Values.gatewayReplicas }}\nannotations:\n  note: \"{{`{{ not a template }}`}}\"\n").unwrap();
    std::fs::write(project.path().join("helmfile.yaml.gotmpl"), helmfile).unwrap();
    if let Some(h) = hints {
        std::fs::write(project.path().join("kod-hints.yaml"), h).unwrap();
    }
    Connected { public, _repo: repo, _oci: oci, project }
}

fn kod_cmd(dir: &Path, home: &Path) -> Command {
    let tools = Tools::find().unwrap();
    let mut c = Command::cargo_bin("kod").unwrap();
    c.current_dir(dir)
        .env("KOD_HELM", &tools.helm)
        .env("KOD_SKOPEO", &tools.skopeo)
        .env("KOD_HELMFILE", Tools::helmfile().unwrap())
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("KUBECONFIG")
        .env_remove("KOD_REGISTRY_PASSWORD");
    c
}

/// `kod helmfile package` on the connected side; returns the bundle.
fn package(c: &Connected, work: &Path, extra: &[&str]) -> PathBuf {
    let bundle = work.join("platform.kod.tar");
    let out = kod_cmd(c.project.path(), &work.join("home-connected"))
        .args(["--no-progress", "helmfile", "package", "--workdir"])
        .arg(work.join("connected"))
        .arg("-o")
        .arg(&bundle)
        .arg("--source-registries-conf")
        .arg(c.public.registries_conf())
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "package failed:\n{}", String::from_utf8_lossy(&out.stderr));
    bundle
}

fn sync_args(bundle: &Path, private: &Registry, work: &Path) -> Vec<String> {
    vec![
        "--no-progress".into(),
        "helmfile".into(),
        "sync".into(),
        bundle.display().to_string(),
        "--registry".into(),
        format!("{}/platform", private.helm_host()),
        "--username".into(),
        USER.into(),
        "--password-stdin".into(),
        "--ca-file".into(),
        private.ca_file().unwrap().display().to_string(),
        "--workdir".into(),
        work.join("offline").display().to_string(),
    ]
}

fn public_names(text: &str) -> Vec<String> {
    ["docker.io", "quay.io", "gcr.io", "ghcr.io", "registry.k8s.io"]
        .iter()
        .filter(|p| text.contains(*p))
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn package_then_sync_offline_into_a_tls_registry_and_the_kube_api_double() {
    let work = tempfile::tempdir().unwrap();
    let c = connected(None);
    let bundle = package(&c, work.path(), &[]);
    let manifest = kod::bundle::read::read_manifest(&bundle).unwrap();
    assert_eq!(manifest.images.len(), 5, "{:#?}", manifest.images);
    // The offline side has no route to the public side: stop all of it.
    drop(c);

    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let kube = KubeApiDouble::start().unwrap();
    let home = work.path().join("home-offline");
    let out = kod_cmd(work.path(), &home)
        .envs(kube.env_vars())
        .args(sync_args(&bundle, &private, work.path()))
        .args(["-o", "json"])
        .write_stdin(PASSWORD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "sync failed:\n{stderr}");
    assert!(!stderr.contains(PASSWORD) && !String::from_utf8_lossy(&out.stdout).contains(PASSWORD), "the password leaked");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    // Every image and chart is in the private registry with the bundle's digest.
    let host = private.helm_host();
    for img in &manifest.images {
        let pushed = report["push"]["images"].as_array().unwrap().iter().find(|p| p["source"] == img.source.as_str()).unwrap();
        let target = pushed["target"].as_str().unwrap();
        let (repo, tag) = target.strip_prefix(&format!("{host}/")).unwrap().rsplit_once(':').unwrap();
        assert_eq!(private.manifest_digest(repo, tag).unwrap(), img.digest, "{target}");
    }
    let catalog = private.catalog().unwrap();
    for chart in &manifest.charts {
        assert!(catalog.contains(&format!("platform/charts/{}", chart.name)), "chart {} missing from {catalog:?}", chart.name);
    }

    // The diff was shown: charts and images now point at the private registry.
    assert!(stderr.contains("-- chart: lab/mesh-control") && stderr.contains("+- chart: kod-private/mesh-control"), "{stderr}");
    assert!(stderr.contains("-    value: docker.io\n") && stderr.contains(&format!("+      hub: {host}/platform/istio")), "{stderr}");
    assert!(stderr.contains(&format!("url: {host}/platform/charts")), "{stderr}");

    // How each image was redirected.
    let how: BTreeMap<(String, String), String> = report["rewrite"]["releases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| {
            r["images"].as_array().unwrap().iter().map(move |i| ((r["name"].as_str().unwrap().to_string(), i["source"].as_str().unwrap().to_string()), i["how"].as_str().unwrap().to_string()))
        })
        .collect();
    assert_eq!(how[&("cache".into(), "docker.io/bitnami/redis:7.2.4".into())], "values image");
    assert!(how[&("istiod".into(), "docker.io/istio/pilot:1.27.1".into())].starts_with("values global.hub"), "{how:?}");
    assert!(how[&("setup".into(), "gcr.io/distroless/static:nonroot".into())].starts_with("post-render"), "{how:?}");
    assert!(how[&("monitoring".into(), "quay.io/prometheus/prometheus:v3.0.0".into())].starts_with("values image"), "{how:?}");

    // Releases installed in wave order, each wave by its own helmfile sync.
    let waves: Vec<Vec<String>> = report["sync"]["waves"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["releases"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect())
        .collect();
    let wave_of = |id: &str| waves.iter().position(|w| w.iter().any(|r| r == id)).unwrap_or_else(|| panic!("{id} in no wave: {waves:?}"));
    assert!(wave_of("istio-system/istio-base") < wave_of("istio-system/istiod"));
    assert!(wave_of("istio-system/istiod") < wave_of("istio-ingress/ingress"));
    assert_eq!(wave_of("istio-ingress/ingress"), wave_of("istio-egress/egress"));
    assert!(wave_of("data/cache") < wave_of("data/setup"));
    let order = kube.release_install_order();
    let pos = |ns: &str, n: &str| order.iter().position(|(a, b)| a == ns && b == n).unwrap_or_else(|| panic!("{ns}/{n} not installed: {order:?}"));
    assert!(pos("istio-system", "istio-base") < pos("istio-system", "istiod"));
    assert!(pos("istio-system", "istiod") < pos("istio-ingress", "ingress"));
    assert!(pos("istio-system", "istiod") < pos("istio-egress", "egress"));
    assert!(pos("data", "cache") < pos("data", "setup"));
    assert_eq!(order.len(), 7, "{order:?}");

    // Every applied pod template runs a private image; the injector ConfigMap too.
    let pods = kube.pod_images();
    assert_eq!(pods.len(), 6, "{pods:?}");
    for (what, image) in &pods {
        assert!(image.starts_with(&format!("{host}/platform/")), "{what} runs {image}");
    }
    let injector = kube.object("ConfigMap", "istio-system", "istio-sidecar-injector").unwrap();
    let text = injector.body["data"]["config"].as_str().unwrap();
    assert!(text.contains(&format!("{host}/platform/istio/proxyv2:1.27.1")), "{text}");
    // A literal `{{` in values and a run-time hook template survive the rewrite.
    let ingress = kube.helm_release("istio-ingress", "ingress", 1).unwrap();
    assert_eq!(ingress["config"]["annotations"]["note"], "{{ not a template }}", "{}", ingress["config"]);

    // The acid test: plain helmfile renders the rewritten helmfile with zero public references.
    let rewritten = PathBuf::from(report["rewrite"]["helmfile"].as_str().unwrap());
    let tools = Tools::find().unwrap();
    let helm = Helm::new().unwrap();
    let login = helm.registry_login_with(&private, USER, PASSWORD).unwrap();
    assert!(login.status.success());
    let rendered = std::process::Command::new(Tools::helmfile().unwrap())
        .envs(helm.env_vars())
        .env("HELMFILE_UPGRADE_NOTICE_DISABLED", "1")
        .arg("--helm-binary")
        .arg(&tools.helm)
        .arg("-f")
        .arg(&rewritten)
        .args(["template", "--skip-deps"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "plain helmfile template failed:\n{}", String::from_utf8_lossy(&rendered.stderr));
    let found = kod::image::extract::extract_images(&text);
    assert!(found.found.len() >= 6, "{text}");
    for f in &found.found {
        assert!(f.image.starts_with(&format!("{host}/platform/")), "{} in {:?}", f.image, f.object);
    }
    assert_eq!(public_names(&text), Vec::<String>::new(), "public references left:\n{text}");
    // The helmfile and its values name no public source (the post-renderer's map and
    // rewrite.json name them as what is replaced).
    let files: String = common::files_under(rewritten.parent().unwrap())
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "gotmpl" || e == "yaml"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(files.contains("kod-private/monitor"));
    assert_eq!(public_names(&files), Vec::<String>::new(), "the rewritten files name a public source:\n{files}");

    // Each step on its own: rewrite (text: the diff on stdout), then the proof.
    let step = |verb: &str, extra: &[&str]| {
        let mut args = sync_args(&bundle, &private, work.path());
        args[2] = verb.to_string();
        let out = kod_cmd(work.path(), &home).args(args).args(extra).write_stdin(PASSWORD).output().unwrap();
        assert!(out.status.success(), "{verb}: {}", String::from_utf8_lossy(&out.stderr));
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string());
        assert!(!stdout.contains(PASSWORD) && !stderr.contains(PASSWORD), "{verb} printed the password");
        (stdout, stderr)
    };
    let (diff, _) = step("rewrite", &[]);
    assert!(diff.starts_with("--- bundle: rendered/default/state.yaml"), "{diff}");
    let (_, proof) = step("verify-offline", &[]);
    assert!(proof.contains("offline-ready: 5 image(s)"), "{proof}");
    assert!(!common::files_under(&work.path().join("offline/push")).iter().any(|p| p.ends_with("auth.json") || p.ends_with("helm-registry.json")), "credential files left behind");

    // A second sync changes nothing in the registry and upgrades in place.
    let again = kod_cmd(work.path(), &home).envs(kube.env_vars()).args(sync_args(&bundle, &private, work.path())).write_stdin(PASSWORD).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(kube.helm_releases().iter().any(|(ns, n, rev, _)| ns == "data" && n == "cache" && *rev == 2));
}

#[test]
fn dry_run_prints_every_step_and_changes_nothing_and_a_wrong_password_is_named() {
    let work = tempfile::tempdir().unwrap();
    let c = connected(None);
    let bundle = package(&c, work.path(), &[]);
    drop(c);
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let kube = KubeApiDouble::start().unwrap();
    let out = kod_cmd(work.path(), &work.path().join("home"))
        .envs(kube.env_vars())
        .arg("--dry-run")
        .args(sync_args(&bundle, &private, work.path()))
        .write_stdin(PASSWORD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for expected in ["skopeo copy", "helm push", "helm registry login", " template --skip-deps", " sync --skip-deps", "--selector name=istiod,namespace=istio-system"] {
        assert!(stderr.contains(expected), "dry run did not print {expected:?}:\n{stderr}");
    }
    assert!(!stderr.contains(PASSWORD));
    assert_eq!(private.catalog().unwrap(), Vec::<String>::new(), "the registry changed");
    assert!(kube.helm_releases().is_empty(), "something was installed");

    // A wrong password: named as such, nothing claimed pushed, nothing installed.
    let out = kod_cmd(work.path(), &work.path().join("home"))
        .envs(kube.env_vars())
        .args(sync_args(&bundle, &private, work.path()))
        .write_stdin("not-the-password")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(&format!("rejected the credentials of user \"{USER}\"")), "{stderr}");
    assert!(!stderr.contains("not-the-password"));
    assert!(!stderr.contains("pushed "), "{stderr}");
    assert!(kube.helm_releases().is_empty());
}

#[test]
fn a_public_image_left_over_fails_the_proof_with_its_hint_and_installs_nothing() {
    // A hint wrongly excludes the hard-coded image: it is not bundled, and the rewritten
    // helmfile would still pull it from the public registry.
    let hints = "charts:\n- chart: setup\n  exclude:\n  - \"gcr.io/distroless/static:*\"\n  note: wrongly excluded\n";
    let work = tempfile::tempdir().unwrap();
    let c = connected(Some(hints));
    let bundle = package(&c, work.path(), &["--hints", "kod-hints.yaml"]);
    drop(c);
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let kube = KubeApiDouble::start().unwrap();
    let out = kod_cmd(work.path(), &work.path().join("home"))
        .envs(kube.env_vars())
        .args(sync_args(&bundle, &private, work.path()))
        .write_stdin(PASSWORD)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not offline-ready"), "{stderr}");
    assert!(stderr.contains("gcr.io/distroless/static:nonroot (Job/setup-setup"), "{stderr}");
    assert!(stderr.contains("add `gcr.io/distroless/static:nonroot` to a hints file"), "{stderr}");
    assert!(stderr.contains("nothing was installed"), "{stderr}");
    assert!(kube.helm_releases().is_empty(), "installed despite the leftover");
}

#[test]
fn single_chart_mode_packages_and_syncs_one_chart_through_the_same_pipeline() {
    let work = tempfile::tempdir().unwrap();
    let c = connected(None);
    let values = work.path().join("my-values.yaml");
    std::fs::write(&values, "image:\n  tag: 7.2.4\n").unwrap();
    let bundle = work.path().join("cache.kod.tar");
    let repo_url = c._repo.url();
    let out = kod_cmd(work.path(), &work.path().join("home-connected"))
        .args(["--no-progress", "helm", "package", "cache", "--repo", &repo_url, "--version", "19.0.0", "-n", "data", "--release", "session-cache"])
        .arg("-f")
        .arg(&values)
        .args(["--set", "replicas=2,extra.note=a\\,b"])
        .arg("--workdir")
        .arg(work.path().join("connected"))
        .arg("-o")
        .arg(&bundle)
        .arg("--source-registries-conf")
        .arg(c.public.registries_conf())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest = kod::bundle::read::read_manifest(&bundle).unwrap();
    assert_eq!(manifest.releases.len(), 1);
    assert_eq!((manifest.releases[0].name.as_str(), manifest.releases[0].namespace.as_str()), ("session-cache", "data"));
    assert_eq!(manifest.images.iter().map(|i| i.source.as_str()).collect::<Vec<_>>(), ["docker.io/bitnami/redis:7.2.4"]);
    assert!(manifest.files.iter().any(|f| f.path == "helmfile/values/01-my-values.yaml"), "the values file is bundled");
    drop(c);

    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let kube = KubeApiDouble::start().unwrap();
    let mut args = sync_args(&bundle, &private, work.path());
    args[1] = "helm".into();
    let out = kod_cmd(work.path(), &work.path().join("home")).envs(kube.env_vars()).args(args).write_stdin(PASSWORD).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(kube.release_install_order(), vec![("data".to_string(), "session-cache".to_string())]);
    let pods = kube.pod_images();
    assert_eq!(pods.len(), 1);
    assert_eq!(pods[0].1, format!("{}/platform/bitnami/redis:7.2.4", private.helm_host()));
    let release = kube.helm_release("data", "session-cache", 1).unwrap();
    assert_eq!(release["config"]["replicas"], 2, "{}", release["config"]);
    assert_eq!(release["config"]["extra"]["note"], "a,b", "helm's escaped comma is a literal comma");

    // The same bundle into a plain-HTTP registry without credentials (on a loopback name,
    // where helm uses HTTP by itself): a warning, and the same result.
    let plain = Registry::start(RegistryOptions::plain()).unwrap();
    let kube2 = KubeApiDouble::start().unwrap();
    let out = kod_cmd(work.path(), &work.path().join("home"))
        .envs(kube2.env_vars())
        .args(["--no-progress", "helm", "sync"])
        .arg(&bundle)
        .args(["--registry", &format!("{}/mirror", plain.host()), "--plain-http", "--workdir"])
        .arg(work.path().join("offline-plain"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("TLS verification is off"), "{stderr}");
    assert_eq!(kube2.pod_images()[0].1, format!("{}/mirror/bitnami/redis:7.2.4", plain.host()));
}

#[test]
fn a_failed_wave_stops_the_sync_with_a_report_and_a_re_run_completes() {
    let work = tempfile::tempdir().unwrap();
    let c = connected(None);
    let bundle = package(&c, work.path(), &[]);
    drop(c);
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let kube = KubeApiDouble::start().unwrap();
    kube.fail_creates("Deployment", Some("istiod"), kod_testlab::Fault::InternalError("etcd is full".into()));
    let home = work.path().join("home");
    let out = kod_cmd(work.path(), &home).envs(kube.env_vars()).args(sync_args(&bundle, &private, work.path())).write_stdin(PASSWORD).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "helmfile failed: exit code 4 (docs/exit-codes.md)\n{stderr}");
    assert!(stderr.contains("wave 2 failed (istio-system/istiod: failed, data/setup: deployed)"), "{stderr}");
    assert!(stderr.contains("done before it: istio-system/istio-base, data/cache, monitoring/monitoring"), "{stderr}");
    assert!(stderr.contains("not attempted: istio-ingress/ingress, istio-egress/egress."), "{stderr}");
    assert!(stderr.contains("etcd is full"), "helm's reason is shown: {stderr}");
    let installed: Vec<String> = kube.release_install_order().into_iter().map(|(_, n)| n).collect();
    assert!(!installed.contains(&"ingress".to_string()) && !installed.contains(&"egress".to_string()), "{installed:?}");

    // The cause is fixed; the same command finishes the job.
    kube.clear_faults();
    let out = kod_cmd(work.path(), &home).envs(kube.env_vars()).args(sync_args(&bundle, &private, work.path())).write_stdin(PASSWORD).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let releases = kube.helm_releases();
    for name in ["istio-base", "istiod", "ingress", "egress", "cache", "setup", "monitoring"] {
        let latest = releases.iter().filter(|(_, n, _, _)| n == name).max_by_key(|(_, _, rev, _)| *rev).unwrap_or_else(|| panic!("{name}: {releases:?}"));
        assert_eq!(latest.3, "deployed", "{name}: {releases:?}");
    }
}

/// kill -9 of kod and everything it started (helmfile, helm) in the middle of a wave —
/// a release is left as helm had it — then the same command again finishes the job with
/// every release deployed once.
#[test]
// A failed assertion may leave the child unreaped; the test process ends right after.
#[allow(clippy::zombie_processes)]
fn a_sync_killed_midway_is_completed_by_the_next_run() {
    use std::os::unix::process::CommandExt;
    use std::time::{Duration, Instant};
    let work = tempfile::tempdir().unwrap();
    let c = connected(None);
    let bundle = package(&c, work.path(), &[]);
    drop(c);
    let private = Registry::start(RegistryOptions::tls().with_auth(USER, PASSWORD)).unwrap();
    let kube = KubeApiDouble::start().unwrap();
    let home = work.path().join("home");
    let tools = Tools::find().unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kod"))
        .current_dir(work.path())
        .env("KOD_HELM", &tools.helm)
        .env("KOD_SKOPEO", &tools.skopeo)
        .env("KOD_HELMFILE", Tools::helmfile().unwrap())
        .env("HOME", &home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("KOD_REGISTRY_PASSWORD", PASSWORD)
        .envs(kube.env_vars())
        .args(sync_args(&bundle, &private, work.path()).into_iter().filter(|a| a != "--password-stdin"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Kill the whole process group as soon as helm has stored its first release.
    let start = Instant::now();
    let mut killed = false;
    while start.elapsed() < Duration::from_secs(300) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("sync finished ({status}) before it could be interrupted");
        }
        if !kube.release_install_order().is_empty() {
            let _ = std::process::Command::new("kill").args(["-9", "--", &format!("-{}", child.id())]).status();
            child.wait().unwrap();
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    if !killed {
        let _ = std::process::Command::new("kill").args(["-9", "--", &format!("-{}", child.id())]).status();
        let _ = child.wait();
    }
    assert!(killed, "the sync was not interrupted");
    let before = kube.helm_releases();
    assert!(before.len() < 7, "everything was installed before the kill: {before:?}");

    let out = kod_cmd(work.path(), &home).envs(kube.env_vars()).args(sync_args(&bundle, &private, work.path())).write_stdin(PASSWORD).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the re-run failed (before it: {before:?}):\n{stderr}");
    assert!(stderr.contains("did not finish; releases it left pending are put back"), "{stderr}");
    if before.iter().any(|(_, _, _, status)| status.starts_with("pending-")) {
        assert!(stderr.contains("putting it back before the sync"), "a pending release was not recovered:\n{stderr}");
    }
    let releases = kube.helm_releases();
    for name in ["istio-base", "istiod", "ingress", "egress", "cache", "setup", "monitoring"] {
        let revs: Vec<_> = releases.iter().filter(|(_, n, _, _)| n == name).collect();
        let latest = revs.iter().max_by_key(|(_, _, rev, _)| *rev).unwrap_or_else(|| panic!("{name} missing: {releases:?}"));
        assert_eq!(latest.3, "deployed", "{name}: {releases:?}");
    }
    // Nothing duplicated: one Deployment/StatefulSet/Job per workload.
    let pods = kube.pod_images();
    let mut names: Vec<&String> = pods.iter().map(|(w, _)| w).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 6, "{pods:?}");
}
