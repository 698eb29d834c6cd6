//! Image discovery for a helmfile: which images every release will pull, and why kod thinks
//! so (provenance).
//!
//! Strategies (numbered as in the design):
//!
//! 1. **render** — each release is rendered with `helm template` exactly as helmfile would
//!    ([`super::render`]); every document is parsed and images in pod templates and custom
//!    resources are taken ([`super::extract`]).
//! 2. **candidate** — image-looking strings in container args/command/env and ConfigMap data
//!    are kept only when *confirmed*: the image is configured in the chart's values files or
//!    `Chart.yaml` annotations (subcharts included) or in the values the release passes (its
//!    repository path or name **and** its tag — or the chart's version/appVersion, which
//!    charts use as the default tag — **and** its digest, if any, appear there), or it
//!    resolves in the source registry (`skopeo inspect --raw docker://REF`, read-only,
//!    optionally with `--registries-conf`). Unconfirmed candidates are reported, never
//!    silently dropped and never bundled.
//!
//! 3. **value path** — the release's effective values ([`super::effective`]: chart
//!    defaults, subcharts, the release's values) are walked ([`super::values`], with the
//!    hints' value images) and every image is paired with the value path that controls it
//!    ([`Provenance::value_path`]); images none controls say so in the report. Value
//!    images that match no rendered image are listed as [`PossibleImage`]s.
//! 4. **chart annotation** — images listed in `Chart.yaml` annotations
//!    ([`super::annotations`]) get a provenance entry when rendered, else are possible.
//! 5. **hint** — [`DiscoverOptions::hints`] ([`super::hints`]) add extra images (and
//!    confirm candidates they name) and exclude images; exclusions are listed in
//!    [`ReleaseImages::excluded_by_hint`].
//!
//! Images in Helm test hooks (`helm.sh/hook: test…`) are left out unless asked for, and
//! listed as excluded. A pod-spec `image: auto` is istio's injection placeholder (the
//! injector puts istiod's proxy image there at admission): it is listed as a placeholder,
//! not as an image. Strings that are not valid references are reported as invalid.
//!
//! Work is bounded by `concurrency`; each distinct chart is fetched once, each distinct
//! render (same chart digest and inputs) runs once, and renders are cached in the work
//! directory, so a second run runs no helm command when versions are exact.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Result};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use tokio::sync::OnceCell;

use super::annotations::annotation_images;
use super::effective::ChartDefaults;
use super::extract::{extract_images, Extraction, Found, PlaceKind};
use super::hints::{chart_value_images, ChartMeta, ChartValueImages, Hints};
use super::values::{match_value_paths, possible_images, ValueImage};
use super::reference::{parse_normalized_named, Reference};
use super::render::{render, render_job, RenderJob};
use crate::chart::archive::{read_archive, ChartArchive};
use crate::chart::{chart_request, ChartFetcher, FetchedChart, WorkDir};
use crate::exec::{Cmd, Runner, Tool};
use crate::helmfile::release::condition_enabled;
use crate::helmfile::LoadedState;

/// Options of [`discover`].
#[derive(Clone, Debug)]
pub struct DiscoverOptions {
    /// Keep images of Helm test hooks (`--include-test-images`).
    pub include_test_images: bool,
    /// Confirm candidates against the source registry with `skopeo inspect --raw`.
    pub registry_check: bool,
    /// `--registries-conf` for skopeo on the source side.
    pub source_registries_conf: Option<PathBuf>,
    /// At most this many external commands at once.
    pub concurrency: usize,
    /// Hints (strategy 5): the built-in ones and the user's `--hints` files.
    pub hints: Hints,
}

impl Default for DiscoverOptions {
    /// Registry check on, four commands at once, the built-in hints.
    fn default() -> Self {
        DiscoverOptions {
            include_test_images: false,
            registry_check: true,
            source_registries_conf: None,
            concurrency: 4,
            hints: Hints::builtin().expect("the built-in hints parse (checked by their unit tests)"),
        }
    }
}

/// Which release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseRef {
    /// Release name.
    pub name: String,
    /// Namespace (may be empty).
    pub namespace: String,
    /// Kube context (may be empty).
    pub kube_context: String,
    /// helmfile's release ID (`[context/][namespace/]name`).
    pub id: String,
    /// The helmfile that defines it.
    pub file: String,
}

/// The chart a release was rendered from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChartInfo {
    /// `chart:` as written in the helmfile.
    pub requested: String,
    /// `version:` as requested (constraint, or as locked).
    pub requested_version: String,
    /// Chart name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// `sha256:` of the archive.
    pub digest: String,
    /// Where it came from.
    pub source: String,
}

/// How an image was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// 1: a pod template or custom resource of the rendered manifests.
    Render,
    /// 2: a confirmed string in args/command/env or ConfigMap data.
    Candidate,
    /// 3: an image-shaped value path of the chart's values.
    ValuePath,
    /// 4: a `Chart.yaml` annotation listing images.
    ChartAnnotation,
    /// 5: a user hint.
    Hint,
}

/// What confirmed a candidate (strategy 2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "kebab-case")]
pub enum Confirmation {
    /// A values file of the chart names it.
    ChartValues {
        /// The file inside the archive.
        file: String,
    },
    /// A `Chart.yaml` annotation names it.
    ChartAnnotation {
        /// The `Chart.yaml` inside the archive.
        file: String,
    },
    /// The values the release passes name it.
    ReleaseValues,
    /// `skopeo inspect --raw` found it in the source registry.
    Registry,
    /// A hint lists it as an extra image of the chart.
    Hint {
        /// Which hint (chart and hints file).
        hint: String,
    },
}

/// The Kubernetes object an image was found in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ObjectInfo {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: Option<String>,
    /// The template it was rendered from.
    pub source_template: Option<String>,
}

