//! The Kubernetes API test double ([`KubeApiDouble`]) driven by the real helm
//! 3.15 / helm 4 / helmfile: no mocks on the client side.

use kod_testlab::process::run_bounded;
use kod_testlab::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

const SERVICE: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
spec:
  selector:
    app.kubernetes.io/name: {{ .Chart.Name }}
  ports:
    - port: 80
      targetPort: 6379
"#;

const CONFIGMAP: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  greeting: {{ .Values.greeting | default "hello" | quote }}
"#;

/// Deployment + Service + ConfigMap.
fn web_chart(name: &str, version: &str, image: &str) -> ChartSpec {
    let mut c = ChartSpec::new(name, version).with_image(image).unwrap();
    c.templates.push(("service.yaml".into(), SERVICE.into()));
    c.templates
        .push(("configmap.yaml".into(), CONFIGMAP.into()));
    c
}

fn package(helm: &Helm, chart: &ChartSpec, work: &Path) -> String {
    chart
        .package(helm, &work.join("src"), &work.join("out"))
        .unwrap()
        .display()
        .to_string()
}

/// Run helm with the double's kubeconfig (non-zero exit is not an error).
fn helm_at(helm: &Helm, kube: &KubeApiDouble, args: &[&str]) -> CmdOutput {
    let mut c = helm.command();
    c.envs(kube.env_vars()).args(args);
    run_bounded(&mut c, None, Duration::from_secs(120)).unwrap()
}

fn helm_ok(helm: &Helm, kube: &KubeApiDouble, args: &[&str]) -> CmdOutput {
    let out = helm_at(helm, kube, args);
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}\nrequests:\n{}",
        out.combined(),
        kube.requests().join("\n")
    );
    out
}

fn rel(ns: &str, name: &str, rev: u32, status: &str) -> (String, String, u32, String) {
    (ns.into(), name.into(), rev, status.into())
}

