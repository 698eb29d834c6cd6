//! Images declared in a chart's `Chart.yaml` annotations.
//!
//! Three annotation keys carry a YAML list of images, written as a string
//! (Helm annotations are `map[string]string`):
//!
//! - `images` — Bitnami: `- name: redis` / `  image: docker.io/bitnami/redis:7.2.4-debian-12-r0`;
//! - `artifacthub.io/images` — Artifact Hub: `name`, `image`, and optional
//!   `whitelisted` and `platforms`;
//! - `helm.sh/images` — the same shape, proposed for Helm itself.
//!
//! Every entry becomes an [`AnnotationImage`] with the annotation key as
//! its provenance. Entries that cannot be read (no `image`, not a valid
//! reference, the annotation not being a YAML list) are returned in
//! [`AnnotationImages::errors`], never dropped. Annotations describe what
//! the chart *may* use: a caller should treat them as evidence alongside
//! the rendered manifests, not as the list of images a release pulls.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml::Value;

use super::reference::{parse_normalized_named, Reference};

/// The annotation keys read, in the order they are reported.
pub const IMAGE_ANNOTATION_KEYS: [&str; 3] = ["images", "artifacthub.io/images", "helm.sh/images"];

/// One image listed in an annotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnotationImage {
    /// The annotation key it was listed under (`images`, `artifacthub.io/images`, …).
    pub key: String,
    /// Position in the annotation's list, from 0.
    pub index: usize,
    /// The entry's `name`, if any.
    pub name: Option<String>,
    /// The image as written.
    pub image: String,
    pub reference: Reference,
    /// Artifact Hub's `whitelisted` flag (image allowed despite a security report).
    pub whitelisted: Option<bool>,
    /// Artifact Hub's `platforms` (`linux/amd64`, …); empty when not given.
    pub platforms: Vec<String>,
}

/// An annotation, or an entry of it, that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("Chart.yaml annotation {key:?}{}: {message}", index.map(|i| format!(", entry {i}")).unwrap_or_default())]
pub struct AnnotationError {
    pub key: String,
    /// The entry's position, or `None` when the whole annotation is unreadable.
    pub index: Option<usize>,
    pub message: String,
}

/// Result of reading the image annotations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AnnotationImages {
    pub images: Vec<AnnotationImage>,
    pub errors: Vec<AnnotationError>,
}

/// Reads the image annotations of a chart from its `annotations` map
/// (string values, as Helm requires).
pub fn annotation_images(annotations: &BTreeMap<String, String>) -> AnnotationImages {
    let mut out = AnnotationImages::default();
    for key in IMAGE_ANNOTATION_KEYS {
        if let Some(text) = annotations.get(key) {
            read_annotation(key, text, &mut out);
        }
    }
    out
}

/// Reads the image annotations from the text of a `Chart.yaml`. Fails only
/// if the file is not YAML; an `annotations` value that is not a string is
/// reported in [`AnnotationImages::errors`] (Helm refuses such charts).
pub fn chart_yaml_annotation_images(
    chart_yaml: &str,
) -> Result<AnnotationImages, serde_yaml::Error> {
    let chart: Value = serde_yaml::from_str(chart_yaml)?;
    let mut out = AnnotationImages::default();
    let Some(annotations) = chart.get("annotations").and_then(Value::as_mapping) else {
        return Ok(out);
    };
    for key in IMAGE_ANNOTATION_KEYS {
        match annotations.get(key) {
            None => {}
            Some(Value::String(text)) => read_annotation(key, text, &mut out),
            Some(_) => out.errors.push(AnnotationError {
                key: key.to_owned(),
                index: None,
                message: "the annotation is not a string (Helm annotations are strings \
                          holding YAML)"
                    .to_owned(),
            }),
        }
    }
    Ok(out)
}

fn read_annotation(key: &str, text: &str, out: &mut AnnotationImages) {
    let error = |index: Option<usize>, message: String| AnnotationError {
        key: key.to_owned(),
        index,
        message,
    };
    let items = match serde_yaml::from_str::<Value>(text) {
        Ok(Value::Sequence(items)) => items,
        Ok(Value::Null) => return,
        Ok(_) => {
            out.errors
                .push(error(None, "the annotation is not a YAML list".to_owned()));
            return;
        }
        Err(e) => {
            out.errors.push(error(
                None,
                format!("the annotation is not valid YAML: {e}"),
            ));
            return;
        }
    };
    for (index, item) in items.iter().enumerate() {
        match read_entry(key, index, item) {
            Ok(image) => out.images.push(image),
            Err(message) => out.errors.push(error(Some(index), message)),
        }
    }
}