/// One reason an image is in the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// Which strategy found it.
    pub strategy: Strategy,
    /// The image as written there.
    pub written: String,
    /// The object (render-based strategies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectInfo>,
    /// The field inside the object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_path: Option<String>,
    /// The sort of place (pod spec, custom resource, arg, env, ConfigMap, test hook).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<PlaceKind>,
    /// A values path (strategy 3), e.g. `controller.image`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_path: Option<String>,
    /// The fields at `value_path` the rewrite sets to redirect the image (strategy 3).
    #[serde(rename = "valueShape", skip_serializing_if = "Option::is_none")]
    pub value_shape: Option<super::values::ValueShape>,
    /// What confirmed it (strategy 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed_by: Option<Confirmation>,
    /// Free-form detail (annotation name, hint file, …) for strategies 3–5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Provenance {
    /// A provenance that names no object (strategies 3–5: value paths, annotations, hints):
    /// `written` as found, with a free-form detail.
    pub fn detailed(strategy: Strategy, written: impl Into<String>, detail: Option<String>) -> Provenance {
        Provenance {
            strategy,
            written: written.into(),
            object: None,
            field_path: None,
            place: None,
            value_path: None,
            value_shape: None,
            confirmed_by: None,
            detail,
        }
    }

    /// One line for `--why`.
    pub fn describe(&self) -> String {
        let strategy = match self.strategy {
            Strategy::Render => "render",
            Strategy::Candidate => "candidate",
            Strategy::ValuePath => "value-path",
            Strategy::ChartAnnotation => "chart-annotation",
            Strategy::Hint => "hint",
        };
        let mut s = strategy.to_string();
        if let Some(o) = &self.object {
            s.push_str(&format!(": {}/{}", o.kind, o.name));
            if let Some(t) = &o.source_template {
                s.push_str(&format!(" ({t})"));
            }
        }
        if let Some(f) = &self.field_path {
            s.push_str(&format!(" {f}"));
        }
        if let Some(v) = &self.value_path {
            s.push_str(&format!(" values {v}"));
        }
        if let Some(c) = &self.confirmed_by {
            s.push_str(&match c {
                Confirmation::ChartValues { file } => format!(", confirmed by chart values {file}"),
                Confirmation::ChartAnnotation { file } => format!(", confirmed by annotations in {file}"),
                Confirmation::ReleaseValues => ", confirmed by the release's values".to_string(),
                Confirmation::Registry => ", confirmed in the source registry".to_string(),
                Confirmation::Hint { hint } => format!(", confirmed by a hint ({hint})"),
            });
        }
        if let Some(d) = &self.detail {
            s.push_str(&format!(" [{d}]"));
        }
        if !self.written.is_empty() && self.place.is_some_and(|p| p.is_candidate()) {
            s.push_str(&format!(" (written {:?})", self.written));
        }
        s
    }
}

/// One image of a release, with every place it was found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DiscoveredImage {
    /// The fully normalised reference (`docker.io/library/nginx:1.25`).
    pub image: String,
    /// Every reason it is listed.
    pub provenance: Vec<Provenance>,
}

impl DiscoveredImage {
    /// The value path that controls the image (strategy 3, or a hint), if any.
    pub fn value_path(&self) -> Option<&str> {
        self.provenance.iter().find_map(|p| p.value_path.as_deref())
    }
}

/// A candidate that could not be confirmed: reported, not bundled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unconfirmed {
    /// The normalised reference.
    pub image: String,
    /// Where it was seen.
    pub provenance: Provenance,
    /// Why it is not confirmed.
    pub reason: String,
}

/// A string in an image place that is not a valid reference.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InvalidImage {
    /// Where it was seen (`written` holds the string).
    pub provenance: Provenance,
    /// The parse error.
    pub error: String,
}

/// Discovery result of one release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseImages {
    /// Which release.
    pub release: ReleaseRef,
    /// Its chart.
    pub chart: ChartInfo,
    /// The images to bundle, sorted.
    pub images: Vec<DiscoveredImage>,
    /// Candidates that were not confirmed.
    pub unconfirmed: Vec<Unconfirmed>,
    /// Unparsable image strings.
    pub invalid: Vec<InvalidImage>,
    /// Images only used by Helm test hooks (left out).
    pub excluded_test_images: Vec<String>,
    /// Placeholders that are not images: `image: auto`, which istio's sidecar injector
    /// replaces at admission with istiod's proxy image (discovered in istiod's release).
    pub placeholders: Vec<Provenance>,
    /// Rendered documents that are not valid YAML.
    pub document_errors: Vec<String>,
    /// Images a hint excludes (found, but not bundled).
    pub excluded_by_hint: Vec<HintExcluded>,
    /// Images the chart's values or `Chart.yaml` annotations name but the rendered
    /// manifests do not use: reported, not bundled.
    pub possible: Vec<PossibleImage>,
    /// Remarks of the value-path and hint strategies (hints that do not fit the values,
    /// unreadable annotations, defaults applied).
    pub notes: Vec<String>,
    /// The render's cache key.
    pub render_key: String,
    /// Source mirrors the hints give for this chart (and its subcharts): registry → mirror.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub mirrors: BTreeMap<String, String>,
}

/// An image a hint excludes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HintExcluded {
    /// The normalised reference.
    pub image: String,
    /// The hint's pattern.
    pub pattern: String,
    /// Which hint (`global` or the chart, and the hints file).
    pub hint: String,
    /// Where the image was found.
    pub provenance: Vec<Provenance>,
}

/// An image the chart describes (values, `Chart.yaml` annotations) that the release's
/// rendered manifests do not use: it may be pulled in another configuration or at
/// runtime. Reported, not bundled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PossibleImage {
    /// The reference (normalised when it parses, else as written).
    pub image: String,
    /// The value path describing it, if it comes from the values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_path: Option<String>,
    /// Why it is only possible.
    pub reason: String,
}

/// A release that could not be processed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReleaseFailure {
    /// Which release.
    pub release: ReleaseRef,
    /// What went wrong (with the failing command and helm's error, when there is one).
    pub error: String,
}

/// A release left out by `installed: false` or its `condition`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SkippedRelease {
    /// Which release.
    pub release: ReleaseRef,
    /// Why.
    pub reason: String,
}

