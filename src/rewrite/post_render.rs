//! `kod post-render --map FILE`: a helm post-renderer that redirects images no value path
//! controls. helm pipes the rendered manifests to it on stdin and applies what it prints.
//!
//! The rewrite is textual, so everything else in the manifests (comments, quoting, key
//! order, YAML 1.1 scalars such as `yes`) reaches helm exactly as the chart rendered it:
//! * a full reference with a registry (`docker.io/bitnami/redis:7.2.4`,
//!   `quay.io/x/y@sha256:…`) is replaced wherever it appears as a whole token — in an
//!   `image:` field, in `--flag=REF` arguments, in env values and ConfigMap text;
//! * a short form (`redis:7.2`, `bitnami/redis:7.2`) is replaced only as the value of an
//!   `image:` key, where it cannot be anything else.
//!
//! The map file is JSON: `{"images": {"<normalised source>": "<target>", …}}`.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::image::reference::parse_normalized_named;

/// The post-renderer's map file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageMap {
    /// Normalised source reference → private reference.
    pub images: BTreeMap<String, String>,
}

impl ImageMap {
    pub fn load(path: &Path) -> Result<ImageMap> {
        let bytes = std::fs::read(path).with_context(|| format!("reading the image map {}", path.display()))?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is not a kod image map", path.display()))
    }
}

/// How a source reference may be written in a manifest.
fn written_forms(source: &str) -> Vec<(String, bool)> {
    // (form, is_full) — full forms carry a registry and may be replaced anywhere.
    let mut forms = vec![(source.to_string(), true)];
    if let Ok(r) = parse_normalized_named(source) {
        let familiar = r.familiar_string();
        if familiar != source {
            forms.push((familiar.clone(), familiar.contains('/') && familiar.split('/').next().is_some_and(|d| d.contains('.') || d.contains(':'))));
        }
        // `docker.io/library/nginx:1` is also written `docker.io/nginx:1` and `nginx:1`.
        if r.domain() == "docker.io" {
            let path = r.path().strip_prefix("library/").unwrap_or(r.path());
            let suffix = source[r.repository().len()..].to_string();
            forms.push((format!("docker.io/{path}{suffix}"), true));
            forms.push((format!("index.docker.io/{}{suffix}", r.path()), true));
        }
    }
    forms.sort();
    forms.dedup();
    // Longest first, so a form never replaces part of a longer one.
    forms.sort_by_key(|(f, _)| std::cmp::Reverse(f.len()));
    forms
}

/// Rewrite `input` (multi-document YAML from helm) with `map`.
pub fn rewrite(input: &str, map: &ImageMap) -> String {
    let mut out = input.to_string();
    for (source, target) in &map.images {
        for (form, full) in written_forms(source) {
            let quoted = regex::escape(&form);
            if full {
                // A whole token: not preceded or followed by reference characters.
                let re = Regex::new(&format!(r"(^|[^A-Za-z0-9._/:@-]){quoted}($|[^A-Za-z0-9._/:@-])")).expect("escaped");
                out = re.replace_all(&out, |c: &regex::Captures| format!("{}{target}{}", &c[1], &c[2])).to_string();
            } else {
                let re = Regex::new(&format!(r#"(?m)^(\s*-?\s*image:\s*["']?){quoted}(["']?\s*(#.*)?)$"#)).expect("escaped");
                out = re.replace_all(&out, |c: &regex::Captures| format!("{}{target}{}", &c[1], &c[2])).to_string();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> ImageMap {
        ImageMap {
            images: BTreeMap::from([
                ("docker.io/library/nginx:1.27".to_string(), "reg.local/p/library/nginx:1.27".to_string()),
                ("quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0".to_string(), "reg.local/p/prometheus-operator/prometheus-config-reloader:v0.75.0".to_string()),
                ("docker.io/bitnami/redis:7.2".to_string(), "reg.local/p/bitnami/redis:7.2".to_string()),
            ]),
        }
    }

    #[test]
    fn image_fields_in_every_written_form() {
        let input = "spec:\n  containers:\n  - name: a\n    image: nginx:1.27\n  - name: b\n    image: \"docker.io/library/nginx:1.27\"\n  - name: c\n    image: 'bitnami/redis:7.2' # pinned\n  - name: d\n    image: docker.io/nginx:1.27\n";
        let out = rewrite(input, &map());
        assert_eq!(
            out,
            "spec:\n  containers:\n  - name: a\n    image: reg.local/p/library/nginx:1.27\n  - name: b\n    image: \"reg.local/p/library/nginx:1.27\"\n  - name: c\n    image: 'reg.local/p/bitnami/redis:7.2' # pinned\n  - name: d\n    image: reg.local/p/library/nginx:1.27\n"
        );
    }

    #[test]
    fn full_references_in_args_and_configmaps() {
        let input = "args:\n- --prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0\n- --other=quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0-rc1\ndata:\n  tpl: 'image: quay.io/prometheus-operator/prometheus-config-reloader:v0.75.0'\n";
        let out = rewrite(input, &map());
        assert!(out.contains("--prometheus-config-reloader=reg.local/p/prometheus-operator/prometheus-config-reloader:v0.75.0\n"));
        assert!(out.contains("v0.75.0-rc1"), "a longer tag is a different image: {out}");
        assert!(out.contains("tpl: 'image: reg.local/p/prometheus-operator/prometheus-config-reloader:v0.75.0'"));
    }

    #[test]
    fn short_forms_only_in_image_fields_and_everything_else_untouched() {
        let input = "metadata:\n  labels:\n    app: nginx:1.27\n    enabled: yes\nspec:\n  image: nginx:1.27\n";
        let out = rewrite(input, &map());
        assert_eq!(out, "metadata:\n  labels:\n    app: nginx:1.27\n    enabled: yes\nspec:\n  image: reg.local/p/library/nginx:1.27\n");
    }
}
