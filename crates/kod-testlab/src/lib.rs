//! # kod-testlab — real tools on loopback, for kod's tests and demos
//!
//! kod moves helmfile-defined platforms (charts + container images) into an
//! air-gapped site. Its tests must exercise the *real* tools kod drives
//! (skopeo, helm, a CNCF distribution registry) without internet. This crate
//! builds that world on `127.0.0.1` with ephemeral ports:
//!
//! | piece | what it is |
//! |---|---|
//! | [`Tools`] | located `skopeo`, `registry`, `helm` (env override → `<workspace>/.tools/bin` → `PATH`) |
//! | [`Registry`] | a real distribution registry, optionally TLS (lab CA) and htpasswd auth, plus HTTP API helpers for assertions |
//! | [`ImageSpec`] / [`LayerSpec`] | deterministic synthetic OCI images (shared base layers, multi-arch indexes) built as OCI layouts |
//! | [`Skopeo`] | isolated skopeo runner; pushes images with `skopeo copy --all` |
//! | [`PublicRegistry`] | stand-in for docker.io/quay.io/ghcr.io/registry.k8s.io/gcr.io + a `registries.conf` redirecting them |
//! | [`Helm`] / [`ChartSpec`] | isolated helm runner, synthetic charts, OCI chart push/pull |
//! | [`ChartRepo`] | classic `index.yaml` chart repository over HTTP (tiny_http) |
//! | [`FaultProxy`] / [`FaultRule`] | fault-injecting HTTP proxy in front of a plain lab [`Registry`]: injected 401/403/5xx, stalls, dropped connections, going down; a request log |
//! | [`KubeApiDouble`] ([`kubeapi`]) | Kubernetes API *test double* for real helm/helmfile: in-memory objects, discovery, records, fault injection |
//! | `kod-lab up --env-file F` | binary starting all of the above for demo scripts |
//!
//! Everything is owned: dropping a value kills and reaps its process (or stops
//! its server thread) and removes its temp directory. Every wait is bounded
//! (registry readiness ≤ 10 s, each tool invocation ≤ 120 s).
//!
//! ```no_run
//! use kod_testlab::*;
//! # fn main() -> anyhow::Result<()> {
//! let public = PublicRegistry::start_with_images(&catalog::default_images())?;
//! let private = Registry::start(RegistryOptions::tls().with_auth("kod", "s3cret"))?;
//! // kod under test would now run with
//! //   skopeo --registries-conf {public.registries_conf()} …   (source side)
//! //   --dest-cert-dir {private.cert_dir()} --dest-creds kod:s3cret (target side)
//! let digest = private.manifest_digest("bitnami/redis", "7.2.4");
//! # let _ = digest; Ok(()) }
//! ```
//!
//! ## Using it in tests
//!
//! * Create lab objects per test (a registry starts in well under 0.1 s, a small image push takes ~0.3 s) and let them
//!   drop at the end; do **not** keep them in `static`s (statics are never
//!   dropped, so the registry process would outlive the test binary).
//! * Tools come from `$KOD_SKOPEO`/`$KOD_HELM`/`$KOD_REGISTRY`, then
//!   `<workspace>/.tools/bin`, then `PATH`; a missing tool is an error that says
//!   to run `scripts/install-tools.sh`.
//! * Run kod under test with [`Helm::env_vars`] to share an isolated helm state,
//!   with [`PublicRegistry::registries_conf`] for the source side and
//!   [`Registry::cert_dir`]/[`Registry::ca_file`]/[`Registry::creds`] for the target.
//! * Assert on results through the registry HTTP API ([`Registry::catalog`],
//!   [`Registry::tags`], [`Registry::manifest_digest`], [`Registry::blob_exists`])
//!   or on storage ([`Registry::stored_blobs`]); digests of synthetic images are
//!   known up front from [`BuiltImage`]/[`PushedImage`].
//! * Images come in OCI (default) or Docker schema 2 flavour
//!   ([`ImageSpec::docker_format`]); several platforms produce an index/manifest list.
//!
//! ## Pitfalls this lab handles (keep them in mind when writing tests)
//!
//! * **skopeo 1.9.3 ignores `CONTAINERS_REGISTRIES_CONF`**: pass
//!   `--registries-conf FILE` explicitly ([`Skopeo::command`] always does, together
//!   with an accept-anything `--policy` and an empty `--authfile`).
//! * **skopeo only applies `registries.conf` rewrites to image pulls** (`copy`,
//!   `inspect --raw`, `inspect --no-tags`): `skopeo list-tags` and a plain `inspect`
//!   (which also lists tags) talk to the *real* registry named in the reference.
//!   Use `--no-tags` with [`PublicRegistry`], and list tags at the lab location
//!   (`docker://127.0.0.1:P/docker.io/…`) instead.
//! * **helm 3.15 uses plain HTTP for `oci://127.0.0.1…`/`oci://localhost…`** whatever
//!   `--ca-file` says. A TLS registry is therefore also addressed by a loopback
//!   *alias*: `$KOD_LAB_TLS_HOST`, else a non-`localhost` name mapped to 127.0.0.1 in
//!   `/etc/hosts` (`kod-registry.test` preferred; `scripts/install-tools.sh` adds it).
//!   The alias, `localhost` and `127.0.0.1` are the certificate SANs. Use
//!   [`Registry::host`] for skopeo and [`Registry::helm_host`] for helm. Without an
//!   alias, TLS registry creation fails and says what to add to `/etc/hosts`.
//! * **skopeo cert dirs must hold only `ca.crt`** (a `*.key` is taken as a client
//!   certificate): [`Registry::cert_dir`] contains only `ca.crt`; the server key
//!   lives elsewhere and the CA key never touches disk.
//! * **distribution reads `REGISTRY_*` env vars as config** (an exported
//!   `REGISTRY_AUTH_FILE` breaks it): the registry is started with all of them
//!   removed and `OTEL_TRACES_EXPORTER=none`.
//! * **helm with an empty kubeconfig talks to `localhost:8080`**: the lab never
//!   binds port 8080, and [`Helm`] points `KUBECONFIG` to a non-existent file.
//! * **helm state is isolated** per [`Helm`] (`HELM_CONFIG_HOME`, `HELM_CACHE_HOME`,
//!   `HELM_DATA_HOME`, `HELM_REGISTRY_CONFIG`, repository config/cache).
//! * htpasswd auth needs **bcrypt** hashes (cost 5 here, to stay fast).
//! * Ports: bind `127.0.0.1:0`, release, start the registry on it; start-up is
//!   retried on a fresh port if the registry exits or does not answer `GET /v2/`.

