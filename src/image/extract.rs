//! Finding the container images referenced by rendered Kubernetes manifests
//! (the multi-document YAML printed by `helm template`).
//!
//! Three sorts of places are searched:
//!
//! - **Pod templates** of workloads (`Pod`, `Deployment`, `StatefulSet`,
//!   `DaemonSet`, `ReplicaSet`, `ReplicationController`, `Job`, `CronJob`,
//!   `PodTemplate`, and any other kind with `spec.template.spec.containers`):
//!   `image` of containers, init containers and ephemeral containers, and
//!   image volumes. These are definite: every string found is reported, with
//!   its parse error if it is not a valid reference.
//! - **Custom resources**: string fields named `image` or `…Image` anywhere in
//!   objects that are not core workloads, plus maps shaped like
//!   `{registry, repository, tag}`, `{image, tag}`, Prometheus-operator style
//!   `baseImage` + `tag`/`version`/`sha`, and istio-style `hub` + `tag` +
//!   `image`.
//! - **Candidates** in container `command`/`args`, `env[].value` and
//!   ConfigMap `data`: substrings that parse as references *and* name a
//!   registry explicitly *and* carry a tag or digest. A later stage confirms
//!   them ([`PlaceKind::is_candidate`]).
//!
//! A `CustomResourceDefinition` whose text provably holds none of these places is
//! skipped without being parsed ([`is_inert_crd`]): CRDs are most of the rendered bytes.
//!
//! Everything found in an object annotated as a Helm test hook is reported
//! with [`PlaceKind::HookTest`], so that callers can leave tests out.
//!
//! Output is deterministic: document order, then field order within each
//! document. A document that is not valid YAML is reported in
//! [`Extraction::errors`] with its index and source template.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

use super::reference::{is_explicit_domain, parse_normalized_named, Reference};

/// What kind of place an image was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PlaceKind {
    /// A container or image volume of a pod template.
    Podspec,
    /// Anything inside an object annotated `helm.sh/hook: test…`.
    HookTest,
    /// An image-named field or image-shaped map of a custom resource.
    CustomResource,
    /// Candidate substring of a container `args` or `command` entry.
    Arg,
    /// Candidate in a ConfigMap `data` value.
    ConfigMap,
    /// Candidate substring of a container `env[].value`.
    Env,
}

impl PlaceKind {
    /// True for places that only yield candidates, which a later stage must
    /// confirm before the image is bundled.
    pub fn is_candidate(self) -> bool {
        matches!(self, PlaceKind::Arg | PlaceKind::ConfigMap | PlaceKind::Env)
    }
}

/// The Kubernetes object an image was found in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    /// `metadata.name` (or `metadata.generateName`); empty if neither is set.
    pub name: String,
    /// The template named by the `# Source:` comment of the document.
    pub source_template: Option<String>,
    /// Index of the YAML document in the rendered stream, from 0.
    pub document_index: usize,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " in namespace {ns}")?;
        }
        if let Some(source) = &self.source_template {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

/// One image reference found in the manifests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    /// The image as written (for derived images such as `hub/image:tag`,
    /// the string assembled from the fields).
    pub image: String,
    /// The parsed reference, or why it does not parse.
    pub reference: Result<Reference, String>,
    pub object: ObjectRef,
    /// Where in the object, e.g. `spec.template.spec.containers[name=redis].image`.
    pub field_path: String,
    pub kind_of_place: PlaceKind,
}

/// A YAML document of the rendered stream that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error(
    "cannot parse YAML document {document_index} ({}) of the rendered manifests: {message}",
    source_template.as_deref().unwrap_or("no # Source comment")
)]
pub struct DocumentError {
    pub document_index: usize,
    pub source_template: Option<String>,
    pub message: String,
}

/// Result of [`extract_images`].
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Extraction {
    pub found: Vec<Found>,
    /// `image: NAME[:TAG][@DIGEST]` lines inside ConfigMap data (injection templates keep pod
    /// specs as text there) naming an image no other find of the same ConfigMap names.
    /// Registry-less names count too (`busybox:1.28`), but only with a tag or digest, and never
    /// values with template actions. Candidates ([`PlaceKind::ConfigMap`], or
    /// [`PlaceKind::HookTest`] in a test hook), after every entry of `found`.
    pub config_lines: Vec<Found>,
    pub errors: Vec<DocumentError>,
}

impl Extraction {
    /// Found images that are neither candidates nor in test hooks.
    pub fn definite(&self) -> impl Iterator<Item = &Found> {
        self.found
            .iter()
            .filter(|f| !f.kind_of_place.is_candidate() && f.kind_of_place != PlaceKind::HookTest)
    }
}

/// An image assembled from `hub` + `image` + `tag` fields (see [`hub_tag_images`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Derived {
    pub image: String,
    /// Path of the `image` field the image was derived from.
    pub field_path: String,
}

/// A candidate image reference found inside free text (see [`find_image_candidates`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextCandidate {
    /// Byte offset of the candidate in the text.
    pub offset: usize,
    pub image: String,
    pub reference: Reference,
}

/// Extracts every image reference from rendered manifests.
pub fn extract_images(manifests: &str) -> Extraction {
    let mut extraction = Extraction::default();
    for doc in split_documents(manifests) {
        if is_inert_crd(&doc.text) {
            continue;
        }
        for parsed in serde_yaml::Deserializer::from_str(&doc.text) {
            let value = Value::deserialize(parsed).and_then(|mut v| v.apply_merge().map(|()| v));
            match value {
                Ok(value) => scan_document(&value, &doc, &mut extraction),
                Err(e) => {
                    extraction.errors.push(DocumentError {
                        document_index: doc.index,
                        source_template: doc.source_template.clone(),
                        message: e.to_string(),
                    });
                    break;
                }
            }
        }
    }
    extraction
}

/// True for a `CustomResourceDefinition` whose text provably yields nothing here, so that it
/// need not be parsed. A CRD declares a schema, and the resource walk can only find an
/// image in it through an image-named or `repository` key holding a scalar, or a
/// `containers` sequence (in a pod template); in a schema those keys are property names
/// holding maps. CRDs are most of the bytes `helm template` prints for a platform (istio's
/// base chart alone prints ~1.5 MB of them) and parsing them was most of kod's own CPU.
///
/// Conservative: a block-style document with exactly one top-level `kind:`, which is
/// `CustomResourceDefinition` of `apiextensions.k8s.io`, where every such key (matched
/// case-insensitively by suffix, anywhere in a line, quoted or not) is followed by a flow
/// map (`{`), by nothing and then a more deeply indented mapping entry, or by nothing and
/// then a line no deeper than the key (null). Anything else — an inline scalar, a block
/// scalar, an anchor or tag, a sequence, a double-quoted key with escapes — is parsed.
fn is_inert_crd(text: &str) -> bool {
    static RISKY_KEY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"(?i)(?:image|repository|containers)["']?[ \t]*:(?:[ \t]|$)"#).expect("static regex")
    });
    static ESCAPED_KEY: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#""[^"\n]*\\[^"\n]*"[ \t]*:"#).expect("static regex"));
    static ENTRY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"^(?:[A-Za-z0-9_$.\-/]+|"[^"\\]*"|'[^']*')[ \t]*:(?:[ \t]|$)"#).expect("static regex")
    });
    // Most documents are not CRDs: one substring search rules them out before any line scan.
    if !text.contains("CustomResourceDefinition") {
        return false;
    }
    let top = |key: &str| text.lines().filter(|l| l.starts_with(key)).collect::<Vec<_>>();
    let unquote = |v: &str| v.trim().trim_matches(|c| c == '"' || c == '\'').to_owned();
    match top("kind:").as_slice() {
        [kind] if unquote(&kind["kind:".len()..]) == "CustomResourceDefinition" => {}
        _ => return false,
    }
    match top("apiVersion:").as_slice() {
        [api] if unquote(&api["apiVersion:".len()..]).starts_with("apiextensions.k8s.io/") => {}
        _ => return false,
    }
    if ESCAPED_KEY.is_match(text) {
        return false;
    }
    let lines: Vec<&str> = text.lines().collect();
    let indent = |l: &str| l.len() - l.trim_start_matches(' ').len();
    let content = |l: &str| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#')
    };
    for (i, line) in lines.iter().enumerate() {
        for m in RISKY_KEY.find_iter(line) {
            let rest = line[m.end()..].trim();
            if rest.starts_with('{') {
                continue;
            }
            if !(rest.is_empty() || rest.starts_with('#')) {
                return false;
            }
            let Some(next) = lines[i + 1..].iter().find(|l| content(l)) else { continue };
            let body = next.trim_start_matches(' ');
            if body.starts_with('-') || body.starts_with('\t') {
                return false;
            }
            if indent(next) > indent(line) && !ENTRY.is_match(body) {
                return false;
            }
        }
    }
    true
}

