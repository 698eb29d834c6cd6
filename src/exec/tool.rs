//! The external tools kod wraps: where to find them and which versions kod supports.
//!
//! Lookup order for each tool: the `--<tool>-binary` flag, then the `KOD_<TOOL>` environment
//! variable, then `PATH` (with the `which` crate). A flag or variable may name a path or a
//! program name to look up on `PATH`.

use std::fmt;
use std::path::{Path, PathBuf};

use semver::{Version, VersionReq};

/// One of the programs kod runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    Helm,
    Helmfile,
    Skopeo,
}

impl Tool {
    pub const ALL: [Tool; 3] = [Tool::Helm, Tool::Helmfile, Tool::Skopeo];

    /// The program name looked up on `PATH`.
    pub fn program(self) -> &'static str {
        match self {
            Tool::Helm => "helm",
            Tool::Helmfile => "helmfile",
            Tool::Skopeo => "skopeo",
        }
    }

    /// The environment variable that overrides the binary.
    pub fn env_var(self) -> &'static str {
        match self {
            Tool::Helm => "KOD_HELM",
            Tool::Helmfile => "KOD_HELMFILE",
            Tool::Skopeo => "KOD_SKOPEO",
        }
    }

    /// The command-line flag that overrides the binary.
    pub fn flag(self) -> &'static str {
        match self {
            Tool::Helm => "--helm-binary",
            Tool::Helmfile => "--helmfile-binary",
            Tool::Skopeo => "--skopeo-binary",
        }
    }

    /// The versions kod supports, as a semver requirement.
    pub fn supported(self) -> VersionReq {
        let req = match self {
            // helm 3.8 made OCI support GA; 3.12 is the oldest kod is tested against in spirit
            // of helmfile 0.16x. helm 4 is supported too.
            Tool::Helm => ">=3.12.0, <5.0.0",
            Tool::Helmfile => ">=0.150.0, <2.0.0",
            Tool::Skopeo => ">=1.9.0, <2.0.0",
        };
        VersionReq::parse(req).expect("static version requirement")
    }

    /// A human description of [`Tool::supported`].
    pub fn supported_text(self) -> &'static str {
        match self {
            Tool::Helm => "helm 3.12 or newer (3.x or 4.x)",
            Tool::Helmfile => "helmfile 0.150 or newer (0.x or 1.x)",
            Tool::Skopeo => "skopeo 1.9 or newer (1.x)",
        }
    }

    /// How to install the tool.
    pub fn install_hint(self) -> &'static str {
        match self {
            Tool::Helm => "run scripts/install-tools.sh, or install an official release from https://helm.sh/docs/intro/install/",
            Tool::Helmfile => "run scripts/install-tools.sh, or install an official release from https://github.com/helmfile/helmfile/releases",
            Tool::Skopeo => "run scripts/install-tools.sh, or install your distribution's skopeo package (e.g. apt-get install skopeo)",
        }
    }

    /// The arguments that print the version.
    pub fn version_args(self) -> &'static [&'static str] {
        match self {
            Tool::Helm => &["version", "--short"],
            Tool::Helmfile => &["version", "--output", "short"],
            Tool::Skopeo => &["--version"],
        }
    }
}

impl fmt::Display for Tool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.program())
    }
}

/// Where each tool's override came from (flags win over the environment).
#[derive(Clone, Debug, Default)]
pub struct ToolOverrides {
    pub helm: Option<PathBuf>,
    pub helmfile: Option<PathBuf>,
    pub skopeo: Option<PathBuf>,
}

impl ToolOverrides {
    fn get(&self, tool: Tool) -> Option<&Path> {
        match tool {
            Tool::Helm => self.helm.as_deref(),
            Tool::Helmfile => self.helmfile.as_deref(),
            Tool::Skopeo => self.skopeo.as_deref(),
        }
    }
}

/// Errors finding or accepting a tool. Each is one line that says what to do.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ToolError {
    #[error("{tool} not found{origin}: kod needs {supported}; {hint}")]
    Missing {
        tool: Tool,
        origin: String,
        supported: &'static str,
        hint: &'static str,
    },
    #[error("{tool} {found} at {path} is not supported: kod needs {supported}; {hint}")]
    Unsupported {
        tool: Tool,
        found: String,
        path: String,
        supported: &'static str,
        hint: &'static str,
    },
    #[error("could not read the version of {tool} at {path}: {detail}")]
    VersionUnreadable { tool: Tool, path: String, detail: String },
}

