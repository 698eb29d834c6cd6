//! Reading a packaged chart (`.tgz`) without helm: the top chart's metadata and the text of
//! every `Chart.yaml` and `values*.yaml` in it (subcharts included), which discovery uses to
//! confirm candidate images.

use std::io::Read;
use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde::Deserialize;

/// `Chart.yaml` fields kod uses.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChartMeta {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `version`.
    #[serde(default, deserialize_with = "scalar")]
    pub version: String,
    /// `appVersion`.
    #[serde(rename = "appVersion", default, deserialize_with = "scalar")]
    pub app_version: String,
    /// `annotations`.
    #[serde(default)]
    pub annotations: std::collections::BTreeMap<String, String>,
    /// `dependencies` (name, repository).
    #[serde(default)]
    pub dependencies: Vec<ChartDependencyMeta>,
}

/// A `dependencies` entry of `Chart.yaml`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
pub struct ChartDependencyMeta {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `repository`.
    #[serde(default)]
    pub repository: String,
}

fn scalar<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<String, D::Error> {
    Ok(match serde_yaml::Value::deserialize(d)? {
        serde_yaml::Value::String(s) => s,
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Null => String::new(),
        other => return Err(serde::de::Error::custom(format!("expected a string, found {other:?}"))),
    })
}

/// What kod reads out of a chart archive.
#[derive(Clone, Debug, Default)]
pub struct ChartArchive {
    /// The top chart's `Chart.yaml`.
    pub meta: ChartMeta,
    /// Every `Chart.yaml` (top chart and subcharts), parsed.
    pub all_meta: Vec<(String, ChartMeta)>,
    /// Every `values.yaml`/`values*.yaml` at a chart root, as `(path in archive, text)`.
    pub values: Vec<(String, String)>,
    /// The text of every `Chart.yaml` at a chart root, as `(path in archive, text)` (for
    /// what [`ChartMeta`] does not keep: dependency aliases, conditions, chart type).
    pub chart_yaml: Vec<(String, String)>,
}

/// Read `Chart.yaml` and values files from a chart archive.
pub fn read_archive(path: &Path) -> Result<ChartArchive> {
    let file = std::fs::File::open(path).with_context(|| format!("opening the chart archive {}", path.display()))?;
    let mut out = ChartArchive::default();
    let mut top: Option<(usize, ChartMeta)> = None;
    read_into(file, "", path, &mut out, &mut top)?;
    out.meta = top.map(|(_, m)| m).ok_or_else(|| anyhow!("{} is not a chart archive: no Chart.yaml", path.display()))?;
    Ok(out)
}

