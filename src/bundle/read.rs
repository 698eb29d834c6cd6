//! Reading bundles: the manifest (first entry), a full streaming verification, and a safe
//! unpack. A bundle is hostile until verified: every entry must be a regular file with a
//! safe relative path, listed in the manifest exactly once, with the listed size and
//! sha256; blobs must hash to their names; every image's manifests, configs and layers must
//! be present. Memory stays bounded: files are streamed; only manifest-sized JSON blobs
//! (≤ 4 MiB each, 64 MiB in all) are kept to walk the images.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::format::{Manifest, MANIFEST_NAME};
use super::oci::{self, Descriptor, Index, MAX_MANIFEST_BYTES};

/// Total bytes of small JSON blobs kept in memory while verifying.
const KEPT_JSON_LIMIT: u64 = 64 * 1024 * 1024;
/// The manifest may not be larger than this.
const MAX_BUNDLE_MANIFEST: u64 = 64 * 1024 * 1024;

fn open_archive(path: &Path) -> Result<tar::Archive<BufReader<File>>> {
    let f = File::open(path).with_context(|| format!("opening bundle {}", path.display()))?;
    Ok(tar::Archive::new(BufReader::with_capacity(1 << 20, f)))
}

/// Read only the manifest (the first entry).
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let mut archive = open_archive(path)?;
    let mut entries = archive.entries().with_context(|| format!("{} is not a tar file", path.display()))?;
    let mut first = entries
        .next()
        .ok_or_else(|| anyhow!("{} is empty: not a kod bundle", path.display()))?
        .with_context(|| format!("{} is not a readable tar file", path.display()))?;
    let name = first.path()?.to_string_lossy().to_string();
    if name != MANIFEST_NAME {
        bail!("{}: first entry is {name:?}, not {MANIFEST_NAME}: not a kod bundle", path.display());
    }
    parse_manifest(&mut first, path)
}

