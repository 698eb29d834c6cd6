//! Finding images in a chart's **values**, with the value paths that control
//! them.
//!
//! The offline side of kod redirects every image to the private registry by
//! writing per-release values that set the fields a chart builds its image
//! references from (`image.registry`, `global.imageRegistry`, istio's
//! `global.hub`, …). Discovery therefore has to say, for each image found in
//! the rendered manifests, which value path controls it. This module walks a
//! chart's *effective* values (chart defaults merged with user values, as a
//! [`serde_json::Value`]) and reports every image-shaped subtree as a
//! [`ValueImage`]; [`match_value_paths`] then pairs the images found in the
//! rendered manifests with them, and [`possible_images`] lists what the
//! values mention but the manifests do not (never promoted to definite).
//!
//! # Recognised shapes
//!
//! | style | shape | example |
//! |---|---|---|
//! | [`ImageStyle::RegistryRepository`] | `{registry, repository, tag?, digest?/sha?}` | Bitnami `image`, kube-prometheus-stack, grafana |
//! | [`ImageStyle::Repository`] | `{repository, tag?, digest?}` (no `registry` key) | argo-cd `global.image`, `dex.image` |
//! | [`ImageStyle::ImageAndTag`] | `{image: "repo", tag?, digest?, registry?}` | ingress-nginx `controller.image` |
//! | [`ImageStyle::ImageString`] | `image: "full/ref:tag"` (or `…Image: "…"`) | many small charts |
//! | [`ImageStyle::HubTag`] | `hub` + `tag` (+ `variant`) around image names | istio `global.hub`, `pilot.image`, `global.proxy.image` |
//!
//! A map is taken as `{…repository…}`-shaped when `repository` is a
//! non-empty string that is not a URL and the map either sits under an
//! image-named key (`image`, `…Image`) or has one of `registry`, `tag`,
//! `digest`, `sha`, `pullPolicy`. An empty `tag` (with no digest) is filled
//! with the chart's appVersion, as almost every chart's templates do
//! ([`ValueImage::tag_from_app_version`]); the matching step accepts any
//! rendered tag for such images, because some charts decorate it
//! (`v{appVersion}`, `-distroless`).
//!
//! `global.imageRegistry`, when present, overrides the `registry` of
//! `{registry, repository}` maps (the Bitnami, prometheus-community and
//! grafana convention); its path is reported in
//! [`ValueImage::global_registry_path`]. Bitnami's
//! `global.security.allowInsecureImages` is reported in
//! [`ValueImage::rewrite_requires`]: Bitnami charts refuse to render
//! relocated images unless it is `true`.
//!
//! Istio's `_internal_defaults_do_not_set` key (the chart defaults, merged
//! under the user's values by istio's `zzz_profile.yaml` template) is merged
//! in first, so that paths come out as users set them (`global.hub`).
//!
//! Images under a map with `enabled: false` (at any depth above the image),
//! or in a subchart whose condition is false ([`Subchart::disabled`]), are
//! reported with `enabled: Some(false)` and [`ValueImage::disabled_by`].
//!
//! Value paths are dotted (`controller.image.tag`); keys containing other
//! punctuation are quoted (`annotations["a.b/c"]`), list items are indexed
//! (`extraContainers[0].image`). [`lookup`] reads such a path back.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::extract::{child, hub_tag_sources_json, HubTagSource};
use super::reference::{is_explicit_domain, parse_normalized_named, Reference};

/// How an image is written in the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ImageStyle {
    /// `{registry, repository, tag, digest|sha}` (Bitnami, kube-prometheus-stack, grafana).
    RegistryRepository,
    /// `{repository, tag, digest}` without a `registry` key (argo-cd).
    Repository,
    /// `{image: "repo", tag, digest, registry?}` (ingress-nginx).
    ImageAndTag,
    /// A single string holding the whole reference.
    ImageString,
    /// Istio's `hub` + image name + `tag` (+ `variant`).
    HubTag,
    /// Declared by a hint (see [`super::hints`]) rather than recognised by shape.
    Hint,
}

impl fmt::Display for ImageStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ImageStyle::RegistryRepository => "registry/repository/tag",
            ImageStyle::Repository => "repository/tag",
            ImageStyle::ImageAndTag => "image/tag",
            ImageStyle::ImageString => "image string",
            ImageStyle::HubTag => "hub/tag",
            ImageStyle::Hint => "hint",
        })
    }
}

/// An image described by a chart's values, with the paths of the fields it
/// is built from. Paths are absolute in the values tree given to the walk.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueImage {
    /// Path of the map holding the image fields (`image`, `controller.image`,
    /// `global`); empty for the values root.
    pub path: String,
    pub style: ImageStyle,
    /// The field giving the registry (`image.registry`), if any.
    pub registry_path: Option<String>,
    /// A chart-wide registry field, if the values have one:
    /// `global.imageRegistry` found by the walk overrides `registry_path`
    /// when non-empty; a hint may also declare one that only fills in an
    /// empty `registry_path` (ingress-nginx's `global.image.registry`), which
    /// its notes then say. Setting it redirects every image of the chart
    /// that does not set its own registry.
    pub global_registry_path: Option<String>,
    /// The field giving a path segment between registry and name
    /// (cert-manager's `imageNamespace`); only set by hints.
    pub namespace_path: Option<String>,
    /// The field giving the repository (or image name, for hint-declared
    /// `name` fields: see `repository_is_name`).
    pub repository_path: Option<String>,
    /// True when `repository_path` holds only the image's last path component
    /// (a hint's `name` field), joined after the registry and namespace fields.
    pub repository_is_name: bool,
    pub tag_path: Option<String>,
    /// The field giving the digest (`digest`, or kube-prometheus-stack's `sha`).
    pub digest_path: Option<String>,
    /// The string field holding the image (`image` styles and hub/tag).
    pub image_path: Option<String>,
    /// Istio's `hub` field the image name is joined with (`global.hub`).
    pub hub_path: Option<String>,
    /// The image as assembled from the fields, before parsing.
    pub written: String,
    /// The assembled reference, or why it does not parse.
    pub reference: Result<Reference, String>,
    /// True if the registry was written in the values (a `registry` field,
    /// a hub, or a domain in the string). False when Docker Hub is only
    /// implied: the chart's templates may well add another registry, so
    /// matching compares repository paths only.
    pub registry_explicit: bool,
    /// True if the tag field was empty and the chart's appVersion was used.
    pub tag_from_app_version: bool,
    /// `Some(false)` when the image is under a disabled component,
    /// `Some(true)` when an enclosing `enabled: true` was seen, else `None`.
    pub enabled: Option<bool>,
    /// What disables the image: the path of the `enabled: false` field or
    /// the reason a subchart is off.
    pub disabled_by: Option<String>,
    /// Values a rewrite must also set when it relocates this image, with
    /// the value to set (Bitnami's `global.security.allowInsecureImages`).
    pub rewrite_requires: Vec<(String, Value)>,
    /// Human-readable remarks: defaults applied, overrides in effect, hint reasons.
    pub notes: Vec<String>,
}

