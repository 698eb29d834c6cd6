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
    /// The environment to use
    #[arg(short = 'e', long = "environment", value_name = "ENV", global = true)]
    pub environment: Option<String>,
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
            environment: self.environment.clone(),
            state_values_set: self.state_values_set.clone(),
            state_values_files: self.state_values_file.clone(),
            namespace: self.namespace.clone(),
            kube_context: self.kube_context.clone(),
            v0: self.helmfile_v0,
            cwd: None,
            env_vars: None,
            selectors: self.selector.clone(),
        }
    }

    pub fn selectors(&self) -> Result<Vec<Selector>> {
        self.selector
            .iter()
            .map(|s| Selector::parse(s).map_err(|e| UsageError { message: format!("{e:#}") }.into()))
            .collect()
    }

    pub fn load(&self) -> Result<Vec<LoadedState>> {
        helmfile::load(&self.load_options())
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

pub async fn exec(ctx: &Context, cmd: HelmfileCmd) -> Result<i32> {
    match cmd.verb {
        Verb::Build(args) => build(&cmd.flags, args),
        Verb::List(args) => list(&cmd.flags, args),
        Verb::Plan(args) => plan_cmd(ctx, &cmd.flags, args),
    }
}

fn build(flags: &HelmfileFlags, args: BuildArgs) -> Result<i32> {
    let states = flags.load()?;
    match args.output {
        BuildFormat::Yaml => print!("{}", output::build_yaml(&states, args.embed_values)?),
        BuildFormat::Json => {
            let docs = states.iter().map(|s| output::build_document(s, args.embed_values)).collect::<Result<Vec<_>>>()?;
            println!("{}", serde_json::to_string_pretty(&docs)?);
        }
    }
    Ok(super::exit::OK)
}

fn list(flags: &HelmfileFlags, args: ListArgs) -> Result<i32> {
    flags.selectors()?;
    let states = flags.load()?;
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