#[test]
fn install_upgrade_list_uninstall_with_named_context() {
    let kube =
        KubeApiDouble::start_with(KubeApiOptions::with_contexts(&["site-a", "site-b"])).unwrap();
    assert_eq!(kube.context_names(), vec!["site-a", "site-b"]);
    let kc = std::fs::read_to_string(kube.kubeconfig()).unwrap();
    assert!(kc.contains(&kube.url()) && !kc.contains(":8080"), "{kc}");
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tgz = package(
        &helm,
        &web_chart("web", "0.1.0", "docker.io/bitnami/redis:7.2.4"),
        work.path(),
    );
    let ctx = ["--kube-context", "site-b"];

    // install into a new namespace
    let mut args = vec![
        "upgrade",
        "--install",
        "web",
        &tgz,
        "-n",
        "apps",
        "--create-namespace",
    ];
    args.extend(ctx);
    helm_ok(&helm, &kube, &args);
    assert_eq!(
        kube.helm_releases(),
        vec![rel("apps", "web", 1, "deployed")]
    );
    let kinds: Vec<(String, String, String)> = kube
        .chart_objects()
        .into_iter()
        .map(|o| (o.kind, o.namespace, o.name))
        .collect();
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    assert_eq!(
        kinds,
        vec![
            s("Namespace", "", "apps"),
            s("ConfigMap", "apps", "web-web"),
            s("Service", "apps", "web-web"),
            s("Deployment", "apps", "web-web"),
        ],
        "helm's install order (namespace first, then InstallOrder)"
    );
    let dep = kube.object("Deployment", "apps", "web-web").unwrap();
    let md = &dep.body["metadata"];
    assert!(
        md["uid"].is_string()
            && md["resourceVersion"].is_string()
            && md["creationTimestamp"].is_string()
    );
    assert_eq!(md["namespace"], "apps");
    assert_eq!(md["annotations"]["meta.helm.sh/release-name"], "web");
    assert_eq!(
        kube.pod_images(),
        vec![(
            "Deployment/apps/web-web".to_string(),
            "docker.io/bitnami/redis:7.2.4".to_string()
        )]
    );
    let first_uid = md["uid"].clone();

    // upgrade (strategic merge patches), with --wait on the faked readiness
    let mut args = vec![
        "upgrade",
        "--install",
        "web",
        &tgz,
        "-n",
        "apps",
        "--set",
        "greeting=hi,image.tag=7.2.5",
        "--wait",
        "--timeout",
        "30s",
    ];
    args.extend(ctx);
    helm_ok(&helm, &kube, &args);
    assert_eq!(
        kube.helm_releases(),
        vec![
            rel("apps", "web", 1, "superseded"),
            rel("apps", "web", 2, "deployed")
        ]
    );
    let cm = kube.object("ConfigMap", "apps", "web-web").unwrap();
    assert_eq!(cm.body["data"]["greeting"], "hi");
    let dep = kube.object("Deployment", "apps", "web-web").unwrap();
    assert_eq!(
        dep.body["metadata"]["uid"], first_uid,
        "patched, not re-created"
    );
    assert_eq!(dep.body["metadata"]["generation"], 2);
    assert_eq!(kube.pod_images()[0].1, "docker.io/bitnami/redis:7.2.5");
    let reqs = kube.requests();
    assert!(
        reqs.iter()
            .any(|r| r.starts_with("PATCH /apis/apps/v1/namespaces/apps/deployments/web-web")),
        "{reqs:#?}"
    );
    let manifest = kube.helm_release("apps", "web", 2).unwrap()["manifest"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(manifest.contains("redis:7.2.5"), "{manifest}");

    // list, status, history
    let mut args = vec!["list", "-A", "-o", "json"];
    args.extend(ctx);
    let out = helm_ok(&helm, &kube, &args);
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(list[0]["name"], "web");
    assert_eq!(list[0]["namespace"], "apps");
    assert_eq!(list[0]["revision"], "2");
    assert_eq!(list[0]["status"], "deployed");
    assert_eq!(list.as_array().unwrap().len(), 1);
    let out = helm_ok(
        &helm,
        &kube,
        &["status", "web", "-n", "apps", "--kube-context", "site-a"],
    );
    assert!(
        out.stdout.contains("STATUS: deployed") && out.stdout.contains("REVISION: 2"),
        "{}",
        out.stdout
    );
    let out = helm_ok(&helm, &kube, &["history", "web", "-n", "apps"]);
    assert_eq!(out.stdout.lines().count(), 3, "{}", out.stdout);

    // rollback to revision 1 (revision 3 restores the old image)
    helm_ok(
        &helm,
        &kube,
        &[
            "rollback",
            "web",
            "1",
            "-n",
            "apps",
            "--kube-context",
            "site-b",
        ],
    );
    assert!(kube
        .helm_releases()
        .contains(&rel("apps", "web", 3, "deployed")));
    assert_eq!(kube.pod_images()[0].1, "docker.io/bitnami/redis:7.2.4");
    assert_eq!(
        kube.object("ConfigMap", "apps", "web-web").unwrap().body["data"]["greeting"],
        "hello"
    );

    // uninstall
    let mut args = vec!["uninstall", "web", "-n", "apps"];
    args.extend(ctx);
    helm_ok(&helm, &kube, &args);
    assert!(kube.helm_releases().is_empty());
    let live: Vec<String> = kube
        .live_objects()
        .into_iter()
        .map(|o| format!("{}/{}", o.kind, o.name))
        .collect();
    assert_eq!(
        live,
        vec!["Namespace/apps"],
        "helm leaves the created namespace"
    );
    assert!(
        kube.object("Deployment", "apps", "web-web")
            .unwrap()
            .deleted
    );
    let out = helm_ok(&helm, &kube, &["list", "-A", "-q"]);
    assert_eq!(out.stdout.trim(), "");
    // `status`/`history`/this `list` used site-a (explicitly or as current-context)
    assert_eq!(kube.contexts_used(), vec!["site-b", "site-a"]);
    assert!(kube.objects().iter().all(|o| o.context == "site-b"));
}

const WIDGET_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.kod.test
spec:
  group: example.kod.test
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
    shortNames: [wg]
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

const WIDGET: &str = r#"apiVersion: example.kod.test/v1
kind: Widget
metadata:
  name: {{ .Release.Name }}-widget
spec:
  size: 3
  image: docker.io/library/nginx:1.25
"#;

#[test]
fn crd_in_crds_dir_then_custom_resource_in_second_release() {
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    // chart 1: only a CRD in crds/
    let mut crd_chart = ChartSpec::new("widget-crds", "1.0.0");
    crd_chart.templates.clear();
    let dir = crd_chart.write_to(&work.path().join("src")).unwrap();
    std::fs::create_dir_all(dir.join("crds")).unwrap();
    std::fs::write(dir.join("crds/widgets.yaml"), WIDGET_CRD).unwrap();
    let crd_tgz = helm
        .package(&dir, &work.path().join("out"))
        .unwrap()
        .display()
        .to_string();
    // chart 2: a Widget
    let mut cr_chart = ChartSpec::new("widget", "1.0.0");
    cr_chart.templates = vec![("widget.yaml".into(), WIDGET.into())];
    let cr_tgz = package(&helm, &cr_chart, work.path());

    // before the CRD exists the kind is unknown to discovery
    let out = helm_at(
        &helm,
        &kube,
        &["install", "early", &cr_tgz, "-n", "default"],
    );
    assert!(!out.status.success());
    assert!(
        out.combined().contains("no matches for kind \"Widget\""),
        "{}",
        out.combined()
    );
    assert!(!kube
        .served_group_versions()
        .contains(&"example.kod.test/v1".to_string()));

    helm_ok(
        &helm,
        &kube,
        &[
            "install",
            "crds",
            &crd_tgz,
            "-n",
            "platform",
            "--create-namespace",
        ],
    );
    let crd = kube
        .object("CustomResourceDefinition", "", "widgets.example.kod.test")
        .unwrap();
    assert_eq!(crd.body["status"]["conditions"][1]["type"], "Established");
    assert!(kube
        .served_group_versions()
        .contains(&"example.kod.test/v1".to_string()));

    helm_ok(
        &helm,
        &kube,
        &["install", "w", &cr_tgz, "-n", "apps", "--create-namespace"],
    );
    let w = kube.object("Widget", "apps", "w-widget").unwrap();
    assert_eq!(w.api_version, "example.kod.test/v1");
    assert_eq!(w.body["spec"]["size"], 3);
    assert!(w.seq > crd.seq);
    assert_eq!(
        kube.helm_releases(),
        vec![
            rel("apps", "w", 1, "deployed"),
            rel("platform", "crds", 1, "deployed")
        ],
        "the early install failed while building objects, before storing a release"
    );

    // upgrade of the custom resource goes through a JSON merge patch
    helm_ok(
        &helm,
        &kube,
        &["upgrade", "w", &cr_tgz, "-n", "apps", "--set", "x=1"],
    );
    helm_ok(&helm, &kube, &["uninstall", "w", "-n", "apps"]);
    assert!(kube.object("Widget", "apps", "w-widget").unwrap().deleted);
}

const STATEFULSET: &str = r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ .Release.Name }}-db
spec:
  serviceName: {{ .Release.Name }}-db
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      initContainers:
        - name: init
          image: "{{ .Values.image.registry }}/library/busybox:1.36"
      containers:
        - name: db
          image: "{{ .Values.image.registry }}/{{ .Values.image.repository }}:{{ .Values.image.tag }}"
