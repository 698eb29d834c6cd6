//! The one command runner. Every external program kod starts goes through [`Runner::run`]:
//! it resolves the tool (once, with a version check), echoes the command redacted and
//! quoted, honours `--dry-run`, streams or captures the child's output, scrubs secrets from
//! that output, and turns a failure into an error naming the command, its exit code and the
//! last lines of its standard error.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use semver::Version;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader};
use tokio::sync::OnceCell;

use super::redact::{self, quote, REDACTED};
use super::tool::{self, Tool, ToolError, ToolOverrides};
use crate::ui::Ui;

/// How many lines of a failed child's stderr an error keeps.
pub const STDERR_TAIL_LINES: usize = 12;

/// Standard input for a child.
#[derive(Clone)]
struct Stdin {
    data: Vec<u8>,
    secret: bool,
    what: String,
}

/// One external command, built by a stage and handed to the [`Runner`].
#[derive(Clone)]
pub struct Cmd {
    tool: Tool,
    args: Vec<String>,
    marked: Vec<bool>,
    env: Vec<(String, String, bool)>,
    env_remove: Vec<String>,
    cwd: Option<PathBuf>,
    stdin: Option<Stdin>,
    read_only: bool,
    capture: bool,
    timeout: Option<Duration>,
}

impl Cmd {
    pub fn new(tool: Tool) -> Cmd {
        Cmd {
            tool,
            args: Vec::new(),
            marked: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            cwd: None,
            stdin: None,
            read_only: false,
            capture: false,
            timeout: None,
        }
    }

    pub fn tool(&self) -> Tool {
        self.tool
    }

    pub fn arg(mut self, arg: impl AsRef<str>) -> Cmd {
        self.args.push(arg.as_ref().to_string());
        self.marked.push(false);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Cmd
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for a in args {
            self = self.arg(a);
        }
        self
    }

    /// An argument that is a secret: echoed as `***`, scrubbed from output.
    pub fn secret_arg(mut self, arg: impl AsRef<str>) -> Cmd {
        self.args.push(arg.as_ref().to_string());
        self.marked.push(true);
        self
    }

    /// An environment variable for the child (shown in the echo as `NAME=value`).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Cmd {
        self.env.push((name.into(), value.into(), false));
        self
    }

    /// A secret environment variable (shown as `NAME=***`, scrubbed from output).
    pub fn secret_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Cmd {
        self.env.push((name.into(), value.into(), true));
        self
    }

    /// Remove a variable from the child's environment.
    pub fn env_remove(mut self, name: impl Into<String>) -> Cmd {
        self.env_remove.push(name.into());
        self
    }

    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// Feed a secret (e.g. for `--password-stdin`) on standard input. `what` names it in the
    /// echo ("registry password"); the value itself is never shown.
    pub fn stdin_secret(mut self, data: impl Into<Vec<u8>>, what: impl Into<String>) -> Cmd {
        self.stdin = Some(Stdin { data: data.into(), secret: true, what: what.into() });
        self
    }

    /// Feed non-secret data on standard input.
    pub fn stdin_data(mut self, data: impl Into<Vec<u8>>, what: impl Into<String>) -> Cmd {
        self.stdin = Some(Stdin { data: data.into(), secret: false, what: what.into() });
        self
    }

    /// The command only reads (a version probe, a render, an inspect): it still runs under
    /// `--dry-run`, because later commands depend on its output.
    pub fn read_only(mut self) -> Cmd {
        self.read_only = true;
        self
    }

    /// Capture standard output for kod to parse instead of streaming it to the user.
    pub fn capture(mut self) -> Cmd {
        self.capture = true;
        self
    }

    /// Kill the child if it runs longer than this.
    pub fn timeout(mut self, limit: Duration) -> Cmd {
        self.timeout = Some(limit);
        self
    }

    /// Every secret value this command carries (marked, by flag rules, env, stdin).
    pub fn secrets(&self) -> Vec<String> {
        let (_, mut secrets) = redact::redact_args(&self.args, &self.marked);
        for (name, value, secret) in &self.env {
            if *secret || redact::is_secret_env_name(name) {
                secrets.push(value.clone());
            }
        }
        if let Some(stdin) = &self.stdin {
            if stdin.secret {
                let text = String::from_utf8_lossy(&stdin.data);
                secrets.push(text.trim_end_matches(['\n', '\r']).to_string());
            }
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }

    /// The echo: `[NAME=value ...] PROGRAM ARGS...` quoted for a POSIX shell, secrets
    /// redacted, with a trailing comment when something is fed on standard input.
    pub fn display(&self, program: &str) -> String {
        let mut words = Vec::new();
        for (name, value, secret) in &self.env {
            let shown = if *secret || redact::is_secret_env_name(name) { REDACTED.to_string() } else { quote(value) };
            words.push(format!("{name}={shown}"));
        }
        words.push(quote(program));
        let (shown, _) = redact::redact_args(&self.args, &self.marked);
        words.extend(shown.iter().map(|a| if a == REDACTED { a.clone() } else { quote(a) }));
        let mut line = words.join(" ");
        if let Some(stdin) = &self.stdin {
            let what = if stdin.secret { format!("{} (redacted)", stdin.what) } else { stdin.what.clone() };
            line.push_str(&format!("  # stdin: {what}"));
        }
        line
    }
}