/// The result of [`discover`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Discovery {
    /// Per release, in helmfile order.
    pub releases: Vec<ReleaseImages>,
    /// Releases that failed.
    pub failures: Vec<ReleaseFailure>,
    /// Releases that are not installed.
    pub skipped: Vec<SkippedRelease>,
}

impl Discovery {
    /// Every distinct image of every release, sorted.
    pub fn all_images(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self.releases.iter().flat_map(|r| r.images.iter().map(|i| i.image.as_str())).collect();
        set.into_iter().map(str::to_string).collect()
    }
}

fn release_ref(state: &LoadedState, r: &crate::helmfile::ReleaseSpec) -> ReleaseRef {
    ReleaseRef {
        name: r.name.clone(),
        namespace: r.namespace.clone(),
        kube_context: r.kube_context.clone(),
        id: r.id(),
        file: state.file.display().to_string(),
    }
}

/// Discover the images of every selected, installed release of `states`.
pub async fn discover(runner: &Runner, workdir: &WorkDir, states: &[LoadedState], opts: &DiscoverOptions) -> Result<Discovery> {
    let env = |k: &str| std::env::var(k).ok();
    let mut out = Discovery::default();

    // 1. Releases and their chart requests.
    let mut items = Vec::new();
    let mut requests = Vec::new();
    for state in states {
        for r in &state.spec.releases {
            let rref = release_ref(state, r);
            if !r.desired() {
                out.skipped.push(SkippedRelease { release: rref, reason: "installed: false".into() });
                continue;
            }
            match condition_enabled(r, &state.rendered_values) {
                Ok(true) => {}
                Ok(false) => {
                    out.skipped.push(SkippedRelease { release: rref, reason: format!("condition {:?} is false", r.condition) });
                    continue;
                }
                Err(e) => {
                    out.failures.push(ReleaseFailure { release: rref, error: format!("{e:#}") });
                    continue;
                }
            }
            if let Some(p) = r.post_renderer.as_deref().or(state.spec.helm_defaults.post_renderer.as_deref()).filter(|p| !p.is_empty()) {
                runner.ui().warn(format!(
                    "{}: release {:?} has postRenderer {p:?}: kod does not run it, images it adds are not discovered",
                    state.file.display(),
                    r.name
                ));
            }
            match chart_request(state, r, &env) {
                Ok(req) => {
                    requests.push(req);
                    items.push(Item { state, release: r, rref });
                }
                Err(e) => out.failures.push(ReleaseFailure { release: rref, error: format!("{e:#}") }),
            }
        }
    }

    // 2–4. Per release, pipelined: fetch its chart (each distinct chart once), build the
    //      render job, render (each distinct render once). At most `concurrency` fetches and
    //      renders run at once (`commands`), and releases complete in any order, so one slow
    //      chart does not hold the others back. A release's parsing and reading of its chart
    //      hold no command slot: the next render starts as soon as helm exits.
    let fetcher = ChartFetcher::new(runner.clone(), workdir.clone());
    // Charts from HTTP repositories are pulled in a few batched `helm pull`s first (one helm
    // process per chart costs more CPU than the pulls themselves); `fetch` then finds them
    // in the cache, and pulls one by one whatever a batch did not bring. helm's version (part
    // of every render key) is checked meanwhile.
    let request_refs: Vec<&crate::chart::ChartRequest> = requests.iter().collect();
    let (helm, ()) = tokio::join!(
        async {
            match items.is_empty() {
                true => Ok(None),
                false => runner.tool(Tool::Helm).await.map(Some),
            }
        },
        fetcher.prefetch(&request_refs, opts.concurrency.max(1), opts.concurrency.max(1))
    );
    let helm_version = helm?.map(|h| format!("{}.{}", h.version.major, h.version.minor)).unwrap_or_default();
    let fetch_cells: Mutex<HashMap<String, Cell<FetchedChart>>> = Mutex::default();
    let render_cells: Mutex<HashMap<String, Cell<Arc<Extraction>>>> = Mutex::default();
    let chart_cells: Mutex<HashMap<String, Cell<ChartKnowledge>>> = Mutex::default();
    let hints = Arc::new(opts.hints.clone());
    let commands = tokio::sync::Semaphore::new(opts.concurrency.max(1));
    let (fetcher, fetch_cells, render_cells, chart_cells, helm_version, hints, commands) =
        (&fetcher, &fetch_cells, &render_cells, &chart_cells, &helm_version, &hints, &commands);
    // Largest charts first (longest-processing-time-first): a render's CPU grows with what
    // the chart holds, and two large renders left for last would leave a core idle while they
    // run. The estimate is free — the uncompressed size in the cached archive's gzip trailer;
    // charts not in the cache yet keep their place after the others. Results are put back in
    // the helmfile's order below.
    let mut work: Vec<(usize, (Item, &crate::chart::ChartRequest))> = items.into_iter().zip(requests.iter()).enumerate().collect();
    work.sort_by_cached_key(|(_, (_, req))| {
        std::cmp::Reverse(fetcher.cached_archive(req).and_then(|p| crate::chart::archive::uncompressed_size(&p)).unwrap_or(0))
    });
    let mut done: Vec<(usize, Item, std::result::Result<Rendered, String>)> =
        stream::iter(work)
            .map(|(i, (item, req))| async move {
                let chart = cell(fetch_cells, req.dedup_key())
                    .get_or_init(|| async {
                        let _slot = commands.acquire().await.expect("the semaphore is never closed");
                        fetcher.fetch(req).await.map_err(|e| format!("{e:#}"))
                    })
                    .await
                    .clone();
                let chart = match chart {
                    Ok(c) => c,
                    Err(e) => {
                        let msg = format!("chart {:?} (version {:?}): {e}", item.release.chart, display_version(&req.version));
                        return (i, item, Err(msg));
                    }
                };
                let job = match render_job(workdir, item.state, item.release, &chart, helm_version, &env) {
                    Ok(j) => j,
                    Err(e) => return (i, item, Err(format!("{e:#}"))),
                };
                let extraction = async {
                    cell(render_cells, job.key.clone())
                        .get_or_init(|| async {
                            let (text, _) = {
                                let _slot = commands.acquire().await.expect("the semaphore is never closed");
                                render(runner, workdir, &job).await.map_err(|e| format!("rendering failed: {e:#}"))?
                            };
                            // Parse on a blocking thread while the other renders run.
                            tokio::task::spawn_blocking(move || Arc::new(extract_images(&text)))
                                .await
                                .map_err(|e| format!("extracting images: {e}"))
                        })
                        .await
                        .clone()
                };
                // The chart's files, defaults and the images its values describe are read
                // while the render runs (blocking threads), not after every render.
                let knowledge = async {
                    let chart_knowledge = cell(chart_cells, chart.digest.clone())
                        .get_or_init(|| {
                            let path = chart.path.clone();
                            async move {
                                tokio::task::spawn_blocking(move || ChartKnowledge::read(&path))
                                    .await
                                    .map_err(|e| format!("reading the chart: {e}"))?
                            }
                        })
                        .await
                        .clone()?;
                    let (defaults, user_values, hints) = (chart_knowledge.defaults.clone(), job.user_values.clone(), hints.clone());
                    let described = tokio::task::spawn_blocking(move || describe_values(&defaults, &user_values, &hints))
                        .await
                        .map_err(|e| format!("reading the chart's values: {e}"))?;
                    Ok::<_, String>((chart_knowledge, described))
                };
                let (extraction, knowledge) = tokio::join!(extraction, knowledge);
                let rendered = extraction.and_then(|extraction| {
                    let (chart_knowledge, described) = knowledge?;
                    Ok(Rendered { requested_version: req.version.clone(), chart, job, extraction, chart_knowledge, described })
                });
                (i, item, rendered)
            })
            .buffer_unordered(4 * opts.concurrency.max(1))
            .collect()
            .await;
    done.sort_by_key(|(i, _, _)| *i);

    // 5. Extraction and classification.
    let mut pending: Vec<Pending> = Vec::new();
    for (_, item, result) in done {
        let Rendered { requested_version, chart, job, extraction, chart_knowledge, described } = match result {
            Ok(r) => r,
            Err(e) => {
                out.failures.push(ReleaseFailure { release: item.rref, error: e });
                continue;
            }
        };
        let extraction = &*extraction;
        let mut rel = ReleaseImages {
            release: item.rref,
            chart: ChartInfo {
                requested: item.release.chart.clone(),
                requested_version,
                name: chart.name.clone(),
                version: chart.version.clone(),
                digest: chart.digest.clone(),
                source: chart.source.clone(),
            },
            images: Vec::new(),
            unconfirmed: Vec::new(),
            invalid: Vec::new(),
            excluded_test_images: Vec::new(),
            placeholders: Vec::new(),
            document_errors: extraction.errors.iter().map(|e| e.to_string()).collect(),
            excluded_by_hint: Vec::new(),
            possible: Vec::new(),
            notes: Vec::new(),
            render_key: job.key.clone(),
            mirrors: BTreeMap::new(),
        };
        let mut images: BTreeMap<String, Vec<Provenance>> = BTreeMap::new();
        let mut candidates = Vec::new();
        for f in extraction.found.iter().chain(&extraction.config_lines) {
            if f.kind_of_place == PlaceKind::HookTest && !opts.include_test_images {
                if !rel.excluded_test_images.contains(&f.image) {
                    rel.excluded_test_images.push(f.image.clone());
                }
                continue;
            }
            if f.image == ISTIO_INJECTION_PLACEHOLDER && f.kind_of_place == PlaceKind::Podspec {
                rel.placeholders.push(provenance(f, Strategy::Render));
                continue;
            }
            match &f.reference {
                Err(e) => rel.invalid.push(InvalidImage { provenance: provenance(f, Strategy::Render), error: e.clone() }),
                Ok(r) if f.kind_of_place.is_candidate() => candidates.push((f.clone(), r.clone())),
                Ok(r) => images.entry(r.to_string()).or_default().push(provenance(f, Strategy::Render)),
            }
        }
        rel.images = images.into_iter().map(|(image, provenance)| DiscoveredImage { image, provenance }).collect();
        pending.push(Pending { rel, candidates, archive: chart_knowledge.archive.clone(), texts: job.values_texts, described });
    }

    // 6. Confirmation of candidates: by values first, then (each distinct image once) by
    //    the source registry.
    let mut to_inspect: BTreeSet<String> = BTreeSet::new();
    let mut decided: Vec<Vec<(Found, Reference, Option<Confirmation>)>> = Vec::new();
    for Pending { candidates, archive, texts, .. } in &pending {
        let mut list = Vec::new();
        for (f, r) in candidates {
            let by_values = confirm_by_values(r, archive, texts);
            if by_values.is_none() && opts.registry_check {
                to_inspect.insert(r.to_string());
            }
            list.push((f.clone(), r.clone(), by_values));
        }
        decided.push(list);
    }
    let inspected: HashMap<String, std::result::Result<(), String>> = stream::iter(to_inspect)
        .map(|image| async move {
            let r = inspect(runner, opts.source_registries_conf.as_ref(), &image).await;
            (image, r)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    for (Pending { mut rel, archive, described, .. }, list) in pending.into_iter().zip(decided) {
        for (f, r, by_values) in list {
            let image = r.to_string();
            let mut prov = provenance(&f, Strategy::Candidate);
            let confirmation = match by_values {
                Some(c) => Ok(c),
                None if !opts.registry_check => Err("not named in the chart's or the release's values; registry check disabled".to_string()),
                None => match &inspected[&image] {
                    Ok(()) => Ok(Confirmation::Registry),
                    Err(e) => Err(format!("not named in the chart's or the release's values, and not found in the source registry: {e}")),
                },
            };
            match confirmation {
                Ok(c) => {
                    prov.confirmed_by = Some(c);
                    match rel.images.iter_mut().find(|i| i.image == image) {
                        Some(i) => i.provenance.push(prov),
                        None => rel.images.push(DiscoveredImage { image, provenance: vec![prov] }),
                    }
                }
                Err(reason) => rel.unconfirmed.push(Unconfirmed { image, provenance: prov, reason }),
            }
        }
        apply_chart_knowledge(&mut rel, &archive, &described);
        rel.images.sort_by(|a, b| a.image.cmp(&b.image));
        out.releases.push(rel);
    }
    Ok(out)
}

/// The images a release's effective values (its chart's defaults under its own values)
/// describe, with the hints that apply (strategies 3 and 5; see [`chart_value_images`]).
fn describe_values(defaults: &ChartDefaults, user_values: &[serde_json::Value], hints: &Hints) -> ChartValueImages {
    let effective = defaults.effective_values(user_values);
    let meta = ChartMeta { name: defaults.name.clone(), version: defaults.version.clone(), app_version: defaults.app_version.clone() };
    chart_value_images(&effective.values, &meta, &effective.subcharts, hints)
}

/// Strategies 3–5 for one release, after rendering and confirmation: hint extra images are
/// added, hint exclusions applied, every image matched to the value path that controls it
/// (in the release's effective values), `Chart.yaml` annotation images matched, and the
/// images the chart describes but the render does not use listed as possible.
fn apply_chart_knowledge(rel: &mut ReleaseImages, archive: &ChartArchive, described: &ChartValueImages) {
    for (at, resolved) in &described.hints {
        for (registry, mirror) in &resolved.mirrors {
            rel.mirrors.entry(registry.clone()).or_insert_with(|| mirror.clone());
        }
        let whose = if at.is_empty() { String::new() } else { format!("subchart {at}: ") };
        rel.notes.extend(resolved.notes.iter().map(|n| format!("{whose}{n}")));
        rel.notes.extend(resolved.unresolved.iter().map(|n| format!("{whose}hint does not fit the values: {n}")));
    }

    // Strategy 5: extra images.
    for extra in described.extra_images() {
        let prov = Provenance::detailed(Strategy::Hint, extra.written.clone(), Some(format!("{}: {}", extra.provenance, extra.reason)));
        match &extra.reference {
            Ok(r) => {
                let image = r.to_string();
                // Unconfirmed candidates the hint names are confirmed by it.
                let (named, rest): (Vec<Unconfirmed>, Vec<Unconfirmed>) =
                    std::mem::take(&mut rel.unconfirmed).into_iter().partition(|u| u.image == image);
                rel.unconfirmed = rest;
                let mut provenance: Vec<Provenance> = named
                    .into_iter()
                    .map(|u| Provenance { confirmed_by: Some(Confirmation::Hint { hint: extra.provenance.clone() }), ..u.provenance })
                    .collect();
                provenance.push(prov);
                match rel.images.iter_mut().find(|i| i.image == image) {
                    Some(i) => i.provenance.extend(provenance),
                    None => rel.images.push(DiscoveredImage { image, provenance }),
                }
            }
            Err(e) => rel.invalid.push(InvalidImage { provenance: prov, error: e.clone() }),
        }
    }

    // Strategy 5: exclusions (reported, never silent).
    let mut kept = Vec::new();
    for image in std::mem::take(&mut rel.images) {
        let exclusion = parse_normalized_named(&image.image)
            .ok()
            .and_then(|r| described.hints.iter().find_map(|(_, h)| h.excluded(&r).cloned()));
        match exclusion {
            Some(e) => rel.excluded_by_hint.push(HintExcluded {
                image: image.image,
                pattern: e.pattern.text.clone(),
                hint: e.provenance.clone(),
                provenance: image.provenance,
            }),
            None => kept.push(image),
        }
    }
    rel.images = kept;

    // Strategy 3: value paths.
    let found: Vec<Reference> = rel.images.iter().filter_map(|i| parse_normalized_named(&i.image).ok()).collect();
    for (reference, value_image) in match_value_paths(&found, &described.value_images) {
        let Some(v) = value_image else { continue };
        let image = reference.to_string();
        if let Some(i) = rel.images.iter_mut().find(|i| i.image == image) {
            i.provenance.push(Provenance {
                value_path: Some(value_path_of(&v)),
                value_shape: Some(v.shape()),
                ..Provenance::detailed(Strategy::ValuePath, v.written.clone(), Some(value_detail(&v)))
            });
        }
    }
    let excluded = |r: &Reference| described.hints.iter().any(|(_, h)| h.excluded(r).is_some());
    for p in possible_images(&found, &described.value_images) {
        let v = &p.value_image;
        if v.reference.as_ref().is_ok_and(&excluded) {
            continue;
        }
        let image = v.reference.as_ref().map(|r| r.to_string()).unwrap_or_else(|_| v.written.clone());
        if !rel.possible.iter().any(|q| q.image == image) {
            rel.possible.push(PossibleImage { image, value_path: Some(value_path_of(v)), reason: p.reason });
        }
    }

    // Strategy 4: Chart.yaml annotations.
    for (file, chart_meta) in &archive.all_meta {
        let listed = annotation_images(&chart_meta.annotations);
        rel.notes.extend(listed.errors.iter().map(|e| format!("{file}: {e}")));
        for a in listed.images {
            let image = a.reference.to_string();
            let detail = format!("{file} annotation {:?} entry {}", a.key, a.index);
            if let Some(i) = rel.images.iter_mut().find(|i| i.image == image) {
                i.provenance.push(Provenance::detailed(Strategy::ChartAnnotation, a.image.clone(), Some(detail)));
            } else if !excluded(&a.reference) && !rel.possible.iter().any(|q| q.image == image) {
                let value_path = match_value_paths(std::slice::from_ref(&a.reference), &described.value_images)
                    .pop()
                    .and_then(|(_, v)| v)
                    .map(|v| value_path_of(&v));
                rel.possible.push(PossibleImage {
                    image,
                    value_path,
                    reason: format!("listed in {detail}, not in the rendered manifests"),
                });
            }
        }
    }
}

/// The value path reported for a value image: istio's hub for hub/tag images (it is what
/// relocates them), else the map holding its fields, or (for fields at the values root) its
/// image or repository field.
fn value_path_of(v: &ValueImage) -> String {
    if let Some(hub) = &v.hub_path {
        return hub.clone();
    }
    if !v.path.is_empty() {
        return v.path.clone();
    }
    v.image_path.clone().or_else(|| v.repository_path.clone()).unwrap_or_else(|| "(values root)".to_string())
}

/// `registry/repository/tag: global.imageRegistry, image.registry, …` (style and fields).
fn value_detail(v: &ValueImage) -> String {
    let mut d = format!("{}: {}", v.style, v.controlling_paths().join(", "));
    if let Some(by) = &v.disabled_by {
        d.push_str(&format!("; disabled: {by}"));
    }
    d
}

/// istio's gateway charts render `image: auto`; the injector replaces it at admission.
pub const ISTIO_INJECTION_PLACEHOLDER: &str = "auto";

type Cell<T> = Arc<OnceCell<std::result::Result<T, String>>>;

/// A release after its pipeline: its chart, render job and what was read from both.
struct Rendered {
    requested_version: String,
    chart: FetchedChart,
    job: RenderJob,
    extraction: Arc<Extraction>,
    chart_knowledge: ChartKnowledge,
    described: ChartValueImages,
}

/// What is read from a chart archive once, whichever releases use it.
#[derive(Clone)]
struct ChartKnowledge {
    archive: Arc<ChartArchive>,
    defaults: Arc<ChartDefaults>,
}

impl ChartKnowledge {
    fn read(path: &std::path::Path) -> std::result::Result<ChartKnowledge, String> {
        let archive = read_archive(path).map_err(|e| format!("{e:#}"))?;
        let defaults = ChartDefaults::from_archive(&archive, path).map_err(|e| format!("{e:#}"))?;
        Ok(ChartKnowledge { archive: Arc::new(archive), defaults: Arc::new(defaults) })
    }
}

/// A release between extraction and confirmation.
struct Pending {
    /// Its result so far.
    rel: ReleaseImages,
    /// Its candidates.
    candidates: Vec<(Found, Reference)>,
    /// Its chart archive.
    archive: Arc<ChartArchive>,
    /// The texts of its values.
    texts: Vec<String>,
    /// The images its effective values describe, and the hints that apply.
    described: ChartValueImages,
}

/// The once-cell of `key` in `map` (created empty on first use).
fn cell<T>(map: &Mutex<HashMap<String, Cell<T>>>, key: String) -> Cell<T> {
    map.lock().expect("cells").entry(key).or_default().clone()
}

/// A release to process.
struct Item<'a> {
    state: &'a LoadedState,
    release: &'a crate::helmfile::ReleaseSpec,
    rref: ReleaseRef,
}

fn display_version(v: &str) -> &str {
    if v.is_empty() {
        "newest"
    } else {
        v
    }
}

fn provenance(f: &Found, strategy: Strategy) -> Provenance {
    Provenance {
        strategy,
        written: f.image.clone(),
        object: Some(ObjectInfo {
            api_version: f.object.api_version.clone(),
            kind: f.object.kind.clone(),
            name: f.object.name.clone(),
            namespace: f.object.namespace.clone(),
            source_template: f.object.source_template.clone(),
        }),
        field_path: Some(f.field_path.clone()),
        place: Some(f.kind_of_place),
        value_path: None,
        value_shape: None,
        confirmed_by: None,
        detail: None,
    }
}

/// Does `text` mention `needle` as a whole token (not glued to letters, digits, `.`, `_`, `-`)?
fn mentions(text: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return false;
    }
    let glue = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-';
    let mut start = 0;
    while let Some(pos) = text[start..].find(needle) {
        let at = start + pos;
        let before = text[..at].chars().next_back();
        let after = text[at + needle.len()..].chars().next();
        if !before.is_some_and(glue) && !after.is_some_and(glue) {
            return true;
        }
        start = at + needle.len().max(1);
        while !text.is_char_boundary(start) {
            start += 1;
        }
    }
    false
}

