//! Override values that redirect a release's images to the private registry through the
//! value paths discovery found (`image.registry`, `global.imageRegistry`, istio's
//! `global.hub`, …). One override values file per release; images no value path controls
//! go to the post-renderer's map instead (see `post_render`).
//!
//! For each image the fields of its values shape are set so the chart assembles the private
//! reference, keeping the tag (and the digest, or pinning one):
//! * registry + repository (+ tag/digest): `registry` = private host, `repository` =
//!   prefix + original path; a chart-wide registry field (`global.imageRegistry`) is set to
//!   the host as well, since it overrides the per-image one;
//! * repository only: `repository` = host + prefix + path;
//! * one string: the whole private reference;
//! * istio hub + name + tag: `hub` = host + prefix + the hub's path (`docker.io/istio` →
//!   `HOST/PREFIX/istio`);
//!
//! plus whatever the shape requires (Bitnami's `global.security.allowInsecureImages`).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::{Map, Value};

use crate::image::reference::Reference;
use crate::image::values::{ImageStyle, ValueShape};

/// Set `path` (dotted) to `value` in `root`, creating maps; a conflicting earlier setting is
/// an error naming both values.
fn set_path(root: &mut Value, path: &str, value: Value, owner: &str, owners: &mut BTreeMap<String, String>) -> Result<()> {
    if let Some(prev_owner) = owners.get(path) {
        let existing = lookup(root, path).cloned().unwrap_or(Value::Null);
        if existing != value {
            bail!(
                "value path {path} would need {existing} for {prev_owner} and {value} for {owner}: the images cannot both be redirected through it (give one a hint or let the post-renderer redirect it)"
            );
        }
        return Ok(());
    }
    owners.insert(path.to_string(), owner.to_string());
    let mut cur = root;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        if !cur.is_object() {
            *cur = Value::Object(Map::new());
        }
        let map = cur.as_object_mut().expect("made an object");
        if i == parts.len() - 1 {
            map.insert(part.to_string(), value);
            return Ok(());
        }
        cur = map.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
    }
    Ok(())
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(root, |v, k| v.get(k))
}

/// The private location of a source path: `HOST[/PREFIX]` and `PREFIX/path`.
pub struct Destination<'a> {
    /// `HOST[:PORT]`.
    pub host: &'a str,
    /// Optional repository prefix.
    pub prefix: Option<&'a str>,
}

impl Destination<'_> {
    fn repo_path(&self, path: &str) -> String {
        match self.prefix {
            Some(p) => format!("{p}/{path}"),
            None => path.to_string(),
        }
    }
}

