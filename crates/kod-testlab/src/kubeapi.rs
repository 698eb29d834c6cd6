//! A **Kubernetes API test double**: a small loopback HTTP server that answers
//! just enough of the Kubernetes REST API for the real `helm` 3.15.3, `helm`
//! 4.1.4 and `helmfile` 0.166 to install, upgrade, list, inspect and uninstall
//! releases — and that records every object written so tests can assert on it.
//!
//! It is **not a Kubernetes**: nothing is scheduled, no controller runs, no
//! admission, no validation beyond "is it a JSON object with a name and the
//! right kind", no authorization (see *Connection*). It stores objects in memory, serves
//! discovery for a fixed set of built-in groups plus the groups of the
//! CustomResourceDefinitions created through it, and fakes the status fields
//! helm's readiness checks look at.
//!
//! ```no_run
//! use kod_testlab::{Helm, KubeApiDouble};
//! # fn main() -> anyhow::Result<()> {
//! let kube = KubeApiDouble::start()?;
//! let helm = Helm::new()?;
//! let mut cmd = helm.command();
//! cmd.env("KUBECONFIG", kube.kubeconfig())
//!     .args(["upgrade", "--install", "web", "/charts/web.tgz", "-n", "apps", "--create-namespace"]);
//! // … run it (process::run_bounded), then:
//! assert_eq!(kube.helm_releases()[0].3, "deployed");
//! for (workload, image) in kube.pod_images() {
//!     assert!(image.starts_with("registry.site.example/"), "{workload} uses {image}");
//! }
//! # Ok(()) }
//! ```
//!
//! ## Using it in tests
//!
//! * Start one double per test (no waiting involved: the port is bound before
//!   [`KubeApiDouble::start`] returns) and let it drop; never keep it in a `static`.
//! * Give the tool under test (kod, helmfile, helm) [`crate::Helm::env_vars`]
//!   **then** [`KubeApiDouble::env_vars`] — the latter overrides the non-existent
//!   `KUBECONFIG` the former sets — or pass `--kubeconfig`.
//! * helmfile 0.166: `--helm-binary` for the lab's helm, `--skip-deps` for
//!   local charts without dependencies, `HOME`/`XDG_CACHE_HOME` in a temp dir.
//! * Assert on [`KubeApiDouble::chart_objects`] (`seq` gives the global order
//!   objects were first created, e.g. for waves),
//!   [`KubeApiDouble::release_install_order`], [`KubeApiDouble::pod_images`]
//!   (image redirection), [`KubeApiDouble::helm_releases`],
//!   [`KubeApiDouble::contexts_used`] (`--kube-context`) and
//!   [`KubeApiDouble::requests`] (the exact API calls).
//! * `KOD_KUBEAPI_DEBUG=1` prints every request with its context, `Content-Type`
//!   and `Accept` to stderr.
//!
//! ## Connection
//!
//! The server listens on `http://127.0.0.1:<ephemeral>` (never 8080, which helm
//! falls back to with an empty kubeconfig). client-go accepts plain `http://`
//! servers, so there is no TLS. [`KubeApiDouble::kubeconfig`] is a 0600 file
//! with one token user and, per name given in [`KubeApiOptions::contexts`], one
//! context and one cluster (the first is `current-context`), usable with
//! `KUBECONFIG`, `--kubeconfig` and `--kube-context`. All contexts reach the
//! same double and the same objects; each cluster's server URL carries the
//! path prefix `/ctx/NAME` (client-go keeps a server path for every request),
//! which the double strips and remembers: [`KubeApiDouble::contexts_used`],
//! [`KubeApiDouble::requests_with_context`] and [`AppliedObject::context`] tell
//! a test which `--kube-context` a tool really used.
//!
//! client-go does not send the kubeconfig's token to a plain-`http://` server
//! (checked with helm 3.15.3), so the double accepts requests without
//! credentials and answers 401 only to a *wrong* `Authorization` header.
//!
//! ## What is implemented
//!
//! * `GET /version` (default `v1.30.0`, see [`KubeApiOptions::server_version`]),
//!   `/healthz`, `/readyz`, `/livez`.
//! * Legacy discovery: `/api`, `/api/v1`, `/apis`, `/apis/<g>`, `/apis/<g>/<v>`
//!   for core v1, apps/v1, batch/v1, networking.k8s.io/v1,
//!   rbac.authorization.k8s.io/v1, policy/v1, autoscaling/v1+v2,
//!   admissionregistration.k8s.io/v1, apiextensions.k8s.io/v1,
//!   coordination.k8s.io/v1, storage.k8s.io/v1, scheduling.k8s.io/v1,
//!   discovery.k8s.io/v1, apiregistration.k8s.io/v1 — and every served version of
//!   every CustomResourceDefinition created through the double (removed again
//!   when the CRD is deleted). Aggregated discovery is *not* implemented:
//!   helm's client-go asks `/api` and `/apis` with `Accept:
//!   application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,…v2beta1…,application/json`;
//!   the double answers the legacy `APIVersions`/`APIGroupList` as plain
//!   `application/json`, and client-go then fetches each `/apis/G/V` itself.
//! * `/openapi/v3` and `/openapi/v3/api[s]/…`: stub documents that only
//!   declare, per resource, a PATCH operation accepting the `fieldValidation`
//!   query parameter. helm (through kubectl's validator) then leaves validation
//!   to the server and needs no schemas; without them helm fails with "failed
//!   to download openapi". `/openapi/v2` is an empty (protobuf) document: for
//!   kinds the v3 stubs do not cover (custom resources whose CRD is unknown,
//!   `List`) the validator falls back to it, finds no schema and skips
//!   validation, so such errors surface as helm's usual "no matches for kind".
//! * Generic CRUD for every served resource, namespaced or cluster-scoped:
//!   `POST` create (`generateName` honoured), `GET` one, `GET` list (all
//!   namespaces or one, with `labelSelector` — `=`, `==`, `!=`, `in`, `notin`,
//!   exists, `!exists` — and `fieldSelector` on `metadata.name`/`metadata.namespace`),
//!   `PUT` replace (optimistic `resourceVersion` check when the body has one),
//!   `PATCH` with `application/strategic-merge-patch+json` (an approximation
//!   without schemas: a list is merged by key when the patch carries a
//!   `$setElementOrder/…` directive — which helm's three-way patches add for
//!   every merged list — or `$patch` elements, or is one of the well-known merge
//!   lists (containers, env, volumes, ports, …); other lists are replaced;
//!   `$patch: delete|replace`, `$deleteFromPrimitiveList/…` and `$retainKeys`
//!   are understood),
//!   `application/merge-patch+json` (RFC 7386), `application/json-patch+json`
//!   (RFC 6902: add/remove/replace/test/copy/move) and
//!   `application/apply-patch+yaml` (server-side apply, approximated as "the
//!   applied configuration replaces the object, system metadata and status are
//!   kept"; creates when absent), `DELETE` one and `DELETE` collection, the
//!   `/status` subresource, and `?dryRun=All` (answers without storing).
//! * Proper `Status` bodies: 404 `NotFound`, 409 `AlreadyExists`/`Conflict`,
//!   422 `Invalid`, 400 `BadRequest`, 500 `InternalError` — the reasons helm
//!   keys its "already exists"/"not found" logic on.
//! * Objects get `metadata.uid`, `resourceVersion`, `creationTimestamp`,
//!   `generation` (bumped when `spec` changes) and their namespace. Creating a
//!   namespaced object in a missing namespace is a 404 like on a real server
//!   (`default`, `kube-system`, `kube-public`, `kube-node-lease` exist).
//!   Deleting a namespace deletes its objects. Secrets' `stringData` is folded
//!   into `data`.
//! * Fake readiness so `helm --wait` (helm 3's ready checker and helm 4's
//!   kstatus watcher) and hook Jobs complete: every
//!   Deployment gets a ready ReplicaSet (owned by it, not recorded as an applied
//!   object), Deployments/StatefulSets/DaemonSets/ReplicaSets get "all replicas
//!   ready" status and the defaults helm's checker dereferences, Jobs are
//!   `Complete`, hook Pods `Succeeded`, other Pods `Running`/`Ready`, PVCs
//!   `Bound`, Services get a cluster IP (LoadBalancers an ingress IP), CRDs are
//!   `Established`.
//! * Watches (`?watch=true`) answer 200 with an empty stream: the watch ends
//!   at once and client-go falls back to / repeats its list. That is enough for
//!   helm's hook waits and `--wait` (both helm 3 and 4), whose conditions are
//!   already met by the listed objects; a test that needs to see a change
//!   *during* a watch cannot use this double.
//! * helm 4 writes its release Secrets as protobuf
//!   (`application/vnd.kubernetes.protobuf`): the double decodes protobuf bodies
//!   of v1 Secrets and ConfigMaps (answers are always JSON, which client-go
//!   accepts) and rejects other protobuf bodies with 400. helm 4 creates and
//!   updates chart objects by server-side apply.
//!
//! * Records: [`KubeApiDouble::objects`] (every object ever written, latest
//!   body, in order of first creation), [`KubeApiDouble::chart_objects`],
//!   [`KubeApiDouble::live_objects`], [`KubeApiDouble::requests`],
//!   [`KubeApiDouble::helm_releases`] / [`KubeApiDouble::helm_release`] /
//!   [`KubeApiDouble::release_install_order`] (decoded from helm's
//!   `sh.helm.release.v1.*` Secrets), [`KubeApiDouble::pod_images`],
//!   [`KubeApiDouble::contexts_used`].
//! * Fault injection: [`KubeApiDouble::fail_creates`] makes creates of a kind
//!   (optionally one name) answer 500 or 422.
//!
//! ## What helm calls (helm 3.15.3, observed)
//!
//! `GET /version`; release history by
//! `GET /api/v1/namespaces/NS/secrets?labelSelector=name=X,owner=helm`
//! (`helm list -A`: `GET /api/v1/secrets?labelSelector=owner=helm`); discovery
//! `/api`, `/apis`, every `/apis/G/V`; `/openapi/v3` (+ one document per
//! group/version used); `GET` of every rendered object (expects 404 before an
//! install); `POST /api/v1/namespaces` (`--create-namespace`); `POST` of the
//! release Secret, then of each object (`?fieldManager=helm`); `PUT` of the
//! release Secret to record the outcome. Upgrades `GET` each object and send
//! `PATCH` with `application/strategic-merge-patch+json` (built-in kinds) or
//! `application/merge-patch+json` (custom resources). `--wait` lists
//! ReplicaSets by the Deployment's selector. Hooks: `DELETE` (policy
//! `before-hook-creation`), `POST`, list with `fieldSelector=metadata.name=…`
//! and `watch=true`, then `DELETE` (`hook-succeeded`). Uninstall: `DELETE`
//! each object, then `GET`+`DELETE` each release Secret. `crds/`: `POST` the
//! CRD, poll it until `Established`, then re-read discovery. `rollback` and
//! `--atomic` use the same calls. helm 4.1.4 differs in: release Secrets sent
//! as protobuf; chart objects created and updated by
//! `PATCH … application/apply-patch+yaml?fieldManager=helm&force=…`; `--wait`
//! and hook waits through list + `watch=true` (with `sendInitialEvents`).
//! `helm upgrade --install --dry-run=server` only reads (no `dryRun=All`
//! writes). helmfile 0.166 `sync` drives helm once per release, with
//! `--kube-context` from `kubeContext` and in `needs` order (seen in the tests
//! through [`KubeApiDouble::contexts_used`] and object order).
//!
//! ## What is not implemented
//!
//! Protobuf responses (clients asking for protobuf get JSON, which client-go
//! accepts) and protobuf request bodies other than Secret/ConfigMap, Table
//! output (`kubectl get` style server-side printing), aggregated discovery,
//! real OpenAPI schemas, real watch streams, `limit`/`continue` paging (lists are
//! returned whole), subresources other than `status` (`scale`, `log`, `exec`,
//! …), field managers/`managedFields`, admission webhooks, finalizers and
//! graceful deletion (deletes are immediate), garbage collection beyond
//! "namespace deletion removes its objects" and "Deployment deletion removes its
//! fake ReplicaSet", schema validation and defaulting beyond the few fields
//! listed above, RBAC.

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

