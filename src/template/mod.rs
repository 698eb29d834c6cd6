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
//!   defined`), undefined variables too (`undefined variable "$x"`);
//!   parse errors use Go's texts (`unexpected "|" in command`,
//!   `non executable command in pipeline stage 2`, …).  What Go only
//!   rejects when executing (`{{ "a" "b" }}`, `{{ nil }}`, assigning an
//!   undeclared variable, arguments to a map field) fails at execution
//!   here too.
//!
//! # Translation design
//!
//! [`parse`] is a hand-written lexer/parser for Go templates producing an
//! AST (it rejects unknown functions and undefined variables, like Go's
//! parser); [`translate`] turns the AST into minijinja source in which
//! every Go operation is a call of a registered Rust function:
//!
//! * `g_<name>` for the function library ([`funcs`], [`funcs_extra`]),
//!   with Go's argument order (`a | f b` becomes `g_f(b, a)`);
//! * `g__field(base, "<label>", "k1", "k2")` for `.k1.k2` chains
//!   (missingkey=error semantics and Go's error texts);
//! * `g__range(v)` yields `(key, value)` pairs (index/element for lists,
//!   sorted key/value for maps; errors for scalars like Go);
//! * `g__truth(v)` for `if`/`with`, `g__template(name, dot)` for
//!   `{{template}}`;
//! * `and`/`or` become minijinja's short-circuit `and`/`or` (they return
//!   the deciding operand; literal operands are wrapped in `g__id` so
//!   minijinja's constant folding cannot turn them into booleans).
//!
//! The dot is resolved statically: the template's data is the minijinja
//! variable `_d`; inside `with` the dot is the temporary holding the
//! tested value (`{% set _w3 = … %}{% if g__truth(_w3) %}`), inside
//! `range` the loop variable (`{% for _k4, _e5 in g__range(…) %}`).  No
//! minijinja `{% with %}` frames and no `{% for %}…{% else %}` are used:
//! a `{% break %}` inside them unwinds the wrong frame, and Go runs a
//! range's `else` outside the loop (`{% if items %}{% for %}…{% endfor
//! %}{% else %}…{% endif %}`).
//! Go variables live in a per-execution slot table `_ns` (a mutable map
//! object); the translator resolves every `$name` to a unique slot at
//! translation time following Go's scoping rules (declarations end at the
//! enclosing `{{end}}`, assignments update the visible declaration, also
//! from inside `range`), so minijinja's own scoping never matters.
//! `$` is the slot `root`.  `break`/`continue` use minijinja's loop
//! controls.  Each `define`/`block` becomes its own minijinja template in
//! the same environment, rendered by `template`/`include` with a fresh
//! slot table.  Text is emitted verbatim (wrapped in `{% raw %}` when it
//! contains minijinja delimiters).  A custom formatter prints values the
//! Go way ([`value::template_print`]).
//!
//! Line structure is preserved: each node is emitted on its Go source
//! line and newlines that the Go source has but the translation does not
//! (trimmed text, multi-line actions, comments) are padded with
//! `{# … #}` comments, so minijinja's error line *is* the Go line — also
//! inside `define` bodies.  Compiled environments are cached per source
//! text, so re-rendering the same template only costs execution.
//!
//! Values ([`value`]): Go maps are mutable [`value::GoMap`] objects
//! (sprig's `set`/`unset`/`merge` mutate in place and aliases see it, as
//! with Go maps), lists are minijinja sequences, `nil` is none, Go `int`
//! is an `i64` number and Go `int64` (results of sprig's `add`, `sub`,
//! `mul`, `div`, `mod`, `max`, `min`, `int64`, `toDecimal`) is a
//! [`value::Int64`] object, floats are `f64`.  `toYaml` re-implements
//! yaml.v2's emitter ([`yaml`]), `fromYaml` decodes with yaml.v2's YAML
//! 1.1 rules on libyaml events ([`yaml_decode`]), `toJson` follows Go's
//! encoding/json (sorted keys, HTML escaping, float format).
//!
//! # Functions
//!
//! Exactly helmfile 0.166's set (checked name by name against the binary,
//! see `tests::function_set_matches_helmfile_0_166`): Go's builtins
//! (`and or not len index slice print printf println html js urlquery eq
//! ne lt le gt ge call`), sprig v3's `TxtFuncMap` (sprig's `slice`
//! replaces Go's; sprig's `get` is `sprigGet`) and helmfile's `exec
//! envExec isFile readFile readDir readDirEntries toYaml fromYaml
//! setValueAtPath requiredEnv get getOrNil tpl required include
//! fetchSecretValue expandSecretRefs`.  Not available offline and
//! therefore failing *when executed* (they still parse): sprig's crypto
//! generators (`genCA`, `genPrivateKey`, `bcrypt`, `htpasswd`,
//! `derivePassword`, `encryptAES`, `randBytes`, …), `getHostByName`, and
//! `fetchSecretValue`/`expandSecretRefs` on `ref+…` secret references
//! (plain values pass through unchanged, as vals does).
//!
//! # Files, directories and helper templates
//!
//! helmfile gives every rendered file (the state file, each `*.gotmpl`
//! values file) a template context whose base path is *that file's
//! directory*: relative `readFile`/`readDir`/`readDirEntries`/`isFile`
//! paths and `exec`'s working directory resolve there, and the `_*.tpl`
//! files of that directory are parsed first (in name order, each by its
//! own `Parse`) so their `define`s serve `include`/`template` — also in
//! `tpl`.  [`Engine::render`] uses [`EngineOptions::base_dir`];
//! [`Engine::render_in_dir`] takes the directory per call (use it for
//! values files in other directories).  A definition in the file itself
//! replaces a helper's unless it is empty; two non-empty definitions in
//! one file are an error.
//!
//! # Known differences from helmfile
//!
//! * Errors carry file and line but not Go's column; instead of Go's
//!   `executing "…" at <cmd>:` prefix the failing command is appended as
//!   `(in cmd)` (e.g. `map has no entry for key "x" (in .Values.x)`,
//!   `error calling required: need x (in required "need x")`).
//!   Constant arguments are checked against the parameter types of the
//!   functions Go would type-check (`expected string; found 1`,
//!   `cannot assign nil to int`, `indent 2.0` accepted), as execution
//!   errors; if an earlier argument of the same call fails to evaluate, Go
//!   reports that one instead.
//!   Nested `include`/`tpl` errors name the inner template differently.
//! * `keys`/`values` return sorted order (Go's map order is random).
//! * Regular expressions run on the regex crate with Go's ASCII-only
//!   `\w \d \s \b` rewritten; other RE2/regex-crate syntax differences
//!   (rare) remain.
//! * `printf`: the usual verbs, flags, widths and precisions match Go
//!   (checked on random formats); some exotic combinations differ (`#`
//!   with `%v`/`%g` floats, `%#q` backquoting, zero padding of negative
//!   numbers in a few verbs).
//! * `typeOf` says `[]interface {}` / `map[string]interface {}` where sprig
//!   returns `[]string` (`splitList`, `toStrings`, `keys`) or
//!   `map[string]string` (`split`, `splitn`).
//! * Paths in `readFile`/`readDir` errors are the resolved (absolute)
//!   paths; helmfile shows them relative to its working directory.
//! * uint64 values above `i64::MAX` (from `fromYaml`) become float64.
//! * `now`/`date`/`toDate` support Go layouts but only the UTC and local
//!   zones; `randAlphaNum`/`uuidv4`/… use a non-cryptographic generator.
//! * Parsing errors after `fromYaml`/unmarshal failures and a few runtime
//!   panics are reported with Go's text where it was checked (see the
//!   `verified_*` tests), otherwise with a close equivalent.
//! * [`Engine::render_first_pass`] mirrors helmfile's `preRender` template
//!   context (missingkey=zero, side-effect functions return empty
//!   values); whether and when to use it is the state loader's decision.
//! * Block nesting is limited by minijinja's parser (150 nested blocks;
//!   an `if` or `range` counts one, a `with` two).
//! * Template recursion stops at depth 200 (Go: 100000) to stay within
//!   the native stack; the error text is Go's.
//! * Every execution has a budget ([`limits`]; Go has none): function calls,
//!   loop iterations and values walked (10 million steps by default) and text
//!   produced (1 GiB), so a runaway loop, recursion or a string doubled in a
//!   loop fails with an error instead of running for hours or taking all
//!   memory. Values are walked at most 256 levels deep, `fromYaml` refuses
//!   deeper documents, and more than 200 nested blocks or parentheses are a
//!   parse error (minijinja refuses 150 anyway).
//! * A map cannot be put into itself (`set $m "a" $m`, also through `merge`
//!   or `setValueAtPath`): Go allows it, and then printing it never ends.
//! * `untilStep` stepping past the int64 range ends the list (Go's int wraps
//!   and the loop never ends).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub mod funcs;
pub mod funcs_extra;
pub mod limits;
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
    /// The budget of each execution (steps, bytes of text); see [`limits`].
    pub limits: limits::Limits,
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
    base_dir: PathBuf,
    limits: limits::Limits,
    /// compiled templates by (first pass?, source text)
    cache: Mutex<HashMap<(bool, String), Arc<Compiled>>>,
    /// generated call expression -> Go command text, for error messages
    labels: Mutex<HashMap<String, String>>,
    /// environments with settings and functions, cloned per compiled source
    proto: minijinja::Environment<'static>,
    pre_proto: minijinja::Environment<'static>,
}