/// The size of the archive's content uncompressed, from the gzip trailer (modulo 4 GiB): a
/// free estimate of how much a render of the chart has to read. `None` if unreadable.
pub fn uncompressed_size(path: &Path) -> Option<u64> {
    use std::io::{Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    file.seek(SeekFrom::End(-4)).ok()?;
    let mut isize = [0u8; 4];
    file.read_exact(&mut isize).ok()?;
    Some(u32::from_le_bytes(isize).into())
}

/// Read only the chart's own `Chart.yaml` (`<chart>/Chart.yaml`): helm writes it first, so
/// this decompresses a few kilobytes where [`read_archive`] reads the whole archive. The
/// same metadata `read_archive` returns (it falls back to it for an archive without one at
/// the top level).
pub fn read_meta(path: &Path) -> Result<ChartMeta> {
    let file = std::fs::File::open(path).with_context(|| format!("opening the chart archive {}", path.display()))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = tar.entries().with_context(|| format!("reading the chart archive {}", path.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading the chart archive {}", path.display()))?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if matches!(name.split('/').collect::<Vec<_>>().as_slice(), [_, "Chart.yaml"]) {
            let mut text = String::new();
            if entry.read_to_string(&mut text).is_ok() {
                return serde_yaml::from_str(&text).with_context(|| format!("{}: cannot parse {name}", path.display()));
            }
        }
    }
    read_archive(path).map(|a| a.meta)
}

/// Read one (possibly nested: `charts/<dep>.tgz`) archive; names get `prefix` in front.
fn read_into(reader: impl Read, prefix: &str, path: &Path, out: &mut ChartArchive, top: &mut Option<(usize, ChartMeta)>) -> Result<()> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(reader));
    let entries = tar.entries().with_context(|| format!("reading the chart archive {}", path.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("reading the chart archive {}", path.display()))?;
        let name = format!("{prefix}{}", entry.path()?.to_string_lossy());
        let parts: Vec<&str> = name.split('/').collect();
        let file_name = *parts.last().unwrap_or(&"");
        // A chart root is `<chart>/` or `<chart>/charts/<sub>/…`: an odd number of parts
        // before the file name, with `charts` at every second position.
        let at_chart_root = parts.len() % 2 == 0 && parts.iter().skip(1).step_by(2).take(parts.len() / 2 - 1).all(|p| *p == "charts");
        let wanted = at_chart_root && (file_name == "Chart.yaml" || (file_name.starts_with("values") && (file_name.ends_with(".yaml") || file_name.ends_with(".yml"))));
        let nested = parts.len() >= 3 && parts.len() % 2 == 1 && parts[parts.len() - 2] == "charts" && file_name.ends_with(".tgz");
        if nested {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).with_context(|| format!("reading {name} in {}", path.display()))?;
            let dir = parts[..parts.len() - 1].join("/");
            read_into(std::io::Cursor::new(bytes), &format!("{dir}/"), path, out, top)?;
            continue;
        }
        if !wanted {
            continue;
        }
        let mut text = String::new();
        if entry.read_to_string(&mut text).is_err() {
            continue;
        }
        if file_name == "Chart.yaml" {
            let meta: ChartMeta =
                serde_yaml::from_str(&text).with_context(|| format!("{}: cannot parse {name}", path.display()))?;
            if top.as_ref().map_or(true, |(depth, _)| parts.len() < *depth) {
                *top = Some((parts.len(), meta.clone()));
            }
            out.chart_yaml.push((name.clone(), text));
            out.all_meta.push((name, meta));
        } else {
            out.values.push((name, text));
        }
    }
    Ok(())
}

/// A `.tgz` with the given files, for tests.
#[cfg(test)]
pub(crate) fn test_tgz(files: &[(&str, &str)]) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    let enc = flate2::write::GzEncoder::new(f.reopen().unwrap(), flate2::Compression::fast());
    let mut b = tar::Builder::new(enc);
    for (name, text) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(text.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, text.as_bytes()).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_top_and_subchart_metadata_and_values() {
        let f = test_tgz(&[
            ("app/charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"),
            ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: 4.5\nannotations:\n  images: x\n"),
            ("app/values.yaml", "image: a\n"),
            ("app/charts/sub/values.yaml", "image: b\n"),
            ("app/templates/values.yaml", "not: values\n"),
            ("app/files/Chart.yaml", "name: fake\n"),
        ]);
        let a = read_archive(f.path()).unwrap();
        assert_eq!((a.meta.name.as_str(), a.meta.version.as_str(), a.meta.app_version.as_str()), ("app", "1.2.3", "4.5"));
        assert_eq!(a.meta.annotations.get("images").map(String::as_str), Some("x"));
        assert_eq!(a.all_meta.len(), 2);
        let names: Vec<&str> = a.values.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["app/values.yaml", "app/charts/sub/values.yaml"]);
    }

    #[test]
    fn meta_alone_is_the_top_charts() {
        let f = test_tgz(&[
            ("app/charts/sub/Chart.yaml", "name: sub\nversion: 0.1.0\n"),
            ("app/Chart.yaml", "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: 4.5\n"),
            ("app/values.yaml", "image: a\n"),
        ]);
        assert_eq!(read_meta(f.path()).unwrap(), read_archive(f.path()).unwrap().meta);
        assert_eq!(read_meta(f.path()).unwrap().name, "app");
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(f.path()).unwrap()).read_to_end(&mut tar).unwrap();
        assert_eq!(uncompressed_size(f.path()), Some(tar.len() as u64));
        let broken = test_tgz(&[("app/Chart.yaml", "name: [\n")]);
        assert!(read_meta(broken.path()).unwrap_err().to_string().contains("cannot parse app/Chart.yaml"));
        let none = test_tgz(&[("x/readme", "hi")]);
        assert!(read_meta(none.path()).unwrap_err().to_string().contains("no Chart.yaml"));
    }

    #[test]
    fn not_a_chart() {
        let f = test_tgz(&[("x/readme", "hi")]);
        assert!(read_archive(f.path()).unwrap_err().to_string().contains("no Chart.yaml"));
    }
}
