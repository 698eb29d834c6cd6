//! kod's work directory: a content-addressed cache shared by every run (and every project)
//! of one user, safe to delete at any time.
//!
//! ```text
//! <workdir>/                       --workdir, $KOD_WORKDIR, else $XDG_CACHE_HOME/kod, else ~/.cache/kod
//! ├── helm/                        isolated helm state (HELM_CONFIG_HOME, HELM_CACHE_HOME, HELM_DATA_HOME,
//! │   ├── config/repositories.yaml   HELM_REPOSITORY_CONFIG, HELM_REGISTRY_CONFIG point here; the user's
//! │   ├── config/registry/config.json own helm repositories are never read or changed)
//! │   ├── cache/repository/        indexes of repositories added with `helm repo add` (credentials, local charts' dependencies)
//! │   └── data/
//! ├── charts/sha256/<hex>.tgz      chart archives, named by the sha256 of the archive
//! ├── charts/refs/<hex>.json       (source, chart, exact version) → archive digest, so a re-run pulls nothing
//! ├── values/sha256/<hex>.yaml     values files handed to `helm template`, named by content
//! ├── renders/<hex>.yaml           `helm template` output, named by the hash of every render input
//! └── tmp/                         scratch space (pull destinations, local chart copies), removed after use
//! ```
//!
//! Every file is written to a temporary name in the same directory and renamed into place,
//! so concurrent or interrupted runs never leave a half-written entry behind. `values/`,
//! `renders/` and `helm/` may hold secrets and are readable by their owner only.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use crate::exec::Cmd;

/// The work directory.
#[derive(Clone, Debug)]
pub struct WorkDir {
    root: PathBuf,
}

/// `sha256:<hex>` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The hex part of a `sha256:<hex>` digest.
pub fn digest_hex(digest: &str) -> &str {
    digest.strip_prefix("sha256:").unwrap_or(digest)
}

impl WorkDir {
    /// The default location: `$KOD_WORKDIR`, else `$XDG_CACHE_HOME/kod`, else `$HOME/.cache/kod`,
    /// else `./.kod-work`.
    pub fn default_path() -> PathBuf {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(p) = var("KOD_WORKDIR") {
            return p;
        }
        if let Some(p) = var("XDG_CACHE_HOME") {
            return p.join("kod");
        }
        if let Some(p) = var("HOME") {
            return p.join(".cache").join("kod");
        }
        PathBuf::from(".kod-work")
    }

    /// The work directory a command uses: `--workdir` when given, else [`WorkDir::default_path`],
    /// made absolute against the current directory (paths derived from it end up in symlinks,
    /// generated helmfiles and commands run from other directories).
    pub fn resolve(flag: Option<&Path>) -> Result<PathBuf> {
        let root = flag.map(Path::to_path_buf).unwrap_or_else(WorkDir::default_path);
        std::path::absolute(&root).with_context(|| format!("resolving the work directory {}", root.display()))
    }