/// The part of a [`ValueImage`] the offline side needs to redirect the image: its style
/// and the paths of its fields. Recorded per release image in the bundle manifest
/// (`valueShape`), so the rewrite needs neither the hints nor a values walk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValueShape {
    pub style: ImageStyle,
    /// The map holding the fields (empty for the values root).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_registry_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository_path: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repository_is_name: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_path: Option<String>,
    /// Values a relocation must also set (`global.security.allowInsecureImages: true`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rewrite_requires: Vec<(String, Value)>,
}

impl ValueImage {
    /// What the rewrite needs of this image.
    pub fn shape(&self) -> ValueShape {
        ValueShape {
            style: self.style,
            path: self.path.clone(),
            registry_path: self.registry_path.clone(),
            global_registry_path: self.global_registry_path.clone(),
            namespace_path: self.namespace_path.clone(),
            repository_path: self.repository_path.clone(),
            repository_is_name: self.repository_is_name,
            tag_path: self.tag_path.clone(),
            digest_path: self.digest_path.clone(),
            image_path: self.image_path.clone(),
            hub_path: self.hub_path.clone(),
            rewrite_requires: self.rewrite_requires.clone(),
        }
    }
}

impl ValueImage {
    /// The value paths that control this image, most decisive first, for
    /// messages: `global.imageRegistry, image.registry, image.repository, image.tag`.
    pub fn controlling_paths(&self) -> Vec<&str> {
        [
            &self.global_registry_path,
            &self.hub_path,
            &self.registry_path,
            &self.namespace_path,
            &self.repository_path,
            &self.image_path,
            &self.tag_path,
            &self.digest_path,
        ]
        .into_iter()
        .filter_map(|p| p.as_deref())
        .collect()
    }

    /// The fields that name this image (the image string and the
    /// repository or name field), as opposed to fields many images share
    /// (`global.hub`, `global.imageRegistry`, a common tag). Two
    /// descriptions with a common identity path describe the same image.
    pub fn identity_paths(&self) -> Vec<&str> {
        [&self.image_path, &self.repository_path]
            .into_iter()
            .filter_map(|p| p.as_deref())
            .collect()
    }
}

/// A dependency of the chart whose values sit under `path` (its name, or
/// alias) in the parent's values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subchart {
    /// Values path of the subchart (`grafana`, `redis-ha`; nested: `a.b`).
    pub path: String,
    /// The subchart's name in its `Chart.yaml` (hints are looked up by it).
    pub name: String,
    /// The subchart's version, for hints with version ranges.
    pub version: Option<String>,
    /// The subchart's appVersion, used for its empty tags.
    pub app_version: Option<String>,
    /// Why the subchart is not installed (e.g. `condition redis-ha.enabled
    /// is false`), or `None` if it is.
    pub disabled: Option<String>,
}

/// Options of [`find_value_images_with`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkOptions {
    /// The chart's appVersion, used for empty tags.
    pub app_version: Option<String>,
    /// Subcharts, so that their images get their own appVersion and their
    /// enabled state.
    pub subcharts: Vec<Subchart>,
}

/// Finds image-shaped subtrees of a chart's effective values; `app_version`
/// fills empty tags. Shorthand for [`find_value_images_with`].
pub fn find_value_images(values: &Value, app_version: Option<&str>) -> Vec<ValueImage> {
    find_value_images_with(
        values,
        &WalkOptions {
            app_version: app_version.map(str::to_owned),
            subcharts: Vec::new(),
        },
    )
}

/// Finds image-shaped subtrees of a chart's effective values (see the
/// module documentation for the shapes), in the order of the values maps'
/// keys (serde_json sorts them).
pub fn find_value_images_with(values: &Value, options: &WalkOptions) -> Vec<ValueImage> {
    let values = merge_istio_defaults(values);
    let hub_sources: BTreeMap<String, HubTagSource> = hub_tag_sources_json(&values)
        .into_iter()
        .filter(|s| s.hub_path.is_some())
        .map(|s| (s.field_path.clone(), s))
        .collect();
    let global = values.get("global");
    let global_registry = global
        .and_then(|g| g.get("imageRegistry"))
        .filter(|v| v.is_string() || v.is_null())
        .map(|v| v.as_str().unwrap_or_default().to_owned());
    let insecure_images_switch = global
        .and_then(|g| g.get("security"))
        .and_then(|s| s.get("allowInsecureImages"))
        .is_some();
    let walker = Walker {
        options,
        hub_sources,
        global_registry,
        insecure_images_switch,
    };
    let mut out = Vec::new();
    let state = State {
        app_version: options.app_version.clone(),
        disabled_by: None,
        enabled_seen: false,
    };
    walker.walk(&values, "", "", &state, &mut out);
    out
}