/// Path prefix of each kubeconfig context's server URL (`/ctx/NAME`).
const CONTEXT_PREFIX: &str = "/ctx/";

/// Bearer token written into the double's kubeconfig (client-go does not send
/// it over plain http; a request carrying a *different* token gets a 401).
pub const KUBEAPI_DOUBLE_TOKEN: &str = "kod-kubeapi-test-double-token";

/// Options for [`KubeApiDouble::start_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeApiOptions {
    /// Context names written into the kubeconfig (all point at the double;
    /// the first one is `current-context`). Must not be empty.
    pub contexts: Vec<String>,
    /// Kubernetes version reported by `/version` (`MAJOR.MINOR.PATCH`).
    pub server_version: String,
}

impl Default for KubeApiOptions {
    fn default() -> Self {
        KubeApiOptions {
            contexts: vec!["kod-test-double".to_string()],
            server_version: "1.30.0".to_string(),
        }
    }
}

impl KubeApiOptions {
    /// Default options with these context names.
    pub fn with_contexts(names: &[&str]) -> Self {
        KubeApiOptions {
            contexts: names.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }
}

/// An object written to the double (by create, update, patch or apply).
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedObject {
    /// `apiVersion` of the latest write (`v1`, `apps/v1`, …).
    pub api_version: String,
    /// `kind` (`Deployment`, …).
    pub kind: String,
    /// Namespace; empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Latest stored body (including the double's metadata and fake status).
    pub body: Value,
    /// Global order of first creation (0, 1, 2, … across all kinds).
    pub seq: u64,
    /// Whether the object has been deleted since (its body is the last one stored).
    pub deleted: bool,
    /// kubeconfig context of the latest write ("" if the URL carried none).
    pub context: String,
}

impl AppliedObject {
    /// Whether this is one of helm's release-storage Secrets (`owner=helm`).
    pub fn is_helm_storage(&self) -> bool {
        self.kind == "Secret"
            && self.body["metadata"]["labels"]["owner"] == "helm"
            && self.body["type"] == "helm.sh/release.v1"
    }
}

/// Response the double gives to a create hit by [`KubeApiDouble::fail_creates`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// 500 `InternalError` with this message.
    InternalError(String),
    /// 422 `Invalid` with this message (as a field cause on `spec`).
    Invalid(String),
}

#[derive(Debug, Clone)]
struct FaultRule {
    kind: String,
    name: Option<String>,
    fault: Fault,
}

/// A served resource type (one group/version/resource).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ResType {
    group: String,
    version: String,
    resource: String,
    kind: String,
    namespaced: bool,
    short: Vec<String>,
    from_crd: bool,
}

impl ResType {
    fn gv(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
    /// `deployments.apps` / `secrets` (as in real error messages).
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        }
    }
}

/// Built-in types: (group, version, resource, kind, namespaced, short names).
type BuiltinRow = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    &'static [&'static str],
);

const BUILTIN: &[BuiltinRow] = &[
    ("", "v1", "namespaces", "Namespace", false, &["ns"]),
    ("", "v1", "nodes", "Node", false, &["no"]),
    (
        "",
        "v1",
        "persistentvolumes",
        "PersistentVolume",
        false,
        &["pv"],
    ),
    ("", "v1", "secrets", "Secret", true, &[]),
    ("", "v1", "configmaps", "ConfigMap", true, &["cm"]),
    ("", "v1", "services", "Service", true, &["svc"]),
    ("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"]),
    ("", "v1", "pods", "Pod", true, &["po"]),
    (
        "",
        "v1",
        "persistentvolumeclaims",
        "PersistentVolumeClaim",
        true,
        &["pvc"],
    ),
    ("", "v1", "endpoints", "Endpoints", true, &["ep"]),
    ("", "v1", "events", "Event", true, &["ev"]),
    ("", "v1", "limitranges", "LimitRange", true, &["limits"]),
    (
        "",
        "v1",
        "resourcequotas",
        "ResourceQuota",
        true,
        &["quota"],
    ),
    (
        "",
        "v1",
        "replicationcontrollers",
        "ReplicationController",
        true,
        &["rc"],
    ),
    ("", "v1", "podtemplates", "PodTemplate", true, &[]),
    ("apps", "v1", "deployments", "Deployment", true, &["deploy"]),
    ("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"]),
    ("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"]),
    ("apps", "v1", "replicasets", "ReplicaSet", true, &["rs"]),
    (
        "apps",
        "v1",
        "controllerrevisions",
        "ControllerRevision",
        true,
        &[],
    ),
    ("batch", "v1", "jobs", "Job", true, &[]),
    ("batch", "v1", "cronjobs", "CronJob", true, &["cj"]),
    (
        "networking.k8s.io",
        "v1",
        "ingresses",
        "Ingress",
        true,
        &["ing"],
    ),
    (
        "networking.k8s.io",
        "v1",
        "networkpolicies",
        "NetworkPolicy",
        true,
        &["netpol"],
    ),
    (
        "networking.k8s.io",
        "v1",
        "ingressclasses",
        "IngressClass",
        false,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "Role",
        true,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "RoleBinding",
        true,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterroles",
        "ClusterRole",
        false,
        &[],
    ),
    (
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
        false,
        &[],
    ),
    (
        "policy",
        "v1",
        "poddisruptionbudgets",
        "PodDisruptionBudget",
        true,
        &["pdb"],
    ),
    (
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
    ),
    (
        "autoscaling",
        "v1",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
        true,
        &["hpa"],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
        &[],
    ),
    (
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
        &[],
    ),
    (
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
    ),
    ("coordination.k8s.io", "v1", "leases", "Lease", true, &[]),
    (
        "storage.k8s.io",
        "v1",
        "storageclasses",
        "StorageClass",
        false,
        &["sc"],
    ),
    (
        "storage.k8s.io",
        "v1",
        "csidrivers",
        "CSIDriver",
        false,
        &[],
    ),
    (
        "scheduling.k8s.io",
        "v1",
        "priorityclasses",
        "PriorityClass",
        false,
        &["pc"],
    ),
    (
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "EndpointSlice",
        true,
        &[],
    ),
    (
        "apiregistration.k8s.io",
        "v1",
        "apiservices",
        "APIService",
        false,
        &[],
    ),
];

/// Object key: (group, resource, namespace or "", name).
type Key = (String, String, String, String);

#[derive(Debug)]
struct Record {
    obj: AppliedObject,
}

#[derive(Debug)]
struct State {
    port: u16,
    version: String,
    types: Vec<ResType>,
    objects: BTreeMap<Key, Value>,
    records: Vec<Record>,
    record_index: HashMap<Key, usize>,
    requests: Vec<String>,
    /// Context of each request ("" when the URL had no `/ctx/NAME` prefix).
    request_contexts: Vec<String>,
    /// Context of the request being handled.
    context: String,
    faults: Vec<FaultRule>,
    rv: u64,
    uid: u64,
    next_ip: u32,
    debug: bool,
}

/// The Kubernetes API test double (see the [module docs](crate::kubeapi)).
///
/// Dropping it stops and joins the server thread and removes its kubeconfig;
/// tiny_http's own accept thread closes the listening socket moments later.
pub struct KubeApiDouble {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    port: u16,
    state: Arc<Mutex<State>>,
    kubeconfig: PathBuf,
    contexts: Vec<String>,
    _dir: tempfile::TempDir,
}

impl std::fmt::Debug for KubeApiDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeApiDouble")
            .field("url", &self.url())
            .field("kubeconfig", &self.kubeconfig)
            .field("contexts", &self.contexts)
            .finish()
    }
}

impl KubeApiDouble {
    /// Start with [`KubeApiOptions::default`] (one context, `kod-test-double`).
    pub fn start() -> Result<KubeApiDouble> {
        Self::start_with(KubeApiOptions::default())
    }

