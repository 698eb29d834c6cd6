//! Image hints: what kod cannot find by rendering a chart or reading its
//! values, and how to redirect what it finds.
//!
//! A hints file (`kod-hints.yaml`, format in `docs/hints.md`) says, per chart
//! name (optionally per semver range of chart versions):
//!
//! - **extra images** to bundle always (images a chart or operator pulls
//!   that appear nowhere in the rendered manifests);
//! - **value images**: for an image, the value paths its registry,
//!   repository, tag and digest (or istio hub/tag) come from, so that the
//!   rewrite stage knows which values to set to redirect it;
//! - images to **exclude** (exact references or globs);
//! - a **mirror** map from source registries to mirrors to pull from;
//! - **rewrite values** the rewrite must set along with relocated images
//!   (Bitnami's `global.security.allowInsecureImages: true`).
//!
//! A `global` section holds extra images, exclusions and mirrors for every chart.
//!
//! Parsing is strict: unknown keys, invalid value paths, version ranges,
//! images, patterns and mirrors are errors reported as `file:line:column`.
//! Built-in hints for well-known charts are embedded from
//! `builtin-hints.yaml` and parsed with the same parser; user files are
//! layered over them ([`Hints::load`]): for a chart, entries from all
//! sources apply in order, a later value-image hint with the same `path`
//! replaces an earlier one, later mirrors and rewrite values win, and an
//! entry with `replace: true` discards everything earlier for its charts.
//!
//! Use: [`Hints::for_chart`] selects the entries for a chart version, then
//! [`ChartHints::resolve`] evaluates them against the chart's values
//! (under a prefix for subcharts) into [`ResolvedHints`]: value images,
//! resolved extra images, exclusions, mirrors, rewrite values, and the
//! value-image hints that did not fit the values (reported, not dropped).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use semver::{Version, VersionReq};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::reference::{is_explicit_domain, parse_normalized_named, Reference};
use super::values::{
    find_value_images_with, join_path, lookup, merge_istio_defaults, parse_value_path, ImageStyle,
    Segment, Subchart, ValueImage, WalkOptions,
};

/// The built-in hints, embedded in the binary.
pub const BUILTIN_HINTS: &str = include_str!("builtin-hints.yaml");

/// Name given to the built-in hints in messages and provenance.
pub const BUILTIN_SOURCE: &str = "built-in hints";

/// A hints file could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum HintsError {
    /// The file could not be read.
    #[error("cannot read hints file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid YAML or does not follow the hints format.
    #[error("{source_name}:{}: {message}", location(*line, *column))]
    Invalid {
        source_name: String,
        /// 1-based line, when known.
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
}

fn location(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!("{l}:{c}"),
        (Some(l), None) => l.to_string(),
        _ => "?".to_owned(),
    }
}

// ---------------------------------------------------------------------------
// File format

/// A parsed hints file.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HintsFile {
    /// Hints for every chart.
    #[serde(default)]
    pub global: GlobalHints,
    /// Hints per chart.
    #[serde(default)]
    pub charts: Vec<ChartEntry>,
}

/// The `global` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GlobalHints {
    /// Images to bundle whatever the charts.
    #[serde(default)]
    pub images: Vec<ExtraImageHint>,
    /// Images never to bundle.
    #[serde(default)]
    pub exclude: Vec<ImagePattern>,
    /// Source registry → mirror to pull from.
    #[serde(default)]
    pub mirrors: BTreeMap<RegistryName, Mirror>,
}

/// Hints for one chart (or several charts with the same conventions).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChartEntry {
    /// Chart name(s) as in `Chart.yaml`.
    pub chart: ChartNames,
    /// Chart versions the entry applies to (a semver requirement such as
    /// `>=1.20.0, <2`); all versions when absent.
    #[serde(default, deserialize_with = "some")]
    pub versions: Option<VersionRange>,
    /// The entry applies only if all these value paths exist in the
    /// chart's values (to tell a chart family's conventions apart).
    #[serde(default)]
    pub if_values: PathList,
    /// Discard all earlier entries (built-in or from earlier files) for
    /// these charts.
    #[serde(default)]
    pub replace: bool,
    /// Free text shown with the chart's images.
    #[serde(default)]
    pub note: Option<String>,
    /// Images to bundle always.
    #[serde(default)]
    pub images: Vec<ExtraImageHint>,
    /// Value paths that control images.
    #[serde(default)]
    pub value_images: Vec<ValueImageHint>,
    /// Images never to bundle for this chart.
    #[serde(default)]
    pub exclude: Vec<ImagePattern>,
    /// Source registry → mirror, for this chart's images.
    #[serde(default)]
    pub mirrors: BTreeMap<RegistryName, Mirror>,
    /// Values the rewrite must set when it relocates this chart's images.
    #[serde(default)]
    pub rewrite_values: BTreeMap<ValuePath, serde_yaml::Value>,
}

/// An image to bundle although it is not in the rendered manifests.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ExtraImageHint {
    /// The reference; `{appVersion}` and `{version}` are replaced by the
    /// chart's appVersion and version.
    pub image: ImageTemplate,
    /// Why the chart needs it (shown to the user).
    pub reason: String,
}

/// Where the parts of one image come from in the values. Every field is a
/// value path relative to the chart's values (paths starting with `global`
/// are the shared globals), or a list of paths of which the first
/// non-empty one is used.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ValueImageHint {
    /// The map the image is configured in (`controller.image`; `""` for the
    /// root); identifies the hint when layering files.
    pub path: ValuePath,
    /// Registry (`image.registry`; list overrides first:
    /// `[global.imageRegistry, image.registry]`).
    #[serde(default)]
    pub registry: PathList,
    /// Path segment between registry and name (cert-manager's `imageNamespace`).
    #[serde(default)]
    pub namespace: PathList,
    /// Image name joined to `hub` (istio), or to registry and namespace
    /// when `repository` is not set.
    #[serde(default)]
    pub name: PathList,
    /// Repository, joined to registry and namespace (`bitnami/redis`).
    #[serde(default)]
    pub repository: PathList,
    /// Full repository including the registry; when non-empty it is used
    /// instead of registry/namespace/repository/name (ingress-nginx's and
    /// cert-manager's `image.repository`).
    #[serde(default)]
    pub full_repository: PathList,
    /// A string holding the whole reference (a tag is appended if it has none).
    #[serde(default)]
    pub image: PathList,
    /// Istio-style hub: `hub/name:tag[-variant]`, unless the name contains `/`.
    #[serde(default)]
    pub hub: PathList,
    #[serde(default)]
    pub tag: PathList,
    /// Digest (`sha256:…`, or bare hex as in kube-prometheus-stack's `sha`).
    #[serde(default)]
    pub digest: PathList,
    /// Istio variant, appended to the tag as `-variant` unless `default`.
    #[serde(default)]
    pub variant: PathList,
    /// Tag used when the tag fields are empty: `{appVersion}`, `v{appVersion}`.
    #[serde(default, deserialize_with = "some")]
    pub default_tag: Option<ImageTemplate>,
    /// With a digest, the tag is dropped (Bitnami's `common.images.image`).
    #[serde(default)]
    pub digest_replaces_tag: bool,
    /// The image is only pulled when one of these value paths is set
    /// (non-empty, non-zero, not false); otherwise it is reported disabled.
    #[serde(default)]
    pub when: PathList,
    /// Why these paths are right (shown to the user).
    pub reason: String,
}

/// One or more chart names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartNames(pub Vec<String>);

/// A validated value path (see [`parse_value_path`]); `""` is the root.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ValuePath(pub String);

/// Zero or more value paths, written as one string or a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathList(pub Vec<String>);

/// A semver requirement on chart versions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionRange {
    pub text: String,
    pub req: VersionReq,
}

/// An image reference, possibly with `{appVersion}`/`{version}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTemplate(pub String);

/// An exclusion: an exact reference, or a glob over the normalised
/// reference (`*` any run of characters, `?` one character).
#[derive(Debug, Clone)]
pub struct ImagePattern {
    pub text: String,
    matcher: PatternMatcher,
}