"#;

const CRONJOB: &str = r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: {{ .Release.Name }}-backup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: backup
              image: "{{ .Values.image.registry }}/tools/backup:0.3"
"#;

#[test]
fn two_releases_two_namespaces_order_and_pod_images() {
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let reg = "registry.site.test:5000";
    let alpha = package(
        &helm,
        &web_chart("alpha", "1.0.0", &format!("{reg}/library/alpha:1.0")),
        work.path(),
    );
    let mut beta = ChartSpec::new("beta", "2.0.0")
        .with_image(&format!("{reg}/library/postgres:16"))
        .unwrap();
    beta.templates = vec![
        ("sts.yaml".into(), STATEFULSET.into()),
        ("cron.yaml".into(), CRONJOB.into()),
    ];
    let beta = package(&helm, &beta, work.path());

    helm_ok(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "alpha",
            &alpha,
            "-n",
            "one",
            "--create-namespace",
        ],
    );
    helm_ok(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "beta",
            &beta,
            "-n",
            "two",
            "--create-namespace",
            "--wait",
            "--timeout",
            "30s",
        ],
    );

    let objs = kube.chart_objects();
    let last_one = objs
        .iter()
        .filter(|o| o.namespace == "one")
        .map(|o| o.seq)
        .max()
        .unwrap();
    let first_two = objs
        .iter()
        .filter(|o| o.namespace == "two")
        .map(|o| o.seq)
        .min()
        .unwrap();
    assert!(
        last_one < first_two,
        "alpha's objects were all created before beta's: {objs:#?}"
    );
    let ns_order: Vec<&str> = objs
        .iter()
        .filter(|o| o.kind == "Namespace")
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(ns_order, ["one", "two"]);

    let images = kube.pod_images();
    let s = |a: &str, b: String| (a.to_string(), b);
    assert_eq!(
        images,
        vec![
            s(
                "Deployment/one/alpha-alpha",
                format!("{reg}/library/alpha:1.0")
            ),
            s(
                "StatefulSet/two/beta-db",
                format!("{reg}/library/busybox:1.36")
            ),
            s(
                "StatefulSet/two/beta-db",
                format!("{reg}/library/postgres:16")
            ),
            s("CronJob/two/beta-backup", format!("{reg}/tools/backup:0.3")),
        ]
    );
    assert!(images
        .iter()
        .all(|(_, i)| i.starts_with(&format!("{reg}/"))));
    assert_eq!(
        kube.helm_releases(),
        vec![
            rel("one", "alpha", 1, "deployed"),
            rel("two", "beta", 1, "deployed")
        ]
    );
}