    /// Open (creating it and its layout if needed) the work directory at `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<WorkDir> {
        let root = root.into();
        let root = if root.is_absolute() {
            root
        } else {
            std::env::current_dir().context("reading the current directory")?.join(root)
        };
        let wd = WorkDir { root };
        for dir in [
            wd.helm_home().join("config/registry"),
            wd.helm_home().join("cache/repository"),
            wd.helm_home().join("data"),
            wd.root.join("charts/sha256"),
            wd.root.join("charts/refs"),
            wd.root.join("values/sha256"),
            wd.root.join("renders"),
            wd.root.join("tmp"),
        ] {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating the work directory {}", dir.display()))?;
        }
        // Values and renders may hold secrets (inline values, rendered Secrets), helm's
        // state may hold registry logins: readable by the user only.
        for dir in [wd.root.join("values"), wd.root.join("renders"), wd.helm_home()] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .with_context(|| format!("restricting {} to its owner", dir.display()))?;
        }
        Ok(wd)
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The isolated helm home.
    pub fn helm_home(&self) -> PathBuf {
        self.root.join("helm")
    }

    /// helm's repository config inside the isolated home.
    pub fn repository_config(&self) -> PathBuf {
        self.helm_home().join("config/repositories.yaml")
    }

    /// An empty helm repository config (for pulls by URL that need no repository).
    pub fn empty_repository_config(&self) -> Result<PathBuf> {
        let path = self.helm_home().join("config/no-repositories.yaml");
        if !path.is_file() {
            self.write_atomic(&path, b"apiVersion: \"\"\nrepositories: []\n")?;
        }
        Ok(path)
    }

    /// helm's repository index cache inside the isolated home.
    pub fn repository_cache(&self) -> PathBuf {
        self.helm_home().join("cache/repository")
    }

    /// helm's OCI registry credentials file inside the isolated home.
    pub fn registry_config(&self) -> PathBuf {
        self.helm_home().join("config/registry/config.json")
    }

    /// Point a helm command at the isolated state (and at no cluster).
    pub fn helm_env(&self, cmd: Cmd) -> Cmd {
        let home = self.helm_home();
        cmd.env("HELM_CONFIG_HOME", home.join("config").display().to_string())
            .env("HELM_CACHE_HOME", home.join("cache").display().to_string())
            .env("HELM_DATA_HOME", home.join("data").display().to_string())
            .env("HELM_REPOSITORY_CONFIG", self.repository_config().display().to_string())
            .env("HELM_REPOSITORY_CACHE", self.repository_cache().display().to_string())
            .env("HELM_REGISTRY_CONFIG", self.registry_config().display().to_string())
            .env("KUBECONFIG", home.join("no-kubeconfig").display().to_string())
    }

    /// Where a chart archive with this digest lives.
    pub fn chart_path(&self, digest: &str) -> PathBuf {
        self.root.join("charts/sha256").join(format!("{}.tgz", digest_hex(digest)))
    }

    /// Where the reference record with this key lives.
    pub fn chart_ref_path(&self, key: &str) -> PathBuf {
        self.root.join("charts/refs").join(format!("{key}.json"))
    }

    /// Where a render with this input hash lives.
    pub fn render_path(&self, key: &str) -> PathBuf {
        self.root.join("renders").join(format!("{key}.yaml"))
    }

    /// Store a values file by content; returns its path and digest.
    pub fn store_values(&self, text: &str) -> Result<(PathBuf, String)> {
        let digest = sha256_digest(text.as_bytes());
        let path = self.root.join("values/sha256").join(format!("{}.yaml", digest_hex(&digest)));
        if !path.exists() {
            self.write_atomic(&path, text.as_bytes())?;
        }
        Ok((path, digest))
    }

    /// A fresh scratch directory under `tmp/` (removed when the guard drops).
    pub fn scratch(&self) -> Result<tempfile::TempDir> {
        tempfile::Builder::new()
            .prefix("kod-")
            .tempdir_in(self.root.join("tmp"))
            .with_context(|| format!("creating a scratch directory in {}", self.root.join("tmp").display()))
    }

    /// Write `bytes` to `path` through a temporary file and a rename.
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        let dir = path.parent().unwrap_or(&self.root);
        let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing in {}", dir.display()))?;
        std::io::Write::write_all(&mut tmp, bytes).with_context(|| format!("writing {}", path.display()))?;
        tmp.persist(path).map_err(|e| e.error).with_context(|| format!("writing {}", path.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_content_addressing() {
        let t = tempfile::tempdir().unwrap();
        let wd = WorkDir::open(t.path().join("w")).unwrap();
        assert!(wd.root().join("charts/sha256").is_dir() && wd.root().join("renders").is_dir());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(wd.root().join("values")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let (p1, d1) = wd.store_values("a: 1\n").unwrap();
        let (p2, d2) = wd.store_values("a: 1\n").unwrap();
        assert_eq!((p1.clone(), d1.clone()), (p2, d2));
        assert_eq!(d1, sha256_digest(b"a: 1\n"));
        assert!(p1.ends_with(format!("{}.yaml", digest_hex(&d1))));
        assert_eq!(std::fs::read_to_string(&p1).unwrap(), "a: 1\n");
        let shown = wd.helm_env(Cmd::new(crate::exec::Tool::Helm).arg("version")).display("helm");
        assert!(shown.contains("HELM_REPOSITORY_CONFIG=") && shown.contains("HELM_REGISTRY_CONFIG="), "{shown}");
    }
}
