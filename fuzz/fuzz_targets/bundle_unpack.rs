//! The bundle reader (`kod::bundle::read`): arbitrary bytes as a bundle file, read
//! (`read_manifest`), verified (`verify`) and unpacked (`unpack`) into a new directory.
//! Errors and problem reports are fine; a panic, or any file written outside the unpack
//! target, is a bug. Checked properties:
//!
//! * nothing appears in the scratch directory except the bundle and the unpack target;
//! * a refused unpack (problems or an error) leaves no target directory behind;
//! * an accepted unpack holds exactly the manifest and every listed file, with the listed
//!   size and sha256, and only regular files and directories;
//! * `verify` and `unpack` agree on whether the bundle is good.
//!
//! Random bytes rarely make a tar whose checksums hold, so the first input byte picks a mode:
//! bit 0 clear — the rest is the bundle as is; bit 0 set — the rest is read leniently as a
//! tar and written again with valid headers, and then bit 1 renames blobs to the sha256 of
//! their content and bit 2 rewrites the manifest's `files` to list the entries as they are.
//! That lets mutations reach the checks behind the checksums (paths, entry types,
//! duplicates, OCI closures) instead of stopping at the first bad header.
#![no_main]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};

use kod::bundle::read;
use libfuzzer_sys::fuzz_target;
use sha2::{Digest, Sha256};

const BLOBS: &str = "images/blobs/sha256/";

/// Read `bytes` leniently as tar entries (stop at the first damage) and write them again
/// with valid headers; optionally name blobs by their hash and make the manifest list what
/// is there.
fn repair(bytes: &[u8], rename_blobs: bool, relist: bool) -> Vec<u8> {
    let mut entries: Vec<(tar::Header, Vec<u8>)> = Vec::new();
    let mut ar = tar::Archive::new(bytes);
    if let Ok(it) = ar.entries() {
        for e in it {
            let Ok(mut e) = e else { break };
            let mut data = Vec::new();
            if e.read_to_end(&mut data).is_err() {
                break;
            }
            let mut h = e.header().clone();
            if let Ok(p) = e.path() {
                let _ = h.set_path(&*p);
            }
            entries.push((h, data));
            if entries.len() > 64 {
                break;
            }
        }
    }
    if rename_blobs {
        for (h, data) in entries.iter_mut() {
            let is_blob = h.path().map(|p| p.to_string_lossy().starts_with(BLOBS)).unwrap_or(false);
            if is_blob {
                let _ = h.set_path(format!("{BLOBS}{}", hex::encode(Sha256::digest(&*data))));
            }
        }
    }
    if relist && !entries.is_empty() {
        if let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&entries[0].1) {
            let files: Vec<serde_json::Value> = entries[1..]
                .iter()
                .filter_map(|(h, data)| {
                    let p = h.path().ok()?.to_string_lossy().to_string();
                    Some(serde_json::json!({"path": p, "sha256": hex::encode(Sha256::digest(data)), "size": data.len()}))
                })
                .collect();
            if let Some(obj) = m.as_object_mut() {
                obj.insert("files".into(), serde_json::Value::Array(files));
                entries[0].1 = serde_json::to_vec(&m).unwrap();
            }
        }
    }
    let mut b = tar::Builder::new(Vec::new());
    for (mut h, data) in entries {
        h.set_size(data.len() as u64);
        h.set_cksum();
        if b.append(&h, data.as_slice()).is_err() {
            break;
        }
    }
    b.into_inner().unwrap_or_default()
}

/// Every path under `root` (files, directories, links), relative to it.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(p);
            }
        }
    }
    out
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else { return };
    let bytes = if mode & 1 == 1 { repair(rest, mode & 2 != 0, mode & 4 != 0) } else { rest.to_vec() };

    let scratch = tempfile::tempdir().expect("temp dir");
    let root = scratch.path();
    let bundle = root.join("b.kod.tar");
    std::fs::write(&bundle, &bytes).unwrap();
    std::fs::create_dir(root.join("work")).unwrap();
    let target = root.join("work/target");

    let _ = read::read_manifest(&bundle);
    let verified = read::verify(&bundle);
    let unpacked = read::unpack(&bundle, &target);

    // nothing outside the target
    for p in tree(root) {
        assert!(
            p == Path::new("b.kod.tar") || p == Path::new("work") || p.starts_with("work/target"),
            "unpack wrote {} outside its target",
            p.display()
        );
    }
    let good = matches!(&unpacked, Ok((_, r)) if r.ok);
    let verified_good = matches!(&verified, Ok((_, r)) if r.ok);
    assert_eq!(verified_good, good, "verify and unpack disagree: verify {verified:?}, unpack {unpacked:?}");
    if !good {
        assert!(!target.exists(), "a refused unpack left {} behind: {unpacked:?}", target.display());
        return;
    }
    let (manifest, _) = unpacked.unwrap();
    let mut expected: BTreeSet<PathBuf> = BTreeSet::new();
    expected.insert(PathBuf::from(kod::bundle::format::MANIFEST_NAME));
    for f in &manifest.files {
        let p = target.join(&f.path);
        let meta = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{} listed but not unpacked: {e}", f.path));
        assert!(meta.file_type().is_file(), "{} is not a regular file", f.path);
        let data = std::fs::read(&p).unwrap();
        assert_eq!(data.len() as u64, f.size, "{}: size", f.path);
        assert_eq!(hex::encode(Sha256::digest(&data)), f.sha256, "{}: sha256", f.path);
        let mut a = PathBuf::new();
        for c in Path::new(&f.path).components() {
            a.push(c);
            expected.insert(a.clone());
        }
    }
    let mut found = tree(&target);
    found.retain(|p| !expected.contains(p));
    assert!(found.is_empty(), "unpack wrote files the manifest does not list: {found:?}");
});