/// One document of the stream, with the `# Source:` comment helm prints.
#[derive(Debug)]
struct RawDocument {
    index: usize,
    source_template: Option<String>,
    text: String,
}

/// Splits a YAML stream at document markers (`---`, `...` at the start of a
/// line), which YAML forbids inside content, so that one broken document
/// does not hide the others and each keeps its `# Source:` comment.
fn split_documents(stream: &str) -> Vec<RawDocument> {
    struct Chunk {
        explicit: bool,
        lines: Vec<String>,
    }
    impl Chunk {
        fn has_content(&self) -> bool {
            self.lines.iter().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
            })
        }
    }
    fn marker<'l>(line: &'l str, m: &str) -> Option<&'l str> {
        let rest = line.strip_prefix(m)?;
        (rest.is_empty() || rest.starts_with([' ', '\t', '\r'])).then_some(rest)
    }

    let mut chunks = Vec::new();
    let mut current = Chunk {
        explicit: false,
        lines: Vec::new(),
    };
    for line in stream.lines() {
        if let Some(rest) = marker(line, "---") {
            let next_lines = match rest.trim() {
                "" => Vec::new(),
                r if r.starts_with('#') => Vec::new(),
                r => vec![r.to_owned()],
            };
            let done = std::mem::replace(
                &mut current,
                Chunk {
                    explicit: true,
                    lines: next_lines,
                },
            );
            chunks.push(done);
        } else if marker(line, "...").is_some() {
            let done = std::mem::replace(
                &mut current,
                Chunk {
                    explicit: false,
                    lines: Vec::new(),
                },
            );
            chunks.push(done);
        } else {
            current.lines.push(line.to_owned());
        }
    }
    chunks.push(current);

    chunks
        .into_iter()
        .filter(|c| c.explicit || c.has_content())
        .enumerate()
        .map(|(index, chunk)| RawDocument {
            index,
            source_template: chunk.lines.iter().find_map(|l| {
                l.trim()
                    .strip_prefix("# Source:")
                    .map(|s| s.trim().to_owned())
            }),
            text: chunk.lines.join("\n"),
        })
        .collect()
}

fn scan_document(value: &Value, doc: &RawDocument, extraction: &mut Extraction) {
    match value {
        Value::Null => {}
        Value::Mapping(object) => scan_object(object, doc, &mut extraction.found, &mut extraction.config_lines),
        Value::Tagged(tagged) => scan_document(&tagged.value, doc, extraction),
        other => extraction.errors.push(DocumentError {
            document_index: doc.index,
            source_template: doc.source_template.clone(),
            message: format!(
                "document is a {}, not a Kubernetes object",
                value_type(other)
            ),
        }),
    }
}

fn scan_object(object: &Mapping, doc: &RawDocument, found: &mut Vec<Found>, config_lines: &mut Vec<Found>) {
    let kind = get_str(object, "kind").unwrap_or_default();
    // `List`, `PodList`, …: every item is an object of its own.
    if let (true, Some(Value::Sequence(items))) = (kind.ends_with("List"), object.get("items")) {
        let objects: Option<Vec<&Mapping>> = items
            .iter()
            .map(|item| item.as_mapping().filter(|m| m.contains_key("kind")))
            .collect();
        if let Some(objects) = objects {
            for item in objects {
                scan_object(item, doc, found, config_lines);
            }
            return;
        }
    }
    let metadata = object.get("metadata").and_then(Value::as_mapping);
    let meta_str = |key: &str| metadata.and_then(|m| get_str(m, key));
    let object_ref = ObjectRef {
        api_version: get_str(object, "apiVersion").unwrap_or_default().to_owned(),
        kind: kind.to_owned(),
        namespace: meta_str("namespace").map(str::to_owned),
        name: meta_str("name")
            .or_else(|| meta_str("generateName"))
            .unwrap_or_default()
            .to_owned(),
        source_template: doc.source_template.clone(),
        document_index: doc.index,
    };
    let mut scan = ObjectScan {
        object: &object_ref,
        test_hook: is_test_hook(metadata),
        found,
        config_lines,
    };

    if let Some(pod_spec_path) = core_pod_spec_path(&object_ref) {
        if let Some(spec) = get_path(object, pod_spec_path).and_then(Value::as_mapping) {
            scan.pod_spec(spec, &pod_spec_path.join("."));
        }
        return;
    }
    match (object_ref.kind.as_str(), api_group(&object_ref.api_version)) {
        ("ConfigMap", "") => scan.config_map(object),
        // Secret data is base64 and not searched.
        ("Secret", "") => {}
        _ => {
            let mut sink = ResourceSink {
                scan,
                pod_spec_path: "spec.template.spec",
            };
            walk_map(object, "", HubContext::default(), Mode::Resource, &mut sink);
        }
    }
}

/// Where the pod spec of a core workload kind lives, if `object` is one.
fn core_pod_spec_path(object: &ObjectRef) -> Option<&'static [&'static str]> {
    const TEMPLATE: &[&str] = &["spec", "template", "spec"];
    let group = api_group(&object.api_version);
    match (object.kind.as_str(), group) {
        ("Pod", "") => Some(&["spec"]),
        ("PodTemplate", "") => Some(&["template", "spec"]),
        ("ReplicationController", "") => Some(TEMPLATE),
        ("Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet", "apps" | "extensions") => {
            Some(TEMPLATE)
        }
        ("Job", "batch") => Some(TEMPLATE),
        ("CronJob", "batch") => Some(&["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => None,
    }
}

/// The API group of an apiVersion: `apps/v1` → `apps`, `v1` → `` (core).
fn api_group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(group, _)| group)
}

/// True if `helm.sh/hook` names a test hook (`test`, `test-success`,
/// `test-failure`, possibly in a comma-separated list).
fn is_test_hook(metadata: Option<&Mapping>) -> bool {
    metadata
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_mapping)
        .and_then(|a| get_str(a, "helm.sh/hook"))
        .is_some_and(|hooks| {
            hooks
                .split(',')
                .any(|h| matches!(h.trim(), "test" | "test-success" | "test-failure"))
        })
}

/// Collects what is found in one object.
struct ObjectScan<'a> {
    object: &'a ObjectRef,
    test_hook: bool,
    found: &'a mut Vec<Found>,
    config_lines: &'a mut Vec<Found>,
}

