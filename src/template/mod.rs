//! helmfile's Go-template dialect, rendered on minijinja.
//!
//! helmfile renders `helmfile.yaml.gotmpl`, `*.gotmpl` values files and
//! release templates with Go's `text/template` (Go 1.22 for helmfile
//! 0.166), `missingkey=error`, sprig's `TxtFuncMap` and helmfile's own
//! functions.  This module reproduces that dialect.
//!
//! # Dialect rules (as implemented)
//!
//! * Delimiters `{{ }}`; `{{- ` / ` -}}` trim *all* adjacent whitespace
//!   (spaces, tabs, newlines) of the neighbouring text; comments
//!   `{{/* … */}}` (also with trim markers); actions may span lines.
//! * Literals: `"…"` (Go escapes), `` `raw` ``, `'c'` (an int), ints
//!   (decimal, `0x`, `0o`, `0b`, leading-0 octal, `_`), floats, `true`,
//!   `false`, `nil` (only as an argument).
//! * `.`, `.A.B`, `$`, `$x`, `$x.A`, `(pipeline).A`; pipelines
//!   `a | f b` = `f b a`; `$x := p` declares, `$x = p` assigns (Go
//!   scoping: a declaration lasts until the `{{end}}` of the enclosing
//!   block; assignment updates the visible variable, also from inside
//!   `range`).  An action that declares/assigns prints nothing.
//! * `if`/`else if`/`else`, `with`/`else`, `range` (lists by index, maps
//!   in sorted key order, `range $i, $v :=`, `range … else`),
//!   `break`/`continue`, `define`/`template`/`block`.  As in Go 1.22:
//!   no `else with` (parse error `unexpected <with> in else`) and no
//!   `range` over an integer (`range can't iterate over 3`).
//! * Truth (if/with/and/or/not): false, 0, 0.0, nil, "" and empty
//!   lists/maps are false.  `and`/`or` short-circuit and return the
//!   deciding operand.
//! * `missingkey=error`: `.Values.a` on a map without `a` is an error
//!   `map has no entry for key "a"`; a field of nil is
//!   `nil pointer evaluating interface {}.b`; `index` of a missing map key
//!   yields nil without error.
//! * Output is `fmt.Sprint` of the value: `map[a:1 b:2]`, `[a b]`, floats
//!   as `%v` (`1.5`, `1e+06`), a nil value prints `<no value>`.
//! * Unknown function names are parse errors (`function "foo" not
//!   defined`), undefined variables too (`undefined variable "$x"`).
//!
//! # Translation design
//!
//! [`parse`] is a hand-written lexer/parser for Go templates producing an
//! AST; [`translate`] turns it into minijinja source where every Go
//! operation is a call of a registered Rust function (`g_<name>` for the
//! function library, `g__field`/`g__range`/`g__truth`/`g__template` for
//! evaluation), Go variables live in slots of one minijinja `namespace()`
//! (resolved to unique slots at translation time, which gives Go's
//! scoping), the dot is the minijinja variable `_d`, `$` is `_root`.
//! `with` is `{% with _d = … %}`, `range` is a `{% for %}` over
//! `(key, value)` pairs, `and`/`or` are minijinja's short-circuit
//! operators (whose truth test matches Go's, see [`value::GoMap`]).
//! Each `define`/`block` becomes its own minijinja template, rendered by
//! `template`/`include` with a fresh variable scope.  A custom formatter
//! prints values the Go way.  Line structure is preserved (each node is
//! emitted on its Go source line, skipped newlines are padded with
//! `{# #}` comments) so minijinja's error line is the Go source line.
//! Compiled environments are cached by source hash.
//!
//! Values: maps are mutable [`value::GoMap`] objects (sprig's
//! `set`/`unset`/`merge` mutate in place), ints stay `i64`, floats `f64`.
//!
//! # Known differences from helmfile
//!
//! * All integers are one kind: `typeOf`/`%T` say `int` where Go would say
//!   `int64` (e.g. results of sprig's `add`).  Comparisons treat int and
//!   int64 alike, as Go's `eq` does.
//! * Errors carry the file and line, not Go's column and
//!   `executing "…" at <…>` context; field errors append `(in .A.B)`.
//! * `( $x := … )` inside parentheses is rejected.
//! * `keys`/`values` return sorted order (Go's map order is random).
//! * `now`/`date` support the common Go layout elements only.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub mod funcs;
pub mod funcs_extra;
pub mod parse;
pub mod printf;
pub mod translate;
pub mod value;
pub mod yaml;
pub mod yaml_decode;

#[cfg(test)]
mod tests;

/// Options for an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Directory of the helmfile being rendered: `readFile`, `readDir`,
    /// `isFile` and `exec`'s working directory resolve relative paths here.
    pub base_dir: PathBuf,
    /// `HELMFILE_DISABLE_INSECURE_FEATURES`: `exec`, `envExec`, `readFile`,
    /// `readDir`, `readDirEntries` fail.
    pub disable_insecure: bool,
    /// `None` = the process environment; `Some` = this map only.
    pub env: Option<BTreeMap<String, String>>,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template does not parse (Go parse error, unknown function,
    /// undefined variable).
    Syntax,
    /// Execution failed (missing key, function error, ...).
    Render,
}