/// The image is configured in `text`: its repository path (or last path component) and
/// its tag (or one of `default_tags`) and its digest all appear.
fn configured_in(r: &Reference, text: &str, default_tags: &[&str]) -> bool {
    let path = r.path();
    let name = path.rsplit('/').next().unwrap_or(path);
    let familiar = path.strip_prefix("library/").unwrap_or(path);
    let named = mentions(text, path) || mentions(text, familiar) || mentions(text, name);
    let tagged = match r.tag() {
        None => true,
        Some(t) => mentions(text, t) || default_tags.iter().any(|d| d.trim_start_matches('v') == t.trim_start_matches('v')),
    };
    let digested = r.digest().map_or(true, |d| text.contains(d));
    named && tagged && digested
}

/// Strategy 2 confirmation from the chart's values/annotations or the release's values.
fn confirm_by_values(r: &Reference, archive: &ChartArchive, release_texts: &[String]) -> Option<Confirmation> {
    let mut default_tags: Vec<&str> = Vec::new();
    for (_, m) in &archive.all_meta {
        default_tags.push(&m.version);
        default_tags.push(&m.app_version);
    }
    default_tags.retain(|t| !t.is_empty());
    for (file, text) in &archive.values {
        if configured_in(r, text, &default_tags) {
            return Some(Confirmation::ChartValues { file: file.clone() });
        }
    }
    for (file, meta) in &archive.all_meta {
        let text: String = meta.annotations.values().map(|v| format!("{v}\n")).collect();
        if configured_in(r, &text, &default_tags) {
            return Some(Confirmation::ChartAnnotation { file: file.clone() });
        }
    }
    let joined = release_texts.join("\n");
    configured_in(r, &joined, &default_tags).then_some(Confirmation::ReleaseValues)
}