impl ObjectScan<'_> {
    fn push(
        &mut self,
        image: String,
        reference: Result<Reference, String>,
        field_path: String,
        kind: PlaceKind,
    ) {
        let kind_of_place = if self.test_hook {
            PlaceKind::HookTest
        } else {
            kind
        };
        self.found.push(Found {
            image,
            reference,
            object: self.object.clone(),
            field_path,
            kind_of_place,
        });
    }

    fn push_parsed(&mut self, image: &str, field_path: String, kind: PlaceKind) {
        let reference = parse_normalized_named(image).map_err(|e| e.to_string());
        self.push(image.to_owned(), reference, field_path, kind);
    }

    fn push_candidates(
        &mut self,
        text: &str,
        field_path: &str,
        kind: PlaceKind,
        seen: &mut HashSet<String>,
    ) {
        for candidate in find_image_candidates(text) {
            if seen.insert(candidate.image.clone()) {
                self.push(
                    candidate.image,
                    Ok(candidate.reference),
                    field_path.to_owned(),
                    kind,
                );
            }
        }
    }

    fn pod_spec(&mut self, spec: &Mapping, path: &str) {
        for (key, value) in spec {
            let Some(key) = key.as_str() else { continue };
            let list_path = child(path, key);
            match (key, value) {
                (
                    "containers" | "initContainers" | "ephemeralContainers",
                    Value::Sequence(list),
                ) => {
                    for (i, container) in list.iter().enumerate() {
                        if let Value::Mapping(container) = container {
                            self.container(container, &item_path(&list_path, container, i));
                        }
                    }
                }
                ("volumes", Value::Sequence(volumes)) => {
                    for (i, volume) in volumes.iter().enumerate() {
                        let Value::Mapping(volume) = volume else {
                            continue;
                        };
                        let image = volume.get("image").and_then(Value::as_mapping);
                        if let Some(reference) = image.and_then(|m| get_str(m, "reference")) {
                            let p = format!("{}.image.reference", item_path(&list_path, volume, i));
                            self.push_parsed(reference, p, PlaceKind::Podspec);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn container(&mut self, container: &Mapping, path: &str) {
        for (key, value) in container {
            let Some(key) = key.as_str() else { continue };
            let field = child(path, key);
            match (key, value) {
                ("image", Value::String(image)) => {
                    self.push_parsed(image, field, PlaceKind::Podspec)
                }
                ("image", Value::Null) => {}
                ("image", other) => {
                    let image = scalar_text(other).unwrap_or_else(|| value_type(other).to_owned());
                    let reason = format!("image is a {}, not a string", value_type(other));
                    self.push(image, Err(reason), field, PlaceKind::Podspec);
                }
                ("command" | "args", Value::Sequence(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        if let Some(text) = item.as_str() {
                            self.push_candidates(
                                text,
                                &format!("{field}[{i}]"),
                                PlaceKind::Arg,
                                &mut HashSet::new(),
                            );
                        }
                    }
                }
                ("env", Value::Sequence(vars)) => {
                    for (i, var) in vars.iter().enumerate() {
                        let Value::Mapping(var) = var else { continue };
                        if let Some(text) = get_str(var, "value") {
                            let p = format!("{}.value", item_path(&field, var, i));
                            self.push_candidates(text, &p, PlaceKind::Env, &mut HashSet::new());
                        }
                    }
                }
                _ => {}
            }
        }
    }

    fn config_map(&mut self, object: &Mapping) {
        let Some(Value::Mapping(data)) = object.get("data") else {
            return;
        };
        let mut named = HashSet::new();
        for (key, value) in data {
            let (Some(key), Some(text)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            let path = child("data", key);
            let mut seen = HashSet::new();
            let before = self.found.len();
            // Structured content (e.g. istio's injector `values` JSON) first.
            if let Some(tree) = parse_structured(text) {
                for derived in hub_tag_images(&tree) {
                    if let Ok(reference) = parse_normalized_named(&derived.image) {
                        if seen.insert(derived.image.clone()) {
                            let p = child_path(&path, &derived.field_path);
                            self.push(derived.image, Ok(reference), p, PlaceKind::ConfigMap);
                        }
                    }
                }
            }
            self.push_candidates(text, &path, PlaceKind::ConfigMap, &mut seen);
            named.extend(self.found[before..].iter().map(|f| f.image.clone()));
        }
        // Then the `image:` lines of every entry that no find above named.
        for (key, value) in data {
            let (Some(key), Some(text)) = (key.as_str(), value.as_str()) else {
                continue;
            };
            for (n, line) in text.lines().enumerate() {
                let Some(c) = IMAGE_LINE.captures(line) else { continue };
                let written = &c[1];
                let Ok(reference) = parse_normalized_named(written) else { continue };
                if (reference.tag().is_none() && reference.digest().is_none()) || !named.insert(written.to_owned()) {
                    continue;
                }
                let kind_of_place = if self.test_hook { PlaceKind::HookTest } else { PlaceKind::ConfigMap };
                self.config_lines.push(Found {
                    image: written.to_owned(),
                    reference: Ok(reference),
                    object: self.object.clone(),
                    field_path: format!("data[{key:?}] line {}", n + 1),
                    kind_of_place,
                });
            }
        }
    }
}

/// An `image:` line of a pod spec kept as text (see [`Extraction::config_lines`]).
static IMAGE_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"^\s*(?:-\s+)?image:\s*["']?([A-Za-z0-9][A-Za-z0-9._/:@-]*)["']?\s*$"#).expect("static regex")
});

/// Parses ConfigMap text as a JSON or YAML mapping mentioning a `hub`.
fn parse_structured(text: &str) -> Option<Value> {
    if !text.contains("hub") {
        return None;
    }
    let value = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => serde_yaml::to_value(json).ok()?,
        Err(_) => serde_yaml::from_str::<Value>(text).ok()?,
    };
    value.is_mapping().then_some(value)
}

/// How [`walk`] reports image-named fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Custom resources: every image-named field and image-shaped map.
    Resource,
    /// Only images derived under a `hub` + `tag` context.
    HubTag,
}

/// `hub`, `tag` and `variant` inherited from enclosing maps, each with the
/// path of the field it was read from.
#[derive(Debug, Clone, Default)]
struct HubContext {
    hub: Option<(String, String)>,
    tag: Option<(String, String)>,
    variant: Option<(String, String)>,
}

impl HubContext {
    /// The context inside `map` (at `path`): its own `hub`/`tag`/`variant`,
    /// else those of its `global` child (Helm's values convention, which
    /// istio uses for every component), else the inherited ones.
    fn updated(&self, map: &Mapping, path: &str) -> HubContext {
        let global = map.get("global").and_then(Value::as_mapping);
        // Tags may be written as YAML numbers; hubs and variants are strings.
        let lookup = |key: &str, numbers: bool| {
            let own = |m: &Mapping| {
                let value = m.get(key)?;
                let text = if numbers {
                    scalar_text(value)
                } else {
                    value.as_str().map(str::to_owned)
                };
                text.filter(|s| !s.is_empty())
            };
            own(map).map(|v| (v, child(path, key))).or_else(|| {
                global
                    .and_then(own)
                    .map(|v| (v, child(&child(path, "global"), key)))
            })
        };
        HubContext {
            hub: lookup("hub", false).or_else(|| self.hub.clone()),
            tag: lookup("tag", true).or_else(|| self.tag.clone()),
            variant: lookup("variant", false).or_else(|| self.variant.clone()),
        }
    }

    /// Istio's rule: an image without `/` is `hub/image:tag[-variant]`; one
    /// with `/` is a full reference used as is.
    fn resolve(&self, image: &str) -> Option<String> {
        let (hub, tag) = (&self.hub.as_ref()?.0, &self.tag.as_ref()?.0);
        if image.contains('/') {
            return Some(image.to_owned());
        }
        let hub = hub.trim_end_matches('/');
        Some(match self.variant.as_ref().map(|(v, _)| v.as_str()) {
            Some(variant) if variant != "default" => format!("{hub}/{image}:{tag}-{variant}"),
            _ => format!("{hub}/{image}:{tag}"),
        })
    }
}

/// What [`walk`] reports.
#[derive(Debug)]
struct Hit {
    image: String,
    field_path: String,
    /// True if assembled from several fields by a heuristic (map shapes):
    /// only kept when it parses.
    heuristic: bool,
    /// The `hub`/`tag`/`variant` context the image was resolved in, if any.
    context: Option<HubContext>,
}

trait Sink {
    /// Called for every node before it is walked; returns true if the sink
    /// handled the node itself.
    fn node(&mut self, _path: &str, _value: &Value) -> bool {
        false
    }
    fn hit(&mut self, hit: Hit);
}

struct ResourceSink<'a> {
    scan: ObjectScan<'a>,
    pod_spec_path: &'static str,
}

impl Sink for ResourceSink<'_> {
    fn node(&mut self, path: &str, value: &Value) -> bool {
        match value {
            Value::Mapping(spec)
                if path == self.pod_spec_path
                    && spec.get("containers").is_some_and(Value::is_sequence) =>
            {
                self.scan.pod_spec(spec, path);
                true
            }
            _ => false,
        }
    }

    fn hit(&mut self, hit: Hit) {
        let reference = parse_normalized_named(&hit.image).map_err(|e| e.to_string());
        if hit.heuristic && reference.is_err() {
            return;
        }
        self.scan.push(
            hit.image,
            reference,
            hit.field_path,
            PlaceKind::CustomResource,
        );
    }
}

struct DerivedSink(Vec<HubTagSource>);

impl Sink for DerivedSink {
    fn hit(&mut self, hit: Hit) {
        // `None` when the field held a full reference used as is.
        let context = hit.context.unwrap_or_default();
        self.0.push(HubTagSource {
            image: hit.image,
            field_path: hit.field_path,
            hub_path: context.hub.map(|(_, p)| p),
            tag_path: context.tag.map(|(_, p)| p),
            variant_path: context.variant.map(|(_, p)| p),
        });
    }
}

/// Finds istio-style images in any value tree: maps that set `hub` and `tag`
/// (and optionally `variant`), and image-named string fields (`image`,
/// `…Image`) in them or below them. `{hub: docker.io/istio, tag: 1.22.0,
/// proxy: {image: proxyv2}}` yields `docker.io/istio/proxyv2:1.22.0`. Inner
/// maps may override `hub`/`tag`; an image containing `/` is taken as is.
pub fn hub_tag_images(value: &Value) -> Vec<Derived> {
    hub_tag_sources(value)
        .into_iter()
        .map(|source| Derived {
            image: source.image,
            field_path: source.field_path,
        })
        .collect()
}

