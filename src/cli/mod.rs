//! Command-line interface: one module per subcommand, each with its clap `Args` and an
//! `exec` function. `main` parses, builds the shared [`Context`] and maps errors to exit codes.
//!
//! Exit codes (docs/exit-codes.md): 0 success, 1 failure, 2 bad usage or bad input,
//! 3 a required tool is missing or unsupported, 4 an external command failed.

pub mod bundle;
pub mod completion;
pub mod doctor;
pub mod helm;
pub mod helmfile;
pub mod offline;
pub mod post_render;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::exec::{default_concurrency, ExecError, Runner, RunnerOptions, ToolError, ToolOverrides};
use crate::ui::{LogFormat, Ui};

/// Exit codes.
pub mod exit {
    pub const OK: i32 = 0;
    pub const FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const TOOL: i32 = 3;
    pub const EXTERNAL: i32 = 4;
}

#[derive(Parser, Debug)]
#[command(
    name = "kod",
    version,
    about = "Move a whole helmfile-defined Kubernetes platform into an air-gapped cluster",
    long_about = None,
    propagate_version = true,
    max_term_width = 110
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command accepts, before or after the subcommand.
#[derive(Args, Debug, Clone)]
pub struct GlobalArgs {
    /// Print only warnings, errors and data
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
    /// Do not draw progress bars (for CI logs)
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Format of messages on stderr
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// Print the commands that would change anything instead of running them
    #[arg(long, global = true)]
    pub dry_run: bool,
    /// How many external commands may run at once [default: number of cores]
    #[arg(long, value_name = "N", global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: Option<u16>,
    /// The helm binary to use [env: KOD_HELM]
    #[arg(long, value_name = "PATH", global = true)]
    pub helm_binary: Option<PathBuf>,
    /// The helmfile binary to use [env: KOD_HELMFILE]
    #[arg(long, value_name = "PATH", global = true)]
    pub helmfile_binary: Option<PathBuf>,
    /// The skopeo binary to use [env: KOD_SKOPEO]
    #[arg(long, value_name = "PATH", global = true)]
    pub skopeo_binary: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Work on a helmfile-defined platform
    Helmfile(helmfile::HelmfileCmd),
    /// Single-chart mode: package one chart, or sync its bundle (a one-release helmfile)
    Helm(helm::HelmCmd),
    /// Inspect, verify or unpack a bundle
    Bundle(bundle::BundleCmd),
    /// Redirect images in manifests on stdin (a helm post-renderer)
    PostRender(post_render::PostRenderArgs),
    /// Print a shell completion script (bash, zsh, fish)
    Completion(completion::CompletionArgs),
    /// Check the tools kod wraps (and, with --registry, a registry's credentials)
    Doctor(doctor::DoctorArgs),
}

/// What every command gets: the user interface, the one runner, the concurrency bound.
#[derive(Clone)]
pub struct Context {
    pub ui: Ui,
    pub runner: Runner,
    pub concurrency: usize,
}

impl Context {
    pub fn new(global: &GlobalArgs) -> Context {
        let ui = Ui::new(global.quiet, global.no_progress, global.log_format);
        let runner = Runner::new(RunnerOptions {
            overrides: ToolOverrides {
                helm: global.helm_binary.clone(),
                helmfile: global.helmfile_binary.clone(),
                skopeo: global.skopeo_binary.clone(),
            },
            dry_run: global.dry_run,
            ui: ui.clone(),
            env: None,
        });
        let concurrency = global.concurrency.map(usize::from).unwrap_or_else(default_concurrency);
        Context { ui, runner, concurrency }
    }
}

/// `-o/--output` for commands that print data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

/// An error that carries its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UsageError {
    pub message: String,
}

/// Run kod with the process arguments; returns the exit code.
pub fn main() -> i32 {
    run(std::env::args_os())
}

/// Run kod with the given arguments; returns the exit code.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    let ctx = Context::new(&cli.global);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            ctx.ui.error(format!("cannot start the async runtime: {e}"));
            return exit::FAILURE;
        }
    };
    let result = rt.block_on(dispatch(&ctx, cli.command));
    match result {
        Ok(code) => code,
        Err(err) => {
            ctx.ui.error(format!("{err:#}"));
            exit_code_for(&err)
        }
    }
}

async fn dispatch(ctx: &Context, command: Command) -> anyhow::Result<i32> {
    match command {
        Command::Doctor(args) => doctor::exec(ctx, args).await,
        Command::Helmfile(cmd) => helmfile::exec(ctx, cmd).await,
        Command::Helm(cmd) => helm::exec(ctx, cmd).await,
        Command::Bundle(cmd) => bundle::exec(ctx, cmd).await,
        Command::PostRender(args) => post_render::exec(ctx, args).await,
        Command::Completion(args) => completion::exec(ctx, args).await,
    }
}

/// Map an error chain to an exit code.
pub fn exit_code_for(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if cause.downcast_ref::<ToolError>().is_some() {
            return exit::TOOL;
        }
        let exec = cause
            .downcast_ref::<ExecError>()
            .or_else(|| cause.downcast_ref::<crate::registry::target::RegistryError>().map(|e| e.exec_error()));
        if let Some(e) = exec {
            return match e {
                ExecError::Tool(_) => exit::TOOL,
                _ => exit::EXTERNAL,
            };
        }
        if cause.downcast_ref::<UsageError>().is_some() {
            return exit::USAGE;
        }
    }
    exit::FAILURE
}

/// Read a secret from standard input (for `--password-stdin`): the first line, without
/// its line ending. An empty value is an error.
pub fn read_password_stdin(what: &str) -> anyhow::Result<crate::registry::Secret> {
    use std::io::Read;
    let mut buf = String::new();
    std::io::stdin().read_to_string(&mut buf).map_err(|e| anyhow::anyhow!("reading {what} from stdin: {e}"))?;
    let value = buf.lines().next().unwrap_or("").to_string();
    if value.is_empty() {
        return Err(UsageError { message: format!("--password-stdin was given but stdin held no {what}") }.into());
    }
    Ok(crate::registry::Secret::new(value))
}
