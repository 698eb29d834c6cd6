//! The helmfile state model: every key helmfile 0.166 accepts, in helmfile's own field
//! order (so `kod helmfile build` prints keys where `helmfile build` does).
//!
//! Parsing is strict, as helmfile's is: an unknown key is an error naming the key, the file
//! and the line. Keys kod does not act on are kept (loosely typed) so they round-trip.
//!
//! Checked against helmfile 0.166.0: it rejects `defaultInherit` (top level),
//! `mergeStrategy` (environments), `setString`/`skipRefresh`/`takeOwnership` (releases),
//! `skipRefresh`/`plainHttp`/`takeOwnership` (helmDefaults) and `plainHttp`/`registryConfig`
//! (repositories) — newer helmfiles accept some of them; kod follows 0.166.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_yaml::Value as Yaml;

fn is_false(b: &bool) -> bool {
    !*b
}

/// One helmfile state file (one YAML document, or several merged).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateSpec {
    #[serde(rename = "helmBinary", default, skip_serializing_if = "Option::is_none")]
    pub helm_binary: Option<String>,
    #[serde(rename = "kustomizeBinary", default, skip_serializing_if = "Option::is_none")]
    pub kustomize_binary: Option<String>,
    /// Top-level `values:` (defaults for `.Values`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Yaml>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, EnvironmentSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bases: Vec<String>,
    #[serde(rename = "helmDefaults", default, skip_serializing_if = "HelmDefaults::is_empty")]
    pub helm_defaults: HelmDefaults,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub helmfiles: Vec<SubHelmfile>,
    /// Deprecated top-level `context` (kept for round-trip).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Deprecated `charts` (an old name of `releases`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub charts: Vec<ReleaseSpec>,
    #[serde(rename = "kubeContext", default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repositories: Vec<RepositorySpec>,
    #[serde(rename = "commonLabels", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<ReleaseSpec>,
    #[serde(rename = "apiVersions", default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    #[serde(rename = "kubeVersion", default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Yaml>,
    /// Release templates (`templates:`), referenced by `inherit:` and YAML anchors.
    #[serde(default)]
    pub templates: BTreeMap<String, ReleaseSpec>,
    #[serde(rename = "missingFileHandler", default, skip_serializing_if = "Option::is_none")]
    pub missing_file_handler: Option<String>,
    #[serde(rename = "missingFileHandlerConfig", default, skip_serializing_if = "Option::is_none")]
    pub missing_file_handler_config: Option<Yaml>,
    #[serde(rename = "lockFilePath", default, skip_serializing_if = "Option::is_none")]
    pub lock_file_path: Option<String>,
}

/// `environments.NAME`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Yaml>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    #[serde(rename = "kubeContext", default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    #[serde(rename = "missingFileHandler", default, skip_serializing_if = "Option::is_none")]
    pub missing_file_handler: Option<String>,
    #[serde(rename = "missingFileHandlerConfig", default, skip_serializing_if = "Option::is_none")]
    pub missing_file_handler_config: Option<Yaml>,
}

/// `helmfiles:` entry: a path (or glob) with optional values and selectors. A bare string
/// is the same as `{path: STRING}`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SubHelmfile {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selectors: Vec<String>,
    #[serde(rename = "selectorsInherited", default, skip_serializing_if = "is_false")]
    pub selectors_inherited: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Yaml>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubHelmfileMap {
    #[serde(default)]
    path: String,
    #[serde(default)]
    selectors: Vec<String>,
    #[serde(rename = "selectorsInherited", default)]
    selectors_inherited: bool,
    #[serde(default)]
    values: Vec<Yaml>,
}

impl<'de> Deserialize<'de> for SubHelmfile {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Decoded through a Value (not an untagged enum) to keep the inner error's text.
        let value = Yaml::deserialize(d)?;
        match value {
            Yaml::String(s) => Ok(SubHelmfile { path: s, ..Default::default() }),
            other => {
                let m: SubHelmfileMap = serde_yaml::from_value(other).map_err(serde::de::Error::custom)?;
                Ok(SubHelmfile {
                    path: m.path,
                    selectors: m.selectors,
                    selectors_inherited: m.selectors_inherited,
                    values: m.values,
                })
            }
        }
    }
}

