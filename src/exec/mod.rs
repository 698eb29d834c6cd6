//! The one command runner: tool discovery (`which`), echo, redaction, dry-run, concurrency.
//!
//! No other module starts a process. A stage builds a [`Cmd`] and hands it to the shared
//! [`Runner`]; the runner finds the tool (flag, `KOD_*` variable, `PATH`), checks its version
//! once, echoes the command in pasteable, redacted form, runs it (or not, under `--dry-run`)
//! and reports failures with the command, its exit status and the tail of its stderr.

pub mod concurrency;
pub mod redact;
pub mod runner;
pub mod tool;

pub use concurrency::{bounded, bounded_by_keys, default_concurrency};
pub use runner::{Cmd, ExecError, Executed, Output, ResolvedTool, Runner, RunnerOptions};
pub use tool::{Tool, ToolError, ToolOverrides};
