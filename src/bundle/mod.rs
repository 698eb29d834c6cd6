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
    fn entry_paths() {
        for ok in ["kod-bundle.json", "charts/a-1.0.0.tgz", "images/blobs/sha256/ab", "helmfile/values/x.yaml"] {
            check_entry_path(ok).unwrap();
        }
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a/.", "a\\b", "a\0b"] {
            assert!(check_entry_path(bad).is_err(), "{bad:?}");
        }
    }
}