/// Istio charts keep their defaults under `_internal_defaults_do_not_set`
/// and merge user values over them at render time; this does the same
/// (values without that key are returned unchanged).
pub fn merge_istio_defaults(values: &Value) -> Value {
    let Some(Value::Object(defaults)) = values.get("_internal_defaults_do_not_set") else {
        return values.clone();
    };
    let mut merged = Value::Object(defaults.clone());
    let mut rest = values.clone();
    if let Some(map) = rest.as_object_mut() {
        map.remove("_internal_defaults_do_not_set");
    }
    deep_merge(&mut merged, &rest);
    merged
}

/// Merges `overlay` into `base` the way Helm merges values: maps key by
/// key, anything else replaced; `null` deletes the key.
pub fn deep_merge(base: &mut Value, overlay: &Value) {
    match (base, overlay) {
        (Value::Object(base), Value::Object(overlay)) => {
            for (key, value) in overlay {
                if value.is_null() {
                    base.remove(key);
                    continue;
                }
                match base.get_mut(key) {
                    Some(existing) if existing.is_object() && value.is_object() => {
                        deep_merge(existing, value)
                    }
                    _ => {
                        base.insert(key.clone(), value.clone());
                    }
                }
            }
        }
        (base, overlay) => *base = overlay.clone(),
    }
}

#[derive(Debug, Clone)]
struct State {
    app_version: Option<String>,
    disabled_by: Option<String>,
    enabled_seen: bool,
}

impl State {
    fn enabled(&self) -> Option<bool> {
        if self.disabled_by.is_some() {
            Some(false)
        } else if self.enabled_seen {
            Some(true)
        } else {
            None
        }
    }
}

struct Walker<'a> {
    options: &'a WalkOptions,
    hub_sources: BTreeMap<String, HubTagSource>,
    /// `global.imageRegistry` if the key exists (empty string if unset).
    global_registry: Option<String>,
    insecure_images_switch: bool,
}

