//! `kod helmfile <verb>`: the helmfile-driven commands. The helmfile flags (`-f`, `-e`,
//! `--state-values-set`, `--state-values-file`, `-l`, `--kube-context`, `-n`) are accepted
//! before or after the verb, as helmfile accepts them.

use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgAction, Args, Subcommand, ValueEnum};

use super::{Context, OutputFormat, UsageError};
use crate::helmfile::{self, output, LoadOptions, LoadedState};
use crate::plan::{self, selector::Selector, PlanOptions};

#[derive(Args, Debug)]
pub struct HelmfileCmd {
    #[command(flatten)]
    pub flags: HelmfileFlags,
    #[command(subcommand)]
    pub verb: Verb,
}

/// helmfile's own global flags.
#[derive(Args, Debug, Clone, Default)]
pub struct HelmfileFlags {
    /// The helmfile (or a directory of them) [default: helmfile.yaml, helmfile.yaml.gotmpl or helmfile.d/]
    #[arg(short = 'f', long = "file", value_name = "FILE", global = true, env = "HELMFILE_FILE_PATH")]
    pub file: Option<PathBuf>,
    /// The environment to use (`package` accepts several: their union is packaged)
    #[arg(short = 'e', long = "environment", value_name = "ENV", global = true)]
    pub environment: Vec<String>,
    /// Set state values: KEY=VALUE[,KEY=VALUE] (repeatable)
    #[arg(long = "state-values-set", value_name = "KEY=VALUE", global = true)]
    pub state_values_set: Vec<String>,
    /// A YAML file of state values (repeatable)
    #[arg(long = "state-values-file", value_name = "FILE", global = true)]
    pub state_values_file: Vec<PathBuf>,
    /// Only releases matching: KEY=VALUE[,KEY!=VALUE] (AND); repeat for OR
    #[arg(short = 'l', long = "selector", value_name = "SELECTOR", global = true)]
    pub selector: Vec<String>,
    /// Use this kube context for every release
    #[arg(long = "kube-context", value_name = "CONTEXT", global = true)]
    pub kube_context: Option<String>,
    /// Use this namespace for every release
    #[arg(short = 'n', long = "namespace", value_name = "NAMESPACE", global = true)]
    pub namespace: Option<String>,
    /// Treat every helmfile as a template (helmfile v0 semantics)
    #[arg(long = "helmfile-v0", global = true)]
    pub helmfile_v0: bool,
}

impl HelmfileFlags {
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            file: self.file.clone(),
            environment: self.environment.first().cloned(),
            state_values_set: self.state_values_set.clone(),
            state_values_files: self.state_values_file.clone(),
            namespace: self.namespace.clone(),
            kube_context: self.kube_context.clone(),
            v0: self.helmfile_v0,
            cwd: None,
            env_vars: None,
            selectors: self.selector.clone(),
            template_limits: Default::default(),
        }
    }

    pub fn selectors(&self) -> Result<Vec<Selector>> {
        self.selector
            .iter()
            .map(|s| Selector::parse(s).map_err(|e| UsageError { message: format!("{e:#}") }.into()))
            .collect()
    }

    /// Load the states and print their warnings.
    pub fn load(&self, ui: &crate::ui::Ui) -> Result<Vec<LoadedState>> {
        let states = helmfile::load(&self.load_options())?;
        for s in &states {
            for w in &s.warnings {
                ui.warn(w);
            }
        }
        Ok(states)
    }
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Print the rendered state, as `helmfile build` does
    Build(BuildArgs),
    /// List releases, as `helmfile list` does
    List(ListArgs),
    /// Show the release plan: the waves `helmfile sync` would run, in needs order
    Plan(PlanArgs),
    /// Discover the container images of every release (renders with helm template)
    Images(ImagesArgs),
    /// Package charts, images and the helmfile into one bundle for the offline site
    Package(Box<PackageArgs>),
    /// Offline: verify a bundle and push its images and charts to the private registry
    Push(OfflineArgs),
    /// Offline: write the helmfile that installs from the private registry (diff shown)
    Rewrite(RewriteArgs),
    /// Offline: prove every image of the rewritten helmfile is private and present
    VerifyOffline(OfflineArgs),
    /// Offline: verify, push, rewrite, prove, then `helmfile sync` in waves
    Sync(RewriteArgs),
}