/// What a finished (or skipped) command left behind.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// Captured standard output (empty when streamed or not run).
    pub stdout: String,
    /// Standard error, secrets scrubbed (complete when captured, otherwise the tail).
    pub stderr: String,
    /// False when `--dry-run` skipped the command.
    pub ran: bool,
}

/// A command the runner saw, in order: what was echoed and whether it ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Executed {
    pub tool: Tool,
    pub display: String,
    pub ran: bool,
    pub success: bool,
}

/// Why a command did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("could not start `{command}`: {source}")]
    Spawn { command: String, source: std::io::Error },
    #[error("`{command}` failed with {status}{}", tail_text(.stderr_tail))]
    Failed { command: String, status: String, code: Option<i32>, stderr_tail: Vec<String> },
    #[error("`{command}` did not finish within {seconds}s and was stopped")]
    TimedOut { command: String, seconds: u64 },
    #[error("`{command}`: {source}")]
    Io { command: String, source: std::io::Error },
}

impl ExecError {
    /// The failed child's stderr lines, if it ran and failed.
    pub fn stderr_tail(&self) -> &[String] {
        match self {
            ExecError::Failed { stderr_tail, .. } => stderr_tail,
            _ => &[],
        }
    }
}

/// On Linux, a child is killed (SIGKILL) when kod dies, however kod dies: after a `kill -9`
/// of kod no skopeo or helm keeps pushing or writing into the work directory behind the
/// next run's back. (`kill_on_drop` covers only the ways out in which kod runs destructors.)
fn die_with_parent(command: &mut tokio::process::Command) {
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // kod died between fork and prctl: do not run orphaned.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("kod exited before the command started"));
                }
                Ok(())
            });
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = command;
}

fn tail_text(tail: &[String]) -> String {
    if tail.is_empty() {
        " (no output on stderr)".to_string()
    } else {
        let mut s = String::from("; last lines of its stderr:");
        for line in tail {
            s.push_str("\n    ");
            s.push_str(line);
        }
        s
    }
}

/// A resolved, version-checked tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedTool {
    pub tool: Tool,
    pub path: PathBuf,
    pub version: Version,
}

/// Settings for a [`Runner`].
#[derive(Clone)]
pub struct RunnerOptions {
    pub overrides: ToolOverrides,
    pub dry_run: bool,
    pub ui: Ui,
    /// Environment lookups (for `KOD_*` overrides and `PATH`); `None` = the process env.
    pub env: Option<BTreeMap<String, String>>,
}

/// One tool's lookup, done once and shared.
type ToolCell = Arc<OnceCell<Result<ResolvedTool, ToolError>>>;

struct Inner {
    opts: RunnerOptions,
    tools: Mutex<BTreeMap<Tool, ToolCell>>,
    history: Mutex<Vec<Executed>>,
}

/// The one command runner (cheap to clone; clones share tool checks and history).
#[derive(Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

impl Runner {
    pub fn new(opts: RunnerOptions) -> Runner {
        Runner {
            inner: Arc::new(Inner { opts, tools: Mutex::new(BTreeMap::new()), history: Mutex::new(Vec::new()) }),
        }
    }