#[test]
fn injected_faults_make_helm_fail_with_the_server_message() {
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tgz = package(
        &helm,
        &web_chart("web", "0.1.0", "docker.io/bitnami/redis:7.2.4"),
        work.path(),
    );

    kube.fail_creates(
        "Deployment",
        Some("bad-web"),
        Fault::Invalid("spec.template.spec.containers[0].image: Invalid value: \"x\": rejected by the kod test".into()),
    );
    kube.fail_creates(
        "ConfigMap",
        None,
        Fault::InternalError("etcdserver: kod test disk full".into()),
    );

    let out = helm_at(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "bad",
            &tgz,
            "-n",
            "apps",
            "--create-namespace",
        ],
    );
    assert!(!out.status.success());
    let text = out.combined();
    assert!(
        text.contains("Internal error occurred: etcdserver: kod test disk full"),
        "{text}"
    );
    assert_eq!(kube.helm_releases(), vec![rel("apps", "bad", 1, "failed")]);

    kube.clear_faults();
    kube.fail_creates(
        "Deployment",
        Some("bad-web"),
        Fault::Invalid("spec.template.spec.containers[0].image: Invalid value: \"x\": rejected by the kod test".into()),
    );
    let out = helm_at(
        &helm,
        &kube,
        &["upgrade", "--install", "bad", &tgz, "-n", "apps"],
    );
    assert!(!out.status.success());
    let text = out.combined();
    assert!(
        text.contains("Deployment.apps \"bad-web\" is invalid: spec.template.spec.containers[0].image: Invalid value: \"x\": rejected by the kod test"),
        "{text}"
    );
    // another name of the same kind is not affected
    helm_ok(
        &helm,
        &kube,
        &["upgrade", "--install", "good", &tgz, "-n", "apps"],
    );
    assert!(kube.object("Deployment", "apps", "bad-web").is_none());

    kube.clear_faults();
    helm_ok(
        &helm,
        &kube,
        &["upgrade", "--install", "bad", &tgz, "-n", "apps"],
    );
    let releases = kube.helm_releases();
    assert!(
        releases.contains(&rel("apps", "bad", 3, "deployed")),
        "{releases:?}"
    );
    assert!(
        releases.contains(&rel("apps", "good", 1, "deployed")),
        "{releases:?}"
    );
    assert!(kube.object("Deployment", "apps", "bad-web").is_some());

    // --atomic: a failed install is uninstalled again, objects created before the failure too
    kube.fail_creates(
        "Deployment",
        Some("atom-web"),
        Fault::InternalError("kod test".into()),
    );
    let out = helm_at(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "atom",
            &tgz,
            "-n",
            "apps",
            "--atomic",
            "--timeout",
            "30s",
        ],
    );
    assert!(!out.status.success());
    assert!(
        out.combined().contains("Internal error occurred: kod test"),
        "{}",
        out.combined()
    );
    let cm = kube.object("ConfigMap", "apps", "atom-web").unwrap();
    assert!(cm.deleted, "rolled back by --atomic");
    assert!(!kube.helm_releases().iter().any(|r| r.1 == "atom"));
}