fn prototype(ctx: Arc<funcs::Ctx>) -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
    env.set_recursion_limit(1000);
    // keeps the generated source on errors (used to name the failing Go command)
    env.set_debug(true);
    env.set_formatter(|out, _state, v| {
        let s = value::template_print(v);
        limits::check()?;
        out.write_str(&s).map_err(|_| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, "write failed"))
    });
    funcs::register(&mut env, ctx);
    env
}

struct Compiled {
    env: minijinja::Environment<'static>,
}

const MAIN: &str = "main";

impl Engine {
    pub fn new(opts: EngineOptions) -> Engine {
        let inner = Arc::new_cyclic(|weak| {
            let mk = |pre_render: bool| {
                Arc::new(funcs::Ctx {
                    base_dir: opts.base_dir.clone(),
                    disable_insecure: opts.disable_insecure,
                    env: opts.env.clone(),
                    engine: weak.clone(),
                    pre_render,
                })
            };
            EngineInner {
                base_dir: opts.base_dir.clone(),
                limits: opts.limits,
                proto: prototype(mk(false)),
                // helmfile's first-pass ("preRender") mode
                pre_proto: prototype(mk(true)),
                cache: Mutex::new(HashMap::new()),
                labels: Mutex::new(HashMap::new()),
            }
        });
        Engine { inner }
    }