#[derive(Debug, Clone)]
enum PatternMatcher {
    Exact(Reference),
    Glob(Regex),
}

impl PartialEq for ImagePattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

/// A registry host (`docker.io`, `quay.io`, `localhost:5000`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegistryName(pub String);

/// A mirror: host, optional port and optional path prefix (`mirror.local:5000/hub`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror(pub String);

impl ImagePattern {
    /// Parses an exclusion pattern.
    pub fn parse(text: &str) -> Result<ImagePattern, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("empty image pattern".to_owned());
        }
        let matcher =
            if text.contains(['*', '?']) {
                let mut re = String::from("^");
                for c in text.chars() {
                    match c {
                        '*' => re.push_str(".*"),
                        '?' => re.push('.'),
                        c => re.push_str(&regex::escape(&c.to_string())),
                    }
                }
                re.push('$');
                PatternMatcher::Glob(Regex::new(&re).map_err(|e| e.to_string())?)
            } else {
                PatternMatcher::Exact(parse_normalized_named(text).map_err(|e| {
                    format!("exclude pattern is not a glob nor a valid reference: {e}")
                })?)
            };
        Ok(ImagePattern {
            text: text.to_owned(),
            matcher,
        })
    }

    /// True if the pattern matches the reference. An exact reference
    /// without tag or digest matches every tag and digest of the repository;
    /// a glob is matched against the normalised reference
    /// (`docker.io/library/busybox:1.28`, `…@sha256:…` when pinned).
    pub fn matches(&self, reference: &Reference) -> bool {
        match &self.matcher {
            PatternMatcher::Exact(exact) if exact.is_name_only() => {
                exact.repository() == reference.repository()
            }
            PatternMatcher::Exact(exact) => {
                exact.repository() == reference.repository()
                    && (exact.tag().is_none() || exact.tag() == reference.tag())
                    && (exact.digest().is_none() || exact.digest() == reference.digest())
            }
            PatternMatcher::Glob(re) => {
                re.is_match(&reference.to_string())
                    || re.is_match(&reference.string_without_default_tag())
            }
        }
    }
}

impl ImageTemplate {
    /// Replaces the placeholders; fails if one is needed but unknown.
    pub fn render(
        &self,
        app_version: Option<&str>,
        version: Option<&str>,
    ) -> Result<String, String> {
        let mut out = self.0.clone();
        for (placeholder, value) in [("{appVersion}", app_version), ("{version}", version)] {
            if out.contains(placeholder) {
                let value = value.ok_or_else(|| {
                    format!("{:?} needs {placeholder} but the chart has none", self.0)
                })?;
                out = out.replace(placeholder, value);
            }
        }
        Ok(out)
    }
}

impl Mirror {
    /// The reference pulled from the mirror instead.
    pub fn apply(&self, reference: &Reference) -> Result<Reference, String> {
        reference.with_registry(&self.0).map_err(|e| e.to_string())
    }
}

// Validating deserialisers: errors raised here carry the YAML location.

/// Deserialises an optional field through `T` directly (`Option<T>`'s own
/// deserialiser loses the location of errors raised by `T`). An explicit
/// `null` is rejected like any value of the wrong type.
fn some<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl<'de> Deserialize<'de> for ValuePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "value path", |text| {
            if text.is_empty() {
                Ok(ValuePath(String::new()))
            } else {
                check_path(text).map(ValuePath)
            }
        })
    }
}

/// A string checked while its YAML scalar is being read, so that an error
/// carries the scalar's own line and column.
fn checked_str<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    check: fn(&str) -> Result<T, String>,
) -> Result<T, D::Error> {
    d.deserialize_str(Checked { what, check })
}

/// Visitor and seed behind [`checked_str`] and [`one_or_many`].
struct Checked<T> {
    what: &'static str,
    check: fn(&str) -> Result<T, String>,
}

impl<'de, T> Visitor<'de> for Checked<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a {}", self.what)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.check)(v).map_err(E::custom)
    }
}

impl<'de, T> de::DeserializeSeed<'de> for Checked<T> {
    type Value = T;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<T, D::Error> {
        d.deserialize_str(self)
    }
}

/// One checked string, or a list of them.
fn one_or_many<'de, D: Deserializer<'de>, T>(
    d: D,
    what: &'static str,
    check: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, D::Error> {
    struct V<T>(Checked<T>);
    impl<'de, T> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a {} or a list of them", self.0.what)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            self.0.visit_str(v).map(|one| vec![one])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element_seed(Checked {
                what: self.0.what,
                check: self.0.check,
            })? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V(Checked { what, check }))
}

fn check_path(path: &str) -> Result<String, String> {
    parse_value_path(path).map(|_| path.to_owned())
}

impl<'de> Deserialize<'de> for PathList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        one_or_many(d, "value path", check_path).map(PathList)
    }
}

impl<'de> Deserialize<'de> for ChartNames {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fn check(name: &str) -> Result<String, String> {
            if name.trim().is_empty() {
                Err("chart names must not be empty".to_owned())
            } else {
                Ok(name.to_owned())
            }
        }
        let names = one_or_many(d, "chart name", check)?;
        if names.is_empty() {
            return Err(de::Error::custom("at least one chart name is needed"));
        }
        Ok(ChartNames(names))
    }
}

impl<'de> Deserialize<'de> for VersionRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "semver version range", |text| {
            VersionReq::parse(text)
                .map(|req| VersionRange {
                    text: text.to_owned(),
                    req,
                })
                .map_err(|e| format!("invalid version range {text:?}: {e}"))
        })
    }
}

impl<'de> Deserialize<'de> for ImageTemplate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "image reference", |text| {
            let sample = text
                .replace("{appVersion}", "1.0.0")
                .replace("{version}", "1.0.0");
            if sample.contains(['{', '}']) {
                return Err(format!(
                    "{text:?}: only {{appVersion}} and {{version}} can be substituted"
                ));
            }
            parse_normalized_named(&sample)
                .map_err(|e| format!("not a valid image reference: {e}"))?;
            Ok(ImageTemplate(text.to_owned()))
        })
    }
}

impl<'de> Deserialize<'de> for ImagePattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "image or glob", ImagePattern::parse)
    }
}

static REGISTRY_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?$")
        .expect("registry regex is valid")
});

impl<'de> Deserialize<'de> for RegistryName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "registry host[:port]", |text| {
            if REGISTRY_RE.is_match(text) {
                Ok(RegistryName(text.to_owned()))
            } else {
                Err(format!("{text:?} is not a registry host[:port]"))
            }
        })
    }
}

impl<'de> Deserialize<'de> for Mirror {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        checked_str(d, "mirror registry", |text| {
            let probe =
                parse_normalized_named("docker.io/library/probe").expect("static reference");
            probe
                .with_registry(text)
                .map_err(|e| format!("invalid mirror: {e}"))?;
            Ok(Mirror(text.to_owned()))
        })
    }
}

/// Parses hints text; `source_name` (a path, or [`BUILTIN_SOURCE`]) is used
/// in error messages.
pub fn parse_hints(text: &str, source_name: &str) -> Result<HintsFile, HintsError> {
    if text.trim().is_empty() {
        return Ok(HintsFile::default());
    }
    serde_yaml::from_str(text).map_err(|e| {
        let location = e.location();
        let message = strip_location(&e.to_string());
        HintsError::Invalid {
            source_name: source_name.to_owned(),
            line: location.as_ref().map(|l| l.line()),
            column: location.as_ref().map(|l| l.column()),
            message,
        }
    })
}

/// serde_yaml appends " at line L column C"; the location is printed first instead.
fn strip_location(message: &str) -> String {
    static AT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r" at line \d+ column \d+").expect("regex is valid"));
    AT.replace(message, "").into_owned()
}

// ---------------------------------------------------------------------------
// Layering and selection

/// Hints from several sources, lowest precedence first.
#[derive(Debug, Clone, Default)]
pub struct Hints {
    sources: Vec<(String, HintsFile)>,
}