/// Find a tool's binary. `env` looks up environment variables (injected for tests).
pub fn locate(
    tool: Tool,
    overrides: &ToolOverrides,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<PathBuf, ToolError> {
    let (wanted, origin) = if let Some(p) = overrides.get(tool) {
        (p.to_path_buf(), format!(" ({} {})", tool.flag(), p.display()))
    } else if let Some(v) = env(tool.env_var()).filter(|v| !v.is_empty()) {
        (PathBuf::from(&v), format!(" ({}={})", tool.env_var(), v))
    } else {
        (PathBuf::from(tool.program()), " on PATH".to_string())
    };
    let missing = || ToolError::Missing {
        tool,
        origin: origin.clone(),
        supported: tool.supported_text(),
        hint: tool.install_hint(),
    };
    let found = match env("PATH") {
        Some(path) => which::which_in(&wanted, Some(path), std::env::current_dir().unwrap_or_default()),
        None => which::which(&wanted),
    };
    found.map_err(|_| missing())
}

/// Parse a tool's version output. Accepts `v3.15.3+g3bb50bb`, `0.166.0`,
/// `skopeo version 1.9.3`, `helmfile version v0.166.0`.
pub fn parse_version(_tool: Tool, output: &str) -> Option<Version> {
    let first = output.lines().map(str::trim).find(|l| !l.is_empty())?;
    // "skopeo version 1.9.3 commit: …", "helmfile version v0.166.0", "0.166.0", "v3.15.3+g…"
    let words: Vec<&str> = first.split_whitespace().collect();
    let word = match words.iter().position(|w| *w == "version") {
        Some(i) => *words.get(i + 1)?,
        None => *words.first()?,
    };
    let word = word.trim_start_matches('v');
    // Drop build metadata and anything after it ("3.15.3+g3bb50bb").
    let core = word.split('+').next()?;
    Version::parse(core).ok().or_else(|| {
        // Some builds print only major.minor.
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() == 2 {
            Version::parse(&format!("{}.{}.0", parts[0], parts[1])).ok()
        } else {
            None
        }
    })
}

/// Check a parsed version against [`Tool::supported`].
pub fn check_supported(tool: Tool, version: &Version, path: &Path) -> Result<(), ToolError> {
    // Pre-release builds (e.g. 4.0.0-rc.1) are compared on their release triple.
    let triple = Version::new(version.major, version.minor, version.patch);
    if tool.supported().matches(&triple) {
        Ok(())
    } else {
        Err(ToolError::Unsupported {
            tool,
            found: version.to_string(),
            path: path.display().to_string(),
            supported: tool.supported_text(),
            hint: tool.install_hint(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_version_outputs() {
        assert_eq!(parse_version(Tool::Helm, "v3.15.3+g3bb50bb\n"), Some(Version::new(3, 15, 3)));
        assert_eq!(parse_version(Tool::Helm, "v4.1.4+g05fa379"), Some(Version::new(4, 1, 4)));
        assert_eq!(parse_version(Tool::Helmfile, "0.166.0\n"), Some(Version::new(0, 166, 0)));
        assert_eq!(parse_version(Tool::Helmfile, "helmfile version v1.1.0"), Some(Version::new(1, 1, 0)));
        assert_eq!(parse_version(Tool::Skopeo, "skopeo version 1.9.3\n"), Some(Version::new(1, 9, 3)));
        assert_eq!(parse_version(Tool::Skopeo, "skopeo version 1.13.3 commit: abc"), Some(Version::new(1, 13, 3)));
        assert_eq!(parse_version(Tool::Helm, "garbage"), None);
        assert_eq!(parse_version(Tool::Helm, ""), None);
    }

    #[test]
    fn supported_ranges() {
        let p = Path::new("/x");
        assert!(check_supported(Tool::Helm, &Version::new(3, 15, 3), p).is_ok());
        assert!(check_supported(Tool::Helm, &Version::new(4, 1, 4), p).is_ok());
        assert!(check_supported(Tool::Helm, &Version::parse("4.0.0-rc.1").unwrap(), p).is_ok());
        let err = check_supported(Tool::Helm, &Version::new(2, 17, 0), p).unwrap_err();
        assert_eq!(
            err.to_string(),
            "helm 2.17.0 at /x is not supported: kod needs helm 3.12 or newer (3.x or 4.x); run scripts/install-tools.sh, or install an official release from https://helm.sh/docs/intro/install/"
        );
        assert!(check_supported(Tool::Helmfile, &Version::new(0, 166, 0), p).is_ok());
        assert!(check_supported(Tool::Helmfile, &Version::new(0, 140, 0), p).is_err());
        assert!(check_supported(Tool::Skopeo, &Version::new(1, 9, 3), p).is_ok());
        assert!(check_supported(Tool::Skopeo, &Version::new(0, 1, 41), p).is_err());
    }

    #[test]
    fn missing_tool_is_one_clear_line() {
        let env = |k: &str| match k {
            "PATH" => Some("/nonexistent-kod-test-dir".to_string()),
            _ => None,
        };
        let err = locate(Tool::Skopeo, &ToolOverrides::default(), &env).unwrap_err();
        let text = err.to_string();
        assert_eq!(
            text,
            "skopeo not found on PATH: kod needs skopeo 1.9 or newer (1.x); run scripts/install-tools.sh, or install your distribution's skopeo package (e.g. apt-get install skopeo)"
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn overrides_win_and_are_named_in_errors() {
        let env = |k: &str| match k {
            "KOD_HELM" => Some("/nope/helm-from-env".to_string()),
            "PATH" => Some("/nonexistent-kod-test-dir".to_string()),
            _ => None,
        };
        let err = locate(Tool::Helm, &ToolOverrides::default(), &env).unwrap_err();
        assert!(err.to_string().starts_with("helm not found (KOD_HELM=/nope/helm-from-env): kod needs helm 3.12"));
        let flags = ToolOverrides { helm: Some("/nope/flag-helm".into()), ..Default::default() };
        let err = locate(Tool::Helm, &flags, &env).unwrap_err();
        assert!(err.to_string().starts_with("helm not found (--helm-binary /nope/flag-helm)"), "{err}");
    }

    #[test]
    fn finds_executables_through_path() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("helm");
        std::fs::write(&bin, "#!/bin/sh\necho v3.15.3+gabc\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().display().to_string();
        let env = move |k: &str| if k == "PATH" { Some(path.clone()) } else { None };
        assert_eq!(locate(Tool::Helm, &ToolOverrides::default(), &env).unwrap(), bin);
    }
}