/// True for `image` and camelCase names ending in `Image` (`thanosImage`).
fn is_image_key(key: &str) -> bool {
    key == "image"
        || key
            .strip_suffix("Image")
            .and_then(|head| head.chars().last())
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

/// Text of a scalar, numbers printed; `None` for empty strings and non-scalars.
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `sha256:` is added to a bare hex digest (kube-prometheus-stack's `sha`).
fn normalise_digest(digest: String) -> String {
    if digest.contains(':') {
        digest
    } else {
        format!("sha256:{digest}")
    }
}

impl Walker<'_> {
    fn walk(&self, value: &Value, path: &str, key: &str, state: &State, out: &mut Vec<ValueImage>) {
        let mut state = state.clone();
        if let Some(sub) = self
            .options
            .subcharts
            .iter()
            .find(|s| s.path == path && !path.is_empty())
        {
            state.app_version = sub.app_version.clone();
            if let Some(reason) = &sub.disabled {
                state.disabled_by.get_or_insert_with(|| reason.clone());
            }
        }
        match value {
            Value::Object(map) => {
                match map.get("enabled") {
                    Some(Value::Bool(false)) => {
                        state
                            .disabled_by
                            .get_or_insert_with(|| child(path, "enabled"));
                    }
                    Some(Value::Bool(true)) => state.enabled_seen = true,
                    _ => {}
                }
                if let Some(image) = self.repository_map(map, path, key, &state) {
                    out.push(image);
                    return;
                }
                for (k, v) in map {
                    let field = child(path, k);
                    match v {
                        Value::String(s) if is_image_key(k) && !s.trim().is_empty() => {
                            if let Some(image) = self.image_string(map, path, k, s, &state) {
                                out.push(image);
                            }
                        }
                        _ => self.walk(v, &field, k, &state, out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.walk(item, &format!("{path}[{i}]"), key, &state, out);
                }
            }
            _ => {}
        }
    }

    fn base(&self, path: &str, style: ImageStyle, state: &State) -> ValueImage {
        ValueImage {
            path: path.to_owned(),
            style,
            registry_path: None,
            global_registry_path: None,
            namespace_path: None,
            repository_path: None,
            repository_is_name: false,
            tag_path: None,
            digest_path: None,
            image_path: None,
            hub_path: None,
            written: String::new(),
            reference: Err(String::new()),
            registry_explicit: false,
            tag_from_app_version: false,
            enabled: state.enabled(),
            disabled_by: state.disabled_by.clone(),
            rewrite_requires: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// `{registry?, repository, tag?, digest?|sha?}`.
    fn repository_map(
        &self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        state: &State,
    ) -> Option<ValueImage> {
        let repository = text(map.get("repository"))?;
        if repository.contains("://") {
            return None;
        }
        let image_key = is_image_key(key);
        let shaped = ["registry", "tag", "digest", "sha", "pullPolicy"]
            .iter()
            .any(|k| map.contains_key(*k));
        if !image_key && !shaped {
            return None;
        }
        let style = if map.contains_key("registry") {
            ImageStyle::RegistryRepository
        } else {
            ImageStyle::Repository
        };
        let mut image = self.base(path, style, state);
        image.repository_path = Some(child(path, "repository"));
        let mut registry = None;
        if map.contains_key("registry") {
            image.registry_path = Some(child(path, "registry"));
            registry = text(map.get("registry"));
            if let Some(global) = &self.global_registry {
                image.global_registry_path = Some("global.imageRegistry".to_owned());
                if !global.is_empty() {
                    image.notes.push(format!(
                        "global.imageRegistry ({global}) overrides {}",
                        child(path, "registry")
                    ));
                    registry = Some(global.clone());
                }
            }
            if self.insecure_images_switch {
                image.rewrite_requires.push((
                    "global.security.allowInsecureImages".to_owned(),
                    Value::Bool(true),
                ));
                image.notes.push(
                    "Bitnami-style chart: relocated images are refused unless \
                     global.security.allowInsecureImages is true"
                        .to_owned(),
                );
            }
        }
        let tag = self.tag_field(map, path, &mut image, state);
        let digest = self.digest_field(map, path, &mut image);
        // Outside image-named keys, only a valid repository is an image.
        if parse_normalized_named(&repository).is_err() && !image_key {
            return None;
        }
        Some(self.finish(image, registry, repository, tag, digest))
    }

    /// Reads `tag` (numbers allowed), filling an empty one with appVersion
    /// unless a digest pins the image.
    fn tag_field(
        &self,
        map: &Map<String, Value>,
        path: &str,
        image: &mut ValueImage,
        state: &State,
    ) -> Option<String> {
        if map.contains_key("tag") {
            image.tag_path = Some(child(path, "tag"));
        }
        let tag = text(map.get("tag"));
        let has_digest = text(map.get("digest")).is_some() || text(map.get("sha")).is_some();
        if tag.is_none() && !has_digest {
            if let Some(app_version) = &state.app_version {
                image.tag_from_app_version = true;
                image.notes.push(format!(
                    "tag is empty: the chart's appVersion ({app_version}) is assumed; \
                     the templates may decorate it"
                ));
                if image.tag_path.is_none() {
                    image.tag_path = Some(child(path, "tag"));
                }
                return Some(app_version.clone());
            }
        }
        tag
    }

    fn digest_field(
        &self,
        map: &Map<String, Value>,
        path: &str,
        image: &mut ValueImage,
    ) -> Option<String> {
        for key in ["digest", "sha"] {
            if map.contains_key(key) {
                image.digest_path = Some(child(path, key));
                if let Some(d) = text(map.get(key)) {
                    return Some(normalise_digest(d));
                }
            }
        }
        None
    }

    /// Assembles `registry/repository:tag@digest` and parses it.
    fn finish(
        &self,
        mut image: ValueImage,
        registry: Option<String>,
        repository: String,
        tag: Option<String>,
        digest: Option<String>,
    ) -> ValueImage {
        let first = repository.split('/').next().unwrap_or_default();
        image.registry_explicit =
            registry.is_some() || (repository.contains('/') && is_explicit_domain(first));
        let mut written = match &registry {
            Some(r) => format!("{}/{repository}", r.trim_end_matches('/')),
            None => repository,
        };
        let has_tag = parse_normalized_named(&written).is_ok_and(|r| !r.is_name_only());
        if let (Some(tag), false) = (&tag, has_tag) {
            written = format!("{written}:{tag}");
        }
        if let (Some(digest), false) = (&digest, has_tag) {
            written = format!("{written}@{digest}");
        }
        image.reference = parse_normalized_named(&written).map_err(|e| e.to_string());
        image.written = written;
        image
    }

    /// An image-named string field: hub/tag, `image` + sibling `tag`, or a
    /// whole reference.
    fn image_string(
        &self,
        map: &Map<String, Value>,
        path: &str,
        key: &str,
        value: &str,
        state: &State,
    ) -> Option<ValueImage> {
        let field = child(path, key);
        if let Some(source) = self.hub_sources.get(&field) {
            let mut image = self.base(path, ImageStyle::HubTag, state);
            image.image_path = Some(field);
            image.hub_path = source.hub_path.clone();
            image.tag_path = source.tag_path.clone();
            if let Some(variant) = &source.variant_path {
                image
                    .notes
                    .push(format!("variant from {variant} is appended to the tag"));
            }
            image.registry_explicit = true;
            image.reference = parse_normalized_named(&source.image).map_err(|e| e.to_string());
            image.written = source.image.clone();
            return Some(image);
        }
        let value = value.trim();
        let parsed = parse_normalized_named(value);
        if key != "image" && parsed.is_err() {
            return None;
        }
        let siblings = ["tag", "digest", "registry"]
            .iter()
            .any(|k| map.contains_key(*k));
        if key == "image" && siblings && parsed.as_ref().is_ok_and(Reference::is_name_only) {
            let mut image = self.base(path, ImageStyle::ImageAndTag, state);
            image.image_path = Some(field);
            let registry = if map.contains_key("registry") {
                image.registry_path = Some(child(path, "registry"));
                text(map.get("registry"))
            } else {
                None
            };
            let tag = self.tag_field(map, path, &mut image, state);
            let digest = self.digest_field(map, path, &mut image);
            return Some(self.finish(image, registry, value.to_owned(), tag, digest));
        }
        let mut image = self.base(path, ImageStyle::ImageString, state);
        image.image_path = Some(field);
        let first = value.split('/').next().unwrap_or_default();
        image.registry_explicit = value.contains('/') && is_explicit_domain(first);
        if parsed.as_ref().is_ok_and(Reference::is_name_only) {
            image
                .notes
                .push("no tag: the runtime pulls :latest".to_owned());
        }
        image.reference = parsed.map_err(|e| e.to_string());
        image.written = value.to_owned();
        Some(image)
    }
}

/// One step of a value path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A map key.
    Key(String),
    /// A list index.
    Index(usize),
}

/// Parses a value path (`a.b`, `a["x.y"].c`, `list[0].image`) into segments.
pub fn parse_value_path(path: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = path;
    let mut expect_segment = true;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            if let Some(quoted) = after.strip_prefix('"') {
                let end = quoted
                    .find("\"]")
                    .ok_or_else(|| format!("unterminated quoted key in value path {path:?}"))?;
                segments.push(Segment::Key(quoted[..end].to_owned()));
                rest = &quoted[end + 2..];
            } else {
                let end = after
                    .find(']')
                    .ok_or_else(|| format!("unterminated [ in value path {path:?}"))?;
                let index = &after[..end];
                if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!(
                        "list index {index:?} is not a number in value path {path:?}"
                    ));
                }
                let index = index.parse().map_err(|_| {
                    format!("list index {index:?} is too large in value path {path:?}")
                })?;
                segments.push(Segment::Index(index));
                rest = &after[end + 1..];
            }
            expect_segment = false;
        } else if let Some(after) = rest.strip_prefix('.') {
            if expect_segment {
                return Err(format!("empty segment in value path {path:?}"));
            }
            rest = after;
            expect_segment = true;
        } else {
            if !expect_segment {
                return Err(format!("missing '.' in value path {path:?}"));
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            segments.push(Segment::Key(rest[..end].to_owned()));
            rest = &rest[end..];
            expect_segment = false;
        }
    }
    if segments.is_empty() || expect_segment {
        return Err(format!("empty segment in value path {path:?}"));
    }
    Ok(segments)
}

/// Reads the value at `path` (see [`parse_value_path`]); `None` if the path
/// is malformed or absent.
pub fn lookup<'a>(values: &'a Value, path: &str) -> Option<&'a Value> {
    let mut value = values;
    for segment in parse_value_path(path).ok()? {
        value = match segment {
            Segment::Index(index) => value.as_array()?.get(index)?,
            Segment::Key(key) => value.as_object()?.get(&key)?,
        };
    }
    Some(value)
}

