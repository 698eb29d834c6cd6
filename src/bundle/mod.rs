//! The bundle: format (`format`), OCI layout handling (`oci`), writing (`write`), reading,
//! verifying and unpacking (`read`). See docs/bundle-format.md.

pub mod assemble;
pub mod format;
pub mod oci;
pub mod package;
pub mod read;
pub mod write;

use anyhow::{bail, Result};
use sha2::{Digest, Sha256};

/// A size for people: `512 B`, `3.4 MiB`, `1.2 GiB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// sha256 of bytes, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A path allowed inside a bundle: relative, `/`-separated, no empty, `.` or `..`
/// components, no backslashes or NULs, at most 4096 bytes.
pub fn check_entry_path(path: &str) -> Result<()> {
    if path.is_empty() || path.len() > 4096 {
        bail!("bundle entry {path:?}: empty or too long path");
    }
    if path.starts_with('/') {
        bail!("bundle entry {path:?}: absolute paths are not allowed");
    }
    if path.contains('\\') || path.contains('\0') {
        bail!("bundle entry {path:?}: backslashes and NUL bytes are not allowed");
    }
    for comp in path.split('/') {
        match comp {
            "" => bail!("bundle entry {path:?}: empty path component"),
            "." | ".." => bail!("bundle entry {path:?}: `.` and `..` components are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(3 * 1024 * 1024 + 300 * 1024), "3.3 MiB");
        assert_eq!(human_size(5 << 40), "5.0 TiB");
    }

    #[test]
    fn entry_paths() {
        for ok in ["kod-bundle.json", "charts/a-1.0.0.tgz", "images/blobs/sha256/ab", "helmfile/values/x.yaml"] {
            check_entry_path(ok).unwrap();
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", "a\\b", "a\0b"] {
            assert!(check_entry_path(bad).is_err(), "{bad:?}");
        }
    }
}