    /// Render `source`; `name` is the file path shown in errors; `data` is
    /// the template's dot.  Relative paths, `exec`'s working directory and
    /// the `_*.tpl` helper templates come from the options' `base_dir`.
    pub fn render(&self, name: &str, source: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        let base = self.inner.base_dir.clone();
        self.inner.render_mode(name, source, value::from_json(data), false, &base)
    }

    /// Render a file that lives in `dir` the way helmfile does: helmfile
    /// gives every rendered file (helmfile.yaml.gotmpl, each `*.gotmpl`
    /// values file) a template context whose base path is that file's
    /// directory, so `readFile`/`readDir`/`isFile`/`exec` resolve there and
    /// the `_*.tpl` files of that directory provide `define`s for
    /// `include`/`template` (also inside `tpl`).
    pub fn render_in_dir(&self, dir: &std::path::Path, name: &str, source: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        self.inner.render_mode(name, source, value::from_json(data), false, dir)
    }

    /// [`Engine::render_first_pass`] that also returns what rendered before an error.
    pub fn render_first_pass_partial(&self, name: &str, source: &str, data: &serde_json::Value) -> (String, Option<TemplateError>) {
        let base = self.inner.base_dir.clone();
        self.inner.render_first_pass_partial(name, source, value::from_json(data), &base)
    }