/// Add the overrides that redirect `image` (whose values shape is `shape`) to `dest` into
/// `values`. `target_path` is the repository path the image is pushed to (without host or
/// prefix; usually the source path, see `registry::push::target_names`). `pin` replaces
/// the tag with a digest when given.
pub fn redirect(
    values: &mut Value,
    owners: &mut BTreeMap<String, String>,
    image: &Reference,
    shape: &ValueShape,
    dest: &Destination,
    target_path: &str,
    pin: Option<&str>,
) -> Result<()> {
    let owner = image.to_string();
    let repo = dest.repo_path(target_path);
    let digest = pin.map(str::to_string).or_else(|| image.digest().map(str::to_string));
    // `HOST/PREFIX/dir` and `name` of the target repository.
    let (dir, name) = match repo.rsplit_once('/') {
        Some((d, n)) => (format!("{}/{d}", dest.host), n.to_string()),
        None => (dest.host.to_string(), repo.clone()),
    };
    let full_reference = || {
        let mut full = format!("{}/{repo}", dest.host);
        match (image.tag(), &digest) {
            (_, Some(d)) if pin.is_some() => full.push_str(&format!("@{d}")),
            (Some(t), Some(d)) => full.push_str(&format!(":{t}@{d}")),
            (Some(t), None) => full.push_str(&format!(":{t}")),
            (None, Some(d)) => full.push_str(&format!("@{d}")),
            (None, None) => {}
        }
        full
    };
    let mut set = |path: &str, v: String, values: &mut Value| set_path(values, path, Value::String(v), &owner, owners);
    let hub_like = shape.style == ImageStyle::HubTag || (shape.style == ImageStyle::Hint && shape.hub_path.is_some());
    let string_like = shape.style == ImageStyle::ImageString
        || (shape.style == ImageStyle::Hint && shape.image_path.is_some() && shape.hub_path.is_none());
    if hub_like {
        // The hub is the repository without its last component (the image name).
        let hub_path = shape.hub_path.as_deref().ok_or_else(|| anyhow::anyhow!("{owner}: hub/tag image without a hub path"))?;
        set(hub_path, dir.clone(), values)?;
    } else if string_like {
        let path = shape.image_path.as_deref().ok_or_else(|| anyhow::anyhow!("{owner}: image string without a path"))?;
        set(path, full_reference(), values)?;
    } else if shape.style == ImageStyle::Repository {
        let path = shape.repository_path.as_deref().ok_or_else(|| anyhow::anyhow!("{owner}: no repository path"))?;
        set(path, format!("{}/{repo}", dest.host), values)?;
    } else {
        match (&shape.registry_path, &shape.namespace_path, &shape.repository_path) {
            // registry / namespace / name (cert-manager's imageRegistry/imageNamespace).
            (Some(reg), Some(ns), Some(rp)) => {
                set(reg, dest.host.to_string(), values)?;
                let ns_value = dir.strip_prefix(dest.host).unwrap_or(&dir).trim_start_matches('/').to_string();
                set(ns, ns_value, values)?;
                set(rp, name.clone(), values)?;
            }
            // registry / name: the registry field carries the whole directory.
            (Some(reg), None, Some(rp)) if shape.repository_is_name => {
                set(reg, dir.clone(), values)?;
                set(rp, name.clone(), values)?;
            }
            (Some(reg), None, Some(rp)) => {
                set(reg, dest.host.to_string(), values)?;
                set(rp, repo.clone(), values)?;
            }
            (None, _, Some(rp)) => match &shape.global_registry_path {
                Some(g) if shape.repository_is_name => {
                    set(g, dir.clone(), values)?;
                    set(rp, name.clone(), values)?;
                }
                _ => set(rp, format!("{}/{repo}", dest.host), values)?,
            },
            (_, _, None) => bail!("{owner}: the value shape at {} has no repository field to redirect", shape.path),
        }
        // A chart-wide registry field wins over the image's own: point it at the host too.
        if let Some(g) = &shape.global_registry_path {
            if shape.registry_path.is_some() || !shape.repository_is_name {
                set(g, dest.host.to_string(), values)?;
            }
        }
    }
    if let (Some(p), Some(d)) = (&shape.digest_path, &digest) {
        if !string_like {
            set(p, d.clone(), values)?;
        }
    }
    for (path, v) in &shape.rewrite_requires {
        set_path(values, path, v.clone(), &owner, owners)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::reference::parse_normalized_named;
    use crate::image::values::find_value_images;
    use serde_json::json;

    fn first(values: Value, app: Option<&str>) -> ValueShape {
        find_value_images(&values, app).into_iter().next().expect("an image shape").shape()
    }

    fn apply(values: Value, image: &str, target_path: &str, pin: Option<&str>) -> Value {
        let vi = first(values, Some("1.0.0"));
        let mut out = json!({});
        let mut owners = BTreeMap::new();
        let r = parse_normalized_named(image).unwrap();
        redirect(&mut out, &mut owners, &r, &vi, &Destination { host: "reg.local:5000", prefix: Some("platform") }, target_path, pin).unwrap();
        out
    }

    #[test]
    fn bitnami_registry_repository_and_global_registry() {
        let values = json!({"global": {"imageRegistry": ""}, "image": {"registry": "docker.io", "repository": "bitnami/redis", "tag": "7.2.4", "digest": ""}});
        let out = apply(values, "docker.io/bitnami/redis:7.2.4", "bitnami/redis", None);
        assert_eq!(out["image"]["registry"], "reg.local:5000");
        assert_eq!(out["image"]["repository"], "platform/bitnami/redis");
        assert!(out["image"].get("tag").is_none(), "the tag stays as the chart has it");
    }

    #[test]
    fn pinning_sets_the_digest_field() {
        let values = json!({"image": {"registry": "docker.io", "repository": "bitnami/redis", "tag": "7.2.4", "digest": ""}});
        let d = format!("sha256:{}", "a".repeat(64));
        let out = apply(values, "docker.io/bitnami/redis:7.2.4", "bitnami/redis", Some(&d));
        assert_eq!(out["image"]["digest"], d.as_str());
    }

    #[test]
    fn repository_only_and_image_string() {
        let out = apply(json!({"image": {"repository": "quay.io/argoproj/argocd", "tag": "v3.0.0"}}), "quay.io/argoproj/argocd:v3.0.0", "argoproj/argocd", None);
        assert_eq!(out["image"]["repository"], "reg.local:5000/platform/argoproj/argocd");
        let out = apply(json!({"sidecar": {"image": "docker.io/library/busybox:1.36"}}), "docker.io/library/busybox:1.36", "library/busybox", None);
        assert_eq!(out["sidecar"]["image"], "reg.local:5000/platform/library/busybox:1.36");
    }

    #[test]
    fn istio_hub_is_moved_under_the_prefix() {
        let values = json!({"global": {"hub": "docker.io/istio", "tag": "1.27.1"}, "pilot": {"image": "pilot"}});
        let vi = find_value_images(&values, Some("1.27.1")).into_iter().find(|v| v.style == ImageStyle::HubTag).expect("hub/tag image").shape();
        let mut out = json!({});
        let mut owners = BTreeMap::new();
        let r = parse_normalized_named("docker.io/istio/pilot:1.27.1").unwrap();
        redirect(&mut out, &mut owners, &r, &vi, &Destination { host: "reg.local:5000", prefix: Some("platform") }, "istio/pilot", None).unwrap();
        assert_eq!(out["global"]["hub"], "reg.local:5000/platform/istio");
    }

    #[test]
    fn conflicting_uses_of_one_path_are_an_error() {
        let mut out = json!({});
        let mut owners = BTreeMap::new();
        set_path(&mut out, "global.hub", json!("a"), "img1", &mut owners).unwrap();
        set_path(&mut out, "global.hub", json!("a"), "img2", &mut owners).unwrap();
        let err = set_path(&mut out, "global.hub", json!("b"), "img3", &mut owners).unwrap_err().to_string();
        assert!(err.contains("value path global.hub would need \"a\" for img1 and \"b\" for img3"), "{err}");
    }

    fn hint_shape(registry: Option<&str>, namespace: Option<&str>, repository: Option<&str>, is_name: bool, image: Option<&str>) -> ValueShape {
        ValueShape {
            style: ImageStyle::Hint,
            path: "image".into(),
            registry_path: registry.map(str::to_string),
            global_registry_path: None,
            namespace_path: namespace.map(str::to_string),
            repository_path: repository.map(str::to_string),
            repository_is_name: is_name,
            tag_path: Some("image.tag".into()),
            digest_path: None,
            image_path: image.map(str::to_string),
            hub_path: None,
            rewrite_requires: Vec::new(),
        }
    }

    fn apply_shape(shape: &ValueShape, image: &str, target_path: &str) -> Value {
        let mut out = json!({});
        let mut owners = BTreeMap::new();
        let r = parse_normalized_named(image).unwrap();
        redirect(&mut out, &mut owners, &r, shape, &Destination { host: "reg.local:5000", prefix: Some("platform") }, target_path, None).unwrap();
        out
    }

    #[test]
    fn hint_registry_namespace_and_name_fields() {
        // cert-manager: imageRegistry / imageNamespace / image.name.
        let shape = hint_shape(Some("imageRegistry"), Some("imageNamespace"), Some("image.name"), true, None);
        let out = apply_shape(&shape, "quay.io/jetstack/cert-manager-controller:v1.21.1", "jetstack/cert-manager-controller");
        assert_eq!(out, json!({"imageRegistry": "reg.local:5000", "imageNamespace": "platform/jetstack", "image": {"name": "cert-manager-controller"}}));
        // registry + name only: the registry field carries the directory.
        let shape = hint_shape(Some("image.registry"), None, Some("image.name"), true, None);
        let out = apply_shape(&shape, "quay.io/jetstack/cert-manager-controller:v1.21.1", "jetstack/cert-manager-controller");
        assert_eq!(out, json!({"image": {"registry": "reg.local:5000/platform/jetstack", "name": "cert-manager-controller"}}));
    }

    #[test]
    fn hint_whole_image_string_keeps_the_tag() {
        let shape = hint_shape(None, None, None, false, Some("proxy.image"));
        let out = apply_shape(&shape, "docker.io/istio/proxyv2:1.27.1", "istio/proxyv2");
        assert_eq!(out, json!({"proxy": {"image": "reg.local:5000/platform/istio/proxyv2:1.27.1"}}));
    }
}