/// The private registry, as the offline commands take it.
#[derive(Args, Debug, Clone)]
pub struct RegistryArgs {
    /// The private registry: HOST[:PORT][/PREFIX]
    #[arg(long, value_name = "HOST[:PORT][/PREFIX]")]
    pub registry: String,
    /// Registry user name
    #[arg(long)]
    pub username: Option<String>,
    /// Read the registry password from stdin (or set KOD_REGISTRY_PASSWORD)
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// A containers/docker auth file with the registry's credentials
    #[arg(long, value_name = "FILE")]
    pub registry_auth_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the registry's TLS certificate
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// The registry speaks plain HTTP (no TLS)
    #[arg(long)]
    pub plain_http: bool,
    /// Do not verify the registry's TLS certificate
    #[arg(long)]
    pub insecure_skip_tls_verify: bool,
}

impl RegistryArgs {
    /// The target, with the password from stdin or KOD_REGISTRY_PASSWORD; warns when TLS
    /// verification is off.
    pub fn target(&self, ui: &crate::ui::Ui) -> Result<crate::registry::RegistryTarget> {
        let mut t = crate::registry::RegistryTarget::parse(&self.registry).map_err(|e| UsageError { message: format!("{e:#}") })?;
        t.username = self.username.clone();
        t.ca_file = self.ca_file.clone();
        t.auth_file = self.registry_auth_file.clone();
        t.plain_http = self.plain_http;
        t.insecure_skip_tls_verify = self.insecure_skip_tls_verify;
        if self.password_stdin {
            t.password = Some(super::read_password_stdin("registry password")?);
        } else if let Ok(p) = std::env::var("KOD_REGISTRY_PASSWORD") {
            if t.username.is_some() && !p.is_empty() {
                t.password = Some(crate::registry::Secret::new(p));
            }
        }
        t.validate().map_err(|e| UsageError { message: format!("{e:#}") })?;
        if !t.tls_verify() {
            ui.warn(format!(
                "TLS verification is off for {} ({})",
                t.host,
                if t.plain_http { "--plain-http" } else { "--insecure-skip-tls-verify" }
            ));
        }
        Ok(t)
    }
}

/// The bundle, the registry and the work directory, as every offline step takes them.
#[derive(Args, Debug)]
pub struct OfflineArgs {
    /// The bundle
    pub bundle: PathBuf,
    #[command(flatten)]
    pub registry: RegistryArgs,
    /// kod's work directory (the verified, unpacked bundle and the rewritten helmfile; resumable) [default: $KOD_WORKDIR, $XDG_CACHE_HOME/kod or ~/.cache/kod]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Stop one attempt at pushing an image or chart after this long (then retry, 3 attempts in all): 90s, 10m, 1h
    #[arg(long, value_name = "DURATION", default_value = "30m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
    /// Output format of the report
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `90s`, `10m`, `1h` or a number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration (e.g. 90s, 10m, 1h)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{s:?} is not a duration (e.g. 90s, 10m, 1h)")),
    };
    if secs == 0 {
        return Err("the timeout must be at least 1s".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Args, Debug)]
pub struct RewriteArgs {
    #[command(flatten)]
    pub offline: OfflineArgs,
    /// Reference images by digest (repo@sha256:…) instead of by tag
    #[arg(long)]
    pub pin_digests: bool,
    /// Also redirect every image with the post-renderer (for charts that ignore their value paths)
    #[arg(long)]
    pub post_render_all: bool,
    /// Do not print the diff between the original and the rewritten helmfile
    #[arg(long)]
    pub no_diff: bool,
    /// Remove the work directory when the sync finished (sync only)
    #[arg(long)]
    pub cleanup: bool,
}