/// An image derived like [`hub_tag_images`] does, with the paths of the
/// fields it was assembled from, so that a values rewrite knows what to set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HubTagSource {
    /// The assembled image, e.g. `docker.io/istio/proxyv2:1.22.0`.
    pub image: String,
    /// Path of the image-named field (`global.proxy.image`).
    pub field_path: String,
    /// Path of the `hub` the image was joined with (`global.hub`); `None`
    /// when the field holds a full reference and no hub was used.
    pub hub_path: Option<String>,
    /// Path of the `tag` that was appended (`global.tag`); `None` as above.
    pub tag_path: Option<String>,
    /// Path of the `variant` in effect, if one is set.
    pub variant_path: Option<String>,
}

/// [`hub_tag_images`] with the source path of every field used.
pub fn hub_tag_sources(value: &Value) -> Vec<HubTagSource> {
    let mut sink = DerivedSink(Vec::new());
    walk(value, "", HubContext::default(), Mode::HubTag, &mut sink);
    sink.0
}

/// [`hub_tag_sources`] over a JSON value.
pub fn hub_tag_sources_json(value: &serde_json::Value) -> Vec<HubTagSource> {
    serde_yaml::to_value(value)
        .map(|v| hub_tag_sources(&v))
        .unwrap_or_default()
}

/// [`hub_tag_images`] over a JSON value.
pub fn hub_tag_images_json(value: &serde_json::Value) -> Vec<Derived> {
    serde_yaml::to_value(value)
        .map(|v| hub_tag_images(&v))
        .unwrap_or_default()
}

/// Images of istio's sidecar injector, from the JSON text of the `values`
/// key of its ConfigMap (`global.hub`, `global.tag`, `global.proxy.image`,
/// `global.proxy_init.image`, …).
pub fn istio_values_images(values_json: &str) -> Result<Vec<Derived>, serde_json::Error> {
    let json: serde_json::Value = serde_json::from_str(values_json)?;
    Ok(hub_tag_images_json(&json))
}

/// True for `image` and camelCase names ending in `Image` (`baseImage`,
/// `configReloaderImage`).
fn is_image_key(key: &str) -> bool {
    key == "image"
        || key
            .strip_suffix("Image")
            .and_then(|head| head.chars().last())
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn walk(value: &Value, path: &str, ctx: HubContext, mode: Mode, sink: &mut dyn Sink) {
    if sink.node(path, value) {
        return;
    }
    match value {
        Value::Mapping(map) => walk_map(map, path, ctx, mode, sink),
        Value::Sequence(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{path}[{i}]"), ctx.clone(), mode, sink);
            }
        }
        Value::Tagged(tagged) => walk(&tagged.value, path, ctx, mode, sink),
        _ => {}
    }
}

/// Walks one map. In [`Mode::Resource`], `metadata` maps are skipped at any
/// depth (labels and annotations are not image settings), image-shaped maps
/// are reported, and image-named strings are reported as written unless a
/// sibling `tag`/`version`/`sha` or a `hub` context completes them.
fn walk_map(map: &Mapping, path: &str, ctx: HubContext, mode: Mode, sink: &mut dyn Sink) {
    let ctx = ctx.updated(map, path);
    if mode == Mode::Resource {
        if let Some(image) = repository_shape(map) {
            sink.hit(Hit {
                image,
                field_path: path.to_owned(),
                heuristic: true,
                context: None,
            });
        }
    }
    for (key, value) in map {
        let Some(key) = key.as_str() else { continue };
        if mode == Mode::Resource && key == "metadata" {
            continue;
        }
        let field = child(path, key);
        match value {
            Value::String(image) if is_image_key(key) => {
                if image.trim().is_empty() {
                    continue;
                }
                if let Some(resolved) = ctx.resolve(image) {
                    sink.hit(Hit {
                        image: resolved,
                        field_path: field,
                        heuristic: false,
                        context: (!image.contains('/')).then(|| ctx.clone()),
                    });
                } else if mode == Mode::Resource {
                    let hit = sibling_tag_shape(map, key, image)
                        .map(|(image, siblings)| Hit {
                            image,
                            field_path: format!("{field}+{siblings}"),
                            heuristic: true,
                            context: None,
                        })
                        .unwrap_or_else(|| Hit {
                            image: image.clone(),
                            field_path: field,
                            heuristic: false,
                            context: None,
                        });
                    sink.hit(hit);
                }
            }
            _ => walk(value, &field, ctx.clone(), mode, sink),
        }
    }
}

/// `{registry?, repository, tag?, digest?}` with a tag or digest, as used by
/// many charts and operators for image settings.
fn repository_shape(map: &Mapping) -> Option<String> {
    let text = |key: &str| map.get(key).and_then(scalar_text).filter(|s| !s.is_empty());
    let repository = text("repository")?;
    if repository.contains("://") {
        return None;
    }
    let tag = text("tag");
    let digest = text("digest").map(|d| {
        if d.contains(':') {
            d
        } else {
            format!("sha256:{d}")
        }
    });
    if tag.is_none() && digest.is_none() {
        return None;
    }
    let mut image = match text("registry") {
        Some(registry) => format!("{}/{repository}", registry.trim_end_matches('/')),
        None => repository,
    };
    if let Some(tag) = tag {
        image = format!("{image}:{tag}");
    }
    if let Some(digest) = digest {
        image = format!("{image}@{digest}");
    }
    Some(image)
}

/// An untagged `image` with a sibling `tag`, or a Prometheus-operator style
/// `baseImage` with a sibling `sha`, `tag` or `version` (in that order of
/// precedence). Returns the image and the sibling's name.
fn sibling_tag_shape(map: &Mapping, key: &str, image: &str) -> Option<(String, &'static str)> {
    let parsed = parse_normalized_named(image).ok()?;
    if !parsed.is_name_only() {
        return None;
    }
    let text = |key: &str| map.get(key).and_then(scalar_text).filter(|s| !s.is_empty());
    match key {
        "image" => text("tag").map(|tag| (format!("{image}:{tag}"), "tag")),
        "baseImage" => {
            if let Some(sha) = text("sha") {
                let digest = if sha.contains(':') {
                    sha
                } else {
                    format!("sha256:{sha}")
                };
                return Some((format!("{image}@{digest}"), "sha"));
            }
            text("tag")
                .map(|tag| (format!("{image}:{tag}"), "tag"))
                .or_else(|| text("version").map(|v| (format!("{image}:{v}"), "version")))
        }
        _ => None,
    }
}

static CANDIDATE_RE: LazyLock<Regex> = LazyLock::new(|| {
    let label = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?";
    let component = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*";
    let pattern = format!(
        r"(?:\[[0-9A-Fa-f:]+\]|{label}(?:\.{label})*)(?::[0-9]+)?/{component}(?:/{component})*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Fa-f]{{32,}})?"
    );
    Regex::new(&pattern).expect("candidate regex is valid")
});

/// Finds substrings of free text that look like image references with an
/// explicit registry: they must parse, name a domain (with `.` or `:`, or
/// `localhost`), and carry a tag or digest. Anything directly preceded by
/// `://` (URLs) or glued to a longer word or path is skipped.
pub fn find_image_candidates(text: &str) -> Vec<TextCandidate> {
    let mut out = Vec::new();
    for m in CANDIDATE_RE.find_iter(text) {
        let before = &text[..m.start()];
        let after = &text[m.end()..];
        // Glued to a longer word or path; this also skips URLs (`://`).
        if before.chars().next_back().is_some_and(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '-' | '_' | '@' | '%')
        }) {
            continue;
        }
        // Followed by more path, port or userinfo syntax: part of a URL.
        if after.starts_with(['/', ':', '@']) {
            continue;
        }
        // A sentence may end right after an image.
        let image = m.as_str().trim_end_matches('.');
        let Some((domain, _)) = image.split_once('/') else {
            continue;
        };
        if !is_explicit_domain(domain) {
            continue;
        }
        let Ok(reference) = parse_normalized_named(image) else {
            continue;
        };
        if reference.is_name_only() {
            continue;
        }
        out.push(TextCandidate {
            offset: m.start(),
            image: image.to_owned(),
            reference,
        });
    }
    out
}

fn get_str<'a>(map: &'a Mapping, key: &str) -> Option<&'a str> {
    map.get(key).and_then(Value::as_str)
}