fn read_entry(key: &str, index: usize, item: &Value) -> Result<AnnotationImage, String> {
    let (name, image, whitelisted, platforms) = match item {
        // A bare string is taken as the image itself.
        Value::String(image) => (None, image.clone(), None, Vec::new()),
        Value::Mapping(map) => {
            let image = match map.get("image") {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return Err("`image` is not a string".to_owned()),
                None => return Err("the entry has no `image`".to_owned()),
            };
            let name = match map.get("name") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(_) => return Err("`name` is not a string".to_owned()),
            };
            let whitelisted = match map.get("whitelisted") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                // Artifact Hub documents the flag as a string in some examples.
                Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
                Some(_) => return Err("`whitelisted` is not a boolean".to_owned()),
            };
            let platforms = match map.get("platforms") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Sequence(items)) => items
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("`platforms` has an entry that is not a string")?,
                Some(_) => return Err("`platforms` is not a list".to_owned()),
            };
            (name, image, whitelisted, platforms)
        }
        _ => return Err("the entry is neither a mapping nor a string".to_owned()),
    };
    let trimmed = image.trim();
    let reference = parse_normalized_named(trimmed).map_err(|e| e.to_string())?;
    Ok(AnnotationImage {
        key: key.to_owned(),
        index,
        name,
        image: trimmed.to_owned(),
        reference,
        whitelisted,
        platforms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(images: &AnnotationImages) -> Vec<(String, Option<String>, String)> {
        images
            .images
            .iter()
            .map(|i| (i.key.clone(), i.name.clone(), i.reference.to_string()))
            .collect()
    }

    #[test]
    fn bitnami_images_annotation() {
        let chart = "apiVersion: v2\nname: redis\nannotations:\n  images: |\n    - name: os-shell\n      image: docker.io/bitnami/os-shell:12-debian-12-r51\n    - name: redis\n      image: docker.io/bitnami/redis:8.2.1-debian-12-r0\n  licenses: Apache-2.0\n";
        let images = chart_yaml_annotation_images(chart).unwrap();
        assert_eq!(images.errors, vec![]);
        assert_eq!(
            summary(&images),
            vec![
                (
                    "images".into(),
                    Some("os-shell".into()),
                    "docker.io/bitnami/os-shell:12-debian-12-r51".into()
                ),
                (
                    "images".into(),
                    Some("redis".into()),
                    "docker.io/bitnami/redis:8.2.1-debian-12-r0".into()
                ),
            ]
        );
    }

    #[test]
    fn artifacthub_and_helm_annotations_with_optional_fields() {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "artifacthub.io/images".to_owned(),
            "- name: app\n  image: quay.io/acme/app:1.0\n  whitelisted: true\n  platforms:\n    - linux/amd64\n    - linux/arm64\n- name: short\n  image: nginx\n".to_owned(),
        );
        annotations.insert(
            "helm.sh/images".to_owned(),
            "- image: ghcr.io/acme/tool:2@sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd\n".to_owned(),
        );
        annotations.insert("artifacthub.io/license".to_owned(), "MIT".to_owned());
        let images = annotation_images(&annotations);
        assert_eq!(images.errors, vec![]);
        assert_eq!(
            summary(&images),
            vec![
                ("artifacthub.io/images".into(), Some("app".into()), "quay.io/acme/app:1.0".into()),
                ("artifacthub.io/images".into(), Some("short".into()), "docker.io/library/nginx:latest".into()),
                (
                    "helm.sh/images".into(),
                    None,
                    "ghcr.io/acme/tool:2@sha256:01038e7de14b78d702d2849c3aad72fd25903c4765af63cf16aa3398f5d5f2dd".into()
                ),
            ]
        );
        assert_eq!(images.images[0].whitelisted, Some(true));
        assert_eq!(
            images.images[0].platforms,
            vec!["linux/amd64", "linux/arm64"]
        );
        assert_eq!(images.images[1].whitelisted, None);
    }

    #[test]
    fn unreadable_entries_are_reported() {
        let mut annotations = BTreeMap::new();
        annotations.insert(
            "images".to_owned(),
            "- name: ok\n  image: docker.io/bitnami/redis:7\n- name: missing\n- name: bad\n  image: \"UPPER/Case:1\"\n- 42\n- name: p\n  image: a/b:1\n  platforms: linux/amd64\n".to_owned(),
        );
        annotations.insert(
            "artifacthub.io/images".to_owned(),
            "name: not-a-list".to_owned(),
        );
        annotations.insert("helm.sh/images".to_owned(), "- [unclosed".to_owned());
        let images = annotation_images(&annotations);
        assert_eq!(
            summary(&images),
            vec![(
                "images".into(),
                Some("ok".into()),
                "docker.io/bitnami/redis:7".into()
            )]
        );
        let errors: Vec<_> = images
            .errors
            .iter()
            .map(|e| (e.key.as_str(), e.index))
            .collect();
        assert_eq!(
            errors,
            vec![
                ("images", Some(1)),
                ("images", Some(2)),
                ("images", Some(3)),
                ("images", Some(4)),
                ("artifacthub.io/images", None),
                ("helm.sh/images", None),
            ]
        );
        assert_eq!(
            images.errors[0].to_string(),
            "Chart.yaml annotation \"images\", entry 1: the entry has no `image`"
        );
        assert!(
            images.errors[1].message.contains("must be lowercase"),
            "{:?}",
            images.errors[1]
        );
        assert!(images.errors[4].to_string().contains("not a YAML list"));
    }

    #[test]
    fn non_string_annotation_in_chart_yaml_is_an_error() {
        let chart = "name: x\nannotations:\n  images:\n    - image: a/b:1\n";
        let images = chart_yaml_annotation_images(chart).unwrap();
        assert_eq!(images.images, vec![]);
        assert_eq!(images.errors.len(), 1);
        assert!(images.errors[0].message.contains("not a string"));
        assert!(chart_yaml_annotation_images("a: [").is_err());
        assert_eq!(
            chart_yaml_annotation_images("name: x\n").unwrap(),
            AnnotationImages::default()
        );
    }
}
