//! `kod completion bash|zsh|fish`: shell completion scripts, generated from the CLI itself.

use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, Context};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Args, Debug)]
pub struct CompletionArgs {
    /// The shell to generate completions for
    #[arg(value_enum)]
    pub shell: Shell,
}

pub async fn exec(_ctx: &Context, args: CompletionArgs) -> anyhow::Result<i32> {
    let mut cmd = Cli::command();
    let shell = match args.shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "kod", &mut std::io::stdout());
    Ok(super::exit::OK)
}