/// `helmDefaults:`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HelmDefaults {
    #[serde(rename = "kubeContext", default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(rename = "diffArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub diff_args: Vec<String>,
    #[serde(rename = "syncArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub sync_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    #[serde(rename = "enableDNS", default, skip_serializing_if = "Option::is_none")]
    pub enable_dns: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devel: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    #[serde(rename = "waitForJobs", default, skip_serializing_if = "Option::is_none")]
    pub wait_for_jobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(rename = "recreatePods", default, skip_serializing_if = "Option::is_none")]
    pub recreate_pods: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<bool>,
    #[serde(rename = "cleanupOnFail", default, skip_serializing_if = "Option::is_none")]
    pub cleanup_on_fail: Option<bool>,
    #[serde(rename = "historyMax", default, skip_serializing_if = "Option::is_none")]
    pub history_max: Option<i64>,
    #[serde(rename = "createNamespace", default, skip_serializing_if = "Option::is_none")]
    pub create_namespace: Option<bool>,
    #[serde(rename = "skipDeps", default, skip_serializing_if = "Option::is_none")]
    pub skip_deps: Option<bool>,
    #[serde(rename = "reuseValues", default, skip_serializing_if = "Option::is_none")]
    pub reuse_values: Option<bool>,
    #[serde(rename = "postRenderer", default, skip_serializing_if = "Option::is_none")]
    pub post_renderer: Option<String>,
    #[serde(rename = "postRendererArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderer_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<String>,
    #[serde(rename = "suppressOutputLineRegex", default, skip_serializing_if = "Vec::is_empty")]
    pub suppress_output_line_regex: Vec<String>,
    #[serde(rename = "disableValidation", default, skip_serializing_if = "Option::is_none")]
    pub disable_validation: Option<bool>,
    #[serde(rename = "disableOpenAPIValidation", default, skip_serializing_if = "Option::is_none")]
    pub disable_openapi_validation: Option<bool>,
    #[serde(rename = "insecureSkipTLSVerify", default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    #[serde(rename = "deleteWait", default, skip_serializing_if = "Option::is_none")]
    pub delete_wait: Option<bool>,
    #[serde(rename = "deleteTimeout", default, skip_serializing_if = "Option::is_none")]
    pub delete_timeout: Option<i64>,
}

impl HelmDefaults {
    pub fn is_empty(&self) -> bool {
        self == &HelmDefaults::default()
    }
}

/// `repositories:` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RepositorySpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(rename = "caFile", default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(rename = "certFile", default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    #[serde(rename = "keyFile", default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub oci: bool,
    #[serde(default, skip_serializing_if = "is_false")]
    pub verify: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    #[serde(rename = "passCredentials", default, skip_serializing_if = "is_false")]
    pub pass_credentials: bool,
    #[serde(rename = "skipTLSVerify", default, skip_serializing_if = "is_false")]
    pub skip_tls_verify: bool,
}

/// `inherit:` entry (a single map is accepted too, as helmfile 0.166 does with a warning).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Inherit {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
}

fn inherit_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Inherit>, D::Error> {
    let value = Yaml::deserialize(d)?;
    match value {
        Yaml::Null => Ok(Vec::new()),
        Yaml::Sequence(_) => serde_yaml::from_value(value).map_err(serde::de::Error::custom),
        other => Ok(vec![serde_yaml::from_value(other).map_err(serde::de::Error::custom)?]),
    }
}

/// `set:` / `setTemplate:` / `env:` entry.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SetValue {
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub value: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub file: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// Accept any YAML scalar where Go's yaml decoder fills a string (`value: 1` → "1").
fn scalar_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Yaml::deserialize(d)? {
        Yaml::Null => Ok(String::new()),
        Yaml::Bool(b) => Ok(b.to_string()),
        Yaml::Number(n) => Ok(n.to_string()),
        Yaml::String(s) => Ok(s),
        other => Err(serde::de::Error::custom(format!("expected a string, found {other:?}"))),
    }
}

fn scalar_string_map<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let value = Yaml::deserialize(d)?;
    let mut out = BTreeMap::new();
    match value {
        Yaml::Null => {}
        Yaml::Mapping(m) => {
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => return Err(serde::de::Error::custom(format!("label key must be a string, found {other:?}"))),
                };
                let val = match v {
                    Yaml::Null => String::new(),
                    Yaml::String(s) => s,
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    other => return Err(serde::de::Error::custom(format!("label {key:?} must be a string, found {other:?}"))),
                };
                out.insert(key, val);
            }
        }
        other => return Err(serde::de::Error::custom(format!("expected a map of strings, found {other:?}"))),
    }
    Ok(out)
}