/// Joins a path prefix (a subchart's values key) and a relative path.
pub fn join_path(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.starts_with('[')) {
        (true, _) => path.to_owned(),
        (false, true) => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// How well a rendered image matches a value image; `None` if it doesn't.
fn match_score(found: &Reference, image: &ValueImage) -> Option<u32> {
    let value = image.reference.as_ref().ok()?;
    let mut score = if found.domain() == value.domain() && found.path() == value.path() {
        8
    } else if !image.registry_explicit {
        // The registry is the template's business: compare the repository
        // as written (`defaultbackend-amd64`, not `library/defaultbackend-amd64`).
        let written = value
            .path()
            .strip_prefix("library/")
            .unwrap_or(value.path());
        if found.path() == value.path() || found.path() == written {
            4
        } else {
            return None;
        }
    } else {
        return None;
    };
    if let (Some(a), Some(b)) = (found.digest(), value.digest()) {
        if a != b {
            return None;
        }
        score += 4;
    }
    match (found.tag(), value.tag()) {
        (Some(a), Some(b)) if a == b => score += 2,
        // A defaulted tag may be decorated by the templates (`v…`, `-distroless`).
        (_, _) if image.tag_from_app_version || value.tag().is_none() => {}
        // The digest decides when the rendered image has none.
        (None, Some(_)) if found.digest().is_some() && value.digest() == found.digest() => {}
        _ => return None,
    }
    if image.enabled != Some(false) {
        score += 1;
    }
    Some(score)
}

/// Pairs every rendered image with the value image that controls it, or
/// `None`. Matching is on repository (registry included when the values
/// name one) and on tag when the values set one; a digest in both must be
/// equal. Empty tags defaulted to appVersion accept any rendered tag. When
/// several value images match, the closest wins (exact registry, equal
/// digest and tag, enabled), then the first.
pub fn match_value_paths(
    found: &[Reference],
    value_images: &[ValueImage],
) -> Vec<(Reference, Option<ValueImage>)> {
    found
        .iter()
        .map(|f| {
            let best = value_images
                .iter()
                .filter_map(|v| match_score(f, v).map(|s| (s, v)))
                .fold(None::<(u32, &ValueImage)>, |best, (s, v)| match best {
                    Some((b, _)) if b >= s => best,
                    _ => Some((s, v)),
                });
            (f.clone(), best.map(|(_, v)| v.clone()))
        })
        .collect()
}

/// A value image that no rendered image matched: it may be pulled (after a
/// configuration change, at runtime), but is not known to be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PossibleImage {
    pub value_image: ValueImage,
    /// Why it is only possible.
    pub reason: String,
}