    pub fn dry_run(&self) -> bool {
        self.inner.opts.dry_run
    }

    pub fn ui(&self) -> &Ui {
        &self.inner.opts.ui
    }

    fn env_lookup(&self, name: &str) -> Option<String> {
        match &self.inner.opts.env {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// Every command echoed so far, in order.
    pub fn history(&self) -> Vec<Executed> {
        self.inner.history.lock().expect("history").clone()
    }

    /// Find `tool` and check its version, once per runner; later calls reuse the answer.
    pub async fn tool(&self, tool: Tool) -> Result<ResolvedTool, ToolError> {
        let cell = {
            let mut tools = self.inner.tools.lock().expect("tools");
            tools.entry(tool).or_default().clone()
        };
        cell.get_or_init(|| self.resolve(tool)).await.clone()
    }

    async fn resolve(&self, tool: Tool) -> Result<ResolvedTool, ToolError> {
        let path = tool::locate(tool, &self.inner.opts.overrides, &|k| self.env_lookup(k))?;
        let mut probe = Cmd::new(tool).args(tool.version_args()).read_only().capture().timeout(Duration::from_secs(60));
        if tool == Tool::Helmfile {
            // `helmfile version` otherwise asks the internet for the latest release.
            probe = probe.env("HELMFILE_UPGRADE_NOTICE_DISABLED", "1");
        }
        let display = probe.display(tool.program());
        self.ui().command(&display, false);
        let result = self.spawn_and_wait(&probe, &path).await;
        self.record(tool, display, true, result.is_ok());
        let out = result.map_err(|e| ToolError::VersionUnreadable {
            tool,
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let text = if out.stdout.trim().is_empty() { &out.stderr } else { &out.stdout };
        let version = tool::parse_version(tool, text).ok_or_else(|| ToolError::VersionUnreadable {
            tool,
            path: path.display().to_string(),
            detail: format!("unexpected output of `{}`: {:?}", probe.display(tool.program()), text.trim()),
        })?;
        tool::check_supported(tool, &version, &path)?;
        Ok(ResolvedTool { tool, path, version })
    }

    /// Run a command: resolve its tool, echo it, and (unless dry-run skips it) run it.
    ///
    /// A read-only command does not wait for its tool's first version check: the two run at
    /// once (the check costs a process start, ~0.1 s, at the head of every run), and a failed
    /// check still wins — its error is returned and the command's result dropped, so an
    /// unsupported tool is reported exactly as before. Commands that change something wait.
    pub async fn run(&self, cmd: &Cmd) -> Result<Output, ExecError> {
        if cmd.read_only && !self.tool_checked(cmd.tool) {
            let path = tool::locate(cmd.tool, &self.inner.opts.overrides, &|k| self.env_lookup(k))?;
            let (checked, result) = tokio::join!(self.tool(cmd.tool), self.run_resolved(cmd, &path));
            checked?;
            return result;
        }
        let resolved = self.tool(cmd.tool).await?;
        self.run_resolved(cmd, &resolved.path).await
    }

    /// Whether `tool`'s version check has finished (successfully or not).
    fn tool_checked(&self, tool: Tool) -> bool {
        self.inner.tools.lock().expect("tools").get(&tool).is_some_and(|c| c.initialized())
    }

    async fn run_resolved(&self, cmd: &Cmd, program: &Path) -> Result<Output, ExecError> {
        let display = cmd.display(cmd.tool.program());
        let skip = self.dry_run() && !cmd.read_only;
        self.ui().command(&display, skip);
        if skip {
            self.record(cmd.tool, display, false, true);
            return Ok(Output::default());
        }
        let result = self.spawn_and_wait(cmd, program).await;
        self.record(cmd.tool, display, true, result.is_ok());
        result
    }

    fn record(&self, tool: Tool, display: String, ran: bool, success: bool) {
        self.inner.history.lock().expect("history").push(Executed { tool, display, ran, success });
    }

    async fn spawn_and_wait(&self, cmd: &Cmd, program: &Path) -> Result<Output, ExecError> {
        let display = cmd.display(cmd.tool.program());
        let secrets = cmd.secrets();
        let mut command = tokio::process::Command::new(program);
        command.args(&cmd.args).kill_on_drop(true);
        die_with_parent(&mut command);
        for name in &cmd.env_remove {
            command.env_remove(name);
        }
        for (name, value, _) in &cmd.env {
            command.env(name, value);
        }
        if let Some(dir) = &cmd.cwd {
            command.current_dir(dir);
        }
        command.stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| ExecError::Spawn { command: display.clone(), source })?;

        if let (Some(stdin), Some(mut pipe)) = (cmd.stdin.clone(), child.stdin.take()) {
            // Written in its own task so a child that does not read stdin cannot block us.
            tokio::spawn(async move {
                let _ = pipe.write_all(&stdin.data).await;
                let _ = pipe.shutdown().await;
            });
        }

        let ui = self.ui().clone();
        let tool_name = cmd.tool.program();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let out_task = {
            let (ui, secrets) = (ui.clone(), secrets.clone());
            let capture = cmd.capture;
            tokio::spawn(async move { pump(stdout, capture, None, &ui, tool_name, &secrets).await })
        };
        let err_task = {
            let (ui, secrets) = (ui.clone(), secrets.clone());
            let capture = cmd.capture;
            tokio::spawn(async move { pump(stderr, capture, Some(STDERR_TAIL_LINES), &ui, tool_name, &secrets).await })
        };

        let waited = match cmd.timeout {
            Some(limit) => match tokio::time::timeout(limit, child.wait()).await {
                Ok(r) => r,
                Err(_) => {
                    let _ = child.kill().await;
                    return Err(ExecError::TimedOut { command: display, seconds: limit.as_secs() });
                }
            },
            None => child.wait().await,
        };
        let status = waited.map_err(|source| ExecError::Io { command: display.clone(), source })?;
        let (stdout_text, _) = out_task.await.unwrap_or_default();
        let (stderr_text, tail) = err_task.await.unwrap_or_default();

        if status.success() {
            return Ok(Output { stdout: stdout_text, stderr: stderr_text, ran: true });
        }
        let status_text = match status.code() {
            Some(code) => format!("exit code {code}"),
            None => {
                use std::os::unix::process::ExitStatusExt;
                match status.signal() {
                    Some(sig) => format!("signal {sig}"),
                    None => "an unknown status".to_string(),
                }
            }
        };
        Err(ExecError::Failed { command: display, status: status_text, code: status.code(), stderr_tail: tail })
    }
}

/// Read a child's stream line by line: forward it to the user (unless captured), keep the
/// whole text when captured, and keep the last `tail` non-empty lines. Secrets are scrubbed
/// from everything kept or shown.
async fn pump<R: AsyncRead + Unpin>(
    stream: R,
    capture: bool,
    tail: Option<usize>,
    ui: &Ui,
    tool: &str,
    secrets: &[String],
) -> (String, Vec<String>) {
    let mut reader = BufReader::new(stream);
    let mut all = String::new();
    let mut last: VecDeque<String> = VecDeque::new();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let raw = String::from_utf8_lossy(&buf);
        let line = redact::scrub(raw.trim_end_matches(['\n', '\r']), secrets);
        if capture {
            all.push_str(&line);
            all.push('\n');
        } else {
            ui.child_line(tool, &line);
        }
        if let Some(n) = tail {
            if !line.trim().is_empty() {
                last.push_back(line);
                if last.len() > n {
                    last.pop_front();
                }
            }
        }
    }
    if !capture {
        all = last.iter().map(|l| format!("{l}\n")).collect();
    }
    (all, last.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake tool directory: scripts named helm/helmfile/skopeo with given bodies.
    fn fake_tools(scripts: &[(&str, &str)]) -> (tempfile::TempDir, BTreeMap<String, String>) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in scripts {
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let mut env = BTreeMap::new();
        // Only the fake tools are found (the children themselves get the real PATH).
        env.insert("PATH".to_string(), dir.path().display().to_string());
        (dir, env)
    }

    fn runner(env: BTreeMap<String, String>, dry_run: bool) -> (Runner, Arc<Mutex<Vec<String>>>) {
        let (ui, lines) = Ui::memory();
        let r = Runner::new(RunnerOptions { overrides: ToolOverrides::default(), dry_run, ui, env: Some(env) });
        (r, lines)
    }

    const HELM_OK: &str = r#"if [ "$1" = version ]; then echo v3.15.3+gabc; exit 0; fi"#;

    #[tokio::test]
    async fn echoes_then_runs_and_captures() {
        let (_d, env) = fake_tools(&[("helm", &format!("{HELM_OK}\necho \"args: $*\"; echo warn >&2"))]);
        let (r, lines) = runner(env, false);
        let out = r.run(&Cmd::new(Tool::Helm).args(["template", "my rel", "./c"]).capture()).await.unwrap();
        assert_eq!(out.stdout, "args: template my rel ./c\n");
        assert_eq!(out.stderr, "warn\n");
        let lines = lines.lock().unwrap();
        assert!(lines.contains(&"+ helm version --short".to_string()), "{lines:?}");
        assert!(lines.contains(&"+ helm template 'my rel' ./c".to_string()), "{lines:?}");
    }

    #[tokio::test]
    async fn streams_output_with_secrets_scrubbed() {
        let (_d, env) = fake_tools(&[("helm", &format!("{HELM_OK}\necho \"logging in with $4\"; cat"))]);
        let (r, lines) = runner(env, false);
        let cmd = Cmd::new(Tool::Helm)
            .args(["registry", "login", "--password"])
            .arg("hunter22")
            .stdin_secret("stdin-s3cret\n", "registry password");
        r.run(&cmd).await.unwrap();
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("+ helm registry login --password ***  # stdin: registry password (redacted)"), "{lines}");
        assert!(lines.contains("  logging in with ***"), "{lines}");
        assert!(!lines.contains("hunter22") && !lines.contains("stdin-s3cret"), "{lines}");
    }

    #[tokio::test]
    async fn failure_names_command_code_and_stderr_tail() {
        let body = format!("{HELM_OK}\nfor i in $(seq 1 30); do echo \"line $i\" >&2; done; echo 'Error: unauthorized: bad creds for hunter22' >&2; exit 3");
        let (_d, env) = fake_tools(&[("helm", &body)]);
        let (r, _) = runner(env, false);
        let err = r.run(&Cmd::new(Tool::Helm).args(["push", "x.tgz", "--password", "hunter22"])).await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("`helm push x.tgz --password ***` failed with exit code 3; last lines of its stderr:"), "{text}");
        assert!(text.contains("\n    Error: unauthorized: bad creds for ***"), "{text}");
        assert_eq!(err.stderr_tail().len(), STDERR_TAIL_LINES);
        assert!(!text.contains("line 18\n") && text.contains("line 30"), "{text}");
        assert!(!text.contains("hunter22"));
        assert!(!r.history().last().unwrap().success);
    }

    #[tokio::test]
    async fn dry_run_runs_nothing_that_changes_state() {
        let marker = tempfile::tempdir().unwrap();
        let touched = marker.path().join("touched");
        let body = format!("{HELM_OK}\ntouch {}", touched.display());
        let (_d, env) = fake_tools(&[("helm", &body)]);
        let (r, lines) = runner(env, true);
        let out = r.run(&Cmd::new(Tool::Helm).args(["push", "x.tgz", "oci://reg/charts"])).await.unwrap();
        assert!(!out.ran);
        assert!(!touched.exists(), "dry-run must not run the command");
        // Printed bare (pasteable) rather than with the `+ ` run marker.
        assert!(lines.lock().unwrap().contains(&"helm push x.tgz oci://reg/charts".to_string()));
        // Read-only queries still run: later commands depend on them.
        let out = r.run(&Cmd::new(Tool::Helm).args(["show", "chart"]).read_only()).await.unwrap();
        assert!(out.ran && touched.exists());
        let ran: Vec<String> = r.history().into_iter().filter(|e| e.ran).map(|e| e.display).collect();
        assert_eq!(ran, vec!["helm version --short", "helm show chart"]);
    }

    #[tokio::test]
    async fn version_checked_once_and_unsupported_refused() {
        let counter = tempfile::tempdir().unwrap();
        let count = counter.path().join("n");
        let body = format!(r#"if [ "$1" = version ]; then echo x >> {}; echo v2.17.0+gold; fi"#, count.display());
        let (_d, env) = fake_tools(&[("helm", &body)]);
        let (r, _) = runner(env, false);
        for _ in 0..3 {
            let err = r.run(&Cmd::new(Tool::Helm).arg("list")).await.unwrap_err();
            assert!(err.to_string().starts_with("helm 2.17.0 at "), "{err}");
            assert!(err.to_string().contains("is not supported: kod needs helm 3.12 or newer"), "{err}");
        }
        assert_eq!(std::fs::read_to_string(&count).unwrap().lines().count(), 1);
    }

    /// A read-only command runs while its tool's first version check is still going; a
    /// command that changes something waits for it; an unsupported version still wins.
    #[tokio::test]
    async fn read_only_commands_overlap_the_version_check_which_still_wins() {
        let marks = tempfile::tempdir().unwrap();
        let log = marks.path().join("log");
        let script = |version: &str| {
            format!(
                r#"if [ "$1" = version ]; then sleep 0.5; echo checked >> {log}; echo {version}; exit 0; fi; echo "$1" >> {log}"#,
                log = log.display()
            )
        };
        let order = || std::fs::read_to_string(&log).unwrap().lines().map(String::from).collect::<Vec<_>>();

        let (_d, env) = fake_tools(&[("helm", &script("v3.15.3+gabc"))]);
        let (r, _) = runner(env.clone(), false);
        r.run(&Cmd::new(Tool::Helm).args(["show", "chart"]).read_only()).await.unwrap();
        assert_eq!(order(), vec!["show", "checked"]);

        std::fs::remove_file(&log).unwrap();
        let (r, _) = runner(env, false);
        r.run(&Cmd::new(Tool::Helm).arg("install")).await.unwrap();
        assert_eq!(order(), vec!["checked", "install"]);

        std::fs::remove_file(&log).unwrap();
        let (_d2, env) = fake_tools(&[("helm", &script("v2.17.0+gold"))]);
        let (r, _) = runner(env, false);
        let err = r.run(&Cmd::new(Tool::Helm).args(["show", "chart"]).read_only()).await.unwrap_err();
        assert!(err.to_string().starts_with("helm 2.17.0 at "), "{err}");
    }

    #[tokio::test]
    async fn missing_tool_error() {
        let (_d, env) = fake_tools(&[]);
        let (r, _) = runner(env, false);
        let err = r.run(&Cmd::new(Tool::Skopeo).arg("--version")).await.unwrap_err();
        assert!(err.to_string().starts_with("skopeo not found on PATH: kod needs skopeo 1.9 or newer"), "{err}");
    }

    #[tokio::test]
    async fn env_overrides_are_used_and_secret_env_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("my-skopeo");
        std::fs::write(&p, "#!/bin/sh\nif [ \"$1\" = --version ]; then echo 'skopeo version 1.9.3'; exit 0; fi\necho \"$REG_PASSWORD\"\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut env = BTreeMap::new();
        env.insert("PATH".into(), "/usr/bin:/bin".into());
        env.insert("KOD_SKOPEO".into(), p.display().to_string());
        let (r, lines) = runner(env, false);
        let out = r
            .run(&Cmd::new(Tool::Skopeo).arg("inspect").secret_env("REG_PASSWORD", "pw-value-1").env("HOME", "/tmp/h").capture())
            .await
            .unwrap();
        assert_eq!(out.stdout, "***\n");
        assert_eq!(r.tool(Tool::Skopeo).await.unwrap().path, p);
        let lines = lines.lock().unwrap().join("\n");
        assert!(lines.contains("+ REG_PASSWORD=*** HOME=/tmp/h skopeo inspect"), "{lines}");
    }

    #[tokio::test]
    async fn timeout_kills_the_child() {
        let (_d, env) = fake_tools(&[("helm", &format!("{HELM_OK}\nsleep 30"))]);
        let (r, _) = runner(env, false);
        let err = r.run(&Cmd::new(Tool::Helm).arg("wait").timeout(Duration::from_millis(300))).await.unwrap_err();
        assert!(matches!(err, ExecError::TimedOut { .. }), "{err}");
    }
}