fn opt_scalar_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Yaml::deserialize(d)? {
        Yaml::Null => Ok(None),
        Yaml::Bool(b) => Ok(Some(b.to_string())),
        Yaml::Number(n) => Ok(Some(n.to_string())),
        Yaml::String(s) => Ok(Some(s)),
        other => Err(serde::de::Error::custom(format!("expected a string, found {other:?}"))),
    }
}

/// A release (`releases:` entry, or a release template under `templates:`).
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ReleaseSpec {
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub chart: String,
    #[serde(rename = "chartPath", default, skip_serializing_if = "Option::is_none")]
    pub chart_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyring: Option<String>,
    #[serde(rename = "enableDNS", default, skip_serializing_if = "Option::is_none")]
    pub enable_dns: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devel: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<bool>,
    #[serde(rename = "waitForJobs", default, skip_serializing_if = "Option::is_none")]
    pub wait_for_jobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(rename = "recreatePods", default, skip_serializing_if = "Option::is_none")]
    pub recreate_pods: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atomic: Option<bool>,
    #[serde(rename = "cleanupOnFail", default, skip_serializing_if = "Option::is_none")]
    pub cleanup_on_fail: Option<bool>,
    #[serde(rename = "historyMax", default, skip_serializing_if = "Option::is_none")]
    pub history_max: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    #[serde(rename = "createNamespace", default, skip_serializing_if = "Option::is_none")]
    pub create_namespace: Option<bool>,
    #[serde(rename = "disableOpenAPIValidation", default, skip_serializing_if = "Option::is_none")]
    pub disable_openapi_validation: Option<bool>,
    #[serde(rename = "disableValidation", default, skip_serializing_if = "Option::is_none")]
    pub disable_validation: Option<bool>,
    #[serde(rename = "disableValidationOnInstall", default, skip_serializing_if = "Option::is_none")]
    pub disable_validation_on_install: Option<bool>,
    #[serde(rename = "missingFileHandler", default, skip_serializing_if = "Option::is_none")]
    pub missing_file_handler: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Yaml>,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub namespace: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "scalar_string_map")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Yaml>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Yaml>,
    #[serde(rename = "set", default, skip_serializing_if = "Vec::is_empty")]
    pub set_values: Vec<SetValue>,
    #[serde(rename = "valuesTemplate", default, skip_serializing_if = "Vec::is_empty")]
    pub values_template: Vec<Yaml>,
    #[serde(rename = "setTemplate", default, skip_serializing_if = "Vec::is_empty")]
    pub set_values_template: Vec<SetValue>,
    #[serde(rename = "apiVersions", default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
    #[serde(rename = "kubeVersion", default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub kube_version: String,
    #[serde(rename = "env", default, skip_serializing_if = "Vec::is_empty")]
    pub env_values: Vec<SetValue>,
    #[serde(rename = "valuesPathPrefix", default, skip_serializing_if = "Option::is_none")]
    pub values_path_prefix: Option<String>,
    #[serde(rename = "kubeContext", default, skip_serializing_if = "String::is_empty", deserialize_with = "scalar_string")]
    pub kube_context: String,
    #[serde(rename = "insecureSkipTLSVerify", default, skip_serializing_if = "is_false")]
    pub insecure_skip_tls_verify: bool,
    #[serde(rename = "verifyTemplate", default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_scalar_string")]
    pub verify_template: Option<String>,
    #[serde(rename = "waitTemplate", default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_scalar_string")]
    pub wait_template: Option<String>,
    #[serde(rename = "installedTemplate", default, skip_serializing_if = "Option::is_none", deserialize_with = "opt_scalar_string")]
    pub installed_template: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Yaml>,
    #[serde(rename = "jsonPatches", default, skip_serializing_if = "Vec::is_empty")]
    pub json_patches: Vec<Yaml>,
    #[serde(rename = "strategicMergePatches", default, skip_serializing_if = "Vec::is_empty")]
    pub strategic_merge_patches: Vec<Yaml>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transformers: Vec<Yaml>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub adopt: Vec<String>,
    #[serde(rename = "forceGoGetter", default, skip_serializing_if = "is_false")]
    pub force_go_getter: bool,
    #[serde(rename = "forceNamespace", default, skip_serializing_if = "Option::is_none")]
    pub force_namespace: Option<String>,
    #[serde(rename = "skipDeps", default, skip_serializing_if = "Option::is_none")]
    pub skip_deps: Option<bool>,
    #[serde(rename = "postRenderer", default, skip_serializing_if = "Option::is_none")]
    pub post_renderer: Option<String>,
    #[serde(rename = "postRendererArgs", default, skip_serializing_if = "Vec::is_empty")]
    pub post_renderer_args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cascade: Option<String>,
    #[serde(rename = "suppressOutputLineRegex", default, skip_serializing_if = "Vec::is_empty")]
    pub suppress_output_line_regex: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "inherit_list")]
    pub inherit: Vec<Inherit>,
    #[serde(rename = "suppressDiff", default, skip_serializing_if = "Option::is_none")]
    pub suppress_diff: Option<bool>,
    #[serde(rename = "deleteWait", default, skip_serializing_if = "Option::is_none")]
    pub delete_wait: Option<bool>,
    #[serde(rename = "deleteTimeout", default, skip_serializing_if = "Option::is_none")]
    pub delete_timeout: Option<i64>,
}

