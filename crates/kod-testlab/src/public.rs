//! A lab registry standing in for the public internet registries.

use crate::image::ImageSpec;
use crate::registry::{Registry, RegistryOptions};
use crate::skopeo::{PushedImage, Skopeo};
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Source registries redirected to the lab by default.
pub const DEFAULT_SOURCES: &[&str] = &[
    "docker.io",
    "quay.io",
    "ghcr.io",
    "registry.k8s.io",
    "gcr.io",
    "k8s.gcr.io",
    "public.ecr.aws",
    "mcr.microsoft.com",
    "registry.gitlab.com",
];

/// Plain-HTTP lab registry holding images under a per-source namespace
/// (`docker.io/bitnami/redis:7.2.4` lives at `127.0.0.1:P/docker.io/bitnami/redis:7.2.4`)
/// plus a containers `registries.conf` (v2) that rewrites each source
/// registry to that namespace:
///
/// ```toml
/// unqualified-search-registries = ["docker.io"]
/// [[registry]]
/// prefix = "docker.io"
/// location = "127.0.0.1:P/docker.io"
/// insecure = true
/// ```
///
/// So `skopeo --registries-conf FILE inspect --no-tags docker://docker.io/bitnami/redis:7.2.4`
/// (and `copy`, `inspect --raw`) is answered by the lab and never leaves the machine.
/// Location rewriting (not `[[registry.mirror]]`) is used on purpose: a mirror
/// miss would fall back to the real registry. Beware: skopeo 1.9 does **not**
/// apply the rewrite to tag listing (`list-tags`, `inspect` without `--no-tags`).
pub struct PublicRegistry {
    registry: Registry,
    sources: Mutex<Vec<String>>,
    pushed: Mutex<BTreeMap<String, PushedImage>>,
}

impl std::fmt::Debug for PublicRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicRegistry")
            .field("registry", &self.registry)
            .finish()
    }
}

impl PublicRegistry {
    /// Start an empty public stand-in (plain HTTP, no auth) with [`DEFAULT_SOURCES`].
    pub fn start() -> Result<PublicRegistry> {
        let registry = Registry::start(RegistryOptions::plain())?;
        let p = PublicRegistry {
            registry,
            sources: Mutex::new(DEFAULT_SOURCES.iter().map(|s| s.to_string()).collect()),
            pushed: Mutex::new(BTreeMap::new()),
        };
        p.write_registries_conf()?;
        Ok(p)
    }

    /// Start and push `images` right away.
    pub fn start_with_images(images: &[ImageSpec]) -> Result<PublicRegistry> {
        let p = Self::start()?;
        p.push_images(images)?;
        Ok(p)
    }

    /// The underlying registry (for `catalog()`, `manifest_digest()` …;
    /// repositories are named `docker.io/bitnami/redis` etc.).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.registry.host()
    }

    /// Path of the generated `registries.conf` (pass with `skopeo --registries-conf`).
    pub fn registries_conf(&self) -> PathBuf {
        self.registry.dir().join("registries.conf")
    }

    /// The `registries.conf` text for the given sources.
    pub fn registries_conf_text(&self) -> String {
        let sources = self.sources.lock().unwrap().clone();
        render_registries_conf(&self.host(), &sources)
    }

    fn write_registries_conf(&self) -> Result<()> {
        let path = self.registries_conf();
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, self.registries_conf_text())?;
        std::fs::rename(tmp, path)?;
        Ok(())
    }

    /// Lab location of a public name: `docker.io/bitnami/redis:7.2.4` →
    /// `127.0.0.1:P/docker.io/bitnami/redis:7.2.4`.
    pub fn lab_reference(&self, name: &str) -> Result<String> {
        let r = crate::ImageRef::parse(name)?;
        Ok(format!(
            "{}/{}/{}:{}",
            self.host(),
            r.registry,
            r.repository,
            r.tag
        ))
    }

    /// A skopeo runner wired to this registry's `registries.conf`.
    pub fn skopeo(&self) -> Result<Skopeo> {
        Ok(Skopeo::new()?.with_registries_conf(&self.registries_conf()))
    }

    /// Push one synthetic image under its source namespace. A source registry
    /// not yet in `registries.conf` is added to it.
    pub fn push_image(&self, spec: &ImageSpec) -> Result<PushedImage> {
        let skopeo = Skopeo::new()?;
        self.push_with(&skopeo, spec)
    }

    fn push_with(&self, skopeo: &Skopeo, spec: &ImageSpec) -> Result<PushedImage> {
        let r = spec.image_ref()?;
        {
            let mut s = self.sources.lock().unwrap();
            if !s.contains(&r.registry) {
                s.push(r.registry.clone());
                drop(s);
                self.write_registries_conf()?;
            }
        }
        let repo = format!("{}/{}", r.registry, r.repository);
        let pushed = skopeo.push_image_to(spec, &self.registry, &repo)?;
        self.pushed
            .lock()
            .unwrap()
            .insert(spec.name.clone(), pushed.clone());
        Ok(pushed)
    }

    /// Push several images; returns name → pushed digest.
    pub fn push_images(&self, specs: &[ImageSpec]) -> Result<BTreeMap<String, String>> {
        let skopeo = Skopeo::new()?;
        let mut out = BTreeMap::new();
        for s in specs {
            let p = self.push_with(&skopeo, s)?;
            out.insert(p.name.clone(), p.digest.clone());
        }
        Ok(out)
    }

    /// Everything pushed so far, by spec name.
    pub fn pushed(&self) -> BTreeMap<String, PushedImage> {
        self.pushed.lock().unwrap().clone()
    }

    /// Lab directory (registries.conf, storage…).
    pub fn dir(&self) -> &Path {
        self.registry.dir()
    }

    /// pid of the registry process.
    pub fn pid(&self) -> u32 {
        self.registry.pid()
    }
}

/// Render a registries.conf (v2) redirecting each of `sources` to `host/<source>`.
pub fn render_registries_conf(host: &str, sources: &[String]) -> String {
    let mut s = String::from(
        "# generated by kod-testlab: public registries redirected to a loopback lab registry\n\
unqualified-search-registries = [\"docker.io\"]\nshort-name-mode = \"permissive\"\n",
    );
    for src in sources {
        s.push_str(&format!(
            "\n[[registry]]\nprefix = \"{src}\"\nlocation = \"{host}/{src}\"\ninsecure = true\nblocked = false\n"
        ));
    }
    s
}