impl Hints {
    /// The `global.mirrors` of every source, later sources winning: where the connected
    /// side pulls each source registry's images from (`kod helmfile package` uses them like
    /// `--source-registry-mirror`, which wins over them).
    pub fn global_mirrors(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for (_, file) in &self.sources {
            for (registry, mirror) in &file.global.mirrors {
                out.insert(registry.0.clone(), mirror.0.clone());
            }
        }
        out
    }
}

/// A chart entry with the source it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct SourcedEntry {
    pub source: String,
    pub entry: ChartEntry,
}

impl Hints {
    /// No hints at all.
    pub fn empty() -> Hints {
        Hints::default()
    }

    /// The built-in hints.
    pub fn builtin() -> Result<Hints, HintsError> {
        let mut hints = Hints::empty();
        hints.push(BUILTIN_SOURCE, parse_hints(BUILTIN_HINTS, BUILTIN_SOURCE)?);
        Ok(hints)
    }

    /// Built-in hints, then each file in order (later files win).
    pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Hints, HintsError> {
        let mut hints = Hints::builtin()?;
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|source| HintsError::Read {
                path: path.to_owned(),
                source,
            })?;
            hints.push(
                &path.display().to_string(),
                parse_hints(&text, &path.display().to_string())?,
            );
        }
        Ok(hints)
    }

    /// Adds a parsed file with higher precedence than those before it.
    pub fn push(&mut self, source_name: &str, file: HintsFile) {
        self.sources.push((source_name.to_owned(), file));
    }

    /// The entries that apply to a chart version, in precedence order.
    /// Entries with a version range do not apply when the version is
    /// unknown or not semver (a leading `v` is accepted; pre-releases only
    /// match ranges that name a pre-release, as in semver).
    pub fn for_chart(&self, name: &str, version: Option<&str>) -> ChartHints {
        let parsed = version.and_then(|v| Version::parse(v.strip_prefix('v').unwrap_or(v)).ok());
        let mut entries: Vec<SourcedEntry> = Vec::new();
        for (source, file) in &self.sources {
            for entry in &file.charts {
                if !entry.chart.0.iter().any(|n| n == name) {
                    continue;
                }
                if let Some(range) = &entry.versions {
                    if !parsed.as_ref().is_some_and(|v| range.req.matches(v)) {
                        continue;
                    }
                }
                if entry.replace {
                    entries.clear();
                }
                entries.push(SourcedEntry {
                    source: source.clone(),
                    entry: entry.clone(),
                });
            }
        }
        ChartHints {
            chart: name.to_owned(),
            version: version.map(str::to_owned),
            entries,
            global: self.global(),
        }
    }

    /// The `global` sections merged: images and exclusions added up,
    /// mirrors of later sources winning.
    fn global(&self) -> Vec<(String, GlobalHints)> {
        self.sources
            .iter()
            .map(|(s, f)| (s.clone(), f.global.clone()))
            .collect()
    }
}

/// The hint entries that apply to one chart version.
#[derive(Debug, Clone)]
pub struct ChartHints {
    pub chart: String,
    pub version: Option<String>,
    pub entries: Vec<SourcedEntry>,
    global: Vec<(String, GlobalHints)>,
}

/// Where the chart sits and what it is, for [`ChartHints::resolve`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ResolveContext<'a> {
    /// Values path of the chart inside the values given (`grafana` for a
    /// subchart of that name); `""` for the top-level chart.
    pub prefix: &'a str,
    pub app_version: Option<&'a str>,
    /// The chart version (for `{version}`).
    pub version: Option<&'a str>,
}

/// An extra image, resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraImage {
    pub written: String,
    pub reference: Result<Reference, String>,
    pub reason: String,
    /// `global` or the chart name, and the hints source.
    pub provenance: String,
}

/// An exclusion with its provenance.
#[derive(Debug, Clone, PartialEq)]
pub struct Exclusion {
    pub pattern: ImagePattern,
    pub provenance: String,
}

/// Everything the hints say about one chart with given values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedHints {
    /// Value images declared by hints, evaluated against the values.
    pub value_images: Vec<ValueImage>,
    pub extra_images: Vec<ExtraImage>,
    pub exclude: Vec<Exclusion>,
    /// Source registry → mirror (chart entries over global).
    pub mirrors: BTreeMap<String, String>,
    /// Value path (prefixed for subcharts) → value to set when relocating.
    pub rewrite_values: BTreeMap<String, Json>,
    pub notes: Vec<String>,
    /// Value-image hints that do not fit these values (their fields are
    /// absent or empty), with the reason.
    pub unresolved: Vec<String>,
}

impl ResolvedHints {
    /// The first exclusion matching the reference.
    pub fn excluded(&self, reference: &Reference) -> Option<&Exclusion> {
        self.exclude.iter().find(|e| e.pattern.matches(reference))
    }

    /// Where to pull the reference from on the connected side, if a mirror
    /// is configured for its registry.
    pub fn mirror_for(&self, reference: &Reference) -> Option<Result<Reference, String>> {
        self.mirrors
            .get(reference.domain())
            .map(|m| Mirror(m.clone()).apply(reference))
    }
}

/// A value path relative to a chart, made absolute: globals are shared.
fn absolute(prefix: &str, path: &str) -> String {
    if path == "global" || path.starts_with("global.") || path.starts_with("global[") {
        path.to_owned()
    } else if path.is_empty() {
        prefix.to_owned()
    } else {
        join_path(prefix, path)
    }
}