impl ReleaseSpec {
    /// helmfile's `Desired()`: installed unless `installed: false`.
    pub fn desired(&self) -> bool {
        self.installed.unwrap_or(true)
    }

    /// helmfile's release ID: `[kubeContext/][namespace/]name`, with `kubeContext//name`
    /// when only the context is set.
    pub fn id(&self) -> String {
        let mut id = String::new();
        if !self.kube_context.is_empty() {
            id.push_str(&self.kube_context);
            id.push('/');
        }
        if !self.namespace.is_empty() {
            id.push_str(&self.namespace);
            id.push('/');
        } else if !self.kube_context.is_empty() {
            id.push('/');
        }
        id.push_str(&self.name);
        id
    }
}

/// The keys each section accepts, for "did you mean" hints in unknown-key errors.
pub fn known_keys(section: &str) -> &'static [&'static str] {
    match section {
        "state" => &[
            "helmBinary", "kustomizeBinary", "values", "environments", "bases", "helmDefaults", "helmfiles", "context",
            "charts", "kubeContext", "namespace", "chart", "repositories", "commonLabels", "releases", "apiVersions",
            "kubeVersion", "hooks", "templates", "missingFileHandler", "missingFileHandlerConfig", "lockFilePath",
        ],
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_ids_match_helmfile() {
        let r = |kc: &str, ns: &str| ReleaseSpec {
            name: "x".into(),
            namespace: ns.into(),
            kube_context: kc.into(),
            ..Default::default()
        };
        assert_eq!(r("", "").id(), "x");
        assert_eq!(r("", "ns").id(), "ns/x");
        assert_eq!(r("kc", "ns").id(), "kc/ns/x");
        assert_eq!(r("kc", "").id(), "kc//x");
    }

    #[test]
    fn strict_parsing_names_the_unknown_key_and_line() {
        let err = serde_yaml::from_str::<StateSpec>("releases:\n- name: x\n  chart: c\n  bogusKey: 1\n").unwrap_err();
        let text = err.to_string();
        assert!(text.contains("unknown field `bogusKey`"), "{text}");
        assert_eq!(err.location().unwrap().line(), 4);
    }

    #[test]
    fn scalars_where_go_expects_strings() {
        let s: StateSpec = serde_yaml::from_str("releases:\n- name: 1\n  chart: c\n  version: 1.2\n  labels: {a: 1, b: true}\n  set: [{name: a, value: 3}]\n").unwrap();
        let r = &s.releases[0];
        assert_eq!(r.name, "1");
        assert_eq!(r.version, "1.2");
        assert_eq!(r.labels.get("a").map(String::as_str), Some("1"));
        assert_eq!(r.labels.get("b").map(String::as_str), Some("true"));
        assert_eq!(r.set_values[0].value, "3");
    }

    #[test]
    fn sub_helmfile_forms() {
        let s: StateSpec = serde_yaml::from_str("helmfiles:\n- a.yaml\n- path: b.yaml\n  values: [{x: 1}]\n  selectors: [a=b]\n").unwrap();
        assert_eq!(s.helmfiles[0].path, "a.yaml");
        assert_eq!(s.helmfiles[1].path, "b.yaml");
        assert_eq!(s.helmfiles[1].selectors, vec!["a=b"]);
        assert!(serde_yaml::from_str::<StateSpec>("helmfiles:\n- path: b\n  bogus: 1\n").is_err());
    }

    #[test]
    fn inherit_accepts_a_single_map() {
        let s: StateSpec = serde_yaml::from_str("releases:\n- name: x\n  chart: c\n  inherit:\n    template: t\n").unwrap();
        assert_eq!(s.releases[0].inherit[0].template, "t");
    }
}