#[test]
fn helm4_install_upgrade_list_uninstall() {
    let helm4 = workspace_root().join(".tools/bin/helm4");
    if !helm4.is_file() {
        eprintln!("skipping: {} not installed", helm4.display());
        return;
    }
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::with_binary(&helm4).unwrap();
    let work = tempfile::tempdir().unwrap();
    let tgz = package(
        &helm,
        &web_chart("web", "0.1.0", "docker.io/bitnami/redis:7.2.4"),
        work.path(),
    );
    helm_ok(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "web",
            &tgz,
            "-n",
            "apps",
            "--create-namespace",
            "--wait",
            "--timeout",
            "30s",
        ],
    );
    assert_eq!(
        kube.helm_releases(),
        vec![rel("apps", "web", 1, "deployed")]
    );
    // helm 4's --wait (kstatus watcher) lists and watches; the fake status satisfies it
    assert!(kube
        .requests()
        .iter()
        .any(|r| r.contains("/deployments?") && r.contains("watch=true")));
    // helm 4 applies server-side and stores releases as protobuf Secrets
    let reqs = kube.requests();
    assert!(
        reqs.iter().any(|r| r
            .starts_with("PATCH /apis/apps/v1/namespaces/apps/deployments/web-web?")
            && r.ends_with("-> 201")),
        "{reqs:#?}"
    );
    helm_ok(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "web",
            &tgz,
            "-n",
            "apps",
            "--set",
            "greeting=hi",
        ],
    );
    assert_eq!(
        kube.object("ConfigMap", "apps", "web-web").unwrap().body["data"]["greeting"],
        "hi"
    );
    let out = helm_ok(&helm, &kube, &["list", "-A", "-o", "json"]);
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(list[0]["revision"], "2");
    helm_ok(&helm, &kube, &["uninstall", "web", "-n", "apps"]);
    assert!(kube.helm_releases().is_empty());
    // faults also hit helm 4's server-side-apply creates
    kube.fail_creates(
        "Service",
        None,
        Fault::InternalError("kod test: no IPs left".into()),
    );
    let out = helm_at(
        &helm,
        &kube,
        &["upgrade", "--install", "bad", &tgz, "-n", "apps"],
    );
    assert!(!out.status.success());
    assert!(
        out.combined()
            .contains("Internal error occurred: kod test: no IPs left"),
        "{}",
        out.combined()
    );
    assert_eq!(kube.helm_releases(), vec![rel("apps", "bad", 1, "failed")]);
}

#[test]
fn helmfile_sync_installs_in_needs_order_on_a_named_context() {
    let kube =
        KubeApiDouble::start_with(KubeApiOptions::with_contexts(&["lab", "site-b"])).unwrap();
    let out = helmfile_sync_app_needs_db(&kube);
    assert!(
        out.status.success(),
        "helmfile sync failed:\n{}\nrequests:\n{}",
        out.combined(),
        kube.requests().join("\n")
    );
    assert_eq!(
        kube.helm_releases(),
        vec![
            rel("apps", "app", 1, "deployed"),
            rel("data", "db", 1, "deployed")
        ]
    );
    let objs = kube.chart_objects();
    let seq = |ns: &str, kind: &str| {
        objs.iter()
            .find(|o| o.namespace == ns && o.kind == kind)
            .unwrap()
            .seq
    };
    assert!(
        seq("data", "Deployment") < seq("apps", "ConfigMap"),
        "db finished before app started: {objs:#?}"
    );
    let ns_order: Vec<&str> = objs
        .iter()
        .filter(|o| o.kind == "Namespace")
        .map(|o| o.name.as_str())
        .collect();
    assert_eq!(ns_order, ["data", "apps"]);
    assert_eq!(
        kube.release_install_order(),
        vec![
            ("data".to_string(), "db".to_string()),
            ("apps".to_string(), "app".to_string())
        ]
    );
    let reg = "registry.site.test:5000/";
    assert!(kube.pod_images().iter().all(|(_, i)| i.starts_with(reg)));
    assert_eq!(
        kube.contexts_used(),
        vec!["site-b"],
        "helmDefaults.kubeContext honoured"
    );
}