#[derive(Args, Debug)]
pub struct PackageArgs {
    /// The bundle to write [default: <project directory name>.kod.tar]
    #[arg(short = 'o', long = "output", value_name = "BUNDLE")]
    pub output: Option<PathBuf>,
    /// kod's work directory (charts, renders, images; resumable) [default: $KOD_WORKDIR, $XDG_CACHE_HOME/kod or ~/.cache/kod]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Remove the work directory when the bundle is written
    #[arg(long)]
    pub cleanup: bool,
    /// Platform to keep of multi-platform images: OS/ARCH[/VARIANT] (repeatable) [default: linux/amd64]
    #[arg(long = "platform", value_name = "OS/ARCH", conflicts_with = "all_platforms")]
    pub platform: Vec<String>,
    /// Keep every platform of multi-platform images (the published index, unchanged)
    #[arg(long)]
    pub all_platforms: bool,
    /// Pull a source registry's images from a mirror, keeping their public names: REGISTRY=MIRROR (repeatable)
    #[arg(long = "source-registry-mirror", value_name = "REG=MIRROR")]
    pub source_registry_mirror: Vec<String>,
    /// A containers registries.conf for the source side (instead of --source-registry-mirror)
    #[arg(long, value_name = "FILE")]
    pub source_registries_conf: Option<PathBuf>,
    /// Keep images used only by Helm test hooks
    #[arg(long)]
    pub include_test_images: bool,
    /// Record in the bundle that the offline side references images by digest (repo@sha256:…)
    #[arg(long)]
    pub pin_digests: bool,
    /// Image hints file (kod-hints.yaml format, see docs/hints.md); repeatable, later files win over earlier ones and over the built-in hints
    #[arg(long = "hints", value_name = "FILE")]
    pub hints: Vec<PathBuf>,
    /// Output format of the summary
    #[arg(long = "summary", value_enum, default_value_t = OutputFormat::Text)]
    pub summary: OutputFormat,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum BuildFormat {
    #[default]
    Yaml,
    Json,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Replace values-file paths with their rendered content
    #[arg(long)]
    pub embed_values: bool,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = BuildFormat::Yaml)]
    pub output: BuildFormat,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

/// `kod helmfile plan`: needs handling follows `helmfile sync` (its flags and defaults).
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also plan the needs of planned releases (and their needs), even ones that -l or a
    /// condition leaves out
    #[arg(long)]
    pub include_needs: bool,
    /// Like --include-needs, and select those needs first (helmfile follows them by name)
    #[arg(long)]
    pub include_transitive_needs: bool,
    /// With -l: leave out needs the selectors do not pick; --skip-needs=false without an
    /// --include flag refuses a selection that cuts through needs
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub skip_needs: bool,
}

#[derive(Args, Debug)]
pub struct ImagesArgs {
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Show where each image was found (text output)
    #[arg(long)]
    pub why: bool,
    /// kod's work directory (chart and render cache) [default: $KOD_WORKDIR, $XDG_CACHE_HOME/kod or ~/.cache/kod]
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Keep images used only by Helm test hooks
    #[arg(long)]
    pub include_test_images: bool,
    /// Image hints file (kod-hints.yaml format, see docs/hints.md); repeatable, later files win over earlier ones and over the built-in hints
    #[arg(long = "hints", value_name = "FILE")]
    pub hints: Vec<PathBuf>,
    /// registries.conf for skopeo when confirming candidate images in the source registries
    #[arg(long, value_name = "FILE")]
    pub source_registries_conf: Option<PathBuf>,
    /// Do not ask the source registries to confirm candidate images (they stay unconfirmed)
    #[arg(long)]
    pub no_registry_check: bool,
}