/// Non-empty scalar text at a path.
fn text_at(values: &Json, path: &str) -> Option<String> {
    match lookup(values, path)? {
        Json::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The first of `paths` with a non-empty value: (absolute path, value).
fn first_set(values: &Json, prefix: &str, paths: &PathList) -> Option<(String, String)> {
    paths.0.iter().find_map(|p| {
        let abs = absolute(prefix, p);
        text_at(values, &abs).map(|v| (abs, v))
    })
}

fn first_path(prefix: &str, paths: &PathList) -> Option<String> {
    paths.0.first().map(|p| absolute(prefix, p))
}

/// Truthy like Go templates: non-empty strings, maps and lists, non-zero numbers, true.
fn truthy(value: Option<&Json>) -> bool {
    match value {
        None | Some(Json::Null) => false,
        Some(Json::Bool(b)) => *b,
        Some(Json::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Json::String(s)) => !s.is_empty(),
        Some(Json::Array(a)) => !a.is_empty(),
        Some(Json::Object(o)) => !o.is_empty(),
    }
}

/// `Some(false)` and the path of the first `enabled: false` on the way
/// down to `path` (the map itself included); `Some(true)` if an `enabled:
/// true` was seen; `None` otherwise.
fn enabled_along(values: &Json, path: &str) -> (Option<bool>, Option<String>) {
    let Ok(segments) = parse_value_path(path) else {
        return (None, None);
    };
    let mut node = values;
    let mut current = String::new();
    let mut seen_true = false;
    let check = |node: &Json, at: &str, seen_true: &mut bool| match node.get("enabled") {
        Some(Json::Bool(false)) => Some(join_path(at, "enabled")),
        Some(Json::Bool(true)) => {
            *seen_true = true;
            None
        }
        _ => None,
    };
    if let Some(off) = check(node, "", &mut seen_true) {
        return (Some(false), Some(off));
    }
    for segment in segments {
        let (next, step) = match &segment {
            Segment::Key(k) => (node.get(k), super::extract::child(&current, k)),
            Segment::Index(i) => (node.get(*i), format!("{current}[{i}]")),
        };
        let Some(next) = next else { break };
        node = next;
        current = step;
        if let Some(off) = check(node, &current, &mut seen_true) {
            return (Some(false), Some(off));
        }
    }
    (seen_true.then_some(true), None)
}

impl ChartHints {
    /// Evaluates the entries against a chart's values (the whole values
    /// tree; the chart's own values under `ctx.prefix`).
    /// Istio's `_internal_defaults_do_not_set` is merged in first, as in
    /// [`super::values::find_value_images_with`].
    pub fn resolve(&self, values: &Json, ctx: &ResolveContext<'_>) -> ResolvedHints {
        let merged = merge_istio_defaults(values);
        let values = &merged;
        let mut out = ResolvedHints::default();
        for (source, global) in &self.global {
            let provenance = format!("global ({source})");
            // No chart versions for global images: placeholders are errors.
            for image in &global.images {
                let no_chart = ResolveContext {
                    prefix: ctx.prefix,
                    app_version: None,
                    version: None,
                };
                out.extra_images
                    .push(extra_image(image, &no_chart, &provenance));
            }
            for pattern in &global.exclude {
                out.exclude.push(Exclusion {
                    pattern: pattern.clone(),
                    provenance: provenance.clone(),
                });
            }
            for (registry, mirror) in &global.mirrors {
                out.mirrors.insert(registry.0.clone(), mirror.0.clone());
            }
        }
        let mut chart_mirrors = BTreeMap::new();
        let mut by_path: Vec<(String, ValueImage)> = Vec::new();
        for SourcedEntry { source, entry } in &self.entries {
            let provenance = format!("{} ({source})", self.chart);
            let missing: Vec<&String> = entry
                .if_values
                .0
                .iter()
                .filter(|p| lookup(values, &absolute(ctx.prefix, p)).is_none())
                .collect();
            if !missing.is_empty() {
                out.notes.push(format!(
                    "hint entry for {provenance} skipped: the values have no {}",
                    missing
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                continue;
            }
            if let Some(note) = &entry.note {
                out.notes.push(format!("{provenance}: {}", note.trim()));
            }
            for image in &entry.images {
                out.extra_images.push(extra_image(image, ctx, &provenance));
            }
            for hint in &entry.value_images {
                let key = absolute(ctx.prefix, &hint.path.0);
                by_path.retain(|(p, _)| *p != key);
                match evaluate(hint, values, ctx, &provenance) {
                    Ok(image) => by_path.push((key, image)),
                    Err(why) => out.unresolved.push(format!(
                        "value-image hint {:?} from {provenance}: {why}",
                        hint.path.0
                    )),
                }
            }
            for pattern in &entry.exclude {
                out.exclude.push(Exclusion {
                    pattern: pattern.clone(),
                    provenance: provenance.clone(),
                });
            }
            for (registry, mirror) in &entry.mirrors {
                chart_mirrors.insert(registry.0.clone(), mirror.0.clone());
            }
            for (path, value) in &entry.rewrite_values {
                let json = serde_json::to_value(value).unwrap_or(Json::Null);
                out.rewrite_values
                    .insert(absolute(ctx.prefix, &path.0), json);
            }
        }
        out.mirrors.extend(chart_mirrors);
        out.value_images = by_path.into_iter().map(|(_, v)| v).collect();
        // Extra images listed twice (e.g. by two sources) are kept once.
        let mut seen = std::collections::HashSet::new();
        out.extra_images.retain(|i| seen.insert(i.written.clone()));
        out
    }
}

fn extra_image(hint: &ExtraImageHint, ctx: &ResolveContext<'_>, provenance: &str) -> ExtraImage {
    let rendered = hint.image.render(ctx.app_version, ctx.version);
    let written = rendered.clone().unwrap_or_else(|_| hint.image.0.clone());
    let reference = rendered.and_then(|s| parse_normalized_named(&s).map_err(|e| e.to_string()));
    ExtraImage {
        written,
        reference,
        reason: hint.reason.trim().to_owned(),
        provenance: provenance.to_owned(),
    }
}

/// Assembles the image a value-image hint describes.
fn evaluate(
    hint: &ValueImageHint,
    values: &Json,
    ctx: &ResolveContext<'_>,
    provenance: &str,
) -> Result<ValueImage, String> {
    let prefix = ctx.prefix;
    let path = absolute(prefix, &hint.path.0);
    let (enabled, disabled_by) = enabled_along(values, &path);
    let mut image = ValueImage {
        path: path.clone(),
        style: ImageStyle::Hint,
        registry_path: None,
        global_registry_path: None,
        namespace_path: first_path(prefix, &hint.namespace),
        repository_path: None,
        repository_is_name: false,
        tag_path: first_path(prefix, &hint.tag),
        digest_path: first_path(prefix, &hint.digest),
        image_path: first_path(prefix, &hint.image),
        hub_path: None,
        written: String::new(),
        reference: Err(String::new()),
        registry_explicit: false,
        tag_from_app_version: false,
        enabled,
        disabled_by,
        rewrite_requires: Vec::new(),
        notes: vec![format!("hint from {provenance}: {}", hint.reason.trim())],
    };
    // The registry fields: the first global one is the chart-wide switch.
    for p in &hint.registry.0 {
        let abs = absolute(prefix, p);
        if abs.starts_with("global") {
            image.global_registry_path.get_or_insert(abs);
        } else {
            image.registry_path.get_or_insert(abs);
        }
    }
    if let (Some(global), Some(own)) = (&image.global_registry_path, &image.registry_path) {
        let global_first = hint
            .registry
            .0
            .first()
            .is_some_and(|p| absolute(prefix, p) == *global);
        image.notes.push(if global_first {
            format!("{global} overrides {own} when set")
        } else {
            format!("{global} is used when {own} is empty")
        });
    }
    for p in &hint.hub.0 {
        let abs = absolute(prefix, p);
        if image.hub_path.is_none() || abs.starts_with("global") {
            image.hub_path = Some(abs);
        }
    }
    // The paths reported are those whose value was used, else the first listed.
    let tag = first_set(values, prefix, &hint.tag).map(|(p, v)| {
        image.tag_path = Some(p);
        v
    });
    let tag = match (tag, &hint.default_tag) {
        (Some(tag), _) => Some(tag),
        (None, Some(default)) => {
            image.tag_from_app_version = default.0.contains("{appVersion}");
            let rendered = default.render(ctx.app_version, ctx.version)?;
            image.notes.push(format!(
                "tag fields empty: {rendered} (from {:?})",
                default.0
            ));
            Some(rendered)
        }
        (None, None) => None,
    };
    let digest = first_set(values, prefix, &hint.digest).map(|(p, d)| {
        image.digest_path = Some(p);
        if d.contains(':') {
            d
        } else {
            format!("sha256:{d}")
        }
    });
    let variant = first_set(values, prefix, &hint.variant)
        .map(|(_, v)| v)
        .filter(|v| v != "default");

    // Istio uses a name containing "/" as a full reference, without tag.
    let mut used_as_is = false;
    let base = if let Some((p, whole)) = first_set(values, prefix, &hint.image) {
        image.image_path = Some(p);
        whole
    } else if let Some((hub_path, hub)) = first_set(values, prefix, &hint.hub) {
        let (name_path, name) = first_set(values, prefix, &hint.name)
            .ok_or_else(|| format!("no image name at {}", hint.name.0.join(" or ")))?;
        image.image_path = Some(name_path);
        if name.contains('/') {
            image.hub_path = None;
            image.tag_path = None;
            image.digest_path = None;
            used_as_is = true;
            name
        } else {
            image.hub_path = Some(hub_path);
            format!("{}/{name}", hub.trim_end_matches('/'))
        }
    } else if let Some((p, full)) = first_set(values, prefix, &hint.full_repository) {
        // The full repository replaces the registry and namespace fields.
        image.repository_path = Some(p);
        image.registry_path = None;
        image.global_registry_path = None;
        image.namespace_path = None;
        full
    } else {
        let from_repository = first_set(values, prefix, &hint.repository);
        image.repository_is_name = from_repository.is_none();
        let (last_path, last) = from_repository
            .or_else(|| first_set(values, prefix, &hint.name))
            .ok_or_else(|| {
                let fields: Vec<&str> = [
                    &hint.image,
                    &hint.full_repository,
                    &hint.repository,
                    &hint.name,
                ]
                .iter()
                .flat_map(|l| l.0.iter().map(String::as_str))
                .collect();
                format!("none of {} is set", fields.join(", "))
            })?;
        image.repository_path = Some(last_path);
        let mut parts = Vec::new();
        if let Some((_, registry)) = first_set(values, prefix, &hint.registry) {
            parts.push(registry.trim_end_matches('/').to_owned());
        }
        if let Some((_, namespace)) = first_set(values, prefix, &hint.namespace) {
            parts.push(namespace.trim_matches('/').to_owned());
        }
        parts.push(last);
        parts.join("/")
    };
    let first = base.split('/').next().unwrap_or_default();
    image.registry_explicit = base.contains('/') && is_explicit_domain(first);
    let mut written = base;
    let already_tagged = parse_normalized_named(&written).is_ok_and(|r| !r.is_name_only());
    if !already_tagged && !used_as_is {
        let drop_tag = hint.digest_replaces_tag && digest.is_some();
        if let (Some(tag), false) = (&tag, drop_tag) {
            written = match &variant {
                Some(v) if !hint.hub.0.is_empty() => format!("{written}:{tag}-{v}"),
                _ => format!("{written}:{tag}"),
            };
        }
        if let Some(digest) = &digest {
            written = format!("{written}@{digest}");
        }
    }
    if !hint.when.0.is_empty()
        && !hint
            .when
            .0
            .iter()
            .any(|p| truthy(lookup(values, &absolute(prefix, p))))
    {
        image.enabled = Some(false);
        image.disabled_by.get_or_insert_with(|| {
            format!("only pulled when one of {} is set", hint.when.0.join(", "))
        });
    }
    image.reference = parse_normalized_named(&written).map_err(|e| e.to_string());
    image.written = written;
    Ok(image)
}

/// Identity of a chart for [`chart_value_images`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChartMeta {
    pub name: String,
    pub version: Option<String>,
    pub app_version: Option<String>,
}

/// Everything known about a chart's value images: the values walk and the
/// hints of the chart and of each subchart, combined.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartValueImages {
    /// Value images, hints first (see [`merge_value_images`]).
    pub value_images: Vec<ValueImage>,
    /// The resolved hints: the chart's own under `""`, each subchart's
    /// under its values path.
    pub hints: Vec<(String, ResolvedHints)>,
}

impl ChartValueImages {
    /// Extra images of the chart and its subcharts.
    pub fn extra_images(&self) -> impl Iterator<Item = &ExtraImage> {
        self.hints.iter().flat_map(|(_, h)| h.extra_images.iter())
    }

    /// Value-image hints that did not fit the values.
    pub fn unresolved(&self) -> impl Iterator<Item = &String> {
        self.hints.iter().flat_map(|(_, h)| h.unresolved.iter())
    }
}

/// Walks a release's effective values (the chart's defaults with its
/// subcharts' under their keys, merged with user values) and resolves the
/// hints of the chart and of every subchart: the one call discovery needs.
/// Subcharts' appVersions and enabled states come from `subcharts`.
pub fn chart_value_images(
    values: &Json,
    chart: &ChartMeta,
    subcharts: &[Subchart],
    hints: &Hints,
) -> ChartValueImages {
    let values = merge_istio_defaults(values);
    let walked = find_value_images_with(
        &values,
        &WalkOptions {
            app_version: chart.app_version.clone(),
            subcharts: subcharts.to_vec(),
        },
    );
    let mut resolved = vec![(
        String::new(),
        hints
            .for_chart(&chart.name, chart.version.as_deref())
            .resolve(
                &values,
                &ResolveContext {
                    prefix: "",
                    app_version: chart.app_version.as_deref(),
                    version: chart.version.as_deref(),
                },
            ),
    )];
    for sub in subcharts {
        let mut sub_hints = hints.for_chart(&sub.name, sub.version.as_deref()).resolve(
            &values,
            &ResolveContext {
                prefix: &sub.path,
                app_version: sub.app_version.as_deref(),
                version: sub.version.as_deref(),
            },
        );
        // Value images of a disabled subchart are only possible; its extra
        // images are not needed.
        if let Some(reason) = &sub.disabled {
            for image in &mut sub_hints.value_images {
                image.enabled = Some(false);
                image.disabled_by.get_or_insert_with(|| reason.clone());
            }
            for extra in std::mem::take(&mut sub_hints.extra_images) {
                sub_hints.notes.push(format!(
                    "extra image {} of subchart {} left out: {reason}",
                    extra.written, sub.path
                ));
            }
        }
        resolved.push((sub.path.clone(), sub_hints));
    }
    // A hint's `rewriteValues` go with every image it declares, so the rewrite sets them.
    let hinted = resolved
        .iter()
        .flat_map(|(_, r)| {
            r.value_images.iter().cloned().map(|mut image| {
                for (path, value) in &r.rewrite_values {
                    if !image.rewrite_requires.iter().any(|(p, _)| p == path) {
                        image.rewrite_requires.push((path.clone(), value.clone()));
                    }
                }
                image
            })
        })
        .collect();
    ChartValueImages {
        value_images: merge_value_images(walked, hinted),
        hints: resolved,
    }
}

/// Combines value images found by walking the values with those declared
/// by hints: a hint replaces every walked image named by the same field
/// (see [`ValueImage::identity_paths`]).
pub fn merge_value_images(walked: Vec<ValueImage>, mut hinted: Vec<ValueImage>) -> Vec<ValueImage> {
    let hinted_fields: std::collections::HashSet<String> = hinted
        .iter()
        .flat_map(|h| h.identity_paths().into_iter().map(str::to_owned))
        .collect();
    // What a relocation needs (found by the walk) still applies when a hint describes the image.
    for h in &mut hinted {
        let ids: Vec<String> = h.identity_paths().into_iter().map(str::to_owned).collect();
        for w in walked.iter().filter(|w| w.identity_paths().iter().any(|p| ids.iter().any(|i| i == p))) {
            for (path, value) in &w.rewrite_requires {
                if !h.rewrite_requires.iter().any(|(p, _)| p == path) {
                    h.rewrite_requires.push((path.clone(), value.clone()));
                }
            }
        }
    }
    let mut out = hinted;
    out.extend(walked.into_iter().filter(|w| {
        !w.identity_paths()
            .iter()
            .any(|p| hinted_fields.contains(*p))
    }));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::values::{find_value_images, match_value_paths};

    fn parse(text: &str) -> Result<HintsFile, HintsError> {
        parse_hints(text, "kod-hints.yaml")
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("should be rejected").to_string()
    }

    fn json(yaml: &str) -> Json {
        serde_yaml::from_str(yaml).unwrap()
    }

    fn reference(s: &str) -> Reference {
        parse_normalized_named(s).unwrap()
    }

    #[test]
    fn examples_in_the_documentation_parse() {
        let doc = include_str!("../../docs/hints.md");
        let mut blocks = 0;
        for (i, block) in doc.split("```yaml\n").skip(1).enumerate() {
            let yaml = block.split("```").next().unwrap();
            parse_hints(yaml, &format!("docs/hints.md example {i}"))
                .unwrap_or_else(|e| panic!("{e}\n{yaml}"));
            blocks += 1;
        }
        assert!(blocks >= 6, "only {blocks} YAML examples found");
    }

    #[test]
    fn builtin_hints_parse() {
        let hints = Hints::builtin().expect("built-in hints parse");
        assert!(!hints.sources[0].1.charts.is_empty());
        for chart in [
            "istiod",
            "gateway",
            "base",
            "redis",
            "kube-prometheus-stack",
            "cert-manager",
            "ingress-nginx",
            "grafana",
            "argo-cd",
        ] {
            assert!(
                !hints.for_chart(chart, Some("99.0.0")).entries.is_empty()
                    || !hints.for_chart(chart, Some("1.27.1")).entries.is_empty(),
                "no built-in hint for {chart}"
            );
        }
    }

    #[test]
    fn errors_carry_file_line_and_column() {
        let cases = [
            ("charts:\n  - chart: redis\n    imagez: []\n", "kod-hints.yaml:3:5: charts[0]: unknown field `imagez`"),
            ("global:\n  mirrors:\n    docker.io: \"not a registry!\"\n", "kod-hints.yaml:3:16: global.mirrors.docker.io: invalid mirror"),
            ("charts:\n  - chart: x\n    versions: \"newest\"\n", "kod-hints.yaml:3:15: charts[0].versions: invalid version range"),
            ("charts:\n  - chart: x\n    versions: \"newest\"\n    note: n\n", "kod-hints.yaml:3:15: charts[0].versions: invalid version range"),
            ("charts:\n  - versions: \"newest\"\n    chart: x\n", "kod-hints.yaml:2:15: charts[0].versions: invalid version range"),
            ("charts:\n  - chart: x\n    valueImages:\n      - path: image\n        tag: \"a..b\"\n        reason: r\n", "kod-hints.yaml:5:14: charts[0].valueImages[0].tag: empty segment"),
            ("charts:\n  - chart: x\n    valueImages:\n      - path: image\n", "kod-hints.yaml:4:9: charts[0].valueImages[0]: missing field `reason`"),
            ("charts:\n  - chart: x\n    exclude: [\"a b\"]\n", "kod-hints.yaml:3:15: charts[0].exclude[0]: exclude pattern is not a glob nor a valid reference"),
            ("charts:\n  - chart: x\n    images:\n      - image: \"a/b:{chartVersion}\"\n        reason: r\n", "kod-hints.yaml:4:16: charts[0].images[0].image: \"a/b:{chartVersion}\": only {appVersion} and {version}"),
            ("charts: [\n", "kod-hints.yaml:2:1: "),
            ("globl: {}\n", "kod-hints.yaml:1:1: unknown field `globl`"),
            ("charts:\n  - chart: []\n",
                "kod-hints.yaml:2:5: charts[0]: at least one chart name is needed",
            ),
            (
                "charts:\n  - chart: [a, \"\"]\n",
                "kod-hints.yaml:2:16: charts[0].chart[1]: chart names must not be empty"),
        ];
        let mut failures = Vec::new();
        for (text, expected) in cases {
            let message = error(text);
            if !message.starts_with(expected) {
                failures.push(format!("{message}  (expected {expected})"));
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn version_ranges_and_layering() {
        let mut hints = Hints::empty();
        hints.push(
            "a",
            parse("charts:\n  - chart: [x, y]\n    note: first\n    valueImages:\n      - path: image\n        repository: image.repository\n        reason: from a\n  - chart: x\n    versions: \">=2.0.0\"\n    note: v2 only\n").unwrap(),
        );
        hints.push(
            "b",
            parse("charts:\n  - chart: x\n    note: second\n    valueImages:\n      - path: image\n        image: image.full\n        reason: from b\n  - chart: y\n    replace: true\n    note: only this\n").unwrap(),
        );
        let notes = |h: &ChartHints| {
            h.entries
                .iter()
                .map(|e| e.entry.note.clone().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            notes(&hints.for_chart("x", Some("1.5.0"))),
            vec!["first", "second"]
        );
        assert_eq!(
            notes(&hints.for_chart("x", Some("v2.1.0"))),
            vec!["first", "v2 only", "second"]
        );
        assert_eq!(notes(&hints.for_chart("x", None)), vec!["first", "second"]);
        assert_eq!(
            notes(&hints.for_chart("y", Some("1.0.0"))),
            vec!["only this"]
        );
        // The later value-image hint for the same path wins.
        let values = json("image:\n  repository: a/b\n  full: quay.io/c/d:1\n");
        let resolved = hints
            .for_chart("x", Some("1.0.0"))
            .resolve(&values, &ResolveContext::default());
        assert_eq!(resolved.value_images.len(), 1);
        assert_eq!(resolved.value_images[0].written, "quay.io/c/d:1");
        assert_eq!(
            resolved.value_images[0].image_path.as_deref(),
            Some("image.full")
        );
    }

    #[test]
    fn value_image_hints_compose_like_the_charts() {
        let file = parse(include_str!("builtin-hints.yaml")).unwrap();
        let mut hints = Hints::empty();
        hints.push(BUILTIN_SOURCE, file);
        // cert-manager: imageRegistry + imageNamespace + name, tag = appVersion.
        let values = json(
            "imageRegistry: quay.io\nimageNamespace: jetstack\nimage:\n  name: cert-manager-controller\n  repository: \"\"\n\
             acmesolver:\n  image:\n    name: cert-manager-acmesolver\n    repository: \"\"\n\
             webhook:\n  image:\n    name: cert-manager-webhook\n    repository: my.reg/cm/webhook\n    tag: v9\n",
        );
        let ctx = ResolveContext {
            prefix: "",
            app_version: Some("v1.21.1"),
            version: Some("v1.21.1"),
        };
        let resolved = hints
            .for_chart("cert-manager", Some("v1.21.1"))
            .resolve(&values, &ctx);
        let by_path: BTreeMap<_, _> = resolved
            .value_images
            .iter()
            .map(|v| (v.path.as_str(), v))
            .collect();
        let acme = by_path["acmesolver.image"];
        assert_eq!(
            acme.written,
            "quay.io/jetstack/cert-manager-acmesolver:v1.21.1"
        );
        assert_eq!(acme.global_registry_path, None);
        assert_eq!(acme.registry_path.as_deref(), Some("imageRegistry"));
        assert_eq!(acme.namespace_path.as_deref(), Some("imageNamespace"));
        assert_eq!(
            acme.repository_path.as_deref(),
            Some("acmesolver.image.name")
        );
        assert!(acme.tag_from_app_version);
        assert_eq!(by_path["webhook.image"].written, "my.reg/cm/webhook:v9");
        assert_eq!(
            by_path["webhook.image"].repository_path.as_deref(),
            Some("webhook.image.repository")
        );

        // istiod: hub/name/tag and a full reference used as is.
        let values = json(
            "global:\n  hub: docker.io/istio\n  tag: 1.27.1\n  variant: distroless\n  proxy:\n    image: proxyv2\n  proxy_init:\n    image: proxyv2\nimage: pilot\n",
        );
        let ctx = ResolveContext {
            prefix: "",
            app_version: Some("1.27.1"),
            version: Some("1.27.1"),
        };
        let resolved = hints
            .for_chart("istiod", Some("1.27.1"))
            .resolve(&values, &ctx);
        let by_path: BTreeMap<_, _> = resolved
            .value_images
            .iter()
            .map(|v| (v.path.as_str(), v))
            .collect();
        assert_eq!(
            by_path["global.proxy"].written,
            "docker.io/istio/proxyv2:1.27.1-distroless"
        );
        assert_eq!(
            by_path["global.proxy"].hub_path.as_deref(),
            Some("global.hub")
        );
        assert_eq!(
            by_path[""].written,
            "docker.io/istio/pilot:1.27.1-distroless"
        );
        assert_eq!(by_path[""].hub_path.as_deref(), Some("global.hub"));
        assert!(resolved
            .extra_images
            .iter()
            .any(|e| e.written == "docker.io/library/busybox:1.28"));
        // The walked hub/tag images are the same fields: the hints replace them.
        let walked = find_value_images(&values, Some("1.27.1"));
        assert_eq!(walked.len(), 3);
        let merged = merge_value_images(walked, resolved.value_images.clone());
        assert_eq!(merged.len(), 3);
        assert!(merged.iter().all(|v| v.style == ImageStyle::Hint));
        assert_eq!(by_path[""].tag_path.as_deref(), Some("global.tag"));

        // A name with "/" is a full reference: no hub, no tag appended.
        let custom = json("global:\n  hub: docker.io/istio\n  tag: 1.27.1\nimage: my.reg/pilot\n");
        let resolved = hints
            .for_chart("istiod", Some("1.27.1"))
            .resolve(&custom, &ctx);
        let pilot = resolved
            .value_images
            .iter()
            .find(|v| v.path.is_empty())
            .unwrap();
        assert_eq!(
            (
                pilot.written.as_str(),
                pilot.hub_path.as_deref(),
                pilot.tag_path.as_deref()
            ),
            ("my.reg/pilot", None, None)
        );

        // kube-prometheus-stack: thanos only when configured; global.imageRegistry first.
        let values = json(
            "global:\n  imageRegistry: \"\"\nprometheus:\n  prometheusSpec:\n    thanos: {}\n\
             prometheusOperator:\n  thanosImage:\n    registry: quay.io\n    repository: thanos/thanos\n    tag: v0.42.4\n    sha: \"\"\n",
        );
        let ctx = ResolveContext {
            prefix: "",
            app_version: Some("v0.93.1"),
            version: Some("88.5.3"),
        };
        let resolved = hints
            .for_chart("kube-prometheus-stack", Some("88.5.3"))
            .resolve(&values, &ctx);
        let thanos = resolved
            .value_images
            .iter()
            .find(|v| v.path == "prometheusOperator.thanosImage")
            .unwrap();
        assert_eq!(thanos.written, "quay.io/thanos/thanos:v0.42.4");
        assert_eq!(thanos.enabled, Some(false));
        assert!(thanos
            .disabled_by
            .as_deref()
            .unwrap()
            .contains("prometheus.prometheusSpec.thanos"));
        assert_eq!(
            thanos.global_registry_path.as_deref(),
            Some("global.imageRegistry")
        );
        assert!(
            !resolved.unresolved.is_empty(),
            "hints for absent paths are reported: {resolved:?}"
        );
    }

    /// Built-in hints on small fixtures shaped like the real charts:
    /// (chart, version, appVersion, values, [(path, image, controlling paths)]).
    #[test]
    fn builtin_hints_on_fixtures() {
        let sha = "sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd";
        let ingress = format!(
            "global:\n  image:\n    registry: registry.k8s.io\ncontroller:\n  image:\n    image: ingress-nginx/controller\n    tag: v1.15.1\n    digest: {sha}\n  admissionWebhooks:\n    patch:\n      image:\n        registry: my.reg\n        image: ingress-nginx/kube-webhook-certgen\n        tag: v1.6.9\ndefaultBackend:\n  enabled: false\n  image:\n    repository: other.reg/defaultbackend\n    tag: \"1.5\"\n"
        );
        let bitnami = format!(
            "global:\n  imageRegistry: \"\"\n  security:\n    allowInsecureImages: false\nimage:\n  registry: docker.io\n  repository: bitnami/redis\n  tag: 8.2.1-debian-12-r0\n  digest: {sha}\n"
        );
        let argo = "global:\n  image:\n    repository: quay.io/argoproj/argocd\n    tag: \"\"\nserver:\n  image:\n    repository: my.reg/argocd\n    tag: \"\"\ncontroller:\n  image:\n    repository: \"\"\n    tag: v9\n";
        type Expected = Vec<(&'static str, String, Vec<&'static str>)>;
        let cases: Vec<(&str, &str, &str, String, Expected)> = vec![
            (
                "ingress-nginx",
                "4.15.1",
                "1.15.1",
                ingress,
                vec![
                    (
                        "controller.image",
                        format!("registry.k8s.io/ingress-nginx/controller:v1.15.1@{sha}"),
                        vec![
                            "global.image.registry",
                            "controller.image.registry",
                            "controller.image.image",
                            "controller.image.tag",
                            "controller.image.digest",
                        ],
                    ),
                    (
                        "controller.admissionWebhooks.patch.image",
                        "my.reg/ingress-nginx/kube-webhook-certgen:v1.6.9".to_owned(),
                        vec![
                            "global.image.registry",
                            "controller.admissionWebhooks.patch.image.registry",
                            "controller.admissionWebhooks.patch.image.image",
                            "controller.admissionWebhooks.patch.image.tag",
                            "controller.admissionWebhooks.patch.image.digest",
                        ],
                    ),
                    (
                        "defaultBackend.image",
                        "other.reg/defaultbackend:1.5".to_owned(),
                        // A set repository replaces the registry fields.
                        vec![
                            "defaultBackend.image.repository",
                            "defaultBackend.image.tag",
                            "defaultBackend.image.digest",
                        ],
                    ),
                ],
            ),
            (
                "redis",
                "23.1.1",
                "8.2.1",
                bitnami,
                vec![(
                    "image",
                    format!("docker.io/bitnami/redis@{sha}"),
                    vec![
                        "global.imageRegistry",
                        "image.registry",
                        "image.repository",
                        "image.tag",
                        "image.digest",
                    ],
                )],
            ),
            (
                "argo-cd",
                "10.1.1",
                "v3.4.4",
                argo.to_owned(),
                vec![
                    (
                        "global.image",
                        "quay.io/argoproj/argocd:v3.4.4".to_owned(),
                        vec!["global.image.repository", "global.image.tag"],
                    ),
                    (
                        "controller.image",
                        "quay.io/argoproj/argocd:v9".to_owned(),
                        vec!["global.image.repository", "controller.image.tag"],
                    ),
                    (
                        "server.image",
                        "my.reg/argocd:v3.4.4".to_owned(),
                        vec!["server.image.repository", "server.image.tag"],
                    ),
                ],
            ),
        ];
        let hints = Hints::builtin().unwrap();
        for (chart, version, app_version, values, expected) in cases {
            let ctx = ResolveContext {
                prefix: "",
                app_version: Some(app_version),
                version: Some(version),
            };
            let resolved = hints
                .for_chart(chart, Some(version))
                .resolve(&json(&values), &ctx);
            let actual: Vec<_> = resolved
                .value_images
                .iter()
                .map(|v| (v.path.as_str(), v.written.clone(), v.controlling_paths()))
                .collect();
            for e in &expected {
                assert!(actual.contains(e), "{chart}: expected {e:?} in {actual:#?}");
            }
            for v in &resolved.value_images {
                assert!(
                    v.reference.is_ok(),
                    "{chart}: {} does not parse: {:?}",
                    v.written,
                    v.reference
                );
            }
        }
        // Bitnami: the rewrite must allow relocated images; the default backend is disabled.
        let resolved = hints.for_chart("redis", Some("23.1.1")).resolve(
            &json("global:\n  security:\n    allowInsecureImages: false\n"),
            &ResolveContext::default(),
        );
        assert_eq!(
            resolved.rewrite_values["global.security.allowInsecureImages"],
            Json::Bool(true)
        );
        let other_redis = hints
            .for_chart("redis", Some("1.0.0"))
            .resolve(&json("image: redis:7\n"), &ResolveContext::default());
        assert!(
            other_redis.rewrite_values.is_empty(),
            "non-Bitnami chart named redis"
        );
    }

    #[test]
    fn load_reads_files_after_the_builtins_and_names_them_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("kod-hints.yaml");
        std::fs::write(
            &good,
            "charts:\n  - chart: istiod\n    replace: true\n    note: mine\n",
        )
        .unwrap();
        let hints = Hints::load(&[&good]).unwrap();
        let entries = hints.for_chart("istiod", Some("1.27.1")).entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].source, good.display().to_string());

        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, "charts:\n  - chart: x\n    valueImages:\n      - path: image\n        reason: r\n        colour: blue\n").unwrap();
        let message = Hints::load(&[&good, &bad]).unwrap_err().to_string();
        assert!(
            message.starts_with(&format!(
                "{}:6:9: charts[0].valueImages[0]: unknown field `colour`",
                bad.display()
            )),
            "{message}"
        );
        let missing = dir.path().join("missing.yaml");
        let message = Hints::load(&[&missing]).unwrap_err().to_string();
        assert!(message.starts_with("cannot read hints file"), "{message}");
    }

    #[test]
    fn chart_value_images_combines_walk_and_hints_of_subcharts() {
        let mut hints = Hints::empty();
        hints.push(
            "t",
            parse(
                "charts:\n  - chart: stack\n    images:\n      - image: \"quay.io/acme/runtime:{appVersion}\"\n        reason: pulled by the operator\n\
                 \x20 - chart: grafana\n    valueImages:\n      - path: image\n        registry: [global.imageRegistry, image.registry]\n        repository: image.repository\n        tag: image.tag\n        defaultTag: \"{appVersion}\"\n        reason: r\n\
                 \x20 - chart: windows-exporter\n    images:\n      - image: ghcr.io/acme/win-helper:1\n        reason: r\n",
            )
            .unwrap(),
        );
        let values = json(
            "global:\n  imageRegistry: \"\"\noperator:\n  image:\n    registry: quay.io\n    repository: acme/operator\n    tag: \"\"\n\
             grafana:\n  image:\n    registry: docker.io\n    repository: grafana/grafana\n    tag: \"\"\n\
             win:\n  image:\n    registry: ghcr.io\n    repository: acme/windows-exporter\n    tag: \"\"\n",
        );
        let chart = ChartMeta {
            name: "stack".into(),
            version: Some("1.0.0".into()),
            app_version: Some("v0.9.0".into()),
        };
        let subcharts = [
            Subchart {
                path: "grafana".into(),
                name: "grafana".into(),
                version: Some("12.0.0".into()),
                app_version: Some("13.2.0".into()),
                disabled: None,
            },
            Subchart {
                path: "win".into(),
                name: "windows-exporter".into(),
                version: None,
                app_version: Some("0.31.0".into()),
                disabled: Some("condition windowsMonitoring.enabled is false".into()),
            },
        ];
        let described = chart_value_images(&values, &chart, &subcharts, &hints);
        let summary: Vec<_> = described
            .value_images
            .iter()
            .map(|v| (v.path.as_str(), v.style, v.written.as_str(), v.enabled))
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    "grafana.image",
                    ImageStyle::Hint,
                    "docker.io/grafana/grafana:13.2.0",
                    None
                ),
                (
                    "operator.image",
                    ImageStyle::RegistryRepository,
                    "quay.io/acme/operator:v0.9.0",
                    None
                ),
                (
                    "win.image",
                    ImageStyle::RegistryRepository,
                    "ghcr.io/acme/windows-exporter:0.31.0",
                    Some(false)
                ),
            ]
        );
        let extra: Vec<_> = described
            .extra_images()
            .map(|e| e.written.as_str())
            .collect();
        assert_eq!(extra, vec!["quay.io/acme/runtime:v0.9.0"]);
        assert!(described.hints[2].1.notes[0]
            .contains("ghcr.io/acme/win-helper:1 of subchart win left out"));
        assert_eq!(described.unresolved().count(), 0);
    }

    #[test]
    fn subchart_prefix_keeps_globals_shared() {
        let mut hints = Hints::empty();
        hints.push(
            "t",
            parse("charts:\n  - chart: grafana\n    rewriteValues:\n      global.x: true\n      sidecar.y: 1\n    valueImages:\n      - path: sidecar.image\n        registry: [global.imageRegistry, sidecar.image.registry]\n        repository: sidecar.image.repository\n        tag: sidecar.image.tag\n        digest: sidecar.image.sha\n        reason: r\n").unwrap(),
        );
        let values = json(
            "global:\n  imageRegistry: mirror.local\ngrafana:\n  sidecar:\n    image:\n      registry: quay.io\n      repository: kiwigrid/k8s-sidecar\n      tag: 2.10.1\n      sha: abc\n",
        );
        let ctx = ResolveContext {
            prefix: "grafana",
            app_version: Some("13.2.0"),
            version: None,
        };
        let resolved = hints.for_chart("grafana", None).resolve(&values, &ctx);
        let image = &resolved.value_images[0];
        assert_eq!(image.path, "grafana.sidecar.image");
        assert_eq!(
            image.global_registry_path.as_deref(),
            Some("global.imageRegistry")
        );
        assert_eq!(
            image.registry_path.as_deref(),
            Some("grafana.sidecar.image.registry")
        );
        assert_eq!(
            image.written,
            "mirror.local/kiwigrid/k8s-sidecar:2.10.1@sha256:abc"
        );
        // "abc" is not a valid digest: reported, not dropped.
        assert!(image.reference.is_err());
        assert_eq!(
            resolved.rewrite_values.keys().collect::<Vec<_>>(),
            vec!["global.x", "grafana.sidecar.y"]
        );
    }

    #[test]
    fn exclusions_mirrors_and_extra_images() {
        let mut hints = Hints::empty();
        hints.push(
            "t",
            parse(
                "global:\n  images:\n    - image: quay.io/acme/always:1\n      reason: site policy\n  exclude:\n    - \"docker.io/library/busybox:*\"\n  mirrors:\n    docker.io: mirror.local:5000/hub\n\
                 charts:\n  - chart: app\n    images:\n      - image: \"quay.io/acme/helper:{appVersion}\"\n        reason: pulled by the operator at runtime\n    exclude: [quay.io/acme/unused]\n    mirrors:\n      docker.io: other.local\n",
            )
            .unwrap(),
        );
        let ctx = ResolveContext {
            prefix: "",
            app_version: Some("2.0"),
            version: Some("1.0.0"),
        };
        let resolved = hints
            .for_chart("app", Some("1.0.0"))
            .resolve(&json("{}"), &ctx);
        let extra: Vec<_> = resolved
            .extra_images
            .iter()
            .map(|e| (e.written.as_str(), e.provenance.as_str()))
            .collect();
        assert_eq!(
            extra,
            vec![
                ("quay.io/acme/always:1", "global (t)"),
                ("quay.io/acme/helper:2.0", "app (t)")
            ]
        );
        assert!(resolved.excluded(&reference("busybox:1.36")).is_some());
        assert!(resolved.excluded(&reference("busybox")).is_some());
        assert!(resolved
            .excluded(&reference("quay.io/acme/unused:3"))
            .is_some());
        assert!(resolved
            .excluded(&reference("quay.io/acme/unused2:3"))
            .is_none());
        assert!(resolved.excluded(&reference("nginx:1")).is_none());
        assert_eq!(
            resolved
                .mirror_for(&reference("redis:7"))
                .unwrap()
                .unwrap()
                .to_string(),
            "other.local/library/redis:7"
        );
        assert_eq!(resolved.mirror_for(&reference("quay.io/a/b:1")), None);
        // Without appVersion the template cannot be rendered: reported.
        let resolved = hints
            .for_chart("app", None)
            .resolve(&json("{}"), &ResolveContext::default());
        assert!(resolved.extra_images[1]
            .reference
            .as_ref()
            .unwrap_err()
            .contains("{appVersion}"));
    }

    #[test]
    fn if_values_selects_conventions_and_hints_replace_walked_images() {
        let mut hints = Hints::empty();
        hints.push(
            "t",
            parse("charts:\n  - chart: c\n    ifValues: imageNamespace\n    valueImages:\n      - path: image\n        registry: imageRegistry\n        namespace: imageNamespace\n        name: image.name\n        fullRepository: image.repository\n        tag: image.tag\n        defaultTag: \"{appVersion}\"\n        reason: r\n").unwrap(),
        );
        let old = json("image:\n  repository: quay.io/jetstack/c\n  tag: v1\n");
        let resolved = hints
            .for_chart("c", None)
            .resolve(&old, &ResolveContext::default());
        assert!(resolved.value_images.is_empty());
        assert!(resolved.notes[0].contains("skipped: the values have no imageNamespace"));

        let new = json("imageRegistry: quay.io\nimageNamespace: jetstack\nimage:\n  name: c\n  repository: \"\"\n  pullPolicy: IfNotPresent\n");
        let ctx = ResolveContext {
            prefix: "",
            app_version: Some("v2"),
            version: None,
        };
        let hinted = hints.for_chart("c", None).resolve(&new, &ctx).value_images;
        let walked = find_value_images(&new, Some("v2"));
        let merged = merge_value_images(walked, hinted);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].style, ImageStyle::Hint);
        let matched = match_value_paths(&[reference("quay.io/jetstack/c:v2")], &merged);
        assert_eq!(matched[0].1.as_ref().unwrap().path, "image");

        // A walked image using a field a hint declares is replaced by the hint.
        let mixed = json("imageRegistry: quay.io\nimageNamespace: jetstack\nimage:\n  name: c\n  repository: quay.io/other/c\n  tag: v3\nextra:\n  image: quay.io/x/y:1\n");
        let hinted = hints
            .for_chart("c", None)
            .resolve(&mixed, &ctx)
            .value_images;
        let walked = find_value_images(&mixed, Some("v2"));
        assert_eq!(walked.len(), 2);
        let merged = merge_value_images(walked, hinted);
        let summary: Vec<_> = merged
            .iter()
            .map(|v| (v.style, v.written.as_str()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (ImageStyle::Hint, "quay.io/other/c:v3"),
                (ImageStyle::ImageString, "quay.io/x/y:1")
            ]
        );
    }
}