/// The value images that match none of the rendered images, each with the
/// reason it is only "possible". Value images that do not parse are listed
/// too (with the parse error), so that nothing is dropped silently.
pub fn possible_images(found: &[Reference], value_images: &[ValueImage]) -> Vec<PossibleImage> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for image in value_images {
        if found.iter().any(|f| match_score(f, image).is_some()) {
            continue;
        }
        let key = (image.path.clone(), image.written.clone());
        if !seen.insert(key) {
            continue;
        }
        let reason = match (&image.reference, &image.disabled_by) {
            (Err(e), _) => format!(
                "the value at {} is not a valid image reference: {e}",
                image.path
            ),
            (Ok(_), Some(by)) => format!("under a disabled component ({by})"),
            (Ok(_), None) => "set in the values but not in the rendered manifests \
                              (used only in some configurations, or at runtime)"
                .to_owned(),
        };
        out.push(PossibleImage {
            value_image: image.clone(),
            reason,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SHA: &str = "sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd";

    fn values(yaml: &str) -> Value {
        serde_yaml::from_str(yaml).expect("fixture parses")
    }

    fn reference(s: &str) -> Reference {
        parse_normalized_named(s).unwrap()
    }

    /// (path, style, reference, registry_path, repository_path, tag_path,
    /// digest_path, image_path, hub_path) for table comparisons.
    type Row = (
        &'static str,
        ImageStyle,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
    );

    fn check(name: &str, fixture: &str, app_version: Option<&str>, expected: &[Row]) {
        let found = find_value_images(&values(fixture), app_version);
        let actual: Vec<_> = found
            .iter()
            .map(|v| {
                (
                    v.path.clone(),
                    v.style,
                    v.reference
                        .as_ref()
                        .map(|r| r.to_string())
                        .unwrap_or_else(|e| e.clone()),
                    v.registry_path.clone(),
                    v.repository_path.clone(),
                    v.tag_path.clone(),
                    v.digest_path.clone(),
                    v.image_path.clone(),
                    v.hub_path.clone(),
                )
            })
            .collect();
        let expected: Vec<_> = expected
            .iter()
            .map(|e| {
                let s = |o: Option<&str>| o.map(str::to_owned);
                (
                    e.0.to_owned(),
                    e.1,
                    e.2.to_owned(),
                    s(e.3),
                    s(e.4),
                    s(e.5),
                    s(e.6),
                    s(e.7),
                    s(e.8),
                )
            })
            .collect();
        let (mut actual, mut expected) = (actual, expected);
        actual.sort();
        expected.sort();
        assert_eq!(actual, expected, "case {name}");
    }

    #[test]
    fn recognises_every_style() {
        use ImageStyle::*;
        let ingress = format!(
            "controller:\n  image:\n    registry: registry.k8s.io\n    image: ingress-nginx/controller\n    tag: v1.10.0\n    digest: {SHA}\n"
        );
        let cases: Vec<(&str, &str, Option<&str>, Vec<Row>)> = vec![
            (
                "bitnami",
                "global:\n  imageRegistry: \"\"\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.2.4-debian-12-r0\n  digest: \"\"\n  pullPolicy: IfNotPresent\n",
                Some("7.2.4"),
                vec![("image", RegistryRepository, "docker.io/bitnami/redis:7.2.4-debian-12-r0",
                      Some("image.registry"), Some("image.repository"), Some("image.tag"), Some("image.digest"), None, None)],
            ),
            (
                "repository and numeric tag",
                "app:\n  image:\n    repository: quay.io/acme/app\n    tag: 1.5\n",
                None,
                vec![("app.image", Repository, "quay.io/acme/app:1.5",
                      None, Some("app.image.repository"), Some("app.image.tag"), None, None, None)],
            ),
            (
                "cert-manager style: tag absent, appVersion used",
                "image:\n  repository: quay.io/jetstack/cert-manager-controller\n  pullPolicy: IfNotPresent\n",
                Some("v1.14.0"),
                vec![("image", Repository, "quay.io/jetstack/cert-manager-controller:v1.14.0",
                      None, Some("image.repository"), Some("image.tag"), None, None, None)],
            ),
            (
                "ingress-nginx registry/image/tag/digest",
                &ingress,
                None,
                vec![("controller.image", ImageAndTag,
                      "registry.k8s.io/ingress-nginx/controller:v1.10.0@sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd",
                      Some("controller.image.registry"), None, Some("controller.image.tag"), Some("controller.image.digest"),
                      Some("controller.image.image"), None)],
            ),
            (
                "image string and image + sibling tag",
                "a:\n  image: ghcr.io/acme/a:1.0\nb:\n  image: acme/b\n  tag: \"2\"\nc:\n  configReloaderImage: quay.io/acme/reloader:v3\n  someImage: not a reference\n",
                None,
                vec![
                    ("a", ImageString, "ghcr.io/acme/a:1.0", None, None, None, None, Some("a.image"), None),
                    ("b", ImageAndTag, "docker.io/acme/b:2", None, None, Some("b.tag"), None, Some("b.image"), None),
                    ("c", ImageString, "quay.io/acme/reloader:v3", None, None, None, None, Some("c.configReloaderImage"), None),
                ],
            ),
            (
                "istio hub/tag with defaults under _internal_defaults_do_not_set",
                "_internal_defaults_do_not_set:\n  hub: \"\"\n  tag: \"\"\n  image: pilot\n  global:\n    hub: docker.io/istio\n    tag: 1.27.1\n    proxy:\n      image: proxyv2\n    proxy_init:\n      image: proxyv2\npilot:\n  image: my.reg/istio/pilot:custom\n",
                Some("1.27.1"),
                vec![
                    ("global.proxy", HubTag, "docker.io/istio/proxyv2:1.27.1", None, None, Some("global.tag"), None, Some("global.proxy.image"), Some("global.hub")),
                    ("global.proxy_init", HubTag, "docker.io/istio/proxyv2:1.27.1", None, None, Some("global.tag"), None, Some("global.proxy_init.image"), Some("global.hub")),
                    ("", HubTag, "docker.io/istio/pilot:1.27.1", None, None, Some("global.tag"), None, Some("image"), Some("global.hub")),
                    ("pilot", ImageString, "my.reg/istio/pilot:custom", None, None, None, None, Some("pilot.image"), None),
                ],
            ),
            (
                "istio variant",
                "global:\n  hub: docker.io/istio\n  tag: 1.22.0\n  variant: distroless\n  proxy:\n    image: proxyv2\n",
                None,
                vec![("global.proxy", HubTag, "docker.io/istio/proxyv2:1.22.0-distroless", None, None, Some("global.tag"), None, Some("global.proxy.image"), Some("global.hub"))],
            ),
            (
                "kube-prometheus-stack sha and nested image maps",
                "prometheusOperator:\n  thanosImage:\n    registry: quay.io\n    repository: thanos/thanos\n    tag: v0.34.0\n    sha: \"4c0f1fc2b6a3bd2b41be2d8b3a6d41dbd8b3b0f3b8c8f0e0c2d4b9f3a1e2d3c4\"\n  image:\n    busybox:\n      registry: docker.io\n      repository: busybox\n      tag: latest\n      sha: \"\"\n",
                None,
                vec![
                    ("prometheusOperator.image.busybox", RegistryRepository, "docker.io/library/busybox:latest",
                     Some("prometheusOperator.image.busybox.registry"), Some("prometheusOperator.image.busybox.repository"),
                     Some("prometheusOperator.image.busybox.tag"), Some("prometheusOperator.image.busybox.sha"), None, None),
                    ("prometheusOperator.thanosImage", RegistryRepository,
                     "quay.io/thanos/thanos:v0.34.0@sha256:4c0f1fc2b6a3bd2b41be2d8b3a6d41dbd8b3b0f3b8c8f0e0c2d4b9f3a1e2d3c4",
                     Some("prometheusOperator.thanosImage.registry"), Some("prometheusOperator.thanosImage.repository"),
                     Some("prometheusOperator.thanosImage.tag"), Some("prometheusOperator.thanosImage.sha"), None, None),
                ],
            ),
            (
                "argo-cd global.image with empty per-component overrides",
                "global:\n  image:\n    repository: quay.io/argoproj/argocd\n    tag: \"\"\ncontroller:\n  image:\n    repository: \"\"\n    tag: \"\"\ndex:\n  image:\n    repository: ghcr.io/dexidp/dex\n    tag: v2.38.0\n",
                Some("v2.10.0"),
                vec![
                    ("global.image", Repository, "quay.io/argoproj/argocd:v2.10.0", None, Some("global.image.repository"), Some("global.image.tag"), None, None, None),
                    ("dex.image", Repository, "ghcr.io/dexidp/dex:v2.38.0", None, Some("dex.image.repository"), Some("dex.image.tag"), None, None, None),
                ],
            ),
            (
                "not images: URLs, lists of git repositories",
                "repositories:\n  - url: https://github.com/a/b\n    repository: https://github.com/a/b\nhelm:\n  repository: https://charts.example.com\n  tag: x\n",
                None,
                vec![],
            ),
            (
                "images in lists",
                "extraContainers:\n  - name: sidecar\n    image: quay.io/acme/sidecar:1\n",
                None,
                vec![("extraContainers[0]", ImageString, "quay.io/acme/sidecar:1", None, None, None, None, Some("extraContainers[0].image"), None)],
            ),
        ];
        for (name, fixture, app_version, expected) in cases {
            check(name, fixture, app_version, &expected);
        }
    }

    #[test]
    fn global_image_registry_overrides_and_bitnami_switch() {
        let v = values(
            "global:\n  imageRegistry: mirror.local:5000\n  security:\n    allowInsecureImages: false\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 7.2.4\n",
        );
        let found = find_value_images(&v, None);
        assert_eq!(found.len(), 1);
        let image = &found[0];
        assert_eq!(
            image.reference.as_ref().unwrap().to_string(),
            "mirror.local:5000/bitnami/redis:7.2.4"
        );
        assert_eq!(
            image.global_registry_path.as_deref(),
            Some("global.imageRegistry")
        );
        assert_eq!(image.registry_path.as_deref(), Some("image.registry"));
        assert_eq!(
            image.rewrite_requires,
            vec![(
                "global.security.allowInsecureImages".to_owned(),
                Value::Bool(true)
            )]
        );
        assert_eq!(
            image.controlling_paths(),
            vec![
                "global.imageRegistry",
                "image.registry",
                "image.repository",
                "image.tag"
            ]
        );
    }

    #[test]
    fn malformed_image_values_are_reported_not_dropped() {
        let found = find_value_images(&values("image: \"Not/A Valid:ref\"\n"), None);
        assert_eq!(found.len(), 1);
        assert!(found[0]
            .reference
            .as_ref()
            .unwrap_err()
            .contains("invalid reference"));
        let possible = possible_images(&[], &found);
        assert!(
            possible[0].reason.contains("not a valid image reference"),
            "{possible:?}"
        );
    }

    #[test]
    fn disabled_components_are_possible_with_enabled_false() {
        let v = values(
            "redis-ha:\n  enabled: false\n  image:\n    repository: redis\n    tag: 7.2.4-alpine\n\
             metrics:\n  enabled: true\n  image:\n    repository: quay.io/acme/exporter\n    tag: v1\n\
             thanosRuler:\n  enabled: false\n  spec:\n    image:\n      registry: quay.io\n      repository: thanos/thanos\n      tag: v0.34.0\n",
        );
        let images = find_value_images(&v, None);
        let by_path: BTreeMap<_, _> = images.iter().map(|i| (i.path.as_str(), i)).collect();
        assert_eq!(by_path["redis-ha.image"].enabled, Some(false));
        assert_eq!(
            by_path["redis-ha.image"].disabled_by.as_deref(),
            Some("redis-ha.enabled")
        );
        assert_eq!(by_path["thanosRuler.spec.image"].enabled, Some(false));
        assert_eq!(by_path["metrics.image"].enabled, Some(true));

        let rendered = [reference("quay.io/acme/exporter:v1")];
        let matched = match_value_paths(&rendered, &images);
        assert_eq!(matched[0].1.as_ref().unwrap().path, "metrics.image");
        let possible = possible_images(&rendered, &images);
        let summary: Vec<_> = possible
            .iter()
            .map(|p| {
                (
                    p.value_image.written.as_str(),
                    p.value_image.enabled,
                    p.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "redis:7.2.4-alpine",
                    Some(false),
                    "under a disabled component (redis-ha.enabled)"
                ),
                (
                    "quay.io/thanos/thanos:v0.34.0",
                    Some(false),
                    "under a disabled component (thanosRuler.enabled)"
                ),
            ]
        );
    }

    #[test]
    fn subchart_options_set_app_version_and_condition() {
        let v = values(
            "image:\n  repository: quay.io/acme/app\n  tag: \"\"\n\
             kube-state-metrics:\n  image:\n    registry: registry.k8s.io\n    repository: kube-state-metrics/kube-state-metrics\n    tag: \"\"\n\
             windows:\n  image:\n    registry: ghcr.io\n    repository: acme/win\n    tag: \"1\"\n",
        );
        let options = WalkOptions {
            app_version: Some("v1.0.0".into()),
            subcharts: vec![
                Subchart {
                    path: "kube-state-metrics".into(),
                    name: "kube-state-metrics".into(),
                    version: Some("5.0.0".into()),
                    app_version: Some("2.10.0".into()),
                    disabled: None,
                },
                Subchart {
                    path: "windows".into(),
                    name: "prometheus-windows-exporter".into(),
                    version: None,
                    app_version: None,
                    disabled: Some("condition windowsMonitoring.enabled is false".into()),
                },
            ],
        };
        let images = find_value_images_with(&v, &options);
        let refs: Vec<_> = images
            .iter()
            .map(|i| {
                (
                    i.reference.as_ref().unwrap().to_string(),
                    i.enabled,
                    i.tag_from_app_version,
                )
            })
            .collect();
        assert_eq!(
            refs,
            vec![
                ("quay.io/acme/app:v1.0.0".to_owned(), None, true),
                (
                    "registry.k8s.io/kube-state-metrics/kube-state-metrics:2.10.0".to_owned(),
                    None,
                    true
                ),
                ("ghcr.io/acme/win:1".to_owned(), Some(false), false),
            ]
        );
        assert_eq!(
            images[2].disabled_by.as_deref(),
            Some("condition windowsMonitoring.enabled is false")
        );
    }

    #[test]
    fn matching_tolerates_registry_defaulting_and_app_version_tags() {
        let v = values(&format!(
            "controller:\n  image:\n    image: ingress-nginx/controller\n    tag: v1.10.0\n    digest: {SHA}\n\
             defaultBackend:\n  image:\n    image: defaultbackend-amd64\n    tag: \"1.5\"\n\
             nodeExporter:\n  image:\n    registry: quay.io\n    repository: prometheus/node-exporter\n    tag: \"\"\n\
             official:\n  image: redis:7\n\
             pinned:\n  image:\n    registry: quay.io\n    repository: acme/pinned\n    tag: \"2\"\n"
        ));
        let images = find_value_images(&v, Some("1.8.0"));
        let rendered: Vec<Reference> = [
            format!("registry.k8s.io/ingress-nginx/controller:v1.10.0@{SHA}"),
            "registry.k8s.io/defaultbackend-amd64:1.5".to_owned(),
            "quay.io/prometheus/node-exporter:v1.8.0-distroless".to_owned(),
            "docker.io/library/redis:7".to_owned(),
            "quay.io/acme/pinned:3".to_owned(),
            "quay.io/other/thing:1".to_owned(),
        ]
        .iter()
        .map(|s| reference(s))
        .collect();
        let matched: Vec<_> = match_value_paths(&rendered, &images)
            .into_iter()
            .map(|(r, v)| (r.to_string(), v.map(|v| v.path)))
            .collect();
        let paths: Vec<_> = matched.iter().map(|(_, p)| p.as_deref()).collect();
        assert_eq!(
            paths,
            vec![
                Some("controller.image"),
                Some("defaultBackend.image"),
                Some("nodeExporter.image"),
                Some("official"),
                None, // a different explicit tag is a different image
                None,
            ],
            "{matched:?}"
        );
        // A digest mismatch is not a match either.
        let other = reference(&format!(
            "registry.k8s.io/ingress-nginx/controller:v1.10.0@sha256:{}",
            "0".repeat(64)
        ));
        assert_eq!(match_value_paths(&[other], &images)[0].1, None);
        // The explicitly tagged image no rendered image matched is "possible".
        let possible = possible_images(&rendered, &images);
        assert_eq!(possible.len(), 1);
        assert_eq!(possible[0].value_image.path, "pinned.image");
        assert!(possible[0].reason.contains("not in the rendered manifests"));
    }

    #[test]
    fn enabled_image_wins_over_disabled_duplicate() {
        let v = values(
            "thanosRuler:\n  enabled: false\n  image:\n    registry: quay.io\n    repository: thanos/thanos\n    tag: v1\n\
             operator:\n  thanosImage:\n    registry: quay.io\n    repository: thanos/thanos\n    tag: v1\n",
        );
        let images = find_value_images(&v, None);
        let matched = match_value_paths(&[reference("quay.io/thanos/thanos:v1")], &images);
        assert_eq!(matched[0].1.as_ref().unwrap().path, "operator.thanosImage");
    }

    #[test]
    fn value_paths_parse_and_look_up() {
        let key = |k: &str| Segment::Key(k.to_owned());
        assert_eq!(parse_value_path("a.b").unwrap(), vec![key("a"), key("b")]);
        assert_eq!(
            parse_value_path("a[\"x.y\"].c").unwrap(),
            vec![key("a"), key("x.y"), key("c")]
        );
        assert_eq!(
            parse_value_path("l[0].image").unwrap(),
            vec![key("l"), Segment::Index(0), key("image")]
        );
        for bad in ["", "a..b", "a.", ".a", "a[x]", "a[\"x", "a[0"] {
            assert!(parse_value_path(bad).is_err(), "{bad:?} should not parse");
        }
        let v = json!({"a": {"x.y": {"c": 1}}, "l": [{"image": "i"}]});
        assert_eq!(lookup(&v, "a[\"x.y\"].c"), Some(&json!(1)));
        assert_eq!(lookup(&v, "l[0].image"), Some(&json!("i")));
        assert_eq!(lookup(&v, "l[1].image"), None);
        assert_eq!(lookup(&v, "a.missing"), None);
        assert_eq!(join_path("grafana", "image.tag"), "grafana.image.tag");
        assert_eq!(join_path("", "image"), "image");
    }

    #[test]
    fn deep_merge_follows_helm() {
        let mut base = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        deep_merge(&mut base, &json!({"a": {"b": 3, "c": null}, "d": [2]}));
        assert_eq!(base, json!({"a": {"b": 3}, "d": [2]}));
    }
}