#[test]
fn helmfile_sync_stops_at_a_failing_needed_release() {
    let kube =
        KubeApiDouble::start_with(KubeApiOptions::with_contexts(&["lab", "site-b"])).unwrap();
    kube.fail_creates(
        "Deployment",
        Some("db-db"),
        Fault::Invalid("spec.replicas: Invalid value: 1: kod test".into()),
    );
    let out = helmfile_sync_app_needs_db(&kube);
    assert!(!out.status.success());
    assert!(
        out.combined()
            .contains("Deployment.apps \"db-db\" is invalid"),
        "{}",
        out.combined()
    );
    assert_eq!(kube.helm_releases(), vec![rel("data", "db", 1, "failed")]);
    assert!(
        kube.chart_objects()
            .iter()
            .all(|o| o.namespace != "apps" && o.name != "apps"),
        "app (needs db) was never started"
    );
}

/// Write and `helmfile sync` a helmfile whose `app` (listed first) needs `db`.
fn helmfile_sync_app_needs_db(kube: &KubeApiDouble) -> CmdOutput {
    let helmfile = Tools::helmfile().expect("helmfile installed (run scripts/install-tools.sh)");
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let charts = work.path().join("charts");
    let reg = "registry.site.test:5000";
    web_chart("app", "1.0.0", &format!("{reg}/acme/app:1.0"))
        .write_to(&charts)
        .unwrap();
    web_chart("db", "1.0.0", &format!("{reg}/library/postgres:16"))
        .write_to(&charts)
        .unwrap();
    // `app` is listed first but needs `db`
    let hf = work.path().join("helmfile.yaml");
    std::fs::write(
        &hf,
        "helmDefaults:\n  kubeContext: site-b\n  wait: true\n  timeout: 60\n\
         releases:\n\
         \x20 - name: app\n    namespace: apps\n    chart: ./charts/app\n    needs: [data/db]\n\
         \x20 - name: db\n    namespace: data\n    chart: ./charts/db\n",
    )
    .unwrap();
    let mut c = std::process::Command::new(&helmfile);
    c.current_dir(work.path())
        .envs(helm.env_vars())
        .envs(kube.env_vars())
        .env("HOME", work.path())
        .env("XDG_CACHE_HOME", work.path().join("cache"))
        .arg("--helm-binary")
        .arg(helm.binary())
        .arg("--file")
        .arg(&hf)
        .args(["sync", "--skip-deps"]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("HELMFILE_") {
            c.env_remove(&k);
        }
    }
    run_bounded(&mut c, None, Duration::from_secs(180)).unwrap()
}

const HOOK_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    "helm.sh/hook": pre-install,pre-upgrade
    "helm.sh/hook-delete-policy": before-hook-creation,hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: docker.io/library/busybox:1.36
"#;

#[test]
fn hook_job_and_server_dry_run() {
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut c = web_chart("web", "0.1.0", "docker.io/bitnami/redis:7.2.4");
    c.templates.push(("hook.yaml".into(), HOOK_JOB.into()));
    let tgz = package(&helm, &c, work.path());
    // helm waits for the pre-install Job (list + watch); the double reports it Complete
    helm_ok(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "web",
            &tgz,
            "-n",
            "apps",
            "--create-namespace",
            "--timeout",
            "40s",
        ],
    );
    let job = kube.object("Job", "apps", "web-migrate").unwrap();
    assert!(job.deleted, "hook-succeeded deletion policy ran");
    let ns_seq = kube.object("Namespace", "", "apps").unwrap().seq;
    let dep_seq = kube.object("Deployment", "apps", "web-web").unwrap().seq;
    assert!(
        ns_seq < job.seq && job.seq < dep_seq,
        "pre-install hook ran before the chart's objects"
    );
    assert!(kube.pod_images().contains(&(
        "Job/apps/web-migrate".to_string(),
        "docker.io/library/busybox:1.36".to_string()
    )));

    // --dry-run=server writes nothing
    let before = kube.objects().len();
    helm_ok(
        &helm,
        &kube,
        &[
            "upgrade",
            "--install",
            "web2",
            &tgz,
            "-n",
            "apps",
            "--dry-run=server",
        ],
    );
    assert_eq!(kube.objects().len(), before);
    assert_eq!(
        kube.helm_releases(),
        vec![rel("apps", "web", 1, "deployed")]
    );
}