pub async fn exec(ctx: &Context, cmd: HelmfileCmd) -> Result<i32> {
    if cmd.flags.environment.len() > 1 && !matches!(cmd.verb, Verb::Package(_)) {
        return Err(UsageError { message: "only `kod helmfile package` accepts several -e/--environment".into() }.into());
    }
    let offline = matches!(cmd.verb, Verb::Push(_) | Verb::Rewrite(_) | Verb::VerifyOffline(_) | Verb::Sync(_));
    if offline {
        let f = &cmd.flags;
        let given: Vec<&str> = [
            (!f.state_values_set.is_empty(), "--state-values-set"),
            (!f.state_values_file.is_empty(), "--state-values-file"),
            (f.namespace.is_some(), "--namespace"),
            (f.helmfile_v0, "--helmfile-v0"),
        ]
        .into_iter()
        .filter_map(|(set, name)| set.then_some(name))
        .collect();
        if !given.is_empty() {
            return Err(UsageError {
                message: format!(
                    "{} has no effect offline: the bundle holds the helmfile as rendered when it was packaged (package again to change it)",
                    given.join(", ")
                ),
            }
            .into());
        }
    }
    match cmd.verb {
        Verb::Build(args) => build(ctx, &cmd.flags, args),
        Verb::List(args) => list(ctx, &cmd.flags, args),
        Verb::Plan(args) => plan_cmd(ctx, &cmd.flags, args),
        Verb::Images(args) => images(ctx, &cmd.flags, args).await,
        Verb::Package(args) => run_package(ctx, &cmd.flags, *args).await,
        Verb::Push(args) => push(ctx, args).await,
        Verb::Rewrite(args) => super::offline::rewrite(ctx, &cmd.flags, args).await,
        Verb::VerifyOffline(args) => super::offline::verify_offline(ctx, &cmd.flags, args).await,
        Verb::Sync(args) => super::offline::sync(ctx, &cmd.flags, args).await,
    }
}

async fn push(ctx: &Context, args: OfflineArgs) -> Result<i32> {
    let target = args.registry.target(&ctx.ui)?;
    let workdir = crate::chart::WorkDir::resolve(args.workdir.as_deref())?;
    let (_, report) = crate::registry::push::push_bundle(&ctx.runner, &args.bundle, &target, &workdir, ctx.concurrency, args.timeout).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => {
            for i in &report.images {
                println!("{}  ->  {}  {}", i.source, i.target, i.digest);
            }
            for c in &report.charts {
                println!("chart {} {}  ->  {}", c.name, c.version, c.target);
            }
            if ctx.runner.dry_run() {
                ctx.ui.info("dry run: the commands above were printed, nothing was pushed");
            }
        }
    }
    Ok(super::exit::OK)
}

/// `kod helmfile package` (and `kod helm package`, on its generated one-release helmfile).
pub(crate) async fn run_package(ctx: &Context, flags: &HelmfileFlags, args: PackageArgs) -> Result<i32> {
    use crate::bundle::package::{package, PackageOptions};
    use crate::image::fetch::{parse_mirror, parse_platform, Platforms};
    flags.selectors()?;
    let usage = |e: anyhow::Error| anyhow::Error::from(UsageError { message: format!("{e:#}") });
    let platforms = if args.all_platforms {
        Platforms::All
    } else if args.platform.is_empty() {
        Platforms::Some(vec!["linux/amd64".into()])
    } else {
        for p in &args.platform {
            parse_platform(p).map_err(usage)?;
        }
        Platforms::Some(args.platform.clone())
    };
    let mirrors = args.source_registry_mirror.iter().map(|m| parse_mirror(m)).collect::<Result<Vec<_>>>().map_err(usage)?;
    let load = flags.load_options();
    let environments = if flags.environment.is_empty() { vec!["default".to_string()] } else { flags.environment.clone() };
    let output = match &args.output {
        Some(o) => o.clone(),
        None => {
            let cwd = std::env::current_dir()?;
            let name = cwd.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "platform".into());
            PathBuf::from(format!("{name}.kod.tar"))
        }
    };
    let opts = PackageOptions {
        load,
        environments,
        output,
        workdir: crate::chart::WorkDir::resolve(args.workdir.as_deref())?,
        platforms,
        mirrors,
        source_registries_conf: args.source_registries_conf.clone(),
        include_test_images: args.include_test_images,
        hints: crate::image::hints::Hints::load(&args.hints)?,
        concurrency: ctx.concurrency,
        cleanup: args.cleanup,
        pin_digests: args.pin_digests,
    };
    let report = package(&ctx.runner, &ctx.ui, &opts).await?;
    match args.summary {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => println!(
            "wrote {} ({} bytes): {} releases, {} charts, {} images ({} unique blobs; {} bytes of images stored as {} bytes)",
            report.bundle.display(),
            report.bytes,
            report.releases,
            report.charts,
            report.images,
            report.unique_blobs,
            report.image_bytes,
            report.unique_blob_bytes
        ),
    }
    Ok(super::exit::OK)
}