    /// Render like helmfile's first pass over a state file (its template
    /// context with `preRender` set): `missingkey=zero` (a missing map key
    /// yields nil instead of an error) and `exec`, `envExec`, `readFile`,
    /// `readDir`, `readDirEntries` do nothing and return empty results.
    pub fn render_first_pass(&self, name: &str, source: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        let base = self.inner.base_dir.clone();
        self.inner.render_mode(name, source, value::from_json(data), true, &base)
    }
}

impl EngineInner {
    fn compile(&self, source: &str, pre_render: bool, helpers: &[(String, String)]) -> Result<Arc<Compiled>, (String, parse::ParseError)> {
        let mut key_src = String::new();
        for (path, text) in helpers {
            key_src.push_str(&format!("\u{0}{}\u{0}{}", path, text));
        }
        key_src.push('\u{1}');
        key_src.push_str(source);
        let key = (pre_render, key_src);
        if let Some(c) = self.cache.lock().unwrap().get(&key) {
            return Ok(c.clone());
        }
        // helpers are parsed first into the same template set, each by its
        // own Parse call, as helmfile does
        let mut trees = Vec::new();
        for (path, text) in helpers {
            trees.push(parse::parse(text, &funcs::is_func).map_err(|e| (path.clone(), e))?);
        }
        let main = parse::parse(source, &funcs::is_func).map_err(|e| (String::new(), e))?;
        let mut groups: Vec<&[parse::Define]> = trees.iter().map(|t| t.defines.as_slice()).collect();
        groups.push(&main.defines);
        let tr = translate::translate_groups(&main.root, &groups).map_err(|e| (String::new(), e))?;
        // cloning the prototype is much cheaper than registering ~250 functions
        let mut env = if pre_render { self.pre_proto.clone() } else { self.proto.clone() };
        let internal = |e: minijinja::Error| (String::new(), parse::ParseError {
            line: e.line().unwrap_or(0),
            message: if e.to_string().contains("maximum recursion limits") {
                "template nesting too deep for kod (minijinja allows 150 nested blocks; \
                 `if`/`range` count one, `with` two)"
                    .to_string()
            } else {
                format!("internal translation error: {}", e)
            },
        });
        env.add_template_owned(MAIN.to_string(), tr.main).map_err(internal)?;
        for (name, src) in tr.defines {
            env.add_template_owned(format!("define:{}", name), src).map_err(internal)?;
        }
        {
            let mut labels = self.labels.lock().unwrap();
            if labels.len() > 200_000 {
                labels.clear();
            }
            for (k, v) in tr.labels {
                labels.entry(k).or_insert(v);
            }
        }
        let c = Arc::new(Compiled { env });
        let mut cache = self.cache.lock().unwrap();
        if cache.len() > 4096 {
            cache.clear();
        }
        cache.insert(key, c.clone());
        Ok(c)
    }