#![warn(missing_docs)]

mod chartrepo;
mod fault_proxy;
mod helm;
mod image;
pub mod kubeapi;
pub mod process;
mod public;
mod registry;
mod skopeo;
mod tls;
mod tools;

pub use chartrepo::ChartRepo;
pub use fault_proxy::{HttpFault, FaultProxy, FaultRule, LoggedRequest, IDLE_LIMIT};
pub use helm::{
    push_chart_oci, tls_args as helm_tls_args, ChartDependency, ChartSpec, Helm, DEFAULT_DEPLOYMENT,
};
pub use image::{
    catalog, pseudo_random_bytes, sha256_digest, BuiltImage, ImageFormat, ImageRef, ImageSpec,
    LayerSpec, PlatformImage, DEFAULT_BASE_SIZE, DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST, FIXED_EPOCH, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST,
};
pub use kubeapi::{AppliedObject, Fault, KubeApiDouble, KubeApiOptions, KUBEAPI_DOUBLE_TOKEN};
pub use process::{pid_alive, CmdOutput};
pub use public::{render_registries_conf, PublicRegistry, DEFAULT_SOURCES};
pub use registry::{rustls_config, Registry, RegistryOptions, MANIFEST_ACCEPT};
pub use skopeo::{dest_flags, inspect_flags, src_flags, PushedImage, Skopeo};
pub use tls::{choose_tls_host, find_tls_host, loopback_aliases, TlsMaterial, SUGGESTED_TLS_HOST};
pub use tools::{workspace_root, Tool, Tools};