#[test]
fn drop_stops_the_server() {
    use std::io::{Read, Write};
    // a version no other test's double reports, in case the port gets reused at once
    let opts = KubeApiOptions {
        server_version: "1.30.77".into(),
        ..Default::default()
    };
    let kube = KubeApiDouble::start_with(opts).unwrap();
    let port = kube.port();
    let kubeconfig = kube.kubeconfig();
    let ours = || -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let _ = s.write_all(b"GET /version HTTP/1.0\r\nHost: x\r\n\r\n");
        let mut text = String::new();
        let _ = s.read_to_string(&mut text);
        text.contains("v1.30.77")
    };
    assert!(ours());
    drop(kube);
    assert!(!kubeconfig.exists());
    // tiny_http's accept thread closes the listener just after the drop
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ours() {
        assert!(
            std::time::Instant::now() < deadline,
            "still answering after drop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const SINK: &str = r#"apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Release.Name }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .Release.Name }}
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .Release.Name }}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: {{ .Release.Name }}}
subjects:
  - {kind: ServiceAccount, name: {{ .Release.Name }}}
  {{- if not .Values.v2 }}
  - {kind: ServiceAccount, name: default}
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ .Release.Name }}-reader
rules: [{apiGroups: [""], resources: [pods], verbs: [list]}]
---
apiVersion: v1
kind: Secret
metadata:
  name: {{ .Release.Name }}
stringData:
  password: s3cret
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {{ .Release.Name }}-data
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 2
  selector: {matchLabels: {app: sink}}
  template:
    metadata:
      labels: {app: sink}
    spec:
      serviceAccountName: {{ .Release.Name }}
      {{- if .Values.v2 }}
      initContainers:
        - name: wait
          image: reg.site.test/library/busybox:1.36
      {{- end }}
      containers:
        - name: app
          image: reg.site.test/acme/app:{{ if .Values.v2 }}2{{ else }}1{{ end }}
          ports: [{containerPort: 8080, name: http}]
          env:
            {{- if .Values.v2 }}
            - {name: B, value: "3"}
            - {name: C, value: "4"}
            {{- else }}
            - {name: A, value: "1"}
            - {name: B, value: "2"}
            {{- end }}
        {{- if not .Values.v2 }}
        - name: sidecar
          image: reg.site.test/acme/sidecar:1
        {{- end }}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {{ .Release.Name }}-agent
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata:
      labels: {app: agent}
    spec:
      containers: [{name: agent, image: reg.site.test/acme/agent:1}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ .Release.Name }}
spec:
  rules:
    - host: sink.site.test
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: {{ .Release.Name }}, port: {number: 80}}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ .Release.Name }}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: {{ .Release.Name }}}
  minReplicas: 2
  maxReplicas: 4
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Release.Name }}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: sink}}
{{- if not .Values.v2 }}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ .Release.Name }}
spec:
  podSelector: {matchLabels: {app: sink}}
{{- end }}
"#;

