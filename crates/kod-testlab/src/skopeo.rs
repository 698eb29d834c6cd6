//! Driving skopeo in isolation, and pushing synthetic images into lab registries.

use crate::image::{BuiltImage, ImageSpec};
use crate::process::{run_bounded, run_checked, CmdOutput, DEFAULT_COMMAND_TIMEOUT};
use crate::registry::Registry;
use crate::tools::Tool;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;
use tempfile::TempDir;

/// A skopeo runner isolated from the machine's containers configuration:
/// every invocation gets `--policy` (accept anything), `--registries-conf`
/// (empty unless set with [`Skopeo::with_registries_conf`]) and an empty
/// `--authfile`. skopeo 1.9 ignores `CONTAINERS_REGISTRIES_CONF`, hence the flags.
#[derive(Debug)]
pub struct Skopeo {
    bin: PathBuf,
    registries_conf: PathBuf,
    dir: TempDir,
}

/// Result of pushing one synthetic image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedImage {
    /// The spec's name (e.g. `docker.io/bitnami/redis:7.2.4`).
    pub name: String,
    /// Where it landed, `127.0.0.1:PORT/path:tag`.
    pub reference: String,
    /// Repository path inside the lab registry (e.g. `docker.io/bitnami/redis`).
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Top-level digest (manifest or index) as reported by skopeo.
    pub digest: String,
    /// Local build details (layer digests etc.).
    pub built: BuiltImage,
}

impl Skopeo {
    /// Locate skopeo ([`Tool::Skopeo`]) and prepare an isolated config dir.
    pub fn new() -> Result<Skopeo> {
        Self::with_binary(&Tool::Skopeo.locate()?)
    }

    /// Use an explicit skopeo binary.
    pub fn with_binary(bin: &Path) -> Result<Skopeo> {
        let dir = tempfile::Builder::new()
            .prefix("kod-lab-skopeo-")
            .tempdir()?;
        std::fs::write(
            dir.path().join("policy.json"),
            r#"{"default":[{"type":"insecureAcceptAnything"}],"transports":{"docker-daemon":{"":[{"type":"insecureAcceptAnything"}]}}}"#,
        )?;
        std::fs::write(
            dir.path().join("registries.conf"),
            "unqualified-search-registries = []\n",
        )?;
        std::fs::write(dir.path().join("auth.json"), "{\"auths\":{}}\n")?;
        Ok(Skopeo {
            bin: bin.to_path_buf(),
            registries_conf: dir.path().join("registries.conf"),
            dir,
        })
    }

    /// Use this `registries.conf` (e.g. [`crate::PublicRegistry::registries_conf`]).
    pub fn with_registries_conf(mut self, path: &Path) -> Self {
        self.registries_conf = path.to_path_buf();
        self
    }

    /// The skopeo binary.
    pub fn binary(&self) -> &Path {
        &self.bin
    }

    /// Path of the (accept-anything) signature policy passed with `--policy`.
    pub fn policy_file(&self) -> PathBuf {
        self.dir.path().join("policy.json")
    }

