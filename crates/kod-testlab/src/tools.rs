//! Locating the real tools the lab drives.

use anyhow::{bail, Result};
use std::path::{Path, PathBuf};

/// The external programs the lab needs, located once.
///
/// Lookup order for each tool:
/// 1. an environment override (`KOD_SKOPEO`, `KOD_HELM`, `KOD_REGISTRY`,
///    `KOD_HELMFILE`) naming an existing file,
/// 2. `<workspace root>/.tools/bin/<name>` (what `scripts/install-tools.sh` installs),
/// 3. `PATH` (for the registry: `registry`, then `docker-registry`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `skopeo` (containers/image based copy tool).
    pub skopeo: PathBuf,
    /// CNCF distribution registry binary (`registry` / `docker-registry`).
    pub registry: PathBuf,
    /// `helm` 3.
    pub helm: PathBuf,
}

/// Which tool to locate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// skopeo
    Skopeo,
    /// CNCF distribution registry
    Registry,
    /// helm 3
    Helm,
    /// helmfile
    Helmfile,
}

impl Tool {
    /// Environment variable that overrides the lookup.
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Skopeo => "KOD_SKOPEO",
            Tool::Registry => "KOD_REGISTRY",
            Tool::Helm => "KOD_HELM",
            Tool::Helmfile => "KOD_HELMFILE",
        }
    }
    /// Name in `.tools/bin` and first name looked up on `PATH`.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Skopeo => "skopeo",
            Tool::Registry => "registry",
            Tool::Helm => "helm",
            Tool::Helmfile => "helmfile",
        }
    }
    fn path_names(self) -> &'static [&'static str] {
        match self {
            Tool::Registry => &["registry", "docker-registry"],
            Tool::Skopeo => &["skopeo"],
            Tool::Helm => &["helm"],
            Tool::Helmfile => &["helmfile"],
        }
    }

    /// Locate this tool (see [`Tools`] for the order).
    pub fn locate(self) -> Result<PathBuf> {
        let var = self.env_var();
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            let p = PathBuf::from(&v);
            if p.is_file() {
                return Ok(p);
            }
            bail!(
                "{var}={} does not name an existing `{}` binary; fix it or unset it and run scripts/install-tools.sh",
                p.display(),
                self.name()
            );
        }
        let local = workspace_root().join(".tools/bin").join(self.name());
        if local.is_file() {
            return Ok(local);
        }
        for n in self.path_names() {
            if let Ok(p) = which::which(n) {
                return Ok(p);
            }
        }
        bail!(
            "required tool `{}` not found (looked at ${var}, {}, and PATH for {:?}); run scripts/install-tools.sh",
            self.name(),
            local.display(),
            self.path_names()
        )
    }
}

/// Workspace root as seen at compile time (`CARGO_MANIFEST_DIR/../..`).
pub fn workspace_root() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

impl Tools {
    /// Locate skopeo, the registry and helm; fails naming the first missing tool.
    pub fn find() -> Result<Tools> {
        Ok(Tools {
            skopeo: Tool::Skopeo.locate()?,
            registry: Tool::Registry.locate()?,
            helm: Tool::Helm.locate()?,
        })
    }

    /// Optional helmfile (not needed by the lab itself, handy for kod tests).
    pub fn helmfile() -> Result<PathBuf> {
        Tool::Helmfile.locate()
    }
}