fn parse_manifest(entry: &mut dyn Read, path: &Path) -> Result<Manifest> {
    let mut buf = Vec::new();
    entry.take(MAX_BUNDLE_MANIFEST + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > MAX_BUNDLE_MANIFEST {
        bail!("{}: {MANIFEST_NAME} is larger than {MAX_BUNDLE_MANIFEST} bytes", path.display());
    }
    let m: Manifest = serde_json::from_slice(&buf).with_context(|| format!("{}: {MANIFEST_NAME} is not a valid manifest", path.display()))?;
    m.validate_header()?;
    Ok(m)
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct VerifyReport {
    pub ok: bool,
    pub files_checked: usize,
    pub bytes_checked: u64,
    pub images_checked: usize,
    pub problems: Vec<String>,
}

/// What happens to each verified entry (besides checking it).
enum Sink<'a> {
    None,
    Unpack(&'a Path),
}

/// Verify a bundle completely, in one pass. Returns the manifest and a report; the report
/// lists every problem found (the pass does not stop at the first). Errors are only for a
/// bundle that cannot be read at all.
pub fn verify(path: &Path) -> Result<(Manifest, VerifyReport)> {
    scan(path, Sink::None)
}

/// Verify and extract into `dir` (which must not exist or be empty). Nothing is written
/// outside `dir`; on any problem the partly extracted directory is removed again.
pub fn unpack(path: &Path, dir: &Path) -> Result<(Manifest, VerifyReport)> {
    if dir.exists() {
        let empty = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?.next().is_none();
        if !empty {
            bail!("unpack target {} exists and is not empty; give a new or empty directory", dir.display());
        }
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let result = scan(path, Sink::Unpack(dir));
    let failed = match &result {
        Ok((_, r)) => !r.ok,
        Err(_) => true,
    };
    if failed {
        // Leave nothing half-written behind.
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        }
        if created {
            let _ = std::fs::remove_dir(dir);
        }
    }
    result
}

fn scan(path: &Path, sink: Sink) -> Result<(Manifest, VerifyReport)> {
    let mut archive = open_archive(path)?;
    let mut report = VerifyReport::default();
    let mut manifest: Option<Manifest> = None;
    let mut expected: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    // directories the entries so far lie in: a later entry may not be one of them
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    let mut kept: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut kept_bytes = 0u64;
    let mut index_json: Option<Vec<u8>> = None;
    let mut blob_digests: BTreeSet<String> = BTreeSet::new();

    let entries = archive.entries().with_context(|| format!("{} is not a tar file", path.display()))?;
    for (i, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                report.problems.push(format!("the tar stream is damaged after {} entries: {e} (truncated or corrupt bundle)", i));
                break;
            }
        };
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().to_string(),
            Err(e) => {
                report.problems.push(format!("entry {i}: unreadable path: {e}"));
                continue;
            }
        };
        let kind = entry.header().entry_type();
        if i == 0 {
            if name != MANIFEST_NAME || !kind.is_file() {
                bail!("{}: first entry is {name:?}, not {MANIFEST_NAME}: not a kod bundle", path.display());
            }
            let m = parse_manifest(&mut entry, path)?;
            for f in &m.files {
                expected.insert(f.path.clone(), (f.sha256.clone(), f.size));
            }
            if let Sink::Unpack(dir) = sink {
                let bytes = serde_json::to_vec_pretty(&m)?;
                write_new(dir, MANIFEST_NAME, &mut bytes.as_slice())?;
            }
            manifest = Some(m);
            continue;
        }
        if let Err(e) = super::check_entry_path(&name) {
            report.problems.push(format!("{e} (refused)"));
            continue;
        }
        if !kind.is_file() {
            let what = match kind {
                tar::EntryType::Symlink => "a symbolic link",
                tar::EntryType::Link => "a hard link",
                tar::EntryType::Char | tar::EntryType::Block => "a device file",
                tar::EntryType::Fifo => "a FIFO",
                tar::EntryType::Directory => "a directory",
                _ => "not a regular file",
            };
            report.problems.push(format!("bundle entry {name:?} is {what} (refused: bundles hold only regular files)"));
            continue;
        }
        if let Some(problem) = super::file_dir_conflict(&name, &seen, &dirs) {
            report.problems.push(problem);
            continue;
        }
        if name == MANIFEST_NAME || !seen.insert(name.clone()) {
            report.problems.push(format!("bundle entry {name:?} appears more than once (refused)"));
            continue;
        }
        super::add_dirs(&name, &mut dirs);
        let Some((want_sha, want_size)) = expected.get(&name).cloned() else {
            report.problems.push(format!("bundle entry {name:?} is not listed in {MANIFEST_NAME} (refused)"));
            continue;
        };
        let size = entry.header().size().unwrap_or(0);
        if size != want_size {
            report.problems.push(format!("{name}: size {size} bytes, the manifest says {want_size}"));
            continue;
        }
        let is_blob = name.starts_with("images/blobs/sha256/");
        let keep = (is_blob && size <= MAX_MANIFEST_BYTES && kept_bytes + size <= KEPT_JSON_LIMIT) || name == "images/index.json";
        let mut hasher = Sha256::new();
        let mut small = Vec::new();
        let mut out_file = match sink {
            Sink::Unpack(dir) => Some(create_new(dir, &name)?),
            Sink::None => None,
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut read_total = 0u64;
        loop {
            let n = match entry.read(&mut buf) {
                Ok(n) => n,
                Err(e) => {
                    report.problems.push(format!("{name}: cannot read its content: {e} (truncated bundle?)"));
                    break;
                }
            };
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            read_total += n as u64;
            if keep {
                small.extend_from_slice(&buf[..n]);
            }
            if let Some(f) = out_file.as_mut() {
                f.write_all(&buf[..n]).with_context(|| format!("writing {name}"))?;
            }
        }
        report.files_checked += 1;
        report.bytes_checked += read_total;
        let actual = hex::encode(hasher.finalize());
        if read_total != want_size {
            report.problems.push(format!("{name}: only {read_total} of {want_size} bytes present (truncated bundle)"));
            continue;
        }
        if actual != want_sha {
            report.problems.push(format!("{name}: checksum mismatch: manifest says sha256:{want_sha}, content is sha256:{actual}"));
            continue;
        }
        if is_blob {
            let hex_name = &name["images/blobs/sha256/".len()..];
            if hex_name != actual {
                report.problems.push(format!("{name}: blob content hashes to sha256:{actual}, not to its name"));
                continue;
            }
            blob_digests.insert(format!("sha256:{actual}"));
            if keep && looks_like_json(&small) {
                kept_bytes += small.len() as u64;
                kept.insert(format!("sha256:{actual}"), small);
            }
        } else if name == "images/index.json" {
            index_json = Some(small);
        }
    }

    let manifest = manifest.ok_or_else(|| anyhow!("{}: empty tar: not a kod bundle", path.display()))?;
    for f in &manifest.files {
        if !seen.contains(&f.path) {
            report.problems.push(format!("{}: listed in {MANIFEST_NAME} but missing from the bundle", f.path));
        }
    }
    check_images(&manifest, index_json.as_deref(), &kept, &blob_digests, &mut report);
    report.ok = report.problems.is_empty();
    Ok((manifest, report))
}

