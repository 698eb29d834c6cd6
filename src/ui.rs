//! How kod talks to its user: messages, warnings, echoed commands, progress bars.
//!
//! Data a command prints (`-o json`, tables) goes to stdout; everything else (messages,
//! echoed commands, child output, progress) goes to stderr, so stdout can be piped.
//! `--log-format json` turns every stderr line into one JSON object per line.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde_json::json;

/// `--log-format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the user-facing stream goes: the real stderr, or memory (tests).
#[derive(Clone)]
enum Sink {
    Stderr,
    Memory(Arc<Mutex<Vec<String>>>),
}

/// The user interface settings shared by every stage.
#[derive(Clone)]
pub struct Ui {
    pub quiet: bool,
    pub progress: bool,
    pub format: LogFormat,
    pub color: bool,
    sink: Sink,
}

impl Ui {
    pub fn new(quiet: bool, no_progress: bool, format: LogFormat) -> Ui {
        let tty = std::io::stderr().is_terminal();
        Ui {
            quiet,
            progress: !no_progress && !quiet && tty && format == LogFormat::Text,
            format,
            color: tty && format == LogFormat::Text && std::env::var_os("NO_COLOR").is_none(),
            sink: Sink::Stderr,
        }
    }

    /// A UI that records every line in memory (for tests).
    pub fn memory() -> (Ui, Arc<Mutex<Vec<String>>>) {
        let lines = Arc::new(Mutex::new(Vec::new()));
        let ui = Ui {
            quiet: false,
            progress: false,
            format: LogFormat::Text,
            color: false,
            sink: Sink::Memory(lines.clone()),
        };
        (ui, lines)
    }

    fn emit(&self, line: &str) {
        match &self.sink {
            Sink::Stderr => {
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "{line}");
            }
            Sink::Memory(lines) => lines.lock().expect("ui sink").push(line.to_string()),
        }
    }

    fn event(&self, level: &str, fields: serde_json::Value) {
        let mut obj = json!({ "level": level });
        if let (Some(o), serde_json::Value::Object(f)) = (obj.as_object_mut(), fields) {
            o.extend(f);
        }
        self.emit(&obj.to_string());
    }

    /// A progress message (suppressed by `--quiet`).
    pub fn info(&self, msg: impl AsRef<str>) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => self.emit(&format!("kod: {}", msg.as_ref())),
            LogFormat::Json => self.event("info", json!({ "message": msg.as_ref() })),
        }
    }

    /// A warning (shown even with `--quiet`).
    pub fn warn(&self, msg: impl AsRef<str>) {
        match self.format {
            LogFormat::Text => {
                let prefix = if self.color { "\x1b[33mkod: warning:\x1b[0m" } else { "kod: warning:" };
                self.emit(&format!("{prefix} {}", msg.as_ref()))
            }
            LogFormat::Json => self.event("warn", json!({ "message": msg.as_ref() })),
        }
    }

    /// An error (always shown).
    pub fn error(&self, msg: impl AsRef<str>) {
        match self.format {
            LogFormat::Text => {
                let prefix = if self.color { "\x1b[31mkod: error:\x1b[0m" } else { "kod: error:" };
                self.emit(&format!("{prefix} {}", msg.as_ref()))
            }
            LogFormat::Json => self.event("error", json!({ "message": msg.as_ref() })),
        }
    }

    /// Echo a command before it runs (already redacted and quoted). Dry-run commands are
    /// printed bare, so the dry-run output can be pasted into a shell as it is; commands
    /// that run are printed `+ CMD`, like `sh -x`.
    pub fn command(&self, display: &str, dry_run: bool) {
        if self.quiet && !dry_run {
            return;
        }
        match self.format {
            LogFormat::Text if dry_run => self.emit(display),
            LogFormat::Text => {
                if self.color {
                    self.emit(&format!("\x1b[2m+ {display}\x1b[0m"))
                } else {
                    self.emit(&format!("+ {display}"))
                }
            }
            LogFormat::Json => self.event("info", json!({ "event": "exec", "command": display, "dry_run": dry_run })),
        }
    }

    /// One line of a child's output, forwarded while it runs (suppressed by `--quiet`).
    pub fn child_line(&self, tool: &str, line: &str) {
        if self.quiet {
            return;
        }
        match self.format {
            LogFormat::Text => self.emit(&format!("  {line}")),
            LogFormat::Json => self.event("info", json!({ "event": "output", "tool": tool, "line": line })),
        }
    }

    /// A progress bar for `len` units (hidden unless progress is on).
    pub fn progress_bar(&self, len: u64, what: &str) -> indicatif::ProgressBar {
        if !self.progress {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(len);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg:24} [{bar:30}] {pos}/{len} ({elapsed})")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_events_are_one_object_per_line() {
        let (mut ui, lines) = Ui::memory();
        ui.format = LogFormat::Json;
        ui.info("hello \"world\"");
        ui.command("helm version --short", false);
        let lines = lines.lock().unwrap();
        let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(first["message"], "hello \"world\"");
        let second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(second["event"], "exec");
        assert_eq!(second["command"], "helm version --short");
    }

    #[test]
    fn quiet_hides_info_and_echo_but_not_warnings_or_dry_run() {
        let (mut ui, lines) = Ui::memory();
        ui.quiet = true;
        ui.info("x");
        ui.command("helm a", false);
        ui.command("helm b", true);
        ui.warn("w");
        assert_eq!(*lines.lock().unwrap(), vec!["helm b".to_string(), "kod: warning: w".to_string()]);
    }
}