#[test]
fn many_kinds_upgrade_patches_to_the_new_manifest() {
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let mut c = ChartSpec::new("sink", "1.0.0");
    c.values_yaml = "v2: false\n".into();
    c.templates = vec![("all.yaml".into(), SINK.into())];
    let tgz = package(&helm, &c, work.path());
    let install = [
        "upgrade",
        "--install",
        "sink",
        &tgz,
        "-n",
        "apps",
        "--create-namespace",
        "--wait",
        "--timeout",
        "30s",
    ];
    helm_ok(&helm, &kube, &install);
    let secret = kube.object("Secret", "apps", "sink").unwrap();
    assert_eq!(
        secret.body["data"]["password"], "czNjcmV0",
        "stringData folded into data"
    );
    assert!(kube.object("ClusterRole", "", "sink-reader").is_some());

    let mut upgrade = install.to_vec();
    upgrade.extend(["--set", "v2=true"]);
    helm_ok(&helm, &kube, &upgrade);
    assert!(
        kube.object("NetworkPolicy", "apps", "sink")
            .unwrap()
            .deleted,
        "dropped from the chart"
    );
    let dep = kube.object("Deployment", "apps", "sink").unwrap();
    let spec = &dep.body["spec"]["template"]["spec"];
    // helm's three-way strategic merge patch applied by the double gives the new manifest
    assert_eq!(
        spec["containers"],
        serde_json::json!([{
            "name": "app", "image": "reg.site.test/acme/app:2",
            "ports": [{"containerPort": 8080, "name": "http"}],
            "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
        }])
    );
    assert_eq!(spec["initContainers"][0]["name"], "wait");
    // a list without merge strategy is replaced, not merged by name
    let rb = kube.object("RoleBinding", "apps", "sink").unwrap();
    assert_eq!(
        rb.body["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": "sink"}])
    );
    let images: Vec<String> = kube
        .pod_images()
        .into_iter()
        .filter(|(w, _)| w == "Deployment/apps/sink")
        .map(|(_, i)| i)
        .collect();
    assert_eq!(
        images,
        [
            "reg.site.test/library/busybox:1.36",
            "reg.site.test/acme/app:2"
        ]
    );
    let kinds: std::collections::BTreeSet<String> =
        kube.live_objects().into_iter().map(|o| o.kind).collect();
    for k in [
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ClusterRole",
        "Secret",
        "PersistentVolumeClaim",
        "Deployment",
        "DaemonSet",
        "Ingress",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
    ] {
        assert!(kinds.contains(k), "{k} missing from {kinds:?}");
    }
    helm_ok(&helm, &kube, &["uninstall", "sink", "-n", "apps"]);
    assert!(
        kube.object("ClusterRole", "", "sink-reader")
            .unwrap()
            .deleted
    );
}

#[test]
fn existing_namespace_and_foreign_objects_follow_helm_rules() {
    let kube = KubeApiDouble::start().unwrap();
    let helm = Helm::new().unwrap();
    let work = tempfile::tempdir().unwrap();
    let tgz = package(
        &helm,
        &web_chart("web", "0.1.0", "docker.io/bitnami/redis:7.2.4"),
        work.path(),
    );
    helm_ok(
        &helm,
        &kube,
        &["install", "a", &tgz, "-n", "apps", "--create-namespace"],
    );
    // --create-namespace on an existing namespace: the 409 AlreadyExists is fine for helm
    helm_ok(
        &helm,
        &kube,
        &["install", "b", &tgz, "-n", "apps", "--create-namespace"],
    );
    assert!(kube
        .requests()
        .iter()
        .any(|r| r.starts_with("POST /api/v1/namespaces?") && r.ends_with("-> 409")));
    // the same object names owned by another release: helm refuses (it GETs them first)
    let out = helm_at(
        &helm,
        &kube,
        &[
            "install",
            "a",
            &tgz,
            "-n",
            "other",
            "--create-namespace",
            "--set",
            "x=1",
        ],
    );
    assert!(
        out.status.success(),
        "other namespace, other objects: {}",
        out.combined()
    );
    let mut clash = web_chart("web", "0.1.0", "docker.io/bitnami/redis:7.2.4");
    clash.templates = vec![(
        "cm.yaml".into(),
        CONFIGMAP.replace("{{ .Release.Name }}-", "a-"),
    )];
    let clash = package(&helm, &clash, &work.path().join("clash"));
    let out = helm_at(&helm, &kube, &["install", "c", &clash, "-n", "apps"]);
    assert!(!out.status.success());
    let text = out.combined();
    assert!(
        text.contains("ConfigMap \"a-web\" in namespace \"apps\" exists and cannot be imported into the current release"),
        "{text}"
    );
    // namespace missing and not created: the release Secret create gets a 404
    let out = helm_at(&helm, &kube, &["install", "d", &tgz, "-n", "nowhere"]);
    assert!(!out.status.success());
    assert!(
        out.combined().contains("namespaces \"nowhere\" not found"),
        "{}",
        out.combined()
    );
}