/// A template error: `FILE:LINE: MESSAGE`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct TemplateError {
    pub file: String,
    pub line: usize,
    pub col: Option<usize>,
    pub kind: TemplateErrorKind,
    pub message: String,
}

/// The template engine. Cheap to clone; thread-safe.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

pub struct EngineInner {
    ctx: Arc<funcs::Ctx>,
    cache: Mutex<HashMap<u64, Arc<Compiled>>>,
}

struct Compiled {
    env: minijinja::Environment<'static>,
}

const MAIN: &str = "main";

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        Engine::build(opts, false)
    }

    /// An engine with Go's `missingkey=default` instead of helmfile's `missingkey=error`:
    /// a missing map key yields nil (printed `<no value>`). Only helmfile v0's first
    /// rendering pass uses it, to read the `environments:` block before the values exist.
    pub fn first_pass(opts: EngineOptions) -> Engine {
        Engine::build(opts, true)
    }

    fn build(opts: EngineOptions, missing_key_default: bool) -> Engine {
        let inner = Arc::new_cyclic(|weak| EngineInner {
            ctx: Arc::new(funcs::Ctx {
                base_dir: opts.base_dir.clone(),
                disable_insecure: opts.disable_insecure,
                env: opts.env.clone(),
                missing_key_default,
                engine: weak.clone(),
            }),
            cache: Mutex::new(HashMap::new()),
        });
        Engine { inner }
    }

    /// Render `source`; `name` is the file path shown in errors; `data` is
    /// the template's dot.
    pub fn render(&self, name: &str, source: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.inner.render_value(name, source, value::from_json(data))
    }

    /// Render as far as possible: the output produced before an error, and the error.
    /// (helmfile v0's first pass uses whatever rendered before a failure.)
    pub fn render_partial(&self, name: &str, source: &str, data: &serde_json::Value) -> (String, Option<TemplateError>) {
        let dot = value::from_json(data);
        let compiled = match self.inner.compile(source) {
            Ok(c) => c,
            Err(e) => {
                let err = TemplateError { file: name.to_string(), line: e.line, col: None, kind: TemplateErrorKind::Syntax, message: e.message };
                return (String::new(), Some(err));
            }
        };
        let t = match compiled.env.get_template(MAIN) {
            Ok(t) => t,
            Err(e) => return (String::new(), Some(to_err(name, &e))),
        };
        let mut out = Vec::new();
        let res = t.render_captured_to(minijinja::context! { _d => dot.clone(), _root => dot }, &mut out);
        (String::from_utf8_lossy(&out).to_string(), res.err().map(|e| to_err(name, &e)))
    }
}

impl EngineInner {
    fn compile(&self, source: &str) -> Result<Arc<Compiled>, parse::ParseError> {
        let mut h = DefaultHasher::new();
        source.hash(&mut h);
        let key = h.finish();
        if let Some(c) = self.cache.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        let tree = parse::parse(source, &funcs::is_func)?;
        let tr = translate::translate(&tree)?;
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        env.set_recursion_limit(1000);
        env.set_formatter(|out, _state, v| {
            let s = value::template_print(v);
            out.write_str(&s).map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
        });
        funcs::register(&mut env, self.ctx.clone());
        let internal = |e: minijinja::Error| parse::ParseError {
            line: e.line().unwrap_or(0),
            message: format!("internal translation error: {}", e),
        };
        env.add_template_owned(MAIN.to_string(), tr.main).map_err(internal)?;
        for (name, src) in tr.defines {
            env.add_template_owned(format!("define:{}", name), src).map_err(internal)?;
        }
        let c = Arc::new(Compiled { env });
        let mut cache = self.cache.lock().unwrap();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(key, c.clone());
        Ok(c)
    }

    /// Render with an already converted dot.
    pub fn render_value(&self, name: &str, source: &str, dot: minijinja::Value) -> Result<String, TemplateError> {
        let compiled = self.compile(source).map_err(|e| TemplateError {
            file: name.to_string(),
            line: e.line,
            col: None,
            kind: TemplateErrorKind::Syntax,
            message: e.message,
        })?;
        let t = compiled.env.get_template(MAIN).map_err(|e| to_err(name, &e))?;
        t.render(minijinja::context! { _d => dot.clone(), _root => dot }).map_err(|e| to_err(name, &e))
    }
}

fn error_message(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => d.to_string(),
        None => e.to_string(),
    }
}

/// Describe an error from a nested render (define/include): `define "x":LINE: msg`.
pub(crate) fn describe_nested(e: &minijinja::Error) -> String {
    let name = e.name().unwrap_or("");
    let name = name.strip_prefix("define:").map(|n| format!("template {:?}", n)).unwrap_or_else(|| name.to_string());
    match e.line() {
        Some(l) => format!("{}:{}: {}", name, l, error_message(e)),
        None => error_message(e),
    }
}

fn to_err(file: &str, e: &minijinja::Error) -> TemplateError {
    TemplateError {
        file: file.to_string(),
        line: e.line().unwrap_or(0),
        col: None,
        kind: TemplateErrorKind::Render,
        message: error_message(e),
    }
}
