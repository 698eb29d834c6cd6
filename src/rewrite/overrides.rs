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
//! plus whatever the shape requires (Bitnami's `global.security.allowInsecureImages`).

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde_json::{Map, Value};

use crate::image::reference::Reference;
use crate::image::values::{ImageStyle, ValueImage};

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

/// Add the overrides that redirect `image` (whose values shape is `vi`) to `dest` into
/// `values`. `target_path` is the repository path the image is pushed to (without host or
/// prefix; usually the source path, see `registry::push::target_names`). `pin` replaces
/// the tag with a digest when given.
pub fn redirect(
    values: &mut Value,
    owners: &mut BTreeMap<String, String>,
    image: &Reference,
    vi: &ValueImage,
    dest: &Destination,
    target_path: &str,
    pin: Option<&str>,
) -> Result<()> {
    let owner = image.to_string();
    let repo = dest.repo_path(target_path);
    let digest = pin.map(str::to_string).or_else(|| image.digest().map(str::to_string));
    let set_tag_digest = |values: &mut Value, owners: &mut BTreeMap<String, String>| -> Result<()> {
        if let (Some(p), Some(d)) = (&vi.digest_path, &digest) {
            set_path(values, p, Value::String(d.clone()), &owner, owners)?;
        }
        Ok(())
    };
    match vi.style {
        ImageStyle::HubTag => {
            let hub_path = vi.hub_path.as_deref().ok_or_else(|| anyhow::anyhow!("{owner}: hub/tag image without a hub path"))?;
            // The hub is the repository without its last component (the image name).
            let hub = match target_path.rsplit_once('/') {
                Some((h, _)) => format!("{}/{}", dest.host, dest.repo_path(h)),
                None => match dest.prefix {
                    Some(p) => format!("{}/{p}", dest.host),
                    None => dest.host.to_string(),
                },
            };
            set_path(values, hub_path, Value::String(hub), &owner, owners)?;
        }
        ImageStyle::ImageString => {
            let path = vi.image_path.as_deref().ok_or_else(|| anyhow::anyhow!("{owner}: image string without a path"))?;
            let mut full = format!("{}/{repo}", dest.host);
            match (image.tag(), &digest) {
                (_, Some(d)) if pin.is_some() => full.push_str(&format!("@{d}")),
                (Some(t), Some(d)) => full.push_str(&format!(":{t}@{d}")),
                (Some(t), None) => full.push_str(&format!(":{t}")),
                (None, Some(d)) => full.push_str(&format!("@{d}")),
                (None, None) => {}
            }
            set_path(values, path, Value::String(full), &owner, owners)?;
        }
        ImageStyle::Repository => {
            let path = vi.repository_path.as_deref().ok_or_else(|| anyhow::anyhow!("{owner}: no repository path"))?;
            set_path(values, path, Value::String(format!("{}/{repo}", dest.host)), &owner, owners)?;
            set_tag_digest(values, owners)?;
        }
        ImageStyle::RegistryRepository | ImageStyle::ImageAndTag | ImageStyle::Hint => {
            match (&vi.registry_path, &vi.repository_path) {
                (Some(reg), Some(rp)) => {
                    set_path(values, reg, Value::String(dest.host.to_string()), &owner, owners)?;
                    set_path(values, rp, Value::String(repo.clone()), &owner, owners)?;
                }
                (None, Some(rp)) => {
                    set_path(values, rp, Value::String(format!("{}/{repo}", dest.host)), &owner, owners)?;
                }
                (_, None) => {
                    if let Some(path) = &vi.image_path {
                        set_path(values, path, Value::String(format!("{}/{repo}", dest.host)), &owner, owners)?;
                    } else {
                        bail!("{owner}: the value shape at {} has no repository field to redirect", vi.path);
                    }
                }
            }
            if let Some(g) = &vi.global_registry_path {
                set_path(values, g, Value::String(dest.host.to_string()), &owner, owners)?;
            }
            set_tag_digest(values, owners)?;
        }
    }
    for (path, v) in &vi.rewrite_requires {
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

    fn first(values: Value, app: Option<&str>) -> ValueImage {
        find_value_images(&values, app).into_iter().next().expect("an image shape")
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
        let vi = find_value_images(&values, Some("1.27.1")).into_iter().find(|v| v.style == ImageStyle::HubTag).expect("hub/tag image");
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
}