fn looks_like_json(bytes: &[u8]) -> bool {
    bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Every image of the manifest is in `images/index.json` with its digest, and every blob of
/// its closure is present; every release image is one of the bundle's images.
fn check_images(
    manifest: &Manifest,
    index_json: Option<&[u8]>,
    kept: &BTreeMap<String, Vec<u8>>,
    blobs: &BTreeSet<String>,
    report: &mut VerifyReport,
) {
    if manifest.images.is_empty() {
        return;
    }
    let Some(index_json) = index_json else {
        report.problems.push("images/index.json is missing: the OCI layout is incomplete".to_string());
        return;
    };
    let index: Index = match serde_json::from_slice(index_json) {
        Ok(i) => i,
        Err(e) => {
            report.problems.push(format!("images/index.json is not a valid OCI index: {e}"));
            return;
        }
    };
    let by_name: BTreeMap<&str, &Descriptor> =
        index.manifests.iter().filter_map(|d| d.annotations.get(oci::REF_NAME).map(|n| (n.as_str(), d))).collect();
    for image in &manifest.images {
        let Some(desc) = by_name.get(image.source.as_str()) else {
            report.problems.push(format!("image {}: not in images/index.json", image.source));
            continue;
        };
        if desc.digest != image.digest {
            report.problems.push(format!("image {}: index.json has {}, the manifest says {}", image.source, desc.digest, image.digest));
            continue;
        }
        match oci::closure(kept, desc) {
            Ok(needed) => {
                let missing: Vec<&str> = needed.iter().filter(|d| !blobs.contains(&d.digest)).map(|d| d.digest.as_str()).collect();
                if !missing.is_empty() {
                    report.problems.push(format!("image {}: {} blob(s) missing: {}", image.source, missing.len(), missing.join(", ")));
                }
            }
            Err(e) => report.problems.push(format!("image {}: {e:#}", image.source)),
        }
        report.images_checked += 1;
    }
    let images: BTreeSet<&str> = manifest.images.iter().map(|i| i.source.as_str()).collect();
    for r in &manifest.releases {
        for img in &r.images {
            if !images.contains(img.source.as_str()) {
                report.problems.push(format!("release {} ({}) needs image {} which the bundle does not hold", r.id, r.environment, img.source));
            }
        }
    }
}

/// Create a new file under `dir` for a checked relative path; refuses to follow or replace
/// anything that exists.
fn create_new(dir: &Path, rel: &str) -> Result<File> {
    let target: PathBuf = dir.join(rel);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        // A symlink planted in the target tree must not redirect us.
        let canon = parent.canonicalize()?;
        if !canon.starts_with(dir.canonicalize()?) {
            bail!("refusing to write {rel}: its directory leaves the unpack target");
        }
    }
    std::fs::OpenOptions::new().write(true).create_new(true).open(&target).with_context(|| format!("creating {}", target.display()))
}

fn write_new(dir: &Path, rel: &str, data: &mut dyn Read) -> Result<()> {
    let mut f = create_new(dir, rel)?;
    std::io::copy(data, &mut f)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::assemble::{assemble, Contents};
    use crate::bundle::format::FileEntry;

    /// A bundle whose manifest lists `files` with their true sizes and checksums, written
    /// entry by entry as given, without the writer's checks.
    fn raw_bundle(dir: &Path, files: &[(&str, &[u8])]) -> PathBuf {
        let contents = Contents { environments: vec!["default".into()], images_dir: dir.join("images"), ..Default::default() };
        let (mut m, _) = assemble(&contents, "0.0.0-test", "2026-01-01T00:00:00Z", &dir.join("staging")).unwrap();
        m.files = files
            .iter()
            .map(|(p, d)| FileEntry { path: p.to_string(), sha256: crate::bundle::sha256_hex(d), size: d.len() as u64 })
            .collect();
        let out = dir.join("b.kod.tar");
        let mut b = tar::Builder::new(File::create(&out).unwrap());
        let mut add = |p: &str, d: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(d.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            b.append_data(&mut h, p, d).unwrap();
        };
        add(MANIFEST_NAME, &serde_json::to_vec(&m).unwrap());
        for (p, d) in files {
            add(p, d);
        }
        b.finish().unwrap();
        out
    }

    /// Found checking the bundle_unpack fuzz target's property that verify accepts only
    /// what unpack can write: `helmfile/a` and `helmfile/a/b` both listed passed verify,
    /// then unpack failed with "File exists".
    #[test]
    fn a_path_that_is_both_a_file_and_a_directory_is_refused() {
        let cases: [&[(&str, &[u8])]; 3] = [
            &[("helmfile/a", b"x"), ("helmfile/a/b", b"y")],
            &[("helmfile/a/b", b"y"), ("helmfile/a", b"x")],
            &[("kod-bundle.json/x", b"x")],
        ];
        for files in cases {
            let d = tempfile::tempdir().unwrap();
            let bundle = raw_bundle(d.path(), files);
            let (_, report) = verify(&bundle).unwrap();
            assert!(!report.ok, "{files:?}");
            assert!(
                report.problems.iter().any(|p| p.contains("which is a file") || p.contains("also the directory of other entries")),
                "{:?}",
                report.problems
            );
            let target = d.path().join("target");
            let (_, report) = unpack(&bundle, &target).expect("a refused unpack is a report, not an error");
            assert!(!report.ok);
            assert!(!target.exists());
        }
        // the writer refuses to stage such a pair in the first place
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        let contents = Contents { environments: vec!["default".into()], images_dir: d.path().join("images"), ..Default::default() };
        let (mut m, _) = assemble(&contents, "0.0.0-test", "2026-01-01T00:00:00Z", &d.path().join("staging")).unwrap();
        let staged = |p: &str| crate::bundle::write::StagedFile { path: p.into(), source: d.path().join("f"), sha256: None };
        let err = crate::bundle::write::prepare(&mut m, &[staged("helmfile/a"), staged("helmfile/a/b")]).unwrap_err();
        assert!(err.to_string().contains("which is a file"), "{err}");
    }
}