/// `skopeo inspect --raw docker://IMAGE` (read-only; through the runner).
async fn inspect(runner: &Runner, registries_conf: Option<&PathBuf>, image: &str) -> std::result::Result<(), String> {
    let mut cmd = Cmd::new(Tool::Skopeo);
    if let Some(conf) = registries_conf {
        cmd = cmd.arg("--registries-conf").arg(conf.display().to_string());
    }
    cmd = cmd.args(["inspect", "--raw", &format!("docker://{image}")]).read_only().capture().timeout(Duration::from_secs(120));
    match runner.run(&cmd).await {
        Ok(_) => Ok(()),
        Err(e) => Err(e.stderr_tail().last().map(|l| skopeo_message(l)).unwrap_or_else(|| e.to_string())),
    }
}

/// The `msg="…"` part of a skopeo log line (without its timestamp), or the line itself.
fn skopeo_message(line: &str) -> String {
    match line.split_once("msg=\"") {
        Some((_, rest)) => rest.strip_suffix('"').unwrap_or(rest).replace("\\\"", "\""),
        None => line.to_string(),
    }
}

/// The readable report of `kod helmfile images` (`why`: provenance under each image).
pub fn text_report(d: &Discovery, why: bool) -> String {
    let mut s = String::new();
    for r in &d.releases {
        let short = r.chart.digest.trim_start_matches("sha256:").get(..12).unwrap_or("");
        s.push_str(&format!("{}  (chart {} {}, sha256:{short})\n", r.release.id, r.chart.name, r.chart.version));
        if r.images.is_empty() {
            s.push_str("  (no images)\n");
        }
        for i in &r.images {
            s.push_str(&format!("  {}\n      value path: {}\n", i.image, controlled_by(i)));
            if why {
                for p in &i.provenance {
                    s.push_str(&format!("      <- {}\n", p.describe()));
                }
            }
        }
        for u in &r.unconfirmed {
            s.push_str(&format!("  unconfirmed (not bundled): {}\n      <- {}\n      {}\n", u.image, u.provenance.describe(), u.reason));
        }
        for i in &r.invalid {
            s.push_str(&format!("  invalid image {:?}: {}\n      <- {}\n", i.provenance.written, i.error, i.provenance.describe()));
        }
        for e in &r.document_errors {
            s.push_str(&format!("  unparsable manifest: {e}\n"));
        }
        for p in &r.placeholders {
            s.push_str(&format!("  placeholder {:?} (istio injection, not an image)\n      <- {}\n", p.written, p.describe()));
        }
        for e in &r.excluded_by_hint {
            s.push_str(&format!("  excluded by hint (not bundled): {}\n      <- {} ({})\n", e.image, e.pattern, e.hint));
        }
        for p in &r.possible {
            let at = p.value_path.as_deref().map(|v| format!(" (values {v})")).unwrap_or_default();
            s.push_str(&format!("  possible (not bundled): {}{at}\n      {}\n", p.image, p.reason));
        }
        for n in &r.notes {
            s.push_str(&format!("  note: {n}\n"));
        }
        if !r.excluded_test_images.is_empty() {
            s.push_str(&format!("  test hook images left out: {}\n", r.excluded_test_images.join(", ")));
        }
    }
    for k in &d.skipped {
        s.push_str(&format!("{}  (skipped: {})\n", k.release.id, k.reason));
    }
    for f in &d.failures {
        s.push_str(&format!("{}  FAILED: {}\n", f.release.id, f.error));
    }
    s
}