    /// A `skopeo` command with the global isolation flags already set.
    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--policy")
            .arg(self.policy_file())
            .arg("--registries-conf")
            .arg(&self.registries_conf);
        c.env("TMPDIR", self.dir.path());
        // default credentials file for every subcommand: the empty lab one
        c.env("REGISTRY_AUTH_FILE", self.auth_file());
        c
    }

    /// Run `skopeo <args>` (global flags added); non-zero exit is NOT an error.
    pub fn run(&self, args: &[String]) -> Result<CmdOutput> {
        let mut c = self.command();
        c.args(args);
        run_bounded(&mut c, None, DEFAULT_COMMAND_TIMEOUT)
    }

    /// Empty auth file for `--authfile`.
    pub fn auth_file(&self) -> PathBuf {
        self.dir.path().join("auth.json")
    }

    /// `skopeo copy --all oci:LAYOUT:TAG docker://HOST/<repository>:<tag>` (`dir:` for Docker format);
    /// returns the pushed digest (from `--digestfile`).
    pub fn push_built(
        &self,
        built: &BuiltImage,
        reg: &Registry,
        repository: &str,
    ) -> Result<String> {
        let dest = format!("docker://{}/{}:{}", reg.host(), repository, built.tag);
        let digest_file = self
            .dir
            .path()
            .join(format!("digest-{}", std::process::id()));
        let mut c = self.command();
        c.arg("copy")
            .arg("--all")
            .arg("--retry-times=0")
            .arg("--authfile")
            .arg(self.auth_file());
        c.arg("--digestfile").arg(&digest_file);
        c.args(dest_flags(reg));
        c.arg(&built.source_reference).arg(&dest);
        run_checked(&mut c, None, DEFAULT_COMMAND_TIMEOUT)
            .with_context(|| format!("push {} to {dest}", built.name))?;
        let d = std::fs::read_to_string(&digest_file).context("read skopeo --digestfile")?;
        let _ = std::fs::remove_file(&digest_file);
        Ok(d.trim().to_string())
    }

    /// Build `spec` in a temp layout and push it to `reg` under `repository`.
    pub fn push_image_to(
        &self,
        spec: &ImageSpec,
        reg: &Registry,
        repository: &str,
    ) -> Result<PushedImage> {
        let r = spec.image_ref()?;
        let layout = self
            .dir
            .path()
            .join("layouts")
            .join(sanitize_path(&spec.name));
        let _ = std::fs::remove_dir_all(&layout);
        let built = spec.build_oci_layout(&layout)?;
        let digest = self.push_built(&built, reg, repository)?;
        Ok(PushedImage {
            name: spec.name.clone(),
            reference: format!("{}/{}:{}", reg.host(), repository, r.tag),
            repository: repository.to_string(),
            tag: r.tag,
            digest,
            built,
        })
    }

    /// `skopeo inspect [--raw] docker://…` against a lab registry (TLS/creds flags added).
    pub fn inspect(&self, reg: &Registry, reference: &str, raw: bool) -> Result<CmdOutput> {
        let mut c = self.command();
        c.arg("inspect")
            .arg("--retry-times=0")
            .arg("--authfile")
            .arg(self.auth_file());
        if raw {
            c.arg("--raw");
        }
        c.args(inspect_flags(reg));
        c.arg(format!("docker://{}/{}", reg.host(), reference));
        run_bounded(&mut c, None, DEFAULT_COMMAND_TIMEOUT)
    }
}

/// skopeo flags to use `reg` as a copy destination:
/// `--dest-tls-verify=false` (plain) or `--dest-cert-dir DIR`, plus `--dest-creds`.
pub fn dest_flags(reg: &Registry) -> Vec<String> {
    side_flags(reg, "dest-")
}

/// skopeo flags to use `reg` as a copy source (`--src-tls-verify`, `--src-cert-dir`, `--src-creds`).
pub fn src_flags(reg: &Registry) -> Vec<String> {
    side_flags(reg, "src-")
}

/// skopeo flags for `inspect`/`list-tags` style commands (`--tls-verify`, `--cert-dir`, `--creds`).
pub fn inspect_flags(reg: &Registry) -> Vec<String> {
    side_flags(reg, "")
}

fn side_flags(reg: &Registry, p: &str) -> Vec<String> {
    let mut v = Vec::new();
    match reg.cert_dir() {
        Some(d) => v.push(format!("--{p}cert-dir={}", d.display())),
        None => v.push(format!("--{p}tls-verify=false")),
    }
    if let Some(c) = reg.creds() {
        v.push(format!("--{p}creds={c}"));
    }
    v
}

fn sanitize_path(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Registry {
    /// Push a synthetic image, keeping its repository path without the
    /// source registry: `docker.io/bitnami/redis:7.2.4` → `HOST/bitnami/redis:7.2.4`.
    pub fn push_image(&self, spec: &ImageSpec) -> Result<PushedImage> {
        let r = spec.image_ref()?;
        Skopeo::new()?.push_image_to(spec, self, &r.repository)
    }

    /// Push a synthetic image under an explicit repository path.
    pub fn push_image_as(&self, spec: &ImageSpec, repository: &str) -> Result<PushedImage> {
        Skopeo::new()?.push_image_to(spec, self, repository)
    }
}