fn get_path<'a>(map: &'a Mapping, keys: &[&str]) -> Option<&'a Value> {
    let (first, rest) = keys.split_first()?;
    let mut value = map.get(*first)?;
    for key in rest {
        value = value.as_mapping()?.get(*key)?;
    }
    Some(value)
}

/// Text of a scalar: strings as they are, numbers and booleans printed.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn value_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Sequence(_) => "sequence",
        Value::Mapping(_) => "mapping",
        Value::Tagged(_) => "tagged value",
    }
}

/// `path.key`, quoting keys that contain path punctuation: `data["app.yaml"]`.
pub(crate) fn child(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (path.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{path}.{key}"),
        (_, false) => format!("{path}[{key:?}]"),
    }
}

/// Appends a relative field path (possibly empty) to `path`.
fn child_path(path: &str, rest: &str) -> String {
    if rest.is_empty() {
        path.to_owned()
    } else if rest.starts_with('[') {
        format!("{path}{rest}")
    } else {
        format!("{path}.{rest}")
    }
}

/// `list[name=x]` for items with a name, `list[i]` otherwise.
fn item_path(list_path: &str, item: &Mapping, index: usize) -> String {
    match get_str(item, "name") {
        Some(name) => format!("{list_path}[name={name}]"),
        None => format!("{list_path}[{index}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:4c0f1fc2b6a3bd2b41be2d8b3a6d41dbd8b3b0f3b8c8f0e0c2d4b9f3a1e2d3c4";

    /// (field_path, image, kind) of every find, in order.
    fn summary(extraction: &Extraction) -> Vec<(String, String, PlaceKind)> {
        extraction
            .found
            .iter()
            .map(|f| (f.field_path.clone(), f.image.clone(), f.kind_of_place))
            .collect()
    }

    fn row(path: &str, image: &str, kind: PlaceKind) -> (String, String, PlaceKind) {
        (path.to_owned(), image.to_owned(), kind)
    }

    fn only(manifests: &str) -> Extraction {
        let extraction = extract_images(manifests);
        assert_eq!(extraction.errors, vec![], "unexpected document errors");
        extraction
    }

    const DEPLOYMENT: &str = r#"---
# Source: shop/templates/cache/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop-cache
  namespace: shop
  labels:
    app.kubernetes.io/name: cache
spec:
  replicas: 1
  template:
    metadata:
      annotations:
        sidecar.istio.io/proxyImage: docker.io/istio/proxyv2:1.22.0
    spec:
      initContainers:
        - name: volume-permissions
          image: docker.io/library/busybox:1.36.1
          command: ["sh", "-c", "chown -R 1001:1001 /data"]
      containers:
        - name: redis
          image: bitnami/redis:7.2.4-debian-12-r9
          args:
            - --appendonly
            - "yes"
          env:
            - name: REDIS_PORT
              value: "6379"
            - name: DOCS_URL
              value: https://example.com/redis/docs:latest
        - name: metrics
          image: "quay.io/oliver006/redis_exporter:v1.58.0"
          imagePullPolicy: IfNotPresent
"#;

    #[test]
    fn deployment_with_init_and_sidecar_containers() {
        let extraction = only(DEPLOYMENT);
        assert_eq!(
            summary(&extraction),
            vec![
                row(
                    "spec.template.spec.initContainers[name=volume-permissions].image",
                    "docker.io/library/busybox:1.36.1",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.template.spec.containers[name=redis].image",
                    "bitnami/redis:7.2.4-debian-12-r9",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.template.spec.containers[name=metrics].image",
                    "quay.io/oliver006/redis_exporter:v1.58.0",
                    PlaceKind::Podspec
                ),
            ]
        );
        let redis = &extraction.found[1];
        assert_eq!(
            redis.reference.as_ref().unwrap().to_string(),
            "docker.io/bitnami/redis:7.2.4-debian-12-r9"
        );
        assert_eq!(
            redis.object,
            ObjectRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                namespace: Some("shop".into()),
                name: "shop-cache".into(),
                source_template: Some("shop/templates/cache/deployment.yaml".into()),
                document_index: 0,
            }
        );
        assert_eq!(extraction.definite().count(), 3);
    }

    #[test]
    fn cronjob_and_pod_with_ephemeral_containers() {
        let manifests = r#"
# Source: backup/templates/cronjob.yaml
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly-backup
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: dump
              image: registry.example.com/tools/pg-dump:16.2
---
# Source: debug/templates/pod.yaml
apiVersion: v1
kind: Pod
metadata:
  name: debug-target
  namespace: default
spec:
  containers:
    - name: app
      image: ghcr.io/acme/app:2.0.1
  ephemeralContainers:
    - name: debugger
      image: busybox:1.36
      targetContainerName: app
  volumes:
    - name: models
      image:
        reference: ghcr.io/acme/model-weights:v3
        pullPolicy: IfNotPresent
"#;
        let extraction = only(manifests);
        assert_eq!(
            summary(&extraction),
            vec![
                row(
                    "spec.jobTemplate.spec.template.spec.containers[name=dump].image",
                    "registry.example.com/tools/pg-dump:16.2",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.containers[name=app].image",
                    "ghcr.io/acme/app:2.0.1",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.ephemeralContainers[name=debugger].image",
                    "busybox:1.36",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.volumes[name=models].image.reference",
                    "ghcr.io/acme/model-weights:v3",
                    PlaceKind::Podspec
                ),
            ]
        );
        // No leading `---`: the first document still has index 0.
        assert_eq!(extraction.found[0].object.document_index, 0);
        assert_eq!(extraction.found[0].object.kind, "CronJob");
        assert_eq!(extraction.found[1].object.document_index, 1);
        assert_eq!(
            extraction.found[1].object.source_template.as_deref(),
            Some("debug/templates/pod.yaml")
        );
    }

    #[test]
    fn every_workload_kind_and_unknown_kinds_with_pod_templates() {
        let mut manifests = String::new();
        let kinds = [
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "ReplicaSet"),
            ("v1", "ReplicationController"),
            ("batch/v1", "Job"),
            ("argoproj.io/v1alpha1", "Rollout"),
        ];
        for (i, (api_version, kind)) in kinds.iter().enumerate() {
            manifests.push_str(&format!(
                "---\napiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: w{i}\nspec:\n  template:\n    spec:\n      containers:\n        - name: c\n          image: example.com/w{i}:1.0\n"
            ));
        }
        let extraction = only(&manifests);
        let expected: Vec<_> = (0..kinds.len())
            .map(|i| {
                row(
                    "spec.template.spec.containers[name=c].image",
                    &format!("example.com/w{i}:1.0"),
                    PlaceKind::Podspec,
                )
            })
            .collect();
        assert_eq!(summary(&extraction), expected);
        let kinds_found: Vec<_> = extraction
            .found
            .iter()
            .map(|f| f.object.kind.as_str())
            .collect();
        assert_eq!(
            kinds_found,
            kinds.iter().map(|(_, k)| *k).collect::<Vec<_>>()
        );
    }

    #[test]
    fn test_hooks_are_marked() {
        let manifests = r#"---
# Source: shop/templates/tests/test-connection.yaml
apiVersion: v1
kind: Pod
metadata:
  name: "shop-test-connection"
  annotations:
    "helm.sh/hook": test
spec:
  containers:
    - name: wget
      image: busybox
      command: ['wget']
      args: ['shop:80', '--image=quay.io/acme/probe:v1']
  restartPolicy: Never
---
apiVersion: v1
kind: Pod
metadata:
  name: legacy-test
  annotations:
    helm.sh/hook: pre-install, test-success
spec:
  containers:
    - name: t
      image: alpine:3.20
---
apiVersion: v1
kind: Pod
metadata:
  name: not-a-test
  annotations:
    helm.sh/hook: pre-install
    helm.sh/hook-weight: "-5"
spec:
  containers:
    - name: migrate
      image: ghcr.io/acme/migrate:1.4
"#;
        let extraction = only(manifests);
        assert_eq!(
            summary(&extraction),
            vec![
                row(
                    "spec.containers[name=wget].image",
                    "busybox",
                    PlaceKind::HookTest
                ),
                row(
                    "spec.containers[name=wget].args[1]",
                    "quay.io/acme/probe:v1",
                    PlaceKind::HookTest
                ),
                row(
                    "spec.containers[name=t].image",
                    "alpine:3.20",
                    PlaceKind::HookTest
                ),
                row(
                    "spec.containers[name=migrate].image",
                    "ghcr.io/acme/migrate:1.4",
                    PlaceKind::Podspec
                ),
            ]
        );
        let definite: Vec<_> = extraction.definite().map(|f| f.image.as_str()).collect();
        assert_eq!(definite, vec!["ghcr.io/acme/migrate:1.4"]);
        assert_eq!(
            extraction.found[0].reference.as_ref().unwrap().to_string(),
            "docker.io/library/busybox:latest"
        );
    }

    #[test]
    fn custom_resources_with_image_fields_and_shapes() {
        let manifests = r#"---
# Source: monitoring/templates/prometheus/prometheus.yaml
apiVersion: monitoring.coreos.com/v1
kind: Prometheus
metadata:
  name: k8s
  namespace: monitoring
  annotations:
    example.com/lastImage: quay.io/not/scanned:v0
spec:
  image: "quay.io/prometheus/prometheus:v2.53.1"
  version: v2.53.1
  replicas: 2
  containers:
    - name: config-reloader
      image: quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0
  thanos:
    baseImage: quay.io/thanos/thanos
    version: v0.35.1
---
# Source: monitoring/templates/alertmanager.yaml
apiVersion: monitoring.coreos.com/v1
kind: Alertmanager
metadata:
  name: main
spec:
  baseImage: quay.io/prometheus/alertmanager
  tag: v0.27.0
  sha: 0a4b9bd2c0c6c1b7f4e0f7c5e3a8e1f2d3c4b5a6978877665544332211009988
---
apiVersion: example.com/v1
kind: Database
metadata:
  name: orders
spec:
  engine:
    image:
      registry: registry.example.com
      repository: dbs/postgres
      tag: "16.3"
  backup:
    image: ghcr.io/acme/backup
    tag: 2.1.0
  exporter:
    exporterImage: quay.io/prometheuscommunity/postgres-exporter:v0.15.0
  chart:
    repository: https://charts.example.com
    tag: "1.0"
  emptyImage: ""
"#;
        let extraction = only(manifests);
        let cr = PlaceKind::CustomResource;
        assert_eq!(
            summary(&extraction),
            vec![
                row("spec.image", "quay.io/prometheus/prometheus:v2.53.1", cr),
                row(
                    "spec.containers[0].image",
                    "quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0",
                    cr
                ),
                row("spec.thanos.baseImage+version", "quay.io/thanos/thanos:v0.35.1", cr),
                row(
                    "spec.baseImage+sha",
                    "quay.io/prometheus/alertmanager@sha256:0a4b9bd2c0c6c1b7f4e0f7c5e3a8e1f2d3c4b5a6978877665544332211009988",
                    cr
                ),
                row("spec.engine.image", "registry.example.com/dbs/postgres:16.3", cr),
                row("spec.backup.image+tag", "ghcr.io/acme/backup:2.1.0", cr),
                row(
                    "spec.exporter.exporterImage",
                    "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
                    cr
                ),
            ]
        );
        assert!(extraction.found.iter().all(|f| f.reference.is_ok()));
        assert_eq!(
            extraction.found[0].object.namespace.as_deref(),
            Some("monitoring")
        );
    }

    #[test]
    fn argo_rollout_pod_template_and_other_image_fields_keep_field_order() {
        let manifests = r#"---
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: web
spec:
  analysisImage: ghcr.io/acme/analysis:1.0
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:3.1.4
          args: ["--sidecar-image=ghcr.io/acme/sidecar:0.9"]
  strategy:
    canary:
      trafficRouting:
        pluginImage: ghcr.io/acme/plugin:0.1
"#;
        assert_eq!(
            summary(&only(manifests)),
            vec![
                row(
                    "spec.analysisImage",
                    "ghcr.io/acme/analysis:1.0",
                    PlaceKind::CustomResource
                ),
                row(
                    "spec.template.spec.containers[name=web].image",
                    "ghcr.io/acme/web:3.1.4",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.template.spec.containers[name=web].args[0]",
                    "ghcr.io/acme/sidecar:0.9",
                    PlaceKind::Arg
                ),
                row(
                    "spec.strategy.canary.trafficRouting.pluginImage",
                    "ghcr.io/acme/plugin:0.1",
                    PlaceKind::CustomResource
                ),
            ]
        );
    }

    #[test]
    fn args_command_and_env_yield_candidates() {
        let manifests = r#"---
# Source: kube-prometheus-stack/templates/prometheus-operator/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prometheus-operator
spec:
  template:
    spec:
      containers:
        - name: operator
          image: quay.io/prometheus-operator/prometheus-operator:v0.75.0
          command:
            - /bin/operator
          args:
            - --kubelet-service=kube-system/kubelet
            - --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0
            - --web.listen-address=:8080
            - --config=/etc/operator/config.d/operator.yaml:ro
            - --docs=https://quay.io/prometheus-operator/docs:v1
            - --solver-image=quay.io/jetstack/cert-manager-acmesolver:v1.21.1, --other=localhost:5000/tools/helper@SHA_PLACEHOLDER.
          env:
            - name: DEFAULT_BUSYBOX
              value: "registry.example.com:5000/library/busybox:1.28"
            - name: NO_REGISTRY
              value: "bitnami/kubectl:1.30"
            - name: NO_TAG
              value: "quay.io/acme/untagged"
"#
        .replace("SHA_PLACEHOLDER", SHA);
        let extraction = only(&manifests);
        let args = "spec.template.spec.containers[name=operator].args";
        assert_eq!(
            summary(&extraction),
            vec![
                row(
                    "spec.template.spec.containers[name=operator].image",
                    "quay.io/prometheus-operator/prometheus-operator:v0.75.0",
                    PlaceKind::Podspec
                ),
                row(
                    &format!("{args}[1]"),
                    "quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0",
                    PlaceKind::Arg
                ),
                row(
                    &format!("{args}[5]"),
                    "quay.io/jetstack/cert-manager-acmesolver:v1.21.1",
                    PlaceKind::Arg
                ),
                row(
                    &format!("{args}[5]"),
                    &format!("localhost:5000/tools/helper@{SHA}"),
                    PlaceKind::Arg
                ),
                row(
                    "spec.template.spec.containers[name=operator].env[name=DEFAULT_BUSYBOX].value",
                    "registry.example.com:5000/library/busybox:1.28",
                    PlaceKind::Env
                ),
            ]
        );
        assert!(extraction.found[1..]
            .iter()
            .all(|f| f.kind_of_place.is_candidate()));
        assert_eq!(extraction.definite().count(), 1);
    }

    #[test]
    fn config_map_injection_template_and_istio_values() {
        let values = r#"{
  "global": {
    "hub": "docker.io/istio",
    "tag": "1.22.3",
    "variant": "",
    "proxy": { "image": "proxyv2", "privileged": false },
    "proxy_init": { "image": "proxyv2" },
    "logging": { "level": "default:info" }
  },
  "pilot": { "hub": "gcr.io/istio-testing", "image": "pilot" },
  "ztunnel": { "image": "registry.example.com/istio/ztunnel:1.22.3" }
}"#;
        let config = r#"policy: enabled
templates:
  sidecar: |
    spec:
      initContainers:
      - name: istio-init
        image: "{{ .ProxyImage }}"
      containers:
      - name: istio-proxy
      {{- if contains "/" (annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image) }}
        image: "{{ annotation .ObjectMeta `sidecar.istio.io/proxyImage` .Values.global.proxy.image }}"
      {{- else }}
        image: "{{ .ProxyImage }}"
      {{- end }}
  debug: |
    containers:
    - name: debug
      image: docker.io/library/busybox:1.28
    # see https://istio.io/latest/docs/setup/additional-setup/sidecar-injection:latest
"#;
        let mut data = Mapping::new();
        data.insert("config".into(), config.into());
        data.insert("values".into(), values.into());
        let object: Value = serde_yaml::from_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: istio-sidecar-injector\n  namespace: istio-system\n",
        )
        .unwrap();
        let mut object = object.as_mapping().unwrap().clone();
        object.insert("data".into(), Value::Mapping(data));
        let manifests = format!(
            "---\n# Source: istiod/templates/configmap.yaml\n{}",
            serde_yaml::to_string(&object).unwrap()
        );
        let extraction = only(&manifests);
        let cm = PlaceKind::ConfigMap;
        assert_eq!(
            summary(&extraction),
            vec![
                row("data.config", "docker.io/library/busybox:1.28", cm),
                // proxy_init uses the same image and is not repeated.
                row(
                    "data.values.global.proxy.image",
                    "docker.io/istio/proxyv2:1.22.3",
                    cm
                ),
                row(
                    "data.values.pilot.image",
                    "gcr.io/istio-testing/pilot:1.22.3",
                    cm
                ),
                row(
                    "data.values.ztunnel.image",
                    "registry.example.com/istio/ztunnel:1.22.3",
                    cm
                ),
            ]
        );
        assert_eq!(
            extraction.found[0].object.source_template.as_deref(),
            Some("istiod/templates/configmap.yaml")
        );
    }

    #[test]
    fn istio_values_helper_handles_variants_and_overrides() {
        let derived = istio_values_images(
            r#"{"global": {"hub": "docker.io/istio/", "tag": "1.22.3", "variant": "distroless",
                "proxy": {"image": "proxyv2"}, "proxy_init": {"image": "proxyv2", "tag": "1.21.0"}}}"#,
        )
        .unwrap();
        assert_eq!(
            derived,
            vec![
                Derived {
                    image: "docker.io/istio/proxyv2:1.22.3-distroless".into(),
                    field_path: "global.proxy.image".into()
                },
                Derived {
                    image: "docker.io/istio/proxyv2:1.21.0-distroless".into(),
                    field_path: "global.proxy_init.image".into()
                },
            ]
        );
        assert!(istio_values_images("{not json").is_err());
        // A hub must be a string.
        let none =
            hub_tag_images_json(&serde_json::json!({"hub": true, "tag": "1", "x": {"image": "y"}}));
        assert_eq!(none, vec![]);
        // Without a hub, nothing is derived.
        let none =
            hub_tag_images_json(&serde_json::json!({"tag": "1.0", "proxy": {"image": "proxyv2"}}));
        assert_eq!(none, vec![]);
        // "default" is istio's no-variant value; numeric tags are printed.
        let yaml: Value = serde_yaml::from_str(
            "components:\n  - hub: quay.io/acme\n    tag: 2\n    variant: default\n    workerImage: worker\n",
        )
        .unwrap();
        assert_eq!(
            hub_tag_images(&yaml),
            vec![Derived {
                image: "quay.io/acme/worker:2".into(),
                field_path: "components[0].workerImage".into()
            }]
        );
    }

    #[test]
    fn digest_only_and_tag_plus_digest_images() {
        let manifests = format!(
            r#"---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: ingress
spec:
  template:
    spec:
      containers:
        - name: controller
          image: registry.k8s.io/ingress-nginx/controller:v1.11.0@{SHA}
        - name: pinned
          image: registry.k8s.io/ingress-nginx/kube-webhook-certgen@{SHA}
"#
        );
        let extraction = only(&manifests);
        let refs: Vec<_> = extraction
            .found
            .iter()
            .map(|f| f.reference.as_ref().unwrap())
            .collect();
        assert_eq!(refs[0].tag(), Some("v1.11.0"));
        assert_eq!(refs[0].digest(), Some(SHA));
        assert_eq!(refs[1].tag(), None);
        assert_eq!(refs[1].digest(), Some(SHA));
        assert_eq!(
            refs[1].to_string(),
            format!("registry.k8s.io/ingress-nginx/kube-webhook-certgen@{SHA}")
        );
    }

    #[test]
    fn unparsable_pod_images_are_reported_not_dropped() {
        let manifests = r#"---
apiVersion: v1
kind: Pod
metadata:
  name: broken
spec:
  containers:
    - name: a
      image: Foo::bar
    - name: b
      image: 42
    - name: c
      image: ""
"#;
        let extraction = only(manifests);
        assert_eq!(extraction.found.len(), 3);
        let err = extraction.found[0].reference.as_ref().unwrap_err();
        assert!(
            err.contains("Foo::bar") && err.contains("must be lowercase"),
            "{err}"
        );
        assert_eq!(extraction.found[1].image, "42");
        assert_eq!(
            extraction.found[1].reference,
            Err("image is a number, not a string".to_owned())
        );
        assert!(extraction.found[2]
            .reference
            .as_ref()
            .unwrap_err()
            .starts_with("invalid reference format"));
        assert!(extraction
            .found
            .iter()
            .all(|f| f.kind_of_place == PlaceKind::Podspec));
    }

    #[test]
    fn list_kinds_and_empty_documents() {
        let manifests = r#"---
# Source: empty/templates/nothing.yaml
---
---
# Source: list/templates/list.yaml
apiVersion: v1
kind: List
items:
  - apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: one
      namespace: apps
    spec:
      template:
        spec:
          containers:
            - image: ghcr.io/acme/one:1
  - apiVersion: v1
    kind: Service
    metadata:
      name: one
    spec:
      ports: [{port: 80}]
  - apiVersion: batch/v1
    kind: Job
    metadata:
      name: two
    spec:
      template:
        spec:
          containers:
            - name: two
              image: ghcr.io/acme/two:2
...
"#;
        let extraction = only(manifests);
        assert_eq!(
            summary(&extraction),
            vec![
                row(
                    "spec.template.spec.containers[0].image",
                    "ghcr.io/acme/one:1",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.template.spec.containers[name=two].image",
                    "ghcr.io/acme/two:2",
                    PlaceKind::Podspec
                ),
            ]
        );
        let one = &extraction.found[0].object;
        assert_eq!(
            (
                one.kind.as_str(),
                one.name.as_str(),
                one.namespace.as_deref()
            ),
            ("Deployment", "one", Some("apps"))
        );
        assert_eq!(one.document_index, 2);
        assert_eq!(
            one.source_template.as_deref(),
            Some("list/templates/list.yaml")
        );
        assert_eq!(extraction.found[1].object.kind, "Job");
    }

    #[test]
    fn kinds_named_list_without_object_items_are_ordinary_resources() {
        let manifests = r#"---
apiVersion: policy.example.com/v1
kind: RegistryAllowList
metadata:
  name: allowed
items:
  - quay.io
  - ghcr.io
spec:
  checkerImage: ghcr.io/acme/checker:1.2
"#;
        assert_eq!(
            summary(&only(manifests)),
            vec![row(
                "spec.checkerImage",
                "ghcr.io/acme/checker:1.2",
                PlaceKind::CustomResource
            )]
        );
    }

    #[test]
    fn the_same_candidate_in_two_fields_is_reported_for_each() {
        let manifests = r#"---
apiVersion: v1
kind: Pod
metadata: {name: twice}
spec:
  containers:
    - name: c
      image: ghcr.io/acme/c:1
      args: ["--helper=ghcr.io/acme/helper:2 ghcr.io/acme/helper:2"]
      env:
        - {name: HELPER, value: "ghcr.io/acme/helper:2"}
"#;
        assert_eq!(
            summary(&only(manifests)),
            vec![
                row(
                    "spec.containers[name=c].image",
                    "ghcr.io/acme/c:1",
                    PlaceKind::Podspec
                ),
                row(
                    "spec.containers[name=c].args[0]",
                    "ghcr.io/acme/helper:2",
                    PlaceKind::Arg
                ),
                row(
                    "spec.containers[name=c].env[name=HELPER].value",
                    "ghcr.io/acme/helper:2",
                    PlaceKind::Env
                ),
            ]
        );
    }

    #[test]
    fn broken_documents_are_reported_and_the_rest_is_still_read() {
        let manifests = r#"---
# Source: app/templates/ok-before.yaml
apiVersion: v1
kind: Pod
metadata: {name: before}
spec:
  containers: [{name: a, image: "ghcr.io/acme/a:1"}]
---
# Source: app/templates/broken.yaml
apiVersion: v1
kind: Pod
metadata:
  name: broken
 spec: [unclosed
---
# Source: app/templates/scalar.yaml
just a string
---
# Source: app/templates/ok-after.yaml
apiVersion: v1
kind: Pod
metadata: {name: after}
spec:
  containers: [{name: b, image: "ghcr.io/acme/b:1"}]
"#;
        let extraction = extract_images(manifests);
        let images: Vec<_> = extraction.found.iter().map(|f| f.image.as_str()).collect();
        assert_eq!(images, vec!["ghcr.io/acme/a:1", "ghcr.io/acme/b:1"]);
        assert_eq!(extraction.found[1].object.document_index, 3);
        assert_eq!(extraction.errors.len(), 2);
        let broken = &extraction.errors[0];
        assert_eq!(broken.document_index, 1);
        assert_eq!(
            broken.source_template.as_deref(),
            Some("app/templates/broken.yaml")
        );
        let message = broken.to_string();
        assert!(
            message.starts_with("cannot parse YAML document 1 (app/templates/broken.yaml)"),
            "{message}"
        );
        let scalar = &extraction.errors[1];
        assert_eq!(scalar.document_index, 2);
        assert!(
            scalar.message.contains("not a Kubernetes object"),
            "{}",
            scalar.message
        );
    }

    #[test]
    fn yaml_anchors_and_merge_keys_are_resolved() {
        let manifests = r#"---
apiVersion: v1
kind: Pod
metadata: {name: anchors}
spec:
  containers:
    - &base
      name: first
      image: ghcr.io/acme/base:1
    - <<: *base
      name: second
"#;
        let images: Vec<_> = only(manifests)
            .found
            .into_iter()
            .map(|f| (f.field_path, f.image))
            .collect();
        assert_eq!(
            images,
            vec![
                (
                    "spec.containers[name=first].image".to_owned(),
                    "ghcr.io/acme/base:1".to_owned()
                ),
                (
                    "spec.containers[name=second].image".to_owned(),
                    "ghcr.io/acme/base:1".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn text_candidates_skip_urls_paths_and_untagged_names() {
        let text = "pull quay.io/a/b:1 then https://quay.io/c/d:2, docker://ghcr.io/e/f:3, \
                    /etc/ssl.d/cert:4 x_ghcr.io/g/h:5 ghcr.io/i/j no-registry/k:6 \
                    [::1]:5000/l/m:7 localhost/n:8. example.com:8443/o:9/p";
        let found: Vec<_> = find_image_candidates(text)
            .into_iter()
            .map(|c| c.image)
            .collect();
        assert_eq!(
            found,
            vec!["quay.io/a/b:1", "[::1]:5000/l/m:7", "localhost/n:8"]
        );
        let first = &find_image_candidates(text)[0];
        assert_eq!(first.offset, 5);
        assert_eq!(first.reference.to_string(), "quay.io/a/b:1");
    }

    #[test]
    fn json_in_config_map_data_yields_candidates() {
        let manifests = r#"---
apiVersion: v1
kind: ConfigMap
metadata:
  name: runner-config
data:
  app.json: '{"jobs":[{"image":"ghcr.io/acme/job-runner:4.2"},{"image":"ghcr.io/acme/job-runner:4.2"}],"docs":"https://ghcr.io/acme/readme:1"}'
  settings.yaml: |
    helperImage: registry.example.com/helpers/git@sha256:4c0f1fc2b6a3bd2b41be2d8b3a6d41dbd8b3b0f3b8c8f0e0c2d4b9f3a1e2d3c4
  notes: "see /usr/share/doc/quay.io/x:1"
binaryData:
  blob: aGVsbG8=
"#;
        assert_eq!(
            summary(&only(manifests)),
            vec![
                row(
                    "data[\"app.json\"]",
                    "ghcr.io/acme/job-runner:4.2",
                    PlaceKind::ConfigMap
                ),
                row(
                    "data[\"settings.yaml\"]",
                    &format!("registry.example.com/helpers/git@{SHA}"),
                    PlaceKind::ConfigMap
                ),
            ]
        );
    }

    #[test]
    fn place_kinds_and_object_display() {
        assert!(PlaceKind::Arg.is_candidate());
        assert!(PlaceKind::Env.is_candidate());
        assert!(PlaceKind::ConfigMap.is_candidate());
        assert!(!PlaceKind::Podspec.is_candidate());
        assert!(!PlaceKind::CustomResource.is_candidate());
        assert!(!PlaceKind::HookTest.is_candidate());
        let object = ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "cache".into(),
            source_template: Some("shop/templates/cache.yaml".into()),
            document_index: 0,
        };
        assert_eq!(
            object.to_string(),
            "Deployment/cache in namespace shop (shop/templates/cache.yaml)"
        );
    }

    #[test]
    fn image_key_names() {
        for yes in ["image", "baseImage", "configReloaderImage", "proxy2Image"] {
            assert!(is_image_key(yes), "{yes}");
        }
        for no in [
            "Image",
            "images",
            "imagePullPolicy",
            "IMAGE",
            "image_name",
            "myIMAGE",
        ] {
            assert!(!is_image_key(no), "{no}");
        }
    }

    const CRD_HEAD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.example.com\nspec:\n  group: example.com\n  versions:\n  - name: v1\n    schema:\n      openAPIV3Schema:\n        properties:\n";

    #[test]
    fn schema_only_crds_are_skipped_unparsed() {
        let schema = "          image:\n            description: 'Image to run: any reference'\n            type: string\n          repository: {type: string}\n          containers:\n            type: array\n            items: {type: object}\n          initImage:\n          tag: {type: string}\n";
        let crd = format!("{CRD_HEAD}{schema}");
        assert!(is_inert_crd(&crd));
        assert_eq!(only(&format!("---\n{crd}")).found, vec![]);
        // Quoted kind and apiVersion, and a comment after a key.
        let quoted = crd.replace("kind: CustomResourceDefinition", "kind: \"CustomResourceDefinition\"").replace("image:\n", "image: # the image\n");
        assert!(is_inert_crd(&quoted));
    }

    #[test]
    fn crds_that_could_hold_an_image_are_parsed() {
        let risky = [
            // A schema default naming an image: found by the resource walk.
            ("          default: {image: 'quay.io/team/agent:1.2'}\n", Some("quay.io/team/agent:1.2")),
            ("          default:\n            baseImage: quay.io/team/agent:1.3\n", Some("quay.io/team/agent:1.3")),
            ("          default:\n            repository: quay.io/team/agent\n            tag: '1.4'\n", Some("quay.io/team/agent:1.4")),
            // A block scalar, a multi-line plain scalar, a sequence, an anchor: parsed.
            ("          image: >-\n            quay.io/team/agent:1.5\n", Some("quay.io/team/agent:1.5")),
            ("          image:\n            quay.io/team/agent:1.6\n", Some("quay.io/team/agent:1.6")),
            ("          containers:\n          - image: x\n", Some("x")),
            ("          image: &i {type: string}\n", None),
            // A key written with escapes could spell anything.
            ("          \"ima\\u0067e\": {type: string}\n", None),
        ];
        for (schema, image) in risky {
            let crd = format!("{CRD_HEAD}{schema}");
            assert!(!is_inert_crd(&crd), "{schema}");
            let found: Vec<String> = only(&format!("---\n{crd}")).found.into_iter().map(|f| f.image).collect();
            assert_eq!(found, image.into_iter().map(str::to_owned).collect::<Vec<_>>(), "{schema}");
        }
        // Not a CRD, or not only one: parsed.
        let schema = "          image: {type: string}\n";
        for head in [
            CRD_HEAD.replace("kind: CustomResourceDefinition", "kind: Widget"),
            CRD_HEAD.replace("apiextensions.k8s.io/v1", "example.com/v1"),
            format!("{CRD_HEAD}kind: Widget\n"),
        ] {
            assert!(!is_inert_crd(&format!("{head}{schema}")));
        }
    }

    #[test]
    fn config_map_image_lines_not_found_otherwise() {
        let cm = |hook: &str| format!("---\n# Source: c/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inj{hook}\ndata:\n  config: |\n    spec:\n      initContainers:\n      - name: init\n        image: busybox:1.28\n      - image: \"{{{{ .ProxyImage }}}}\"\n      - image: untagged\n      - image: quay.io/team/side:2\n      - image: busybox:1.28\n  other: |\n    image: busybox:1.28\n---\nkind: Secret\napiVersion: v1\ndata:\n  x: |\n    image: secret:1\n");
        let e = only(&cm(""));
        // The registry-named one is a text candidate already; the line adds the other, once.
        assert_eq!(summary(&e), vec![row("data.config", "quay.io/team/side:2", PlaceKind::ConfigMap)]);
        let lines: Vec<_> = e.config_lines.iter().map(|f| (f.field_path.as_str(), f.image.as_str(), f.kind_of_place)).collect();
        assert_eq!(lines, vec![("data[\"config\"] line 4", "busybox:1.28", PlaceKind::ConfigMap)]);
        let f = &e.config_lines[0];
        assert_eq!(f.reference.as_ref().unwrap().to_string(), "docker.io/library/busybox:1.28");
        assert_eq!((f.object.name.as_str(), f.object.source_template.as_deref()), ("inj", Some("c/templates/cm.yaml")));
        // In a test hook, the line is a test image like everything else there.
        let hook = cm("\n  annotations:\n    helm.sh/hook: test");
        assert_eq!(only(&hook).config_lines.iter().map(|f| f.kind_of_place).collect::<Vec<_>>(), vec![PlaceKind::HookTest]);
    }
}