async fn images(ctx: &Context, flags: &HelmfileFlags, args: ImagesArgs) -> Result<i32> {
    use crate::image::discover::{discover, DiscoverOptions};
    flags.selectors()?;
    let states = flags.load(&ctx.ui)?;
    let workdir = crate::chart::WorkDir::open(crate::chart::WorkDir::resolve(args.workdir.as_deref())?)?;
    let opts = DiscoverOptions {
        include_test_images: args.include_test_images,
        registry_check: !args.no_registry_check,
        source_registries_conf: args.source_registries_conf.clone(),
        concurrency: ctx.concurrency,
        hints: crate::image::hints::Hints::load(&args.hints)?,
    };
    let found = discover(&ctx.runner, &workdir, &states, &opts).await?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&found)?),
        OutputFormat::Text => print!("{}", crate::image::discover::text_report(&found, args.why)),
    }
    for f in &found.failures {
        ctx.ui.error(format!("{} ({}): {}", f.release.id, f.release.file, f.error));
    }
    let unconfirmed: usize = found.releases.iter().map(|r| r.unconfirmed.len() + r.invalid.len()).sum();
    if unconfirmed > 0 {
        ctx.ui.warn(format!("{unconfirmed} image string(s) are unconfirmed or invalid and will not be bundled (listed above)"));
    }
    Ok(if found.failures.is_empty() { super::exit::OK } else { super::exit::FAILURE })
}

fn build(ctx: &Context, flags: &HelmfileFlags, args: BuildArgs) -> Result<i32> {
    let states = flags.load(&ctx.ui)?;
    match args.output {
        BuildFormat::Yaml => print!("{}", output::build_yaml(&states, args.embed_values)?),
        BuildFormat::Json => {
            let docs = states.iter().map(|s| output::build_document(s, args.embed_values)).collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&docs)?);
        }
    }
    Ok(super::exit::OK)
}

fn list(ctx: &Context, flags: &HelmfileFlags, args: ListArgs) -> Result<i32> {
    flags.selectors()?;
    let states = flags.load(&ctx.ui)?;
    let rows = output::list_rows(&states)?;
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string(&rows)?),
        OutputFormat::Text => print!("{}", output::list_table(&rows)),
    }
    Ok(super::exit::OK)
}

fn plan_cmd(ctx: &Context, flags: &HelmfileFlags, args: PlanArgs) -> Result<i32> {
    flags.selectors()?;
    let states = helmfile::load_all(&flags.load_options())?;
    let opts = PlanOptions {
        include_needs: args.include_needs,
        include_transitive_needs: args.include_transitive_needs,
        skip_needs: args.skip_needs,
    };
    let plan = plan::build(&states, &opts)?;
    for w in &plan.warnings {
        ctx.ui.warn(w);
    }
    let text = match args.output {
        OutputFormat::Json => format!("{}\n", serde_json::to_string_pretty(&plan)?),
        OutputFormat::Text => plan::table(&plan),
    };
    // A closed pipe (`| head`) is not an error.
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(anyhow::anyhow!("writing the plan to stdout: {e}")),
        _ => {}
    }
    if args.output == OutputFormat::Text {
        ctx.ui.info(plan::summary(&plan));
    }
    Ok(super::exit::OK)
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("ten").unwrap_err().contains("not a duration"));
        assert!(parse_duration("5d").is_err());
    }
}