    /// Start on `127.0.0.1:<ephemeral>` and write the kubeconfig.
    pub fn start_with(opts: KubeApiOptions) -> Result<KubeApiDouble> {
        if opts.contexts.is_empty() {
            return Err(anyhow!(
                "KubeApiOptions::contexts must name at least one context"
            ));
        }
        if let Some(bad) = opts.contexts.iter().find(|c| {
            c.is_empty()
                || !c
                    .chars()
                    .all(|x| x.is_ascii_alphanumeric() || "-_.".contains(x))
        }) {
            return Err(anyhow!(
                "context name {bad:?}: use letters, digits, '-', '_' and '.' only"
            ));
        }
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0")
                .map_err(|e| anyhow!("bind kube-API test double: {e}"))?,
        );
        let port = server
            .server_addr()
            .to_ip()
            .context("not an IP listener")?
            .port();
        let dir = tempfile::Builder::new()
            .prefix("kod-lab-kubeapi-")
            .tempdir()?;
        let kubeconfig = dir.path().join("kubeconfig");
        write_kubeconfig(&kubeconfig, port, &opts.contexts)?;
        let mut st = State {
            port,
            version: opts.server_version.clone(),
            types: BUILTIN
                .iter()
                .map(|(g, v, r, k, n, s)| ResType {
                    group: g.to_string(),
                    version: v.to_string(),
                    resource: r.to_string(),
                    kind: k.to_string(),
                    namespaced: *n,
                    short: s.iter().map(|x| x.to_string()).collect(),
                    from_crd: false,
                })
                .collect(),
            objects: BTreeMap::new(),
            records: Vec::new(),
            record_index: HashMap::new(),
            requests: Vec::new(),
            request_contexts: Vec::new(),
            context: String::new(),
            faults: Vec::new(),
            rv: 1,
            uid: 0,
            next_ip: 10,
            debug: std::env::var_os("KOD_KUBEAPI_DEBUG").is_some_and(|v| !v.is_empty()),
        };
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let t = st.find_type("", "v1", "namespaces").expect("builtin");
            let mut obj = json!({"metadata": {"name": ns}});
            st.prepare_new(&t, "", &mut obj);
            st.objects.insert(key_of(&t, "", ns), obj);
        }
        let state = Arc::new(Mutex::new(st));
        let thread = {
            let server = server.clone();
            let state = state.clone();
            std::thread::Builder::new()
                .name(format!("kod-lab-kubeapi-{port}"))
                .spawn(move || serve_loop(&server, &state))?
        };
        Ok(KubeApiDouble {
            server,
            thread: Some(thread),
            port,
            state,
            kubeconfig,
            contexts: opts.contexts,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:PORT` (requests without a context prefix; the
    /// kubeconfig's clusters use `URL/ctx/NAME`).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Path of the kubeconfig (mode 0600) pointing at the double.
    pub fn kubeconfig(&self) -> PathBuf {
        self.kubeconfig.clone()
    }

    /// Context names in the kubeconfig (the first is `current-context`).
    pub fn context_names(&self) -> Vec<String> {
        self.contexts.clone()
    }

    /// `[("KUBECONFIG", path)]`, to add to a helm/helmfile/kod command
    /// (after [`crate::Helm::command`], which points `KUBECONFIG` nowhere).
    pub fn env_vars(&self) -> Vec<(String, String)> {
        vec![(
            "KUBECONFIG".to_string(),
            self.kubeconfig.display().to_string(),
        )]
    }

    /// Every object ever written (except the double's own fake ReplicaSets and
    /// the pre-existing namespaces), with its latest body, ordered by `seq`.
    /// Includes helm's release Secrets (see [`AppliedObject::is_helm_storage`])
    /// and deleted objects (`deleted == true`).
    pub fn objects(&self) -> Vec<AppliedObject> {
        let st = self.state.lock().unwrap();
        st.records.iter().map(|r| r.obj.clone()).collect()
    }

    /// [`objects`](Self::objects) without helm's release Secrets: what charts
    /// (and `--create-namespace`) applied.
    pub fn chart_objects(&self) -> Vec<AppliedObject> {
        self.objects()
            .into_iter()
            .filter(|o| !o.is_helm_storage())
            .collect()
    }

    /// [`objects`](Self::objects) that still exist.
    pub fn live_objects(&self) -> Vec<AppliedObject> {
        self.objects().into_iter().filter(|o| !o.deleted).collect()
    }

    /// The recorded object of this kind/namespace/name (namespace "" for cluster-scoped).
    pub fn object(&self, kind: &str, namespace: &str, name: &str) -> Option<AppliedObject> {
        self.objects()
            .into_iter()
            .find(|o| o.kind == kind && o.namespace == namespace && o.name == name)
    }

    /// Request log, one `"METHOD /path?query -> CODE"` line per request, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }

    /// [`requests`](Self::requests) paired with the kubeconfig context each
    /// came through: `(context, line)`.
    pub fn requests_with_context(&self) -> Vec<(String, String)> {
        let st = self.state.lock().unwrap();
        st.request_contexts
            .iter()
            .cloned()
            .zip(st.requests.iter().cloned())
            .collect()
    }

    /// Distinct contexts requests came through, in order of first use.
    pub fn contexts_used(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for c in &self.state.lock().unwrap().request_contexts {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
        out
    }

    /// Releases decoded from helm's live release Secrets (every stored
    /// revision): `(namespace, name, revision, status)`, sorted.
    pub fn helm_releases(&self) -> Vec<(String, String, u32, String)> {
        let st = self.state.lock().unwrap();
        let mut out = Vec::new();
        for ((g, r, ns, _), obj) in &st.objects {
            if !(g.is_empty() && r == "secrets") || obj["metadata"]["labels"]["owner"] != "helm" {
                continue;
            }
            let labels = &obj["metadata"]["labels"];
            let decoded = obj["data"]["release"]
                .as_str()
                .and_then(|d| decode_helm_release(d).ok());
            let (name, rev, status) = match &decoded {
                Some(rel) => (
                    rel["name"].as_str().unwrap_or_default().to_string(),
                    rel["version"].as_u64().unwrap_or(0) as u32,
                    rel["info"]["status"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
                None => (
                    labels["name"].as_str().unwrap_or_default().to_string(),
                    labels["version"]
                        .as_str()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0),
                    labels["status"].as_str().unwrap_or_default().to_string(),
                ),
            };
            out.push((ns.clone(), name, rev, status));
        }
        out.sort();
        out
    }

    /// `(namespace, name)` of every release in the order helm first stored it
    /// (creation of its `.v1` release Secret) — the order releases were
    /// installed in, uninstalled ones included.
    pub fn release_install_order(&self) -> Vec<(String, String)> {
        self.objects()
            .into_iter()
            .filter(|o| o.is_helm_storage() && o.name.ends_with(".v1"))
            .filter_map(|o| {
                let name = o.body["metadata"]["labels"]["name"].as_str()?.to_string();
                Some((o.namespace, name))
            })
            .collect()
    }

    /// The decoded helm release JSON (`name`, `version`, `info`, `chart`,
    /// `manifest`, `config`, …) of one revision, if stored.
    pub fn helm_release(&self, namespace: &str, name: &str, revision: u32) -> Option<Value> {
        let st = self.state.lock().unwrap();
        let key: Key = (
            String::new(),
            "secrets".into(),
            namespace.into(),
            format!("sh.helm.release.v1.{name}.v{revision}"),
        );
        st.objects
            .get(&key)
            .and_then(|o| o["data"]["release"].as_str().map(str::to_string))
            .and_then(|d| decode_helm_release(&d).ok())
    }

    /// `("Kind/namespace/name", image)` for every container, init container and
    /// ephemeral container of every recorded workload's pod template (Pod,
    /// Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
    /// Job, CronJob, PodTemplate), deleted ones included, in `seq` order.
    pub fn pod_images(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for o in self.objects() {
            let spec = match o.kind.as_str() {
                "Pod" => &o.body["spec"],
                "Deployment"
                | "StatefulSet"
                | "DaemonSet"
                | "ReplicaSet"
                | "ReplicationController"
                | "Job" => &o.body["spec"]["template"]["spec"],
                "PodTemplate" => &o.body["template"]["spec"],
                "CronJob" => &o.body["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => continue,
            };
            let what = format!("{}/{}/{}", o.kind, o.namespace, o.name);
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                for c in spec[list].as_array().into_iter().flatten() {
                    if let Some(img) = c["image"].as_str() {
                        out.push((what.clone(), img.to_string()));
                    }
                }
            }
        }
        out
    }

    /// Make creates (POST, and server-side apply of an absent object) of `kind`
    /// — only the object called `name` if given — fail with `fault`.
    pub fn fail_creates(&self, kind: &str, name: Option<&str>, fault: Fault) {
        self.state.lock().unwrap().faults.push(FaultRule {
            kind: kind.to_string(),
            name: name.map(str::to_string),
            fault,
        });
    }

    /// Remove every rule added by [`fail_creates`](Self::fail_creates).
    pub fn clear_faults(&self) {
        self.state.lock().unwrap().faults.clear();
    }

    /// `group/version` strings currently served (`v1`, `apps/v1`, CRD groups…).
    pub fn served_group_versions(&self) -> Vec<String> {
        let st = self.state.lock().unwrap();
        let mut v: Vec<String> = st.types.iter().map(|t| t.gv()).collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Drop for KubeApiDouble {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_kubeconfig(path: &Path, port: u16, contexts: &[String]) -> Result<()> {
    // One cluster per context, told apart by a path prefix (client-go keeps
    // it for every request), so the double knows which context was used.
    let ctx: Vec<Value> = contexts
        .iter()
        .map(|c| json!({"name": c, "context": {"cluster": format!("kod-kubeapi-double-{c}"), "user": "kod-kubeapi-double"}}))
        .collect();
    let clusters: Vec<Value> = contexts
        .iter()
        .map(|c| json!({"name": format!("kod-kubeapi-double-{c}"), "cluster": {"server": format!("http://127.0.0.1:{port}{CONTEXT_PREFIX}{c}")}}))
        .collect();
    let cfg = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": clusters,
        "users": [{"name": "kod-kubeapi-double", "user": {"token": KUBEAPI_DOUBLE_TOKEN}}],
        "contexts": ctx,
        "current-context": contexts[0],
        "preferences": {},
    });
    let text = serde_yaml::to_string(&cfg)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .with_context(|| format!("write {}", path.display()))?;
        f.write_all(text.as_bytes())?;
    }
    Ok(())
}

/// Decode `data.release` of a helm release Secret (base64 of helm's own
/// base64(gzip(JSON))).
fn decode_helm_release(data_b64: &str) -> Result<Value> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let inner = b64.decode(data_b64.trim())?;
    let gz = b64.decode(std::str::from_utf8(&inner)?.trim())?;
    let json_bytes = if gz.starts_with(&[0x1f, 0x8b, 0x08]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut out)?;
        out
    } else {
        gz
    };
    Ok(serde_json::from_slice(&json_bytes)?)
}

// ---------------------------------------------------------------- serving

struct Req {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    content_type: String,
    authorized: bool,
    body: Vec<u8>,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.as_str())
    }
    fn dry_run(&self) -> bool {
        self.query.iter().any(|(k, v)| k == "dryRun" && v == "All")
    }
}

enum Body {
    Json(Value),
    Text(String),
    Raw(Vec<u8>, &'static str),
}

fn serve_loop(server: &tiny_http::Server, state: &Mutex<State>) {
    // `incoming_requests` ends when `unblock()` is called.
    for mut req in server.incoming_requests() {
        let mut url = req.url().to_string();
        let mut context = String::new();
        if let Some(rest) = url.strip_prefix(CONTEXT_PREFIX) {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            context = rest[..end].to_string();
            url = format!("/{}", rest[end..].trim_start_matches('/'));
        }
        let (path, query) = match url.split_once('?') {
            Some((p, q)) => (p.to_string(), parse_query(q)),
            None => (url.clone(), vec![]),
        };
        let header = |name: &'static str| {
            req.headers()
                .iter()
                .find(|h| h.field.equiv(name))
                .map(|h| h.value.as_str().to_string())
                .unwrap_or_default()
        };
        let content_type = header("Content-Type");
        let accept = header("Accept");
        // client-go does not send bearer tokens to a plain-http server, so a
        // missing header is accepted; a wrong one is not.
        let auth = header("Authorization");
        let authorized = auth.is_empty() || auth == format!("Bearer {KUBEAPI_DOUBLE_TOKEN}");
        let mut body = Vec::new();
        let _ = req.as_reader().take(64 << 20).read_to_end(&mut body);
        let r = Req {
            method: req.method().as_str().to_uppercase(),
            path,
            query,
            content_type,
            authorized,
            body,
        };
        let (code, out) = {
            let mut st = state.lock().unwrap();
            st.context = context.clone();
            // A bug in the double must surface as a 500 naming it, not as a
            // dead server thread (and a poisoned lock) that leaves helm retrying.
            let handled =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&mut st, &r)));
            let (code, out) = handled.unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                status(
                    500,
                    "InternalError",
                    &format!("Internal error occurred: kube-API test double bug: {msg}"),
                    None,
                )
            });
            let line = format!("{} {} -> {}", r.method, url, code);
            if st.debug {
                eprintln!(
                    "[kube-api double :{}] {line} [{}] (content-type {:?}, accept {accept:?})",
                    st.port, context, r.content_type
                );
            }
            st.requests.push(line);
            st.request_contexts.push(context);
            (code, out)
        };
        let (bytes, ct) = match out {
            Body::Json(v) => (
                serde_json::to_vec(&v).unwrap_or_default(),
                "application/json",
            ),
            Body::Text(s) => (s.into_bytes(), "text/plain; charset=utf-8"),
            Body::Raw(b, ct) => (b, ct),
        };
        let resp = tiny_http::Response::from_data(bytes)
            .with_status_code(code)
            .with_header(tiny_http::Header::from_bytes("Content-Type", ct).unwrap());
        let _ = req.respond(resp);
    }
}

fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(kv), String::new()),
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                match std::str::from_utf8(&b[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> (u16, Body) {
    let mut s = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        s["details"] = d;
    }
    (code, Body::Json(s))
}

fn not_found(t: &ResType, name: &str) -> (u16, Body) {
    status(
        404,
        "NotFound",
        &format!("{} \"{name}\" not found", t.qualified()),
        Some(json!({"name": name, "group": t.group, "kind": t.resource})),
    )
}

fn no_route() -> (u16, Body) {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

fn ok(v: Value) -> (u16, Body) {
    (200, Body::Json(v))
}

fn handle(st: &mut State, r: &Req) -> (u16, Body) {
    if !r.authorized {
        return status(401, "Unauthorized", "Unauthorized", None);
    }
    let segs: Vec<&str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => {
            let mut it = st.version.split('.');
            let (ma, mi) = (it.next().unwrap_or("1"), it.next().unwrap_or("30"));
            ok(json!({
                "major": ma, "minor": mi, "gitVersion": format!("v{}", st.version),
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z",
                "goVersion": "go1.22.0", "compiler": "gc", "platform": "linux/amd64",
            }))
        }
        ["healthz"] | ["readyz"] | ["livez"] => (200, Body::Text("ok".into())),
        ["api"] => ok(json!({
            "kind": "APIVersions",
            "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": format!("127.0.0.1:{}", st.port)}],
        })),
        ["apis"] => {
            let groups: Vec<Value> = st
                .groups()
                .into_iter()
                .map(|(g, vs)| group_doc(&g, &vs))
                .collect();
            ok(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["apis", g] => match st.groups().into_iter().find(|(n, _)| n == g) {
            Some((g, vs)) => {
                let mut d = group_doc(&g, &vs);
                d["kind"] = json!("APIGroup");
                d["apiVersion"] = json!("v1");
                ok(d)
            }
            None => no_route(),
        },
        // An empty protobuf message is a valid, empty OpenAPI v2 `Document`:
        // kubectl's validator then finds no schema and skips validation.
        ["openapi", "v2"] => (
            200,
            Body::Raw(
                Vec::new(),
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            ),
        ),
        ["openapi", "v3"] => ok(st.openapi_root()),
        ["openapi", "v3", "api", "v1"] => ok(st.openapi_gv("", "v1")),
        ["openapi", "v3", "apis", g, v]
            if st.types.iter().any(|t| t.group == *g && t.version == *v) =>
        {
            ok(st.openapi_gv(g, v))
        }
        ["api", "v1"] => ok(st.resource_list("", "v1")),
        ["apis", g, v] => {
            if st.types.iter().any(|t| t.group == *g && t.version == *v) {
                ok(st.resource_list(g, v))
            } else {
                no_route()
            }
        }
        ["api", "v1", rest @ ..] => resource_request(st, r, "", "v1", rest),
        ["apis", g, v, rest @ ..] => {
            let (g, v) = (g.to_string(), v.to_string());
            resource_request(st, r, &g, &v, rest)
        }
        _ => no_route(),
    }
}

fn group_doc(g: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({"name": g, "versions": vs, "preferredVersion": vs[0].clone()})
}

/// Order versions the Kubernetes way (v2 > v1 > v1beta2 > v1beta1 > v1alpha1).
fn version_rank(v: &str) -> (u8, u32, u32) {
    let rest = v.strip_prefix('v').unwrap_or(v);
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (stage, n) = if tail.is_empty() {
        (3, 0)
    } else if let Some(x) = tail.strip_prefix("beta") {
        (2, x.parse().unwrap_or(0))
    } else if let Some(x) = tail.strip_prefix("alpha") {
        (1, x.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (stage, major, n)
}

fn key_of(t: &ResType, ns: &str, name: &str) -> Key {
    (
        t.group.clone(),
        t.resource.clone(),
        if t.namespaced {
            ns.to_string()
        } else {
            String::new()
        },
        name.to_string(),
    )
}

const VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

impl State {
    fn find_type(&self, group: &str, version: &str, resource: &str) -> Option<ResType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.version == version && t.resource == resource)
            .cloned()
    }

    /// Named groups with their versions, preferred first.
    fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for t in &self.types {
            if t.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, vs)) => {
                    if !vs.contains(&t.version) {
                        vs.push(t.version.clone());
                    }
                }
                None => out.push((t.group.clone(), vec![t.version.clone()])),
            }
        }
        for (_, vs) in &mut out {
            vs.sort_by_key(|v| std::cmp::Reverse(version_rank(v)));
        }
        out
    }

    fn resource_list(&self, g: &str, v: &str) -> Value {
        let mut res = Vec::new();
        for t in self.types.iter().filter(|t| t.group == g && t.version == v) {
            let singular = t.kind.to_lowercase();
            res.push(json!({
                "name": t.resource, "singularName": singular, "namespaced": t.namespaced,
                "kind": t.kind, "verbs": VERBS, "shortNames": t.short,
            }));
            res.push(json!({
                "name": format!("{}/status", t.resource), "singularName": "",
                "namespaced": t.namespaced, "kind": t.kind, "verbs": ["get", "patch", "update"],
            }));
        }
        let gv = if g.is_empty() {
            v.to_string()
        } else {
            format!("{g}/{v}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": res})
    }

    /// `/openapi/v3`: one entry per served group/version.
    fn openapi_root(&self) -> Value {
        let mut paths = Map::new();
        for t in &self.types {
            let p = if t.group.is_empty() {
                format!("api/{}", t.version)
            } else {
                format!("apis/{}/{}", t.group, t.version)
            };
            let url = json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash=kod-test-double")});
            paths.insert(p, url);
        }
        json!({"paths": paths})
    }

    /// A minimal OpenAPI v3 document for one group/version: just a PATCH
    /// operation per resource that declares the `fieldValidation` query
    /// parameter. That tells client-go (kubectl's validator, used by helm)
    /// that the server validates fields itself, so it skips client-side schema
    /// validation — which would need real schemas.
    fn openapi_gv(&self, g: &str, v: &str) -> Value {
        let mut paths = Map::new();
        for t in self.types.iter().filter(|t| t.group == g && t.version == v) {
            let prefix = if g.is_empty() {
                format!("/api/{v}")
            } else {
                format!("/apis/{g}/{v}")
            };
            let p = if t.namespaced {
                format!("{prefix}/namespaces/{{namespace}}/{}/{{name}}", t.resource)
            } else {
                format!("{prefix}/{}/{{name}}", t.resource)
            };
            paths.insert(
                p,
                json!({"patch": {
                    "operationId": format!("patch{}", t.kind),
                    "x-kubernetes-group-version-kind": {"group": t.group, "version": t.version, "kind": t.kind},
                    "parameters": [
                        {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                        {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
                    ],
                    "responses": {"200": {"description": "OK"}},
                }}),
            );
        }
        json!({
            "openapi": "3.0.0",
            "info": {"title": "kod kube-API test double", "version": self.version},
            "paths": paths,
            "components": {},
        })
    }

    fn next_rv(&mut self) -> String {
        self.rv += 1;
        self.rv.to_string()
    }

    fn namespace_exists(&self, ns: &str) -> bool {
        self.objects.contains_key(&(
            String::new(),
            "namespaces".into(),
            String::new(),
            ns.to_string(),
        ))
    }

    /// Fill system metadata and defaults of a new object (name already set).
    fn prepare_new(&mut self, t: &ResType, ns: &str, obj: &mut Value) {
        obj["apiVersion"] = json!(t.gv());
        obj["kind"] = json!(t.kind);
        self.uid += 1;
        let uid = format!("6b6f642d-7465-4000-8000-{:012x}", self.uid);
        let rv = self.next_rv();
        let md = obj["metadata"].as_object_mut().expect("metadata object");
        if t.namespaced {
            md.insert("namespace".into(), json!(ns));
        } else {
            md.remove("namespace");
        }
        md.insert("uid".into(), json!(uid));
        md.insert("resourceVersion".into(), json!(rv));
        md.insert(
            "creationTimestamp".into(),
            json!(rfc3339(SystemTime::now())),
        );
        md.insert("generation".into(), json!(1));
        md.remove("managedFields");
        md.remove("deletionTimestamp");
        self.defaults(t, obj);
    }

    /// Defaults and fake status (re-run after every write).
    fn defaults(&mut self, t: &ResType, obj: &mut Value) {
        let generation = obj["metadata"]["generation"].as_i64().unwrap_or(1);
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let hook = obj["metadata"]["annotations"]["helm.sh/hook"].is_string();
        if !obj.is_object() {
            return;
        }
        let ensure = |v: &mut Value, path: &[&str], val: Value| {
            let mut cur = v;
            for (i, p) in path.iter().enumerate() {
                if !cur.is_object() {
                    *cur = json!({});
                }
                let m = cur.as_object_mut().unwrap();
                if i + 1 == path.len() {
                    if m.get(*p).map(Value::is_null).unwrap_or(true) {
                        m.insert(p.to_string(), val);
                    }
                    return;
                }
                cur = m.entry(p.to_string()).or_insert_with(|| json!({}));
            }
        };
        match (t.group.as_str(), t.kind.as_str()) {
            ("", "Namespace") => {
                ensure(obj, &["spec", "finalizers"], json!(["kubernetes"]));
                obj["status"] = json!({"phase": "Active"});
            }
            ("", "Secret") => {
                if let Some(sd) = obj.as_object_mut().unwrap().remove("stringData") {
                    use base64::Engine as _;
                    for (k, v) in sd.as_object().into_iter().flatten() {
                        let s = v.as_str().unwrap_or_default();
                        obj["data"][k] = json!(base64::engine::general_purpose::STANDARD.encode(s));
                    }
                }
                ensure(obj, &["type"], json!("Opaque"));
            }
            ("", "Service") => {
                ensure(obj, &["spec", "type"], json!("ClusterIP"));
                if obj["spec"]["type"] != "ExternalName" && obj["spec"]["clusterIP"].is_null() {
                    self.next_ip += 1;
                    let ip = format!("10.96.{}.{}", self.next_ip / 250, self.next_ip % 250 + 1);
                    obj["spec"]["clusterIP"] = json!(ip);
                    obj["spec"]["clusterIPs"] = json!([ip]);
                }
                if obj["spec"]["type"] == "LoadBalancer" {
                    obj["status"] = json!({"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}});
                } else {
                    obj["status"] = json!({"loadBalancer": {}});
                }
            }
            ("", "PersistentVolumeClaim") => {
                obj["status"] = json!({"phase": "Bound"});
            }
            ("", "Pod") => {
                obj["status"] = if hook {
                    json!({"phase": "Succeeded"})
                } else {
                    json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})
                };
            }
            ("apps", "Deployment") | ("apps", "ReplicaSet") => {
                ensure(obj, &["spec", "replicas"], json!(1));
                let n = obj["spec"]["replicas"].as_i64().unwrap_or(1);
                let mut s = json!({
                    "observedGeneration": generation, "replicas": n, "readyReplicas": n,
                    "availableReplicas": n, "updatedReplicas": n,
                });
                if t.kind == "Deployment" {
                    s["conditions"] = json!([
                        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"},
                    ]);
                } else {
                    s["fullyLabeledReplicas"] = json!(n);
                    s.as_object_mut().unwrap().remove("updatedReplicas");
                }
                obj["status"] = s;
            }
            ("apps", "StatefulSet") => {
                ensure(obj, &["spec", "replicas"], json!(1));
                ensure(obj, &["spec", "podManagementPolicy"], json!("OrderedReady"));
                ensure(
                    obj,
                    &["spec", "updateStrategy", "type"],
                    json!("RollingUpdate"),
                );
                if obj["spec"]["updateStrategy"]["type"] == "RollingUpdate" {
                    ensure(
                        obj,
                        &["spec", "updateStrategy", "rollingUpdate", "partition"],
                        json!(0),
                    );
                }
                let n = obj["spec"]["replicas"].as_i64().unwrap_or(1);
                let rev = format!("{name}-{generation}");
                obj["status"] = json!({
                    "observedGeneration": generation, "replicas": n, "readyReplicas": n,
                    "currentReplicas": n, "updatedReplicas": n, "availableReplicas": n,
                    "currentRevision": rev, "updateRevision": rev,
                });
            }
            ("apps", "DaemonSet") => {
                ensure(
                    obj,
                    &["spec", "updateStrategy", "type"],
                    json!("RollingUpdate"),
                );
                if obj["spec"]["updateStrategy"]["type"] == "RollingUpdate" {
                    ensure(
                        obj,
                        &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
                        json!(1),
                    );
                    ensure(
                        obj,
                        &["spec", "updateStrategy", "rollingUpdate", "maxSurge"],
                        json!(0),
                    );
                }
                obj["status"] = json!({
                    "observedGeneration": generation, "desiredNumberScheduled": 1,
                    "currentNumberScheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
                    "numberAvailable": 1, "numberMisscheduled": 0,
                });
            }
            ("batch", "Job") => {
                ensure(obj, &["spec", "backoffLimit"], json!(6));
                ensure(obj, &["spec", "completions"], json!(1));
                ensure(obj, &["spec", "parallelism"], json!(1));
                let n = obj["spec"]["completions"].as_i64().unwrap_or(1);
                let now = rfc3339(SystemTime::now());
                obj["status"] = json!({
                    "succeeded": n, "startTime": now, "completionTime": now,
                    "conditions": [{"type": "Complete", "status": "True"}],
                });
            }
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                let names = obj["spec"]["names"].clone();
                obj["status"] = json!({
                    "acceptedNames": names,
                    "storedVersions": obj["spec"]["versions"].as_array().into_iter().flatten()
                        .filter(|v| v["storage"] == true).map(|v| v["name"].clone()).collect::<Vec<_>>(),
                    "conditions": [
                        {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
                        {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"},
                    ],
                });
            }
            _ => {}
        }
    }

    fn fault_for(&self, kind: &str, name: &str) -> Option<Fault> {
        self.faults
            .iter()
            .find(|f| f.kind == kind && f.name.as_deref().map(|n| n == name).unwrap_or(true))
            .map(|f| f.fault.clone())
    }

    /// Store a written object, record it and run side effects.
    fn store(&mut self, t: &ResType, key: Key, obj: Value, synthetic: bool) {
        self.objects.insert(key.clone(), obj.clone());
        if !synthetic {
            let rec = AppliedObject {
                api_version: t.gv(),
                kind: t.kind.clone(),
                namespace: key.2.clone(),
                name: key.3.clone(),
                body: obj.clone(),
                seq: 0,
                deleted: false,
                context: self.context.clone(),
            };
            match self.record_index.get(&key) {
                Some(&i) => {
                    let seq = self.records[i].obj.seq;
                    self.records[i].obj = AppliedObject { seq, ..rec };
                }
                None => {
                    let seq = self.records.len() as u64;
                    self.record_index.insert(key.clone(), self.records.len());
                    self.records.push(Record {
                        obj: AppliedObject { seq, ..rec },
                    });
                }
            }
        }
        match (t.group.as_str(), t.kind.as_str()) {
            ("apiextensions.k8s.io", "CustomResourceDefinition") => self.register_crd(&obj),
            ("apps", "Deployment") => self.fake_replicaset(&obj),
            _ => {}
        }
    }

    fn remove(&mut self, t: &ResType, key: &Key) -> Option<Value> {
        let obj = self.objects.remove(key)?;
        if let Some(&i) = self.record_index.get(key) {
            self.records[i].obj.deleted = true;
        }
        match (t.group.as_str(), t.kind.as_str()) {
            ("apiextensions.k8s.io", "CustomResourceDefinition") => {
                let g = obj["spec"]["group"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let plural = obj["spec"]["names"]["plural"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                self.types
                    .retain(|x| !(x.from_crd && x.group == g && x.resource == plural));
            }
            ("", "Namespace") => {
                let ns = key.3.clone();
                let doomed: Vec<Key> = self.objects.keys().filter(|k| k.2 == ns).cloned().collect();
                for k in doomed {
                    self.objects.remove(&k);
                    if let Some(&i) = self.record_index.get(&k) {
                        self.records[i].obj.deleted = true;
                    }
                }
            }
            ("apps", "Deployment") => {
                let uid = obj["metadata"]["uid"].clone();
                self.objects.retain(|k, v| {
                    !(k.0 == "apps"
                        && k.1 == "replicasets"
                        && v["metadata"]["ownerReferences"][0]["uid"] == uid)
                });
            }
            _ => {}
        }
        Some(obj)
    }

    fn register_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let g = spec["group"].as_str().unwrap_or_default().to_string();
        let names = &spec["names"];
        let plural = names["plural"].as_str().unwrap_or_default().to_string();
        let kind = names["kind"].as_str().unwrap_or_default().to_string();
        if g.is_empty() || plural.is_empty() || kind.is_empty() {
            return;
        }
        let namespaced = spec["scope"] != "Cluster";
        let short: Vec<String> = names["shortNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        self.types
            .retain(|x| !(x.from_crd && x.group == g && x.resource == plural));
        for v in spec["versions"].as_array().into_iter().flatten() {
            if v["served"] == false {
                continue;
            }
            if let Some(vn) = v["name"].as_str() {
                self.types.push(ResType {
                    group: g.clone(),
                    version: vn.to_string(),
                    resource: plural.clone(),
                    kind: kind.clone(),
                    namespaced,
                    short: short.clone(),
                    from_crd: true,
                });
            }
        }
    }

    /// The ReplicaSet a Deployment controller would have made, ready at once.
    fn fake_replicaset(&mut self, dep: &Value) {
        use sha2::{Digest, Sha256};
        let md = &dep["metadata"];
        let (ns, name, uid) = (
            md["namespace"].as_str().unwrap_or_default().to_string(),
            md["name"].as_str().unwrap_or_default().to_string(),
            md["uid"].clone(),
        );
        let template = dep["spec"]["template"].clone();
        let hash = hex::encode(&Sha256::digest(template.to_string().as_bytes())[..5]);
        let rs_name = format!("{name}-{hash}");
        let t = self
            .find_type("apps", "v1", "replicasets")
            .expect("builtin");
        let key = key_of(&t, &ns, &rs_name);
        if self.objects.contains_key(&key) {
            return;
        }
        let mut tpl = template;
        if !tpl["metadata"]["labels"].is_object() {
            tpl["metadata"]["labels"] = json!({});
        }
        tpl["metadata"]["labels"]["pod-template-hash"] = json!(hash);
        let mut rs = json!({
            "metadata": {
                "name": rs_name,
                "labels": tpl["metadata"]["labels"].clone(),
                "annotations": {"deployment.kubernetes.io/revision": "1"},
                "ownerReferences": [{
                    "apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid,
                    "controller": true, "blockOwnerDeletion": true,
                }],
            },
            "spec": {
                "replicas": dep["spec"]["replicas"].clone(),
                "selector": dep["spec"]["selector"].clone(),
                "template": tpl,
            },
        });
        self.prepare_new(&t, &ns, &mut rs);
        self.store(&t, key, rs, true);
    }
}

fn resource_request(st: &mut State, r: &Req, g: &str, v: &str, rest: &[&str]) -> (u16, Body) {
    let (watch_path, rest) = match rest.first() {
        Some(&"watch") => (true, &rest[1..]),
        _ => (false, rest),
    };
    let (ns, res, name, sub): (Option<&str>, &str, Option<&str>, Option<&str>) = match rest {
        ["namespaces", ns, res, tail @ ..]
            if !matches!(*res, "status" | "finalize") && tail.len() <= 2 =>
        {
            (Some(ns), res, tail.first().copied(), tail.get(1).copied())
        }
        [res] => (None, res, None, None),
        [res, name] => (None, res, Some(name), None),
        [res, name, sub] => (None, res, Some(name), Some(sub)),
        _ => return no_route(),
    };
    let Some(t) = st.find_type(g, v, res) else {
        return no_route();
    };
    if (!t.namespaced && ns.is_some()) || (t.namespaced && ns.is_none() && name.is_some()) {
        return no_route();
    }
    if sub.is_some_and(|s| s != "status") {
        return no_route();
    }
    let ns = ns.unwrap_or("");
    let watch = watch_path || matches!(r.q("watch"), Some("true") | Some("1"));
    match (r.method.as_str(), name) {
        // An empty watch stream: it ends at once and client-go lists again.
        ("GET", _) if watch => (200, Body::Raw(Vec::new(), "application/json")),
        ("GET", None) => ok(list(st, &t, ns, r)),
        ("POST", None) => create(st, &t, ns, r),
        ("DELETE", None) => {
            let l = list(st, &t, ns, r);
            for item in l["items"].as_array().into_iter().flatten() {
                let n = item["metadata"]["name"].as_str().unwrap_or_default();
                let ins = item["metadata"]["namespace"].as_str().unwrap_or_default();
                if !r.dry_run() {
                    st.remove(&t, &key_of(&t, ins, n));
                }
            }
            ok(l)
        }
        ("GET", Some(n)) => match st.objects.get(&key_of(&t, ns, n)) {
            Some(o) => ok(with_version(o, &t)),
            None => not_found(&t, n),
        },
        ("PUT", Some(n)) => replace(st, &t, ns, n, sub.is_some(), r),
        ("PATCH", Some(n)) => patch(st, &t, ns, n, sub.is_some(), r),
        ("DELETE", Some(n)) => {
            let key = key_of(&t, ns, n);
            if !st.objects.contains_key(&key) {
                return not_found(&t, n);
            }
            if r.dry_run() {
                return ok(st.objects[&key].clone());
            }
            let o = st.remove(&t, &key).expect("present");
            ok(with_version(&o, &t))
        }
        _ => status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            None,
        ),
    }
}

/// The stored object as seen through `t`'s version (CRDs may serve several).
fn with_version(o: &Value, t: &ResType) -> Value {
    let mut o = o.clone();
    o["apiVersion"] = json!(t.gv());
    o
}

fn list(st: &State, t: &ResType, ns: &str, r: &Req) -> Value {
    let sel = r.q("labelSelector").map(parse_selector).unwrap_or_default();
    let fields = r.q("fieldSelector").map(parse_selector).unwrap_or_default();
    let items: Vec<Value> = st
        .objects
        .iter()
        .filter(|(k, _)| k.0 == t.group && k.1 == t.resource && (ns.is_empty() || k.2 == ns))
        .map(|(_, o)| o)
        .filter(|o| selector_matches(&sel, &o["metadata"]["labels"]))
        .filter(|o| {
            let f = json!({
                "metadata.name": o["metadata"]["name"],
                "metadata.namespace": o["metadata"]["namespace"],
            });
            selector_matches(&fields, &f)
        })
        .map(|o| with_version(o, t))
        .collect();
    json!({
        "kind": format!("{}List", t.kind),
        "apiVersion": t.gv(),
        "metadata": {"resourceVersion": st.rv.to_string()},
        "items": items,
    })
}

fn parse_body(r: &Req) -> std::result::Result<Value, String> {
    let v: Value = if r.content_type.contains("protobuf") {
        protobuf::decode(&r.body)?
    } else if r.content_type.contains("yaml") {
        serde_yaml::from_slice(&r.body).map_err(|e| e.to_string())?
    } else {
        serde_json::from_slice(&r.body).map_err(|e| e.to_string())?
    };
    Ok(v)
}

fn bad_request(msg: &str) -> (u16, Body) {
    status(400, "BadRequest", msg, None)
}

fn invalid(t: &ResType, name: &str, msg: &str) -> (u16, Body) {
    let group_kind = if t.group.is_empty() {
        t.kind.clone()
    } else {
        format!("{}.{}", t.kind, t.group)
    };
    status(
        422,
        "Invalid",
        &format!("{group_kind} \"{name}\" is invalid: {msg}"),
        Some(json!({
            "name": name, "group": t.group, "kind": t.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": msg, "field": "spec"}],
        })),
    )
}

/// Check kind/namespace/metadata of a written body.
fn check_body(t: &ResType, ns: &str, obj: &Value) -> std::result::Result<(), (u16, Body)> {
    if !obj.is_object() || !obj["metadata"].is_object() {
        return Err(bad_request("the object has no metadata"));
    }
    if let Some(k) = obj["kind"].as_str() {
        if k != t.kind {
            return Err(bad_request(&format!(
                "the kind {k:?} does not match the resource {} (kind {:?})",
                t.qualified(),
                t.kind
            )));
        }
    }
    if t.namespaced {
        if let Some(ons) = obj["metadata"]["namespace"].as_str() {
            if !ons.is_empty() && ons != ns {
                return Err(bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    }
    Ok(())
}

fn fault_response(t: &ResType, name: &str, f: Fault) -> (u16, Body) {
    match f {
        Fault::InternalError(m) => status(
            500,
            "InternalError",
            &format!("Internal error occurred: {m}"),
            Some(
                json!({"name": name, "group": t.group, "kind": t.resource, "causes": [{"message": m}]}),
            ),
        ),
        Fault::Invalid(m) => invalid(t, name, &m),
    }
}

fn create(st: &mut State, t: &ResType, ns: &str, r: &Req) -> (u16, Body) {
    let mut obj = match parse_body(r) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("cannot decode body: {e}")),
    };
    if let Err(e) = check_body(t, ns, &obj) {
        return e;
    }
    create_object(st, t, ns, &mut obj, r.dry_run())
}

fn create_object(
    st: &mut State,
    t: &ResType,
    ns: &str,
    obj: &mut Value,
    dry_run: bool,
) -> (u16, Body) {
    let mut name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if name.is_empty() {
        if let Some(gn) = obj["metadata"]["generateName"].as_str() {
            st.uid += 1;
            name = format!("{gn}{:05x}", st.uid * 7919 % 0xfffff);
            obj["metadata"]["name"] = json!(name);
        }
    }
    if name.is_empty() {
        return invalid(
            t,
            "",
            "metadata.name: Required value: name or generateName is required",
        );
    }
    if t.namespaced && !st.namespace_exists(ns) {
        let nst = st.find_type("", "v1", "namespaces").expect("builtin");
        return not_found(&nst, ns);
    }
    if let Some(f) = st.fault_for(&t.kind, &name) {
        return fault_response(t, &name, f);
    }
    let key = key_of(t, ns, &name);
    if st.objects.contains_key(&key) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", t.qualified()),
            Some(json!({"name": name, "group": t.group, "kind": t.resource})),
        );
    }
    st.prepare_new(t, ns, obj);
    if !dry_run {
        st.store(t, key, obj.clone(), false);
    }
    (201, Body::Json(obj.clone()))
}

/// Finish an update of `cur` into `new`: keep system metadata, bump
/// resourceVersion (and generation when spec changed), re-run defaults.
fn finish_update(
    st: &mut State,
    t: &ResType,
    ns: &str,
    cur: &Value,
    new: &mut Value,
    status_only: bool,
) {
    if status_only {
        let status = new["status"].clone();
        *new = cur.clone();
        new["status"] = status;
    }
    new["apiVersion"] = json!(t.gv());
    new["kind"] = json!(t.kind);
    if !new["metadata"].is_object() {
        new["metadata"] = json!({});
    }
    for k in ["uid", "creationTimestamp", "name", "generation"] {
        new["metadata"][k] = cur["metadata"][k].clone();
    }
    if t.namespaced {
        new["metadata"]["namespace"] = json!(ns);
    }
    if let Some(m) = new["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    if new["spec"] != cur["spec"] {
        let g = cur["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        new["metadata"]["generation"] = json!(g);
    }
    new["metadata"]["resourceVersion"] = json!(st.next_rv());
    if !status_only {
        st.defaults(t, new);
    }
}

fn replace(
    st: &mut State,
    t: &ResType,
    ns: &str,
    name: &str,
    status_only: bool,
    r: &Req,
) -> (u16, Body) {
    let mut new = match parse_body(r) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("cannot decode body: {e}")),
    };
    if let Err(e) = check_body(t, ns, &new) {
        return e;
    }
    if new["metadata"]["name"].as_str().is_some_and(|n| n != name) {
        return bad_request("the name of the object does not match the name on the URL");
    }
    let key = key_of(t, ns, name);
    let Some(cur) = st.objects.get(&key).cloned() else {
        return not_found(t, name);
    };
    if let Some(rv) = new["metadata"]["resourceVersion"].as_str() {
        if !rv.is_empty() && cur["metadata"]["resourceVersion"] != rv {
            return status(
                409,
                "Conflict",
                &format!(
                    "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                    t.qualified()
                ),
                Some(json!({"name": name, "group": t.group, "kind": t.resource})),
            );
        }
    }
    finish_update(st, t, ns, &cur, &mut new, status_only);
    if !r.dry_run() {
        st.store(t, key, new.clone(), false);
    }
    ok(new)
}

fn patch(
    st: &mut State,
    t: &ResType,
    ns: &str,
    name: &str,
    status_only: bool,
    r: &Req,
) -> (u16, Body) {
    let ct = r
        .content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_string();
    let key = key_of(t, ns, name);
    let cur = st.objects.get(&key).cloned();
    let p = match parse_body(r) {
        Ok(v) => v,
        Err(e) => return bad_request(&format!("cannot decode patch: {e}")),
    };
    if ct == "application/apply-patch+yaml" || ct == "application/apply-patch+json" {
        if let Err(e) = check_body(t, ns, &p) {
            return e;
        }
        let mut obj = p;
        obj["metadata"]["name"] = json!(name);
        return match cur {
            None => create_object(st, t, ns, &mut obj, r.dry_run()),
            Some(cur) => {
                if !status_only {
                    obj["status"] = cur["status"].clone();
                }
                finish_update(st, t, ns, &cur, &mut obj, status_only);
                if !r.dry_run() {
                    st.store(t, key, obj.clone(), false);
                }
                ok(obj)
            }
        };
    }
    let Some(cur) = cur else {
        return not_found(t, name);
    };
    let mut new = cur.clone();
    match ct.as_str() {
        "application/strategic-merge-patch+json" => strategic_merge(&mut new, &p),
        "application/merge-patch+json" => json_merge(&mut new, &p),
        "application/json-patch+json" => {
            if let Err(e) = json_patch(&mut new, &p) {
                return status(422, "Invalid", &format!("the JSON patch failed: {e}"), None);
            }
        }
        other => {
            return status(
                415,
                "UnsupportedMediaType",
                &format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"),
                None,
            )
        }
    }
    if let Err(e) = check_body(t, ns, &new) {
        return e;
    }
    finish_update(st, t, ns, &cur, &mut new, status_only);
    if !r.dry_run() {
        st.store(t, key, new.clone(), false);
    }
    ok(new)
}

// ---------------------------------------------------------------- protobuf

/// Just enough of Kubernetes' protobuf encoding to read the Secrets (and
/// ConfigMaps) that helm 4's typed client writes as
/// `application/vnd.kubernetes.protobuf`.
mod protobuf {
    use serde_json::{json, Map, Value};

    type R<T> = std::result::Result<T, String>;

    enum Field<'a> {
        Varint(u64),
        Bytes(&'a [u8]),
        Fixed,
    }

    fn varint(b: &[u8], i: &mut usize) -> R<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*i).ok_or("truncated varint")?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("varint too long".into())
    }

    fn fields(b: &[u8]) -> R<Vec<(u64, Field<'_>)>> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let tag = varint(b, &mut i)?;
            let f = match tag & 7 {
                0 => Field::Varint(varint(b, &mut i)?),
                1 => {
                    i += 8;
                    Field::Fixed
                }
                5 => {
                    i += 4;
                    Field::Fixed
                }
                2 => {
                    let n = varint(b, &mut i)? as usize;
                    let s = b.get(i..i + n).ok_or("truncated field")?;
                    i += n;
                    Field::Bytes(s)
                }
                w => return Err(format!("unsupported protobuf wire type {w}")),
            };
            out.push((tag >> 3, f));
        }
        Ok(out)
    }

    fn string(f: &Field<'_>) -> R<String> {
        match f {
            Field::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
            _ => Err("expected a string".into()),
        }
    }

    /// A map entry `{1: key, 2: value}`.
    fn entry(f: &Field<'_>, bytes_value: bool) -> R<(String, Value)> {
        let Field::Bytes(b) = f else {
            return Err("expected a map entry".into());
        };
        let (mut k, mut v) = (String::new(), json!(""));
        for (n, x) in fields(b)? {
            match (n, &x) {
                (1, _) => k = string(&x)?,
                (2, Field::Bytes(val)) if bytes_value => {
                    use base64::Engine as _;
                    v = json!(base64::engine::general_purpose::STANDARD.encode(val));
                }
                (2, _) => v = json!(string(&x)?),
                _ => {}
            }
        }
        Ok((k, v))
    }

    fn object_meta(b: &[u8]) -> R<Value> {
        let mut m = Map::new();
        let (mut labels, mut annotations) = (Map::new(), Map::new());
        for (n, f) in fields(b)? {
            match n {
                1 => drop(m.insert("name".into(), json!(string(&f)?))),
                2 => drop(m.insert("generateName".into(), json!(string(&f)?))),
                3 => drop(m.insert("namespace".into(), json!(string(&f)?))),
                5 => drop(m.insert("uid".into(), json!(string(&f)?))),
                6 => drop(m.insert("resourceVersion".into(), json!(string(&f)?))),
                11 => {
                    let (k, v) = entry(&f, false)?;
                    labels.insert(k, v);
                }
                12 => {
                    let (k, v) = entry(&f, false)?;
                    annotations.insert(k, v);
                }
                14 => {
                    let fin = m.entry("finalizers").or_insert_with(|| json!([]));
                    fin.as_array_mut().unwrap().push(json!(string(&f)?));
                }
                _ => {}
            }
        }
        if !labels.is_empty() {
            m.insert("labels".into(), Value::Object(labels));
        }
        if !annotations.is_empty() {
            m.insert("annotations".into(), Value::Object(annotations));
        }
        m.retain(|_, v| v != "");
        Ok(Value::Object(m))
    }

    /// Decode a `k8s\0`-prefixed `runtime.Unknown` holding a v1 Secret or ConfigMap.
    pub(super) fn decode(body: &[u8]) -> R<Value> {
        let b = body
            .strip_prefix(b"k8s\0")
            .ok_or("protobuf body without the k8s envelope")?;
        let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
        for (n, f) in fields(b)? {
            match (n, f) {
                (1, Field::Bytes(tm)) => {
                    for (m, x) in fields(tm)? {
                        match m {
                            1 => api_version = string(&x)?,
                            2 => kind = string(&x)?,
                            _ => {}
                        }
                    }
                }
                (2, Field::Bytes(r)) => raw = r,
                _ => {}
            }
        }
        let mut obj = json!({"apiVersion": api_version, "kind": kind, "metadata": {}});
        match (api_version.as_str(), kind.as_str()) {
            ("v1", "Secret") | ("v1", "ConfigMap") => {}
            _ => {
                return Err(format!(
                    "the kube-API test double decodes protobuf only for v1 Secret/ConfigMap, not {api_version} {kind}"
                ))
            }
        }
        let secret = kind == "Secret";
        for (n, f) in fields(raw)? {
            match (n, &f) {
                (1, Field::Bytes(md)) => obj["metadata"] = object_meta(md)?,
                (2, _) => {
                    // Secret.data (bytes) / ConfigMap.data (strings)
                    let (k, v) = entry(&f, secret)?;
                    obj["data"][k] = v;
                }
                (3, _) if secret => obj["type"] = json!(string(&f)?),
                (3, _) => {
                    let (k, v) = entry(&f, true)?;
                    obj["binaryData"][k] = v;
                }
                (4, _) if secret => {
                    let (k, v) = entry(&f, false)?;
                    obj["stringData"][k] = v;
                }
                (4, Field::Varint(x)) | (5, Field::Varint(x)) => obj["immutable"] = json!(*x != 0),
                _ => {}
            }
        }
        Ok(obj)
    }
}

// ---------------------------------------------------------------- patches

/// RFC 7386 JSON merge patch.
fn json_merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(pm) => {
            if !target.is_object() {
                *target = json!({});
            }
            let tm = target.as_object_mut().unwrap();
            for (k, v) in pm {
                if v.is_null() {
                    tm.remove(k);
                } else {
                    json_merge(tm.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

const MERGE_KEYS: &[&str] = &[
    "name",
    "containerPort",
    "port",
    "mountPath",
    "devicePath",
    "type",
];

/// Fields whose lists Kubernetes merges by key (`patchStrategy: merge`) that
/// a patch may touch without a `$setElementOrder` directive.
const MERGE_FIELDS: &[&str] = &[
    "containers",
    "initContainers",
    "ephemeralContainers",
    "env",
    "volumes",
    "volumeMounts",
    "volumeDevices",
    "ports",
    "imagePullSecrets",
    "conditions",
    "topologySpreadConstraints",
];

/// An approximation of Kubernetes' strategic merge patch without the schema.
/// A list is merged by key when the patch says so (a `$setElementOrder/FIELD`
/// directive, whose entries name the key, or `$patch` elements) or the field
/// is one of [`MERGE_FIELDS`] (key: the first of [`MERGE_KEYS`] all patch
/// elements carry); any other list is replaced — as for `args`, `rules`,
/// `subjects`, `tolerations`, which have no merge strategy.
fn strategic_merge(target: &mut Value, patch: &Value) {
    let Value::Object(pm) = patch else {
        *target = patch.clone();
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let orders: Vec<(String, Vec<Value>)> = pm
        .iter()
        .filter_map(|(k, v)| {
            let field = k.strip_prefix("$setElementOrder/")?;
            Some((field.to_string(), v.as_array().cloned().unwrap_or_default()))
        })
        .collect();
    let mut retain: Option<Vec<String>> = None;
    {
        let tm = target.as_object_mut().unwrap();
        for (k, v) in pm {
            if k.starts_with("$setElementOrder/") {
                continue;
            }
            if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
                if let (Some(list), Some(del)) = (
                    tm.get_mut(field).and_then(Value::as_array_mut),
                    v.as_array(),
                ) {
                    list.retain(|x| !del.contains(x));
                }
                continue;
            }
            if k == "$retainKeys" {
                retain = v.as_array().map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                });
                continue;
            }
            if k.starts_with('$') {
                continue;
            }
            if v.is_null() {
                tm.remove(k);
                continue;
            }
            match (tm.get_mut(k), v) {
                (Some(cur @ Value::Object(_)), Value::Object(pv)) => {
                    if pv.get("$patch").and_then(Value::as_str) == Some("delete") {
                        tm.remove(k);
                    } else {
                        strategic_merge(cur, v);
                    }
                }
                (Some(Value::Array(cur)), Value::Array(pl)) => {
                    let order = orders.iter().find(|(f, _)| f == k).map(|(_, o)| &o[..]);
                    merge_list(cur, pl, k, order)
                }
                _ => {
                    tm.insert(k.clone(), strip_directives(v));
                }
            }
        }
        if let Some(keep) = retain {
            tm.retain(|k, _| keep.contains(k));
        }
    }
    for (field, order) in orders {
        if let Some(Value::Array(list)) = target.get_mut(&field) {
            reorder(list, &order);
        }
    }
}

/// The merge key for list `field`, or `None` when the list is replaced.
fn merge_key(pl: &[Value], field: &str, order: Option<&[Value]>) -> Option<String> {
    if pl.is_empty() || !pl.iter().all(Value::is_object) {
        return None;
    }
    if let Some(Value::Object(first)) = order.and_then(|o| o.first()) {
        if first.len() == 1 {
            return first.keys().next().cloned();
        }
    }
    let directed = order.is_some() || pl.iter().any(|e| e.get("$patch").is_some());
    if !directed && !MERGE_FIELDS.contains(&field) {
        return None;
    }
    MERGE_KEYS
        .iter()
        .find(|k| pl.iter().all(|e| e.get(**k).is_some_and(|v| !v.is_null())))
        .map(|k| k.to_string())
}

fn merge_list(cur: &mut Vec<Value>, pl: &[Value], field: &str, order: Option<&[Value]>) {
    // A primitive list with merge strategy (`finalizers`): union, ordered later.
    if order.is_some() && pl.iter().all(|e| !e.is_object() && !e.is_array()) {
        for e in pl {
            if !cur.contains(e) {
                cur.push(e.clone());
            }
        }
        return;
    }
    let Some(mk) = merge_key(pl, field, order) else {
        // `$patch: replace` inside a list, primitive lists, lists without keys: replace.
        *cur = pl
            .iter()
            .filter(|e| e.get("$patch").is_none())
            .map(strip_directives)
            .collect();
        return;
    };
    if pl
        .iter()
        .any(|e| e.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *cur = pl
            .iter()
            .filter(|e| e.get("$patch").is_none())
            .map(strip_directives)
            .collect();
        return;
    }
    let mk = mk.as_str();
    for e in pl {
        let kv = &e[mk];
        let pos = cur.iter().position(|c| &c[mk] == kv);
        let delete = e.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                cur.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic_merge(&mut cur[i], e),
            (None, false) => cur.push(strip_directives(e)),
        }
    }
}

fn reorder(list: &mut Vec<Value>, order: &[Value]) {
    let key_of_elem = |e: &Value, o: &Value| -> bool {
        match o {
            Value::Object(om) => om.iter().all(|(k, v)| &e[k] == v),
            other => e == other,
        }
    };
    let mut out = Vec::with_capacity(list.len());
    for o in order {
        if let Some(i) = list.iter().position(|e| key_of_elem(e, o)) {
            out.push(list.remove(i));
        }
    }
    out.append(list);
    *list = out;
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect::<Map<String, Value>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// RFC 6902 JSON patch (add/remove/replace/test/copy/move).
fn json_patch(target: &mut Value, ops: &Value) -> std::result::Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch must be an array")?;
    for op in ops {
        let path = op["path"].as_str().ok_or("op without path")?;
        match op["op"].as_str().unwrap_or_default() {
            "add" => pointer_set(target, path, op["value"].clone(), true)?,
            "replace" => pointer_set(target, path, op["value"].clone(), false)?,
            "remove" => {
                pointer_remove(target, path)?;
            }
            "test" => {
                if target.pointer(path) != Some(&op["value"]) {
                    return Err(format!("test failed at {path}"));
                }
            }
            "copy" | "move" => {
                let from = op["from"].as_str().ok_or("copy/move without from")?;
                let v = target.pointer(from).cloned().ok_or("from not found")?;
                if op["op"] == "move" {
                    pointer_remove(target, from)?;
                }
                pointer_set(target, path, v, true)?;
            }
            other => return Err(format!("unknown op {other:?}")),
        }
    }
    Ok(())
}

fn split_pointer(path: &str) -> std::result::Result<(String, String), String> {
    let i = path.rfind('/').ok_or("bad pointer")?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..i].to_string(), last))
}

fn pointer_set(
    target: &mut Value,
    path: &str,
    v: Value,
    add: bool,
) -> std::result::Result<(), String> {
    if path.is_empty() {
        *target = v;
        return Ok(());
    }
    let (parent, last) = split_pointer(path)?;
    let p = target
        .pointer_mut(&parent)
        .ok_or(format!("{parent} not found"))?;
    match p {
        Value::Object(m) => {
            if !add && !m.contains_key(&last) {
                return Err(format!("{path} not found"));
            }
            m.insert(last, v);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(v);
            } else {
                let i: usize = last.parse().map_err(|_| "bad index")?;
                if add && i <= a.len() {
                    a.insert(i, v);
                } else if !add && i < a.len() {
                    a[i] = v;
                } else {
                    return Err(format!("{path}: index out of range"));
                }
            }
        }
        _ => return Err(format!("{parent} is not a container")),
    }
    Ok(())
}

fn pointer_remove(target: &mut Value, path: &str) -> std::result::Result<Value, String> {
    let (parent, last) = split_pointer(path)?;
    match target.pointer_mut(&parent) {
        Some(Value::Object(m)) => m.remove(&last).ok_or(format!("{path} not found")),
        Some(Value::Array(a)) => {
            let i: usize = last.parse().map_err(|_| "bad index")?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(format!("{path}: index out of range"))
            }
        }
        _ => Err(format!("{parent} not found")),
    }
}

// ---------------------------------------------------------------- selectors

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req1 {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// Parse a label (or simple field) selector: `a=b,c!=d,e in (f,g),h notin (i),j,!k`.
fn parse_selector(s: &str) -> Vec<Req1> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    let list = |x: &str| -> Vec<String> {
        x.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for p in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        if let Some((k, v)) = p.split_once("!=") {
            out.push(Req1::Ne(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once("==") {
            out.push(Req1::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once('=') {
            out.push(Req1::Eq(k.trim().into(), v.trim().into()));
        } else if let Some((k, v)) = p.split_once(" notin ") {
            out.push(Req1::NotIn(k.trim().into(), list(v)));
        } else if let Some((k, v)) = p.split_once(" in ") {
            out.push(Req1::In(k.trim().into(), list(v)));
        } else if let Some(k) = p.strip_prefix('!') {
            out.push(Req1::NotExists(k.trim().into()));
        } else {
            out.push(Req1::Exists(p.into()));
        }
    }
    out
}

fn selector_matches(sel: &[Req1], labels: &Value) -> bool {
    let get = |k: &str| labels.get(k).and_then(Value::as_str);
    sel.iter().all(|r| match r {
        Req1::Eq(k, v) => get(k) == Some(v.as_str()),
        Req1::Ne(k, v) => get(k) != Some(v.as_str()),
        Req1::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
        Req1::NotIn(k, vs) => get(k).map(|x| !vs.iter().any(|v| v == x)).unwrap_or(true),
        Req1::Exists(k) => get(k).is_some(),
        Req1::NotExists(k) => get(k).is_none(),
    })
}

// ---------------------------------------------------------------- time

fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn selectors() {
        let l = json!({"owner": "helm", "name": "web", "status": "deployed"});
        assert!(selector_matches(&parse_selector("owner=helm,name=web"), &l));
        assert!(!selector_matches(&parse_selector("owner=helm,name=db"), &l));
        assert!(selector_matches(
            &parse_selector("status in (deployed,failed),!x"),
            &l
        ));
        assert!(selector_matches(
            &parse_selector("name notin (a, b),owner"),
            &l
        ));
        assert!(!selector_matches(&parse_selector("owner!=helm"), &l));
    }

    #[test]
    fn strategic_merge_by_name_with_delete_and_order() {
        let mut t = json!({"spec": {"containers": [
            {"name": "a", "image": "x:1"}, {"name": "b", "image": "y:1"}], "replicas": 1}});
        let p = json!({"spec": {
            "$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "x:2"}, {"name": "b", "$patch": "delete"},
                           {"name": "c", "image": "z:1"}],
            "replicas": null}});
        strategic_merge(&mut t, &p);
        assert_eq!(
            t,
            json!({"spec": {"containers": [{"name": "c", "image": "z:1"}, {"name": "a", "image": "x:2"}]}})
        );
    }

    #[test]
    fn strategic_merge_replaces_lists_without_merge_strategy() {
        let mut t = json!({"subjects": [{"kind": "ServiceAccount", "name": "a"}, {"kind": "ServiceAccount", "name": "b"}],
                           "args": ["x", "y"], "finalizers": ["f1"]});
        let p = json!({"subjects": [{"kind": "ServiceAccount", "name": "b"}], "args": ["z"],
                       "$setElementOrder/finalizers": ["f0", "f1"], "finalizers": ["f0"]});
        strategic_merge(&mut t, &p);
        assert_eq!(
            t,
            json!({"subjects": [{"kind": "ServiceAccount", "name": "b"}], "args": ["z"], "finalizers": ["f0", "f1"]})
        );
        // merge key taken from $setElementOrder (hostAliases merge by ip)
        let mut t = json!({"hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}, {"ip": "2.2.2.2", "hostnames": ["b"]}]});
        let p = json!({"$setElementOrder/hostAliases": [{"ip": "2.2.2.2"}, {"ip": "1.1.1.1"}],
                       "hostAliases": [{"ip": "2.2.2.2", "hostnames": ["c"]}]});
        strategic_merge(&mut t, &p);
        assert_eq!(
            t,
            json!({"hostAliases": [{"ip": "2.2.2.2", "hostnames": ["c"]}, {"ip": "1.1.1.1", "hostnames": ["a"]}]})
        );
    }

    #[test]
    fn json_patch_and_merge() {
        let mut t = json!({"a": {"b": [1, 2]}, "c": 1});
        json_patch(
            &mut t,
            &json!([{"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "remove", "path": "/c"}, {"op": "replace", "path": "/a/b/0", "value": 0}]),
        )
        .unwrap();
        assert_eq!(t, json!({"a": {"b": [0, 2, 3]}}));
        json_merge(&mut t, &json!({"a": null, "d": {"e": 1}}));
        assert_eq!(t, json!({"d": {"e": 1}}));
    }

    #[test]
    fn time_and_percent() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + std::time::Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59Z"
        );
        assert_eq!(
            percent_decode("owner%3Dhelm%2Cname%3Dx"),
            "owner=helm,name=x"
        );
        assert!(version_rank("v2") > version_rank("v1"));
        assert!(version_rank("v1") > version_rank("v1beta1"));
        assert!(version_rank("v1beta2") > version_rank("v1alpha1"));
    }
}