    pub fn render_mode(&self, name: &str, source: &str, dot: minijinja::Value, pre_render: bool, base: &std::path::Path) -> Result<String, TemplateError> {
        let _budget = limits::enter(self.limits);
        let helpers = helper_templates(base);
        let compiled = self.compile(source, pre_render, &helpers).map_err(|(file, e)| TemplateError {
            file: if file.is_empty() { name.to_string() } else { file },
            line: e.line,
            col: None,
            kind: TemplateErrorKind::Syntax,
            message: e.message,
        })?;
        let t = compiled.env.get_template(MAIN).map_err(|e| to_err(name, &e, None))?;
        let base = base.to_string_lossy().into_owned();
        let mut out = limits::Output::default();
        let res = t.render_captured_to(minijinja::context! { _d => dot.clone(), _root => dot, _base => base }, &mut out).map(|_| ());
        match res {
            Ok(()) => Ok(out.into_string()),
            Err(e) => {
                let cmd = self.failing_command(&e);
                Err(to_err(name, &e, cmd.as_deref()))
            }
        }
    }

    /// helmfile's first pass, keeping what rendered before an error: helmfile's first
    /// pass uses the partial output (it only needs the `environments:` block).
    pub fn render_first_pass_partial(&self, name: &str, source: &str, dot: minijinja::Value, base: &std::path::Path) -> (String, Option<TemplateError>) {
        let _budget = limits::enter(self.limits);
        let helpers = helper_templates(base);
        let compiled = match self.compile(source, true, &helpers) {
            Ok(c) => c,
            Err((file, e)) => {
                let file = if file.is_empty() { name.to_string() } else { file };
                return (String::new(), Some(TemplateError { file, line: e.line, col: None, kind: TemplateErrorKind::Syntax, message: e.message }));
            }
        };
        let t = match compiled.env.get_template(MAIN) {
            Ok(t) => t,
            Err(e) => return (String::new(), Some(to_err(name, &e, None))),
        };
        let base = base.to_string_lossy().into_owned();
        let mut out = limits::Output::default();
        let res = t.render_captured_to(minijinja::context! { _d => dot.clone(), _root => dot, _base => base }, &mut out).map(|_| ());
        (out.into_string(), res.err().map(|e| to_err(name, &e, None)))
    }

    /// The Go command whose evaluation raised `e`, if it points at one.
    pub(crate) fn failing_command(&self, e: &minijinja::Error) -> Option<String> {
        let src = e.template_source()?;
        let expr = src.get(e.range()?)?;
        self.labels.lock().unwrap().get(expr).cloned()
    }
}

/// helmfile's helperTPLs: the `_*.tpl` files of the directory, in glob
/// (sorted) order. Unreadable files are skipped.
fn helper_templates(dir: &std::path::Path) -> Vec<(String, String)> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('_') && n.ends_with(".tpl"))
        .collect();
    names.sort();
    names
        .into_iter()
        .filter_map(|n| {
            let p = dir.join(&n);
            std::fs::read_to_string(&p).ok().map(|t| (p.to_string_lossy().into_owned(), t))
        })
        .collect()
}

fn error_message(e: &minijinja::Error) -> String {
    match e.detail() {
        Some(d) => d.to_string(),
        None => e.to_string(),
    }
}

/// Describe an error from a nested render (define/include): `template "x":LINE: msg`.
pub(crate) fn describe_nested(e: &minijinja::Error, command: Option<&str>) -> String {
    let name = e.name().unwrap_or("");
    let name = name.strip_prefix("define:").map(|n| format!("template {:?}", n)).unwrap_or_else(|| name.to_string());
    let mut msg = error_message(e);
    if let Some(c) = command {
        msg = format!("{} (in {})", msg, c);
    }
    match e.line() {
        Some(l) => format!("{}:{}: {}", name, l, msg),
        None => msg,
    }
}

fn to_err(file: &str, e: &minijinja::Error, command: Option<&str>) -> TemplateError {
    let mut message = error_message(e);
    // an exhausted budget is named, whatever failed first because of it
    if let Some(limit) = limits::exceeded() {
        if !message.contains("kod's limit") {
            message = limit;
        }
    }
    if let Some(cmd) = command {
        message = format!("{} (in {})", message, cmd);
    }
    TemplateError { file: file.to_string(), line: e.line().unwrap_or(0), col: None, kind: TemplateErrorKind::Render, message }
}