/// What `text_report` says controls an image: its value path (with the style and fields),
/// or that a hint adds it, or that nothing does.
fn controlled_by(i: &DiscoveredImage) -> String {
    if let Some(p) = i.provenance.iter().find(|p| p.value_path.is_some()) {
        let path = p.value_path.as_deref().unwrap_or_default();
        return match &p.detail {
            Some(d) => format!("{path} ({d})"),
            None => path.to_string(),
        };
    }
    if i.provenance.iter().any(|p| p.strategy == Strategy::Hint) {
        return "none (added by a hint)".to_string();
    }
    "none — needs a hint or post-render".to_string()
}

/// Fail with every failure listed (for callers that need a complete result).
pub fn require_complete(d: &Discovery) -> Result<()> {
    if d.failures.is_empty() {
        return Ok(());
    }
    let mut msg = format!("{} release(s) could not be processed:", d.failures.len());
    for f in &d.failures {
        msg.push_str(&format!("\n  - {} ({}): {}", f.release.id, f.release.file, f.error));
    }
    Err(anyhow!(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chart::archive::ChartMeta;
    use crate::image::reference::parse_normalized_named;

    fn archive(values: &str, app_version: &str, annotations: &[(&str, &str)]) -> ChartArchive {
        let meta = ChartMeta {
            name: "c".into(),
            version: "1.0.0".into(),
            app_version: app_version.into(),
            annotations: annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            dependencies: vec![],
        };
        let chart_yaml = format!("name: c\nversion: 1.0.0\nappVersion: \"{app_version}\"\n");
        ChartArchive {
            meta: meta.clone(),
            all_meta: vec![("c/Chart.yaml".into(), meta)],
            values: vec![("c/values.yaml".into(), values.into())],
            chart_yaml: vec![("c/Chart.yaml".into(), chart_yaml)],
        }
    }

    fn r(s: &str) -> Reference {
        parse_normalized_named(s).unwrap()
    }

    #[test]
    fn confirmation_by_chart_values() {
        let a = archive("thanosImage:\n  registry: quay.io\n  repository: thanos/thanos\n  tag: v0.42.4\n", "v0.93.1", &[]);
        assert_eq!(confirm_by_values(&r("quay.io/thanos/thanos:v0.42.4"), &a, &[]), Some(Confirmation::ChartValues { file: "c/values.yaml".into() }));
        // Wrong tag, not the appVersion either.
        assert_eq!(confirm_by_values(&r("quay.io/thanos/thanos:v9"), &a, &[]), None);
        // Tag defaulting to the appVersion.
        let a = archive("reloader:\n  repository: prometheus-operator/prometheus-config-reloader\n  tag: \"\"\n", "v0.93.1", &[]);
        assert!(confirm_by_values(&r("quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1"), &a, &[]).is_some());
        // A name glued to a longer word does not count.
        let a = archive("image: my-thanos-x\ntag: v1\n", "", &[]);
        assert_eq!(confirm_by_values(&r("quay.io/thanos/thanos:v1"), &a, &[]), None);
        // Digests must appear.
        let a = archive("image: thanos/thanos\ntag: v1\n", "", &[]);
        let d = "quay.io/thanos/thanos:v1@sha256:0123456789012345678901234567890123456789012345678901234567890123";
        assert_eq!(confirm_by_values(&r(d), &a, &[]), None);
    }

    #[test]
    fn confirmation_by_annotations_and_release_values() {
        let a = archive("x: 1\n", "", &[("artifacthub.io/images", "- name: s\n  image: example.org/team/side:2.0\n")]);
        assert_eq!(
            confirm_by_values(&r("example.org/team/side:2.0"), &a, &[]),
            Some(Confirmation::ChartAnnotation { file: "c/Chart.yaml".into() })
        );
        let a = archive("x: 1\n", "", &[]);
        assert_eq!(
            confirm_by_values(&r("example.org/team/side:3.0"), &a, &["sidecar: example.org/team/side:3.0\n".into()]),
            Some(Confirmation::ReleaseValues)
        );
    }

    #[test]
    fn hints_confirm_candidates_add_and_exclude_images() {
        use crate::image::hints::parse_hints;
        let f = tempfile::NamedTempFile::new().unwrap();
        let enc = flate2::write::GzEncoder::new(f.reopen().unwrap(), flate2::Compression::fast());
        let mut b = tar::Builder::new(enc);
        for (name, text) in [("c/Chart.yaml", "name: c\nversion: 1.0.0\nappVersion: '2.0'\n"), ("c/values.yaml", "image: {repository: team/app, tag: '2.0'}\n")] {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        let defaults = ChartDefaults::read(f.path()).unwrap();
        let mut hints = Hints::empty();
        let file = "charts:\n- chart: c\n  images:\n  - {image: 'busybox:1.28', reason: init container}\n  - {image: 'quay.io/x/extra:{appVersion}', reason: runtime}\n  exclude: [quay.io/x/unused]\n";
        hints.push("h.yaml", parse_hints(file, "h.yaml").unwrap());
        let seen = |image: &str, strategy| Provenance::detailed(strategy, image, None);
        let mut rel = ReleaseImages {
            release: ReleaseRef { name: "r".into(), namespace: String::new(), kube_context: String::new(), id: "r".into(), file: "helmfile.yaml".into() },
            chart: ChartInfo {
                requested: "lab/c".into(),
                requested_version: String::new(),
                name: "c".into(),
                version: "1.0.0".into(),
                digest: String::new(),
                source: String::new(),
            },
            mirrors: BTreeMap::new(),
            images: ["docker.io/team/app:2.0", "quay.io/x/unused:1"]
                .iter()
                .map(|i| DiscoveredImage { image: i.to_string(), provenance: vec![seen(i, Strategy::Render)] })
                .collect(),
            unconfirmed: vec![Unconfirmed {
                image: "docker.io/library/busybox:1.28".into(),
                provenance: seen("busybox:1.28", Strategy::Candidate),
                reason: "not named".into(),
            }],
            invalid: vec![],
            excluded_test_images: vec![],
            placeholders: vec![],
            document_errors: vec![],
            excluded_by_hint: vec![],
            possible: vec![],
            notes: vec![],
            render_key: String::new(),
        };
        let archive = archive("image: {repository: team/app, tag: '2.0'}\n", "2.0", &[]);
        apply_chart_knowledge(&mut rel, &archive, &describe_values(&defaults, &[], &hints));
        rel.images.sort_by(|a, b| a.image.cmp(&b.image));
        let listed: Vec<(&str, Option<&str>)> = rel.images.iter().map(|i| (i.image.as_str(), i.value_path())).collect();
        assert_eq!(listed, vec![("docker.io/library/busybox:1.28", None), ("docker.io/team/app:2.0", Some("image")), ("quay.io/x/extra:2.0", None)]);
        // The candidate is confirmed by the hint, not left unconfirmed.
        assert!(rel.unconfirmed.is_empty());
        let busybox = &rel.images[0].provenance;
        assert!(matches!(&busybox[0].confirmed_by, Some(Confirmation::Hint { hint }) if hint.contains("h.yaml")), "{busybox:?}");
        assert_eq!(busybox[0].strategy, Strategy::Candidate);
        assert_eq!(busybox[1].strategy, Strategy::Hint);
        assert!(busybox[1].detail.as_deref().unwrap().ends_with(": init container"), "{busybox:?}");
        assert_eq!(rel.excluded_by_hint.len(), 1);
        assert_eq!((rel.excluded_by_hint[0].image.as_str(), rel.excluded_by_hint[0].pattern.as_str()), ("quay.io/x/unused:1", "quay.io/x/unused"));
        assert!(rel.excluded_by_hint[0].hint.contains("h.yaml"), "{:?}", rel.excluded_by_hint[0].hint);
        assert!(rel.possible.is_empty(), "{:?}", rel.possible);
    }

    #[test]
    fn skopeo_messages_lose_their_timestamp() {
        let line = r#"time="2026-11-21T10:40:04Z" level=fatal msg="Error parsing image name \"docker://q/x:1\": manifest unknown""#;
        assert_eq!(skopeo_message(line), r#"Error parsing image name "docker://q/x:1": manifest unknown"#);
        assert_eq!(skopeo_message("plain"), "plain");
    }

    #[test]
    fn token_mentions() {
        assert!(mentions("repository: thanos/thanos", "thanos/thanos"));
        assert!(mentions("a quay.io/thanos/thanos:v1", "thanos/thanos"));
        assert!(!mentions("thanos-operator", "thanos"));
        assert!(mentions("x thanos-operator thanos", "thanos"));
        assert!(!mentions("", "x") && !mentions("x", ""));
    }
}
