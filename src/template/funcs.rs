//! The function library: Go text/template builtins, sprig (v3) and
//! helmfile's own functions, with Go argument order and Go semantics.
//!
//! Every function has the uniform signature [`Func`]; they are registered
//! on the minijinja environment as `g_<name>`.  Evaluator helpers used by
//! the translator are registered as `g__<name>`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use minijinja::value::Value;
use minijinja::{Error, ErrorKind, State};

use super::printf::{go_quote, go_sprint, go_sprintf, go_sprintln};
use super::value::{
    classify, deep_copy, from_json, int64, is_nil, kind_name, list, new_map, sprint, to_json, truth, type_name, GoMap, G,
};
use super::yaml::to_yaml;
use super::EngineInner;

pub type Func = fn(&Ctx, &State, &[Value]) -> Result<Value, Error>;

/// Per-engine context shared by all functions.
pub struct Ctx {
    pub base_dir: PathBuf,
    pub disable_insecure: bool,
    pub env: Option<BTreeMap<String, String>>,
    pub engine: Weak<EngineInner>,
    /// helmfile's first pass: missingkey=zero, side-effect functions disabled
    pub pre_render: bool,
}

impl Ctx {
    fn getenv(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(m) => m.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }
    /// The directory of the file being rendered (per render, `_base` in
    /// the minijinja context), else the engine's base_dir.
    pub fn base(&self, st: &State) -> PathBuf {
        match st.lookup("_base").as_ref().and_then(|v| v.as_str()) {
            Some(b) => PathBuf::from(b),
            None => self.base_dir.clone(),
        }
    }
    fn resolve(&self, st: &State, p: &str) -> PathBuf {
        let pb = Path::new(p);
        if pb.is_absolute() {
            pb.to_path_buf()
        } else {
            self.base(st).join(pb)
        }
    }
}

pub fn err(msg: impl Into<String>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg.into())
}

type R = Result<Value, Error>;

// ------------------------------------------------------------ arg helpers

pub(crate) fn nargs(name: &str, args: &[Value], want: usize) -> Result<(), Error> {
    if args.len() != want {
        return Err(err(format!("wrong number of args for {}: want {} got {}", name, want, args.len())));
    }
    Ok(())
}

fn nargs_min(name: &str, args: &[Value], want: usize) -> Result<(), Error> {
    if args.len() < want {
        return Err(err(format!("wrong number of args for {}: want at least {} got {}", name, want, args.len())));
    }
    Ok(())
}

/// A Go `string` parameter: must be a string.
pub(crate) fn s_arg(v: &Value) -> Result<String, Error> {
    match classify(v) {
        G::Str(s) => Ok(s),
        G::Nil => Err(super::value::nil_arg_error(v, "string")),
        _ => Err(err(format!("wrong type for value; expected string; got {}", type_name(v)))),
    }
}

/// A Go `int` parameter.
pub(crate) fn i_arg(v: &Value) -> Result<i64, Error> {
    // a Go `int` parameter: int64 values (sprig math results) don't fit
    if super::value::is_int64(v) {
        return Err(err("wrong type for value; expected int; got int64"));
    }
    match classify(v) {
        G::Int(i) => Ok(i),
        G::Nil => Err(super::value::nil_arg_error(v, "int")),
        _ => Err(err(format!("wrong type for value; expected int; got {}", type_name(v)))),
    }
}

/// sprig's `strval`.
pub fn strval(v: &Value) -> String {
    sprint(v)
}

/// spf13/cast ToInt64 (used by sprig's int/int64/add/...).
pub fn to_i64(v: &Value) -> i64 {
    match classify(v) {
        G::Int(i) => i,
        G::Float(f) => f as i64,
        G::Bool(b) => b as i64,
        G::Str(s) => {
            let t = s.trim();
            parse_go_int(t).unwrap_or(0)
        }
        _ => 0,
    }
}

fn parse_go_int(t: &str) -> Option<i64> {
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let l = body.to_ascii_lowercase();
    let v = if let Some(h) = l.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = l.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = l.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if l.len() > 1 && l.starts_with('0') {
        i64::from_str_radix(&l[1..], 8).ok()
    } else {
        l.parse::<i64>().ok()
    }?;
    Some(if neg { -v } else { v })
}

pub fn to_f64(v: &Value) -> f64 {
    match classify(v) {
        G::Int(i) => i as f64,
        G::Float(f) => f,
        G::Bool(b) => b as i64 as f64,
        G::Str(s) => s.trim().parse::<f64>().unwrap_or(0.0),
        _ => 0.0,
    }
}

/// sprig's `empty`.
pub fn empty(v: &Value) -> bool {
    !truth(v)
}

fn list_arg(v: &Value, fname: &str) -> Result<Vec<Value>, Error> {
    match classify(v) {
        G::List(l) => Ok(l),
        // sprig calls reflect.TypeOf(nil).Kind(): a nil pointer panic
        G::Nil => Err(err("runtime error: invalid memory address or nil pointer dereference")),
        _ => Err(err(format!("Cannot {} on type {}", fname, kind_name(v)))),
    }
}

fn map_arg(v: &Value) -> Result<Arc<GoMap>, Error> {
    match classify(v) {
        G::Map(m) => Ok(m),
        G::Nil => Err(super::value::nil_arg_error(v, "map[string]interface {}")),
        _ => Err(err(format!("wrong type for value; expected map[string]interface {{}}; got {}", type_name(v)))),
    }
}

/// sprig `strslice`.
fn strslice(v: &Value) -> Vec<String> {
    match classify(v) {
        G::List(l) => l.iter().filter(|x| !is_nil(x)).map(strval).collect(),
        G::Nil => vec![],
        _ => vec![strval(v)],
    }
}

pub(crate) fn vstr(s: impl Into<String>) -> Value {
    Value::from(s.into())
}

/// Refuse up front to build a result of `items` list elements or `bytes` of text that
/// would not fit in the execution's budget (see [`super::limits`]).
pub(crate) fn reserve(items: u64, bytes: u64) -> Result<(), Error> {
    if !(super::limits::room_steps(items) && super::limits::room(bytes)) {
        super::limits::check()?;
    }
    Ok(())
}

// ------------------------------------------------------------ helpers for the translator

/// `g__field(base, label, k1, k2, ...)`: Go field/key access with missingkey=error.
fn h_field(c: &Ctx, _s: &State, a: &[Value]) -> R {
    let mut cur = a[0].clone();
    let label = a[1].as_str().unwrap_or("").to_string();
    // Go names the static type: values looked up in maps are `interface {}`,
    // a variable's first hop has the dynamic type.
    let mut concrete = label.starts_with('$') || label.starts_with('(');
    for k in &a[2..] {
        let k = k.as_str().unwrap_or("");
        cur = match classify(&cur) {
            G::Map(m) => match m.get(k) {
                Some(v) => v,
                None if c.pre_render => Value::from(()),
                None => return Err(err(format!("map has no entry for key {:?} (in {})", k, label))),
            },
            G::Nil => return Err(err(format!("nil pointer evaluating interface {{}}.{} (in {})", k, label))),
            G::Other if cur.downcast_object_ref::<super::value::DirEntry>().is_some() => {
                match cur.downcast_object_ref::<super::value::DirEntry>().and_then(|d| d.method(k)) {
                    Some(v) => v,
                    None => return Err(err(format!("can't evaluate field {} in type fs.DirEntry (in {})", k, label))),
                }
            }
            _ => {
                let t = if concrete { type_name(&cur) } else { "interface {}" };
                return Err(err(format!("can't evaluate field {} in type {} (in {})", k, t, label)));
            }
        };
        concrete = false;
    }
    Ok(cur)
}

fn h_fail(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Err(err(a[0].as_str().unwrap_or("").to_string()))
}

fn h_id(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(a[0].clone())
}

/// Field chain on the template's data: a nil data is Go's "nil data".
fn h_rfield(c: &Ctx, s: &State, a: &[Value]) -> R {
    if is_nil(&a[0]) {
        if c.pre_render {
            // missingkey=zero: an invalid receiver yields the zero value
            return Ok(Value::from(()));
        }
        if let Some(k) = a.get(2).and_then(|k| k.as_str()) {
            return Err(err(format!("nil data; no entry for key {:?} (in {})", k, a[1].as_str().unwrap_or(""))));
        }
    }
    h_field(c, s, a)
}

fn h_truth(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(truth(&a[0])))
}

/// `g__range(v)`: list of (key, value) pairs in Go's range order.
fn h_range(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let v = &a[0];
    let pairs: Vec<Value> = match classify(v) {
        G::List(l) => l.into_iter().enumerate().map(|(i, x)| Value::from(vec![Value::from(i as i64), x])).collect(),
        G::Map(m) => m.snapshot().into_iter().map(|(k, x)| Value::from(vec![Value::from(k), x])).collect(),
        G::Nil => vec![],
        _ => return Err(err(format!("range can't iterate over {}", sprint(v)))),
    };
    Ok(Value::from(pairs))
}

fn h_float(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(a[0].as_str().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)))
}

/// `{{ template "name" dot }}`: errors inside keep their own line (Go
/// reports them at the define's line, not at the call site).
fn h_template(_c: &Ctx, s: &State, a: &[Value]) -> R {
    let name = a[0].as_str().unwrap_or("").to_string();
    let dot = a.get(1).cloned().unwrap_or_default();
    let Ok(t) = s.env().get_template(&format!("define:{}", name)) else {
        return Err(err(format!("template {:?} not defined", name)));
    };
    let d = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let r = if d > MAX_DEPTH {
        Err(err(format!("exceeded maximum template depth ({})", MAX_DEPTH)))
    } else {
        render_nested(&t, dot, s)
    };
    DEPTH.with(|d| d.set(d.get() - 1));
    r.map(Value::from)
}

thread_local! {
    static DEPTH: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Render a `define` with `dot`, its output charged to the execution's budget.
fn render_nested(t: &minijinja::Template, dot: Value, s: &State) -> Result<String, Error> {
    let mut out = super::limits::Output::default();
    t.render_captured_to(minijinja::context! { _d => dot.clone(), _root => dot, _base => s.lookup("_base") }, &mut out).map(|_| ())?;
    Ok(out.into_string())
}

const MAX_DEPTH: usize = 200;

fn render_define(c: &Ctx, s: &State, name: &str, dot: Value) -> Result<String, Error> {
    let tname = format!("define:{}", name);
    let t = s
        .env()
        .get_template(&tname)
        .map_err(|_| err(format!("template: no template {:?} associated with template \"stringTemplate\"", name)))?;
    let d = DEPTH.with(|d| {
        d.set(d.get() + 1);
        d.get()
    });
    let r = if d > MAX_DEPTH {
        Err(err(format!("exceeded maximum template depth ({})", MAX_DEPTH)))
    } else {
        render_nested(&t, dot, s)
    };
    DEPTH.with(|d| d.set(d.get() - 1));
    r.map_err(|e| {
        // a runaway recursion reports once, not once per level
        if let Some(d) = e.detail().filter(|d| d.contains("nested reference name")) {
            return err(d.to_string());
        }
        let cmd = c.engine.upgrade().and_then(|en| en.failing_command(&e));
        err(super::describe_nested(&e, cmd.as_deref()))
    })
}

// ------------------------------------------------------------ Go builtins

fn f_not(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("not", a, 1)?;
    Ok(Value::from(!truth(&a[0])))
}

fn f_len(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("len", a, 1)?;
    let n = match classify(&a[0]) {
        G::Str(s) => s.len(),
        G::List(l) => l.len(),
        G::Map(m) => m.len(),
        G::Nil => return Err(err("len of nil pointer")),
        _ => return Err(err(format!("len of type {}", type_name(&a[0])))),
    };
    Ok(Value::from(n as i64))
}

fn index_one(v: &Value, i: &Value) -> R {
    // Go's index: indexArg allows x == len (then reflect panics)
    let index_arg = |len: usize, what: &str| -> Result<usize, Error> {
        let idx = match classify(i) {
            G::Int(x) => x,
            G::Nil => return Err(err("cannot index slice/array with nil")),
            _ => return Err(err(format!("cannot index slice/array with type {}", type_name(i)))),
        };
        if idx < 0 || idx as usize > len {
            return Err(err(format!("index out of range: {}", idx)));
        }
        if idx as usize == len {
            return Err(err(format!("reflect: {} index out of range", what)));
        }
        Ok(idx as usize)
    };
    match classify(v) {
        G::List(l) => Ok(l[index_arg(l.len(), "slice")?].clone()),
        G::Str(s) => Ok(Value::from(s.as_bytes()[index_arg(s.len(), "string")?] as i64)),
        G::Map(m) => match classify(i) {
            G::Str(k) => Ok(m.get(&k).unwrap_or(Value::UNDEFINED)),
            G::Nil => Err(err("value is nil; should be of type string")),
            _ => Err(err(format!("value has type {}; should be string", type_name(i)))),
        },
        G::Nil => Err(err("index of untyped nil")),
        _ => Err(err(format!("can't index item of type {}", type_name(v)))),
    }
}

fn f_index(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("index", a, 1)?;
    let mut cur = a[0].clone();
    for i in &a[1..] {
        cur = index_one(&cur, i)?;
    }
    Ok(cur)
}

fn f_slice(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("slice", a, 1)?;
    // sprig's slice takes interface{} indices (cast.ToInt)
    let idx: Vec<i64> = a[1..]
        .iter()
        .map(|v| match classify(v) {
            G::Int(i) => Ok(i),
            _ => Err(err(format!("wrong type for value; expected int; got {}", type_name(v)))),
        })
        .collect::<Result<_, _>>()?;
    if idx.len() > 3 {
        return Err(err(format!("too many slice indexes: {}", idx.len())));
    }
    match classify(&a[0]) {
        G::Str(_) => Err(err("list should be type of slice or array but string")),
        G::List(l) => {
            let lo = idx.first().copied().unwrap_or(0);
            let hi = idx.get(1).copied().unwrap_or(l.len() as i64);
            if lo < 0 || hi < lo || hi as usize > l.len() {
                return Err(err(format!("index out of range: {}", if hi as usize > l.len() { hi } else { lo })));
            }
            Ok(Value::from(l[lo as usize..hi as usize].to_vec()))
        }
        G::Nil => Err(err("slice of untyped nil")),
        _ => Err(err(format!("can't slice item of type {}", type_name(&a[0])))),
    }
}

fn f_print(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(vstr(go_sprint(a)))
}
fn f_println(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(vstr(go_sprintln(a)))
}
fn f_printf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("printf", a, 1)?;
    Ok(vstr(go_sprintf(&s_arg(&a[0])?, &a[1..])))
}

fn f_html(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let s = go_sprint(a);
    let mut o = String::new();
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("&#34;"),
            '\'' => o.push_str("&#39;"),
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '\0' => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    Ok(vstr(o))
}

fn f_js(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let s = go_sprint(a);
    let mut o = String::new();
    for ch in s.chars() {
        match ch {
            '\\' => o.push_str("\\\\"),
            '\'' => o.push_str("\\'"),
            '"' => o.push_str("\\\""),
            '<' => o.push_str("\\u003C"),
            '>' => o.push_str("\\u003E"),
            '&' => o.push_str("\\u0026"),
            '=' => o.push_str("\\u003D"),
            '\n' => o.push_str("\\u000A"),
            '\r' => o.push_str("\\u000D"),
            '\t' => o.push_str("\\u0009"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04X}", c as u32)),
            c => o.push(c),
        }
    }
    Ok(vstr(o))
}

fn f_urlquery(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let s = go_sprint(a);
    let mut o = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => o.push(b as char),
            b' ' => o.push('+'),
            _ => o.push_str(&format!("%{:02X}", b)),
        }
    }
    Ok(vstr(o))
}

#[derive(PartialEq, Eq, Clone, Copy, Debug)]
enum BK {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn basic_kind(v: &Value) -> BK {
    match classify(v) {
        G::Nil => BK::Invalid,
        G::Bool(_) => BK::Bool,
        G::Int(_) => BK::Int,
        G::Float(_) => BK::Float,
        G::Str(_) => BK::Str,
        _ => BK::Other,
    }
}

fn go_eq2(a: &Value, b: &Value) -> Result<bool, Error> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    if k1 != k2 {
        if k1 != BK::Invalid && k2 != BK::Invalid {
            return Err(err("incompatible types for comparison"));
        }
        return Ok(false);
    }
    Ok(match (classify(a), classify(b)) {
        (G::Nil, G::Nil) => true,
        (G::Bool(x), G::Bool(y)) => x == y,
        (G::Int(x), G::Int(y)) => x == y,
        (G::Float(x), G::Float(y)) => x == y,
        (G::Str(x), G::Str(y)) => x == y,
        _ => {
            let fmt = |verb: &str, v: &Value| super::printf::go_sprintf(verb, std::slice::from_ref(v));
            if type_name(a) != type_name(b) {
                return Err(err(format!(
                    "non-comparable types {}: {}, {}: {}",
                    fmt("%s", a),
                    type_name(a),
                    type_name(b),
                    fmt("%v", b)
                )));
            }
            return Err(err(format!("non-comparable type {}: {}", fmt("%s", b), type_name(b))));
        }
    })
}

fn f_eq(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("eq", a, 1)?;
    if a.len() < 2 {
        return Err(err("missing argument for comparison"));
    }
    for b in &a[1..] {
        if go_eq2(&a[0], b)? {
            return Ok(Value::from(true));
        }
    }
    Ok(Value::from(false))
}

fn f_ne(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("ne", a, 2)?;
    Ok(Value::from(!go_eq2(&a[0], &a[1])?))
}

fn go_lt(a: &Value, b: &Value) -> Result<bool, Error> {
    let (k1, k2) = (basic_kind(a), basic_kind(b));
    for k in [k1, k2] {
        if matches!(k, BK::Invalid | BK::Other | BK::Bool) {
            return Err(err("invalid type for comparison"));
        }
    }
    if k1 != k2 {
        return Err(err("incompatible types for comparison"));
    }
    Ok(match (classify(a), classify(b)) {
        (G::Int(x), G::Int(y)) => x < y,
        (G::Float(x), G::Float(y)) => x < y,
        (G::Str(x), G::Str(y)) => x < y,
        _ => false,
    })
}

fn f_lt(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("lt", a, 2)?;
    Ok(Value::from(go_lt(&a[0], &a[1])?))
}
fn f_le(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("le", a, 2)?;
    let lt = go_lt(&a[0], &a[1])?;
    Ok(Value::from(lt || go_eq2(&a[0], &a[1])?))
}
fn f_gt(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("gt", a, 2)?;
    let lt = go_lt(&a[0], &a[1])?;
    Ok(Value::from(!lt && !go_eq2(&a[0], &a[1])?))
}
fn f_ge(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("ge", a, 2)?;
    Ok(Value::from(!go_lt(&a[0], &a[1])?))
}

/// Go's `call`: template data never holds functions here.
fn f_call(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("call", a, 1)?;
    if is_nil(&a[0]) {
        return Err(err("call of nil"));
    }
    Err(err(format!("non-function of type {}", type_name(&a[0]))))
}

// `and`/`or` as values (only reachable via the translator when used in
// unusual positions); normally translated to jinja's short-circuit ops.
fn f_and(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("and", a, 1)?;
    for v in a {
        if !truth(v) {
            return Ok(v.clone());
        }
    }
    Ok(a[a.len() - 1].clone())
}
fn f_or(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("or", a, 1)?;
    for v in a {
        if truth(v) {
            return Ok(v.clone());
        }
    }
    Ok(a[a.len() - 1].clone())
}

// ------------------------------------------------------------ helmfile functions

fn f_env(c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("env", a, 1)?;
    Ok(vstr(c.getenv(&s_arg(&a[0])?).unwrap_or_default()))
}

fn f_expandenv(c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("expandenv", a, 1)?;
    let s = s_arg(&a[0])?;
    static RE: std::sync::LazyLock<regex::Regex> =
        std::sync::LazyLock::new(|| regex::Regex::new(r"\$\{([A-Za-z0-9_]+)\}|\$([A-Za-z0-9_]+)").unwrap());
    Ok(vstr(RE.replace_all(&s, |caps: &regex::Captures| {
        let n = caps.get(1).or(caps.get(2)).unwrap().as_str();
        c.getenv(n).unwrap_or_default()
    })))
}

fn f_required_env(c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("requiredEnv", a, 1)?;
    let n = s_arg(&a[0])?;
    match c.getenv(&n) {
        Some(v) if !v.is_empty() => Ok(vstr(v)),
        _ => Err(err(format!("required env var `{}` is not set", n))),
    }
}

fn insecure_check(c: &Ctx) -> Result<(), Error> {
    if c.disable_insecure {
        return Err(err("HELMFILE_DISABLE_INSECURE_FEATURES is active, insecure function calls are disabled"));
    }
    Ok(())
}

fn run_cmd(c: &Ctx, st: &State, envs: Option<BTreeMap<String, String>>, a: &[Value], name: &str) -> R {
    let command = s_arg(&a[0])?;
    let args = match classify(&a[1]) {
        G::List(l) => l,
        G::Nil => vec![],
        _ => return Err(err(format!("wrong type for value; expected []interface {{}}; got {}", type_name(&a[1])))),
    };
    let mut str_args = Vec::new();
    for (i, x) in args.iter().enumerate() {
        match classify(x) {
            G::Str(s) => str_args.push(s),
            _ => {
                return Err(err(format!(
                    "unexpected type of arg \"{}\" in args {} at index {}",
                    type_name(x),
                    sprint(&a[1]),
                    i
                )))
            }
        }
    }
    let input = match a.get(2) {
        Some(v) => s_arg(v)?,
        None => String::new(),
    };
    let mut cmd = std::process::Command::new(&command);
    cmd.args(&str_args).current_dir(c.base(st));
    if let Some(m) = &c.env {
        cmd.env_clear();
        cmd.envs(m);
    }
    if let Some(e) = envs {
        cmd.envs(e);
    }
    cmd.stdin(if input.is_empty() { std::process::Stdio::null() } else { std::process::Stdio::piped() });
    cmd.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| err(format!("exec: {:?}: {}", command, e)))?;
    if !input.is_empty() {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        let inp = input.clone();
        std::thread::spawn(move || {
            let _ = stdin.write_all(inp.as_bytes());
        });
    }
    let out = child.wait_with_output().map_err(|e| err(format!("{}: {}", name, e)))?;
    if !out.status.success() {
        // helmfile's helmexec.Output error layout
        let path = if command.contains('/') {
            command.clone()
        } else {
            which::which(&command).map(|p| p.display().to_string()).unwrap_or_else(|_| command.clone())
        };
        let code = out.status.code().unwrap_or(-1);
        let mut m = format!("command {:?} exited with non-zero status:\n\nPATH:\n  {}\n\nARGS:\n", path, path);
        let mut all_args = vec![command.clone()];
        all_args.extend(str_args.iter().cloned());
        for (i, a) in all_args.iter().enumerate() {
            m.push_str(&format!("  {}: {} ({} bytes)\n", i, a, a.len()));
        }
        let indent = |b: &[u8]| String::from_utf8_lossy(b).trim_end().replace('\n', "\n  ");
        m.push_str(&format!("\nERROR:\n  exit status {}\n\nEXIT STATUS\n  {}", code, code));
        if !out.stderr.is_empty() {
            m.push_str(&format!("\n\nSTDERR:\n  {}", indent(&out.stderr)));
        }
        let mut combined = out.stdout.clone();
        combined.extend_from_slice(&out.stderr);
        if !combined.is_empty() {
            m.push_str(&format!("\n\nCOMBINED OUTPUT:\n  {}", indent(&combined)));
        }
        return Err(err(m));
    }
    Ok(vstr(String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn f_exec(c: &Ctx, s: &State, a: &[Value]) -> R {
    if a.len() < 2 || a.len() > 3 {
        return Err(err(format!("wrong number of args for exec: want 2 or 3 got {}", a.len())));
    }
    if c.pre_render {
        return Ok(vstr(""));
    }
    insecure_check(c)?;
    run_cmd(c, s, None, a, "exec")
}

fn f_env_exec(c: &Ctx, s: &State, a: &[Value]) -> R {
    if a.len() < 3 || a.len() > 4 {
        return Err(err(format!("wrong number of args for envExec: want 3 or 4 got {}", a.len())));
    }
    if c.pre_render {
        return Ok(vstr(""));
    }
    insecure_check(c)?;
    let mut envs = BTreeMap::new();
    if !is_nil(&a[0]) {
        for (k, v) in map_arg(&a[0])?.snapshot() {
            match classify(&v) {
                G::Str(s) => {
                    envs.insert(k, s);
                }
                _ => {
                    return Err(err(format!(
                        "unexpected type of env \"{}\" in envs {} at index {}",
                        type_name(&v),
                        sprint(&a[0]),
                        k
                    )))
                }
            }
        }
    }
    run_cmd(c, s, Some(envs), &a[1..], "envExec")
}

fn f_is_file(c: &Ctx, s: &State, a: &[Value]) -> R {
    nargs("isFile", a, 1)?;
    let p = c.resolve(s, &s_arg(&a[0])?);
    Ok(Value::from(p.metadata().map(|m| !m.is_dir()).unwrap_or(false)))
}

fn f_read_file(c: &Ctx, s: &State, a: &[Value]) -> R {
    nargs("readFile", a, 1)?;
    if c.pre_render {
        return Ok(vstr(""));
    }
    insecure_check(c)?;
    let p = c.resolve(s, &s_arg(&a[0])?);
    // a device (`/dev/zero`) or FIFO never ends or blocks: kod reads regular files only,
    // within the execution's budget
    if let Ok(m) = std::fs::metadata(&p) {
        if !m.is_file() && !m.is_dir() {
            return Err(err(format!("read {}: not a regular file (kod reads only regular files)", p.display())));
        }
        reserve(0, m.len())?;
    }
    std::fs::read(&p)
        .map(|b| vstr(String::from_utf8_lossy(&b).into_owned()))
        .map_err(|e| {
            // Go: opening works, reading a directory fails
            let op = if e.raw_os_error() == Some(21) { "read" } else { "open" };
            err(format!("{} {}: {}", op, p.display(), go_io_err(&e)))
        })
}

fn go_io_err(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ if e.raw_os_error() == Some(21) => "is a directory".into(),
        _ if e.raw_os_error() == Some(20) => "not a directory".into(),
        _ => e.to_string(),
    }
}

/// `readDir` (file paths joined onto the argument, directories skipped)
/// and `readDirEntries` (fs.DirEntry values with `.Name`, `.IsDir`, `.Type`).
fn read_dir(c: &Ctx, st: &State, a: &[Value], entries: bool, name: &str) -> R {
    nargs(name, a, 1)?;
    if c.pre_render {
        return Ok(Value::from(Vec::<Value>::new()));
    }
    insecure_check(c)?;
    let rel = s_arg(&a[0])?;
    let p = c.resolve(st, &rel);
    let label = if entries { "ReadDirEntries" } else { "ReadDir" };
    let rd = std::fs::read_dir(&p).map_err(|e| {
        // Go opens a file fine and fails reading its entries
        let op = if e.raw_os_error() == Some(20) { "readdirent" } else { "open" };
        err(format!("{} {:?}: {} {}: {}", label, p.display().to_string(), op, p.display(), go_io_err(&e)))
    })?;
    let mut items: Vec<(String, std::fs::FileType)> =
        rd.filter_map(|e| e.ok()).filter_map(|e| Some((e.file_name().to_string_lossy().into_owned(), e.file_type().ok()?))).collect();
    items.sort_by(|x, y| x.0.cmp(&y.0));
    let out: Vec<Value> = if entries {
        items.into_iter().map(|(n, t)| Value::from_object(super::value::DirEntry::new(n, &t))).collect()
    } else {
        items.into_iter().filter(|(_, t)| !t.is_dir()).map(|(n, _)| vstr(go_path_join(&rel, &n))).collect()
    };
    Ok(Value::from(out))
}

/// Go's filepath.Join (with Clean) for the simple cases.
fn go_path_join(a: &str, b: &str) -> String {
    let joined = if a.is_empty() { b.to_string() } else { format!("{}/{}", a, b) };
    let abs = joined.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in joined.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().map(|l| *l != "..").unwrap_or(false) {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let s = parts.join("/");
    if abs {
        format!("/{}", s)
    } else if s.is_empty() {
        ".".into()
    } else {
        s
    }
}

fn f_read_dir(c: &Ctx, s: &State, a: &[Value]) -> R {
    read_dir(c, s, a, false, "readDir")
}
fn f_list_dir(c: &Ctx, s: &State, a: &[Value]) -> R {
    read_dir(c, s, a, true, "readDirEntries")
}

fn f_to_yaml(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toYaml", a, 1)?;
    Ok(vstr(to_yaml(&a[0])))
}

/// helmfile's FromYaml: yaml.v2 Unmarshal into map[string]interface{}.
fn f_from_yaml(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    use super::yaml_decode::{decode, Decoded};
    nargs("fromYaml", a, 1)?;
    let s = s_arg(&a[0])?;
    match decode(&s) {
        Err(e) => Err(err(format!("{}, offending yaml: {}", e, s))),
        Ok(Decoded::Empty) => Ok(new_map()),
        Ok(Decoded::Node { kind: "!!map", value, .. }) => Ok(value),
        Ok(Decoded::Node { kind: "!!null", .. }) => Ok(new_map()),
        Ok(Decoded::Node { kind, line, text, .. }) => {
            let what = if kind == "!!seq" { kind.to_string() } else { format!("{} `{}`", kind, text) };
            Err(err(format!(
                "yaml: unmarshal errors:\n  line {}: cannot unmarshal {} into map[string]interface {{}}, offending yaml: {}",
                line, what, s
            )))
        }
    }
}

fn f_set_value_at_path(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("setValueAtPath", a, 3)?;
    let path = s_arg(&a[0])?;
    let value = a[1].clone();
    let root = map_arg(&a[2])?;
    let comps: Vec<&str> = path.split('.').collect();
    let mut cur = root.clone();
    for k in &comps[..comps.len() - 1] {
        let Some(v) = cur.get(k) else {
            return Err(err(format!("failed to set value at path \"{}\": value for key \"{}\" does not exist", path, k)));
        };
        match classify(&v) {
            G::Map(m) => cur = m,
            _ => return Err(err(format!("failed to set value at path \"{}\": value for key \"{}\" was not a map", path, k))),
        }
    }
    cur.insert_checked(comps[comps.len() - 1].to_string(), value)?;
    Ok(a[2].clone())
}

/// helmfile's `get` (path lookup; `noValue` is a soft error for getOrNil).
fn hf_get(path: &str, def: Option<&Value>, obj: &Value) -> Result<Value, (bool, String)> {
    if path.is_empty() {
        return Ok(obj.clone());
    }
    let (first, rest) = match path.split_once('.') {
        Some((f, r)) => (f, r),
        None => (path, ""),
    };
    let v = match classify(obj) {
        G::Map(m) => match m.get(first) {
            Some(v) => v,
            None => {
                if let Some(d) = def {
                    return Ok(d.clone());
                }
                return Err((true, format!("no value exist for key \"{}\" in {}", first, sprint(obj))));
            }
        },
        _ => {
            let t = if is_nil(obj) { "<nil>".to_string() } else { type_name(obj).to_string() };
            return Err((true, format!("unexpected type({}) of value for key \"{}\": it must be either map[string]any or any struct", t, first)));
        }
    };
    hf_get(rest, def, &v)
}

fn f_get(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let (path, def, obj) = match a.len() {
        2 => (s_arg(&a[0])?, None, &a[1]),
        3 => (s_arg(&a[0])?, Some(&a[1]), &a[2]),
        n => {
            return Err(err(format!(
                "unexpected number of args passed to the template function get(path, [def, ]obj): expected 1 or 2, got {}, args was {}",
                n.saturating_sub(1),
                sprint(&Value::from(a.get(1..).unwrap_or_default().to_vec()))
            )))
        }
    };
    hf_get(&path, def, obj).map_err(|(_, m)| err(m))
}

fn f_get_or_nil(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("getOrNil", a, 2)?;
    match hf_get(&s_arg(&a[0])?, None, &a[1]) {
        Ok(v) => Ok(v),
        Err((true, _)) => Ok(Value::from(())),
        Err((false, m)) => Err(err(m)),
    }
}

fn f_tpl(c: &Ctx, s: &State, a: &[Value]) -> R {
    nargs("tpl", a, 2)?;
    let text = s_arg(&a[0])?;
    let Some(engine) = c.engine.upgrade() else {
        return Err(err("tpl: engine is gone"));
    };
    let base = c.base(s);
    engine.render_mode("stringTemplate", &text, a[1].clone(), c.pre_render, &base).map(vstr).map_err(|e| err(e.to_string()))
}

fn f_include(c: &Ctx, s: &State, a: &[Value]) -> R {
    nargs("include", a, 2)?;
    let name = s_arg(&a[0])?;
    if DEPTH.with(|d| d.get()) >= MAX_DEPTH {
        // helmfile's own guard (it allows 1000 nested includes of one name)
        return Err(err(format!("rendering template has a nested reference name: {}: unable to execute template", name)));
    }
    render_define(c, s, &name, a[1].clone()).map(vstr)
}

fn f_required(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("required", a, 2)?;
    let warn = s_arg(&a[0])?;
    match classify(&a[1]) {
        G::Nil => Err(err(warn)),
        G::Str(s) if s.is_empty() => Err(err(warn)),
        _ => Ok(a[1].clone()),
    }
}

fn f_fetch_secret(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("fetchSecretValue", a, 1)?;
    // vals only touches `ref+...` references; anything else is returned as is
    if !s_arg(&a[0])?.starts_with("ref+") {
        return Ok(a[0].clone());
    }
    Err(err("not supported offline by kod: fetchSecretValue (vals secret references must be resolved before packaging)"))
}
fn has_secret_ref(v: &Value) -> bool {
    has_secret_ref_at(v, 0)
}
fn has_secret_ref_at(v: &Value, depth: usize) -> bool {
    if !super::limits::nesting(depth) || !super::limits::step(1) {
        return false;
    }
    match classify(v) {
        G::Str(s) => s.starts_with("ref+"),
        G::List(l) => l.iter().any(|x| has_secret_ref_at(x, depth + 1)),
        G::Map(m) => m.snapshot().values().any(|x| has_secret_ref_at(x, depth + 1)),
        _ => false,
    }
}

fn f_expand_secret_refs(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("expandSecretRefs", a, 1)?;
    if !has_secret_ref(&a[0]) {
        return Ok(a[0].clone());
    }
    Err(err("not supported offline by kod: expandSecretRefs (vals secret references must be resolved before packaging)"))
}

fn f_fail(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("fail", a, 1)?;
    Err(err(s_arg(&a[0])?))
}

// ------------------------------------------------------------ sprig: general

fn f_default(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("default", a, 1)?;
    if a.len() > 2 {
        return Err(err(format!("wrong number of args for default: want 2 got {}", a.len())));
    }
    let given = a.get(1).cloned().unwrap_or_default();
    if empty(&given) {
        Ok(a[0].clone())
    } else {
        Ok(given)
    }
}

fn f_empty(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("empty", a, 1)?;
    Ok(Value::from(empty(&a[0])))
}

fn f_coalesce(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or_default())
}

fn f_all(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(a.iter().all(|v| !empty(v))))
}
fn f_any(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(a.iter().any(|v| !empty(v))))
}

fn f_ternary(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("ternary", a, 3)?;
    let cond = match classify(&a[2]) {
        G::Bool(b) => b,
        G::Nil => return Err(super::value::nil_arg_error(&a[2], "bool")),
        _ => return Err(err(format!("wrong type for value; expected bool; got {}", type_name(&a[2])))),
    };
    Ok(if cond { a[0].clone() } else { a[1].clone() })
}

fn f_quote(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let parts: Vec<String> = a.iter().filter(|v| !is_nil(v)).map(|v| go_quote(&strval(v))).collect();
    Ok(vstr(parts.join(" ")))
}
fn f_squote(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let parts: Vec<String> = a.iter().filter(|v| !is_nil(v)).map(|v| format!("'{}'", strval(v))).collect();
    Ok(vstr(parts.join(" ")))
}
fn f_cat(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let parts: Vec<String> = a.iter().filter(|v| !is_nil(v)).map(strval).collect();
    Ok(vstr(parts.join(" ")))
}

fn f_to_string(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toString", a, 1)?;
    Ok(vstr(strval(&a[0])))
}
fn f_to_strings(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toStrings", a, 1)?;
    let out: Vec<Value> = match classify(&a[0]) {
        G::List(l) => l.iter().map(|x| vstr(strval(x))).collect(),
        G::Nil => vec![],
        _ => vec![vstr(strval(&a[0]))],
    };
    Ok(Value::from(out))
}

fn f_int(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("int", a, 1)?;
    Ok(Value::from(to_i64(&a[0])))
}
fn f_int64(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("int64", a, 1)?;
    Ok(int64(to_i64(&a[0])))
}
fn f_float64(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("float64", a, 1)?;
    Ok(Value::from(to_f64(&a[0])))
}
fn f_atoi(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("atoi", a, 1)?;
    Ok(Value::from(s_arg(&a[0])?.parse::<i64>().unwrap_or(0)))
}
fn f_to_decimal(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toDecimal", a, 1)?;
    Ok(int64(i64::from_str_radix(&strval(&a[0]), 8).unwrap_or(0)))
}

fn f_type_of(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("typeOf", a, 1)?;
    Ok(vstr(type_name(&a[0])))
}
fn f_kind_of(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("kindOf", a, 1)?;
    Ok(vstr(kind_name(&a[0])))
}
fn f_kind_is(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("kindIs", a, 2)?;
    Ok(Value::from(s_arg(&a[0])? == kind_name(&a[1])))
}
fn f_type_is(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("typeIs", a, 2)?;
    Ok(Value::from(s_arg(&a[0])? == type_name(&a[1])))
}
fn f_deep_equal(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("deepEqual", a, 2)?;
    Ok(Value::from(to_json(&a[0]) == to_json(&a[1]) && type_name(&a[0]) == type_name(&a[1])))
}

// ------------------------------------------------------------ sprig: strings

macro_rules! str1 {
    ($fname:ident, $name:expr, |$s:ident| $body:expr) => {
        fn $fname(_c: &Ctx, _st: &State, a: &[Value]) -> R {
            nargs($name, a, 1)?;
            let $s = s_arg(&a[0])?;
            Ok(Value::from($body))
        }
    };
}

str1!(f_upper, "upper", |s| go_upper(&s));
str1!(f_lower, "lower", |s| go_lower(&s));

/// Go's strings.ToUpper maps rune by rune (no multi-rune expansions like ß -> SS).
fn go_upper(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_uppercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}

fn go_lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut u = c.to_lowercase();
            match (u.next(), u.next()) {
                (Some(x), None) => x,
                _ => c,
            }
        })
        .collect()
}
str1!(f_trim, "trim", |s| s.trim().to_string());
str1!(f_title, "title", |s| title(&s));
str1!(f_untitle, "untitle", |s| untitle(&s));
str1!(f_b64enc, "b64enc", |s| base64_enc(&s));
str1!(f_b64dec, "b64dec", |s| base64_dec(&s));
str1!(f_sha256sum, "sha256sum", |s| {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
});
str1!(f_snakecase, "snakecase", |s| snake(&s, '_'));
str1!(f_kebabcase, "kebabcase", |s| snake(&s, '-'));
str1!(f_camelcase, "camelcase", |s| camel(&s));
str1!(f_swapcase, "swapcase", |s| s
    .chars()
    .map(|c| if c.is_uppercase() { c.to_lowercase().collect::<String>() } else { c.to_uppercase().collect::<String>() })
    .collect::<String>());

fn base64_enc(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}
fn base64_dec(s: &str) -> String {
    use base64::Engine as _;
    match base64::engine::general_purpose::STANDARD.decode(s.as_bytes()) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(base64::DecodeError::InvalidByte(i, _)) | Err(base64::DecodeError::InvalidLastSymbol(i, _)) => {
            format!("illegal base64 data at input byte {}", i)
        }
        Err(_) => format!("illegal base64 data at input byte {}", s.len()),
    }
}

fn title(s: &str) -> String {
    // strings.Title: uppercase letters that begin words
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            // unicode.ToTitle maps rune to rune (ß stays ß)
            out.push_str(&go_upper(&c.to_string()));
        } else {
            out.push(c);
        }
        // strings.Title's isSeparator: ASCII alnum and '_' join words,
        // other ASCII separates; non-ASCII letters/digits join, spaces separate
        prev_letter = if c.is_ascii() { c.is_ascii_alphanumeric() || c == '_' } else { !c.is_whitespace() };
    }
    out
}

fn untitle(s: &str) -> String {
    let mut out = String::new();
    let mut prev_space = true;
    for c in s.chars() {
        if prev_space && c.is_alphabetic() {
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
        prev_space = c.is_whitespace();
    }
    out
}

// ---- huandu/xstrings (the release sprig ships with helmfile 0.166)

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || c.is_whitespace()
}

/// Go's unicode.IsPunct for ASCII (category P, not symbols like `$+<=>^`|~`).
fn is_punct(c: char) -> bool {
    if c.is_ascii() {
        "!\"#%&'()*,-./:;?@[\\]_{}".contains(c)
    } else {
        false
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Wt {
    Invalid,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

/// xstrings nextWord: the next word and its type.
fn next_word(s: &[char]) -> (Wt, &[char], &[char]) {
    if s.is_empty() {
        return (Wt::Invalid, s, s);
    }
    let r = s[0];
    let mut i = 1;
    let wt;
    if is_connector(r) {
        wt = Wt::Connector;
        while i < s.len() && is_connector(s[i]) {
            i += 1;
        }
    } else if is_punct(r) {
        wt = Wt::Punct;
        while i < s.len() && is_punct(s[i]) {
            i += 1;
        }
    } else if r.is_uppercase() {
        wt = Wt::Upper;
        if i < s.len() {
            if s[i].is_uppercase() {
                while i < s.len() && s[i].is_uppercase() {
                    i += 1;
                }
                // "HTTPStatus": the last upper letter starts the next word
                if i < s.len() && s[i].is_alphabetic() {
                    i -= 1;
                }
            } else if s[i].is_alphabetic() {
                while i < s.len() && s[i].is_alphabetic() && !s[i].is_uppercase() {
                    i += 1;
                }
            }
        }
    } else if r.is_alphabetic() {
        wt = Wt::Alpha;
        while i < s.len() && s[i].is_alphabetic() && !s[i].is_uppercase() {
            i += 1;
        }
    } else if r.is_numeric() {
        wt = Wt::Number;
        while i < s.len() && s[i].is_numeric() {
            i += 1;
        }
    } else {
        wt = Wt::Other;
        while i < s.len() && !(is_connector(s[i]) || s[i].is_alphabetic() || s[i].is_numeric() || is_punct(s[i])) {
            i += 1;
        }
    }
    (wt, &s[..i], &s[i..])
}

fn xs_lower(out: &mut String, wt: Wt, w: &[char], conn: char) {
    if wt != Wt::Upper && wt != Wt::Connector {
        out.extend(w.iter());
        return;
    }
    for &c in w {
        if is_connector(c) {
            out.push(conn);
        } else if c.is_uppercase() {
            out.push_str(&go_lower(&c.to_string()));
        } else {
            out.push(c);
        }
    }
}

/// xstrings camelCaseToLowerCase (ToSnakeCase / ToKebabCase).
fn snake(s: &str, conn: char) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    // xstrings only continues with alphabetWord (a lower-case start)
    let is_word = |w: Wt| w == Wt::Alpha;
    let mut out = String::new();
    let (mut wt, mut word, mut rem) = next_word(&chars);
    while !rem.is_empty() {
        if wt != Wt::Connector {
            xs_lower(&mut out, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, rem) = next_word(rem);
        match prev {
            Wt::Number => {
                while is_word(wt) || wt == Wt::Number {
                    xs_lower(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Wt::Invalid && wt != Wt::Punct && wt != Wt::Connector {
                    out.push(conn);
                }
            }
            Wt::Connector => xs_lower(&mut out, prev, last, conn),
            Wt::Punct => {}
            _ => {
                if wt != Wt::Number {
                    if wt != Wt::Connector && wt != Wt::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                if rem.is_empty() {
                    continue;
                }
                let num = word;
                (wt, word, rem) = next_word(rem);
                // a number belongs to the previous word ("Bld4Floor" -> "bld4_floor")
                if !is_word(wt) {
                    xs_lower(&mut out, Wt::Number, num, conn);
                    if wt != Wt::Connector && wt != Wt::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                // lower-case letters after a number: "HTTP2xx" -> "http_2xx"
                out.push(conn);
                xs_lower(&mut out, Wt::Number, num, conn);
                while is_word(wt) || wt == Wt::Number {
                    xs_lower(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Wt::Invalid && wt != Wt::Connector && wt != Wt::Punct {
                    out.push(conn);
                }
            }
        }
    }
    xs_lower(&mut out, wt, word, conn);
    out
}

/// xstrings ToCamelCase as sprig's `camelcase` behaves (upper first letter).
fn camel(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return String::new();
    }
    let up = |c: char| go_upper(&c.to_string()).chars().next().unwrap_or(c);
    let low = |c: char| go_lower(&c.to_string()).chars().next().unwrap_or(c);
    let mut out = String::new();
    let mut i = 0;
    let mut first_upper = false;
    let mut r0 = ' ';
    let mut found = false;
    while i < chars.len() {
        r0 = chars[i];
        i += 1;
        if !is_connector(r0) {
            first_upper = r0.is_uppercase();
            r0 = up(r0);
            found = true;
            break;
        }
        out.push(r0);
    }
    if i >= chars.len() {
        if found {
            out.push(r0);
        }
        return out;
    }
    while i < chars.len() {
        let r1 = r0;
        r0 = chars[i];
        i += 1;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = up(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = low(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

fn f_sha1sum(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("sha1sum", a, 1)?;
    Ok(vstr(sha1_hex(s_arg(&a[0])?.as_bytes())))
}

/// Small SHA-1 (sprig's sha1sum) to avoid a dependency.
fn sha1_hex(data: &[u8]) -> String {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bitlen = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bitlen.to_be_bytes());
    for chunk in msg.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let (mut a, mut b, mut c, mut d, mut e) = (h[0], h[1], h[2], h[3], h[4]);
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        h[0] = h[0].wrapping_add(a);
        h[1] = h[1].wrapping_add(b);
        h[2] = h[2].wrapping_add(c);
        h[3] = h[3].wrapping_add(d);
        h[4] = h[4].wrapping_add(e);
    }
    h.iter().map(|x| format!("{:08x}", x)).collect()
}

macro_rules! str2 {
    ($fname:ident, $name:expr, |$x:ident, $s:ident| $body:expr) => {
        fn $fname(_c: &Ctx, _st: &State, a: &[Value]) -> R {
            nargs($name, a, 2)?;
            let $x = s_arg(&a[0])?;
            let $s = s_arg(&a[1])?;
            Ok(Value::from($body))
        }
    };
}

str2!(f_trim_all, "trimAll", |cut, s| s.trim_matches(|c| cut.contains(c)).to_string());
str2!(f_trim_prefix, "trimPrefix", |p, s| s.strip_prefix(p.as_str()).unwrap_or(&s).to_string());
str2!(f_trim_suffix, "trimSuffix", |p, s| s.strip_suffix(p.as_str()).unwrap_or(&s).to_string());
str2!(f_contains, "contains", |sub, s| s.contains(sub.as_str()));
str2!(f_has_prefix, "hasPrefix", |p, s| s.starts_with(p.as_str()));
str2!(f_has_suffix, "hasSuffix", |p, s| s.ends_with(p.as_str()));

fn f_replace(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("replace", a, 3)?;
    let (old, new, src) = (s_arg(&a[0])?, s_arg(&a[1])?, s_arg(&a[2])?);
    let inserts = if old.is_empty() { src.chars().count() + 1 } else { src.matches(&old).count() };
    reserve(0, (inserts as u64).saturating_mul(new.len() as u64).saturating_add(src.len() as u64))?;
    if old.is_empty() {
        // Go: inserts `new` around every rune
        let mut out = new.clone();
        for c in src.chars() {
            out.push(c);
            out.push_str(&new);
        }
        return Ok(vstr(out));
    }
    Ok(vstr(src.replace(&old, &new)))
}

fn f_repeat(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("repeat", a, 2)?;
    let n = i_arg(&a[0])?;
    if n < 0 {
        return Err(err("strings: negative Repeat count"));
    }
    let s = s_arg(&a[1])?;
    reserve(0, (s.len() as u64).saturating_mul(n as u64))?;
    Ok(vstr(s.repeat(n as usize)))
}

fn f_substr(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("substr", a, 3)?;
    let (start, end, s) = (i_arg(&a[0])?, i_arg(&a[1])?, s_arg(&a[2])?);
    let b = s.as_bytes();
    let len = b.len() as i64;
    // sprig: start<0 -> s[:end]; end<0||end>len -> s[start:]; else s[start:end]
    let (lo, hi) = if start < 0 { (0, end) } else if end < 0 || end > len { (start, len) } else { (start, end) };
    if hi < 0 || hi > len {
        return Err(err(format!("runtime error: slice bounds out of range [:{}] with length {}", hi, len)));
    }
    if lo > hi {
        return Err(err(format!("runtime error: slice bounds out of range [{}:{}]", lo, hi)));
    }
    Ok(vstr(String::from_utf8_lossy(&b[lo as usize..hi as usize]).into_owned()))
}

fn f_trunc(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("trunc", a, 2)?;
    let (n, s) = (i_arg(&a[0])?, s_arg(&a[1])?);
    // byte-based like Go (may cut a UTF-8 sequence; shown lossily)
    let b = s.as_bytes();
    let len = b.len() as i64;
    let r = if n < 0 && len + n > 0 {
        String::from_utf8_lossy(&b[(len + n) as usize..]).into_owned()
    } else if n >= 0 && len > n {
        String::from_utf8_lossy(&b[..n as usize]).into_owned()
    } else {
        s
    };
    Ok(vstr(r))
}

fn f_abbrev(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("abbrev", a, 2)?;
    let (w, s) = (i_arg(&a[0])?, s_arg(&a[1])?);
    // goutils.Abbreviate: byte lengths
    if w < 4 || (s.len() as i64) <= w {
        return Ok(vstr(s));
    }
    Ok(vstr(String::from_utf8_lossy(&s.as_bytes()[..(w - 3) as usize]).into_owned() + "..."))
}

fn f_wrap(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("wrap", a, 2)?;
    let (w, s) = (i_arg(&a[0])?, s_arg(&a[1])?);
    Ok(vstr(go_wrap_custom(&s, w, "\n", false)))
}

/// goutils.WrapCustom (byte-based, like the Go original).
pub fn go_wrap_custom(s: &str, wrap_length: i64, newline: &str, wrap_long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let newline = if newline.is_empty() { "\n" } else { newline };
    let wl = wrap_length.max(1) as usize;
    let b = s.as_bytes();
    let n = b.len();
    let mut offset = 0usize;
    let mut out: Vec<u8> = Vec::new();
    while n - offset > wl {
        if b[offset] == b' ' {
            offset += 1;
            continue;
        }
        let end = (wl + offset + 1).min(n);
        let space = b[offset..end].iter().rposition(|c| *c == b' ');
        match space {
            Some(i) => {
                let at = offset + i;
                out.extend_from_slice(&b[offset..at]);
                out.extend_from_slice(newline.as_bytes());
                offset = at + 1;
            }
            None => {
                let end = wl + offset;
                if wrap_long_words {
                    out.extend_from_slice(&b[offset..end]);
                    out.extend_from_slice(newline.as_bytes());
                    offset += wl;
                } else {
                    match b[end..].iter().position(|c| *c == b' ') {
                        None => {
                            out.extend_from_slice(&b[offset..]);
                            offset = n;
                        }
                        Some(i) => {
                            let at = end + i;
                            out.extend_from_slice(&b[offset..at]);
                            out.extend_from_slice(newline.as_bytes());
                            offset = at + 1;
                        }
                    }
                }
            }
        }
    }
    out.extend_from_slice(&b[offset..]);
    String::from_utf8_lossy(&out).into_owned()
}

fn spaces(n: i64) -> Result<String, Error> {
    if n < 0 {
        return Err(err("strings: negative Repeat count"));
    }
    reserve(0, n as u64)?;
    Ok(" ".repeat(n as usize))
}

fn f_indent(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("indent", a, 2)?;
    let pad = spaces(i_arg(&a[0])?)?;
    let s = s_arg(&a[1])?;
    reserve(0, (s.matches('\n').count() as u64 + 1).saturating_mul(pad.len() as u64).saturating_add(s.len() as u64))?;
    Ok(vstr(format!("{}{}", pad, s.replace('\n', &format!("\n{}", pad)))))
}

fn f_nindent(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("nindent", a, 2)?;
    let pad = spaces(i_arg(&a[0])?)?;
    let s = s_arg(&a[1])?;
    Ok(vstr(format!("\n{}{}", pad, s.replace('\n', &format!("\n{}", pad)))))
}

fn f_split(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("split", a, 2)?;
    let (sep, s) = (s_arg(&a[0])?, s_arg(&a[1])?);
    let parts = go_split(&s, &sep, -1);
    Ok(GoMap::new_value(parts.into_iter().enumerate().map(|(i, p)| (format!("_{}", i), vstr(p))).collect()))
}

fn go_split(s: &str, sep: &str, n: i64) -> Vec<String> {
    if n == 0 {
        return vec![];
    }
    if sep.is_empty() {
        let mut v: Vec<String> = s.chars().map(|c| c.to_string()).collect();
        if n > 0 && v.len() > n as usize {
            let rest: String = v[n as usize - 1..].concat();
            v.truncate(n as usize - 1);
            v.push(rest);
        }
        return v;
    }
    if n < 0 {
        s.split(sep).map(String::from).collect()
    } else {
        s.splitn(n as usize, sep).map(String::from).collect()
    }
}

fn f_split_list(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("splitList", a, 2)?;
    let (sep, s) = (s_arg(&a[0])?, s_arg(&a[1])?);
    Ok(Value::from(go_split(&s, &sep, -1).into_iter().map(vstr).collect::<Vec<_>>()))
}

fn f_splitn(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("splitn", a, 3)?;
    let (sep, n, s) = (s_arg(&a[0])?, i_arg(&a[1])?, s_arg(&a[2])?);
    let parts = go_split(&s, &sep, n);
    Ok(GoMap::new_value(parts.into_iter().enumerate().map(|(i, p)| (format!("_{}", i), vstr(p))).collect()))
}

fn f_join(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("join", a, 2)?;
    let sep = s_arg(&a[0])?;
    let parts = strslice(&a[1]);
    let total = parts.iter().map(|p| p.len() as u64).sum::<u64>();
    reserve(0, total.saturating_add((parts.len() as u64).saturating_mul(sep.len() as u64)))?;
    Ok(vstr(parts.join(&sep)))
}

fn f_sort_alpha(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("sortAlpha", a, 1)?;
    let mut v = match classify(&a[0]) {
        G::List(l) => l.iter().map(strval).collect::<Vec<_>>(),
        _ => vec![strval(&a[0])],
    };
    v.sort();
    Ok(Value::from(v.into_iter().map(vstr).collect::<Vec<_>>()))
}

fn f_plural(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("plural", a, 3)?;
    Ok(if i_arg(&a[2])? == 1 { a[0].clone() } else { a[1].clone() })
}

// regex

/// Go's RE2 Perl classes are ASCII-only (`\w` is `[0-9A-Za-z_]`), the
/// regex crate's are Unicode: rewrite them.
fn go_regex_to_rust(re: &str) -> String {
    let mut out = String::with_capacity(re.len() + 16);
    let mut it = re.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('w') => out.push_str("[0-9A-Za-z_]"),
            Some('W') => out.push_str("[^0-9A-Za-z_]"),
            Some('d') => out.push_str("[0-9]"),
            Some('D') => out.push_str("[^0-9]"),
            Some('s') => out.push_str("[\\t\\n\\f\\r ]"),
            Some('S') => out.push_str("[^\\t\\n\\f\\r ]"),
            Some('b') => out.push_str("(?-u:\\b)"),
            Some('B') => out.push_str("(?-u:\\B)"),
            Some(o) => {
                out.push('\\');
                out.push(o);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Compiled user regexes, shared across renders (helmfile re-renders the
/// same templates many times).
fn cached_regex(re: &str) -> Result<regex::Regex, regex::Error> {
    static CACHE: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, regex::Regex>>> =
        std::sync::LazyLock::new(Default::default);
    if let Some(r) = CACHE.lock().unwrap().get(re) {
        return Ok(r.clone());
    }
    let r = regex::Regex::new(&go_regex_to_rust(re))?;
    let mut c = CACHE.lock().unwrap();
    if c.len() > 1024 {
        c.clear();
    }
    c.insert(re.to_string(), r.clone());
    Ok(r)
}

fn go_regex(re: &str) -> Result<regex::Regex, Error> {
    cached_regex(re).map_err(|e| {
        let detail = e.to_string();
        let last = detail.lines().last().unwrap_or("").trim_start_matches("error: ").to_string();
        err(format!("regexp: Compile(`{}`): error parsing regexp: {}", re, last))
    })
}

/// sprig's regexMatch ignores compile errors (false).
fn f_regex_match(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexMatch", a, 2)?;
    let (re, s) = (s_arg(&a[0])?, s_arg(&a[1])?);
    Ok(Value::from(cached_regex(&re).map(|r| r.is_match(&s)).unwrap_or(false)))
}

fn f_must_regex_match(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("mustRegexMatch", a, 2)?;
    Ok(Value::from(go_regex(&s_arg(&a[0])?)?.is_match(&s_arg(&a[1])?)))
}
fn f_regex_find(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexFind", a, 2)?;
    let s = s_arg(&a[1])?;
    Ok(vstr(go_regex(&s_arg(&a[0])?)?.find(&s).map(|m| m.as_str().to_string()).unwrap_or_default()))
}
fn f_regex_find_all(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexFindAll", a, 3)?;
    let s = s_arg(&a[1])?;
    let n = i_arg(&a[2])?;
    let re = go_regex(&s_arg(&a[0])?)?;
    let it = re.find_iter(&s).map(|m| vstr(m.as_str()));
    let v: Vec<Value> = if n < 0 { it.collect() } else { it.take(n as usize).collect() };
    Ok(Value::from(v))
}

/// Go's `$1`/`${name}` template expansion → regex crate syntax is the same,
/// except Go treats `$1x` as group "1x" (as does the regex crate).
fn f_regex_replace_all(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexReplaceAll", a, 3)?;
    let re = go_regex(&s_arg(&a[0])?)?;
    let (s, repl) = (s_arg(&a[1])?, s_arg(&a[2])?);
    reserve_replacements(&re, &s, &repl)?;
    Ok(vstr(re.replace_all(&s, repl.as_str()).into_owned()))
}
fn f_regex_replace_all_literal(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexReplaceAllLiteral", a, 3)?;
    let re = go_regex(&s_arg(&a[0])?)?;
    let (s, repl) = (s_arg(&a[1])?, s_arg(&a[2])?);
    reserve_replacements(&re, &s, &repl)?;
    Ok(vstr(re.replace_all(&s, regex::NoExpand(&repl)).into_owned()))
}

/// The budget check before replacing every match of `re` in `s` with `repl` (which may
/// expand `$1` groups: each expansion is at most the whole input long).
fn reserve_replacements(re: &regex::Regex, s: &str, repl: &str) -> Result<(), Error> {
    let matches = re.find_iter(s).count() as u64;
    let per_match = if repl.contains('$') { (repl.len() as u64).saturating_mul(s.len() as u64 + 1) } else { repl.len() as u64 };
    reserve(matches, matches.saturating_mul(per_match).saturating_add(s.len() as u64))
}
fn f_regex_split(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexSplit", a, 3)?;
    let re = go_regex(&s_arg(&a[0])?)?;
    let s = s_arg(&a[1])?;
    let n = i_arg(&a[2])?;
    let v: Vec<Value> = if n < 0 { re.split(&s).map(vstr).collect() } else { re.splitn(&s, n as usize).map(vstr).collect() };
    Ok(Value::from(v))
}
fn f_regex_quote_meta(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("regexQuoteMeta", a, 1)?;
    Ok(vstr(regex::escape(&s_arg(&a[0])?)))
}

// semver

fn parse_semver(v: &str) -> Result<semver::Version, Error> {
    let t = v.trim().trim_start_matches('v');
    // Masterminds/semver accepts "1", "1.2" as well
    let parts: Vec<&str> = t.splitn(2, ['-', '+']).collect();
    let core = parts[0];
    let n = core.split('.').count();
    let fixed = match n {
        1 => format!("{}.0.0{}", core, &t[core.len()..]),
        2 => format!("{}.0{}", core, &t[core.len()..]),
        _ => t.to_string(),
    };
    semver::Version::parse(&fixed).map_err(|_| err("Invalid Semantic Version"))
}

fn f_semver_compare(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("semverCompare", a, 2)?;
    let c = s_arg(&a[0])?;
    let v = parse_semver(&s_arg(&a[1])?)?;
    Ok(Value::from(semver_match(&c, &v)?))
}

/// Masterminds/semver constraint check: `||` alternatives, `,`/space-separated ANDs.
fn semver_match(constraint: &str, v: &semver::Version) -> Result<bool, Error> {
    for alt in constraint.split("||") {
        let mut ok = true;
        let alt = alt.trim();
        static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
            regex::Regex::new(r"(\^|~>|~|>=|<=|!=|=>|=<|>|<|=)?\s*(v?[0-9xX*][0-9A-Za-z.\-+*]*)").unwrap()
        });
        let mut any = false;
        for cap in RE.captures_iter(alt) {
            any = true;
            let op = cap.get(1).map(|m| m.as_str()).unwrap_or("");
            let ver = cap.get(2).unwrap().as_str().trim_start_matches('v');
            if !check_one(op, ver, v)? {
                ok = false;
            }
        }
        if !any {
            return Err(err(format!("improper constraint: {}", constraint)));
        }
        if ok {
            return Ok(true);
        }
    }
    Ok(false)
}

fn check_one(op: &str, ver: &str, v: &semver::Version) -> Result<bool, Error> {
    let parts: Vec<&str> = ver.split(['-', '+']).next().unwrap().split('.').collect();
    let wild = |p: Option<&&str>| p.map(|x| *x == "x" || *x == "X" || *x == "*").unwrap_or(true);
    let num = |p: Option<&&str>| p.and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let (maj, min, pat) = (num(parts.first()), num(parts.get(1)), num(parts.get(2)));
    let minor_wild = wild(parts.get(1));
    let patch_wild = wild(parts.get(2));
    let pre = ver.split_once('-').map(|(_, p)| p.split('+').next().unwrap_or("").to_string());
    let mut cv = semver::Version::new(maj, min, pat);
    if let Some(p) = &pre {
        cv.pre = semver::Prerelease::new(p).map_err(|_| err("Invalid Semantic Version"))?;
    }
    // Masterminds: prereleases only satisfy constraints that include a prerelease
    if !v.pre.is_empty() && pre.is_none() {
        return Ok(false);
    }
    let vv = semver::Version { build: semver::BuildMetadata::EMPTY, ..v.clone() };
    Ok(match op {
        "" | "=" => {
            if wild(parts.first()) {
                true
            } else if minor_wild {
                vv.major == maj
            } else if patch_wild {
                vv.major == maj && vv.minor == min
            } else {
                vv == cv
            }
        }
        "!=" => vv != cv,
        ">" => {
            if minor_wild {
                vv.major > maj
            } else if patch_wild {
                (vv.major, vv.minor) > (maj, min)
            } else {
                vv > cv
            }
        }
        ">=" | "=>" => vv >= cv,
        "<" => vv < cv,
        "<=" | "=<" => {
            if minor_wild {
                vv.major <= maj
            } else if patch_wild {
                (vv.major, vv.minor) <= (maj, min)
            } else {
                vv <= cv
            }
        }
        "~" | "~>" => {
            if minor_wild {
                vv.major == maj && vv >= cv
            } else {
                vv >= cv && vv.major == maj && vv.minor == min
            }
        }
        "^" => {
            if maj > 0 {
                vv >= cv && vv.major == maj
            } else if min > 0 || minor_wild {
                vv >= cv && vv.major == 0 && (minor_wild || vv.minor == min)
            } else {
                vv >= cv && vv.major == 0 && vv.minor == 0 && (patch_wild || vv.patch == pat)
            }
        }
        _ => return Err(err(format!("improper constraint: {}{}", op, ver))),
    })
}

fn f_semver(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("semver", a, 1)?;
    let v = parse_semver(&s_arg(&a[0])?)?;
    let mut m = BTreeMap::new();
    m.insert("Major".to_string(), Value::from(v.major as i64));
    m.insert("Minor".to_string(), Value::from(v.minor as i64));
    m.insert("Patch".to_string(), Value::from(v.patch as i64));
    m.insert("Prerelease".to_string(), vstr(v.pre.to_string()));
    m.insert("Metadata".to_string(), vstr(v.build.to_string()));
    Ok(GoMap::new_value(m))
}

// ------------------------------------------------------------ sprig: math

fn f_add(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(int64(a.iter().map(to_i64).fold(0i64, |x, y| x.wrapping_add(y))))
}
fn f_add1(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("add1", a, 1)?;
    Ok(int64(to_i64(&a[0]).wrapping_add(1)))
}
fn f_sub(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("sub", a, 2)?;
    Ok(int64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))))
}
fn f_mul(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("mul", a, 1)?;
    Ok(int64(a.iter().map(to_i64).fold(1i64, |x, y| x.wrapping_mul(y))))
}
fn f_div(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("div", a, 2)?;
    let b = to_i64(&a[1]);
    if b == 0 {
        return Err(err("runtime error: integer divide by zero"));
    }
    Ok(int64(to_i64(&a[0]).wrapping_div(b)))
}
fn f_mod(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("mod", a, 2)?;
    let b = to_i64(&a[1]);
    if b == 0 {
        return Err(err("runtime error: integer divide by zero"));
    }
    Ok(int64(to_i64(&a[0]).wrapping_rem(b)))
}
fn f_max(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("max", a, 1)?;
    Ok(int64(a.iter().map(to_i64).max().unwrap()))
}
fn f_min(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("min", a, 1)?;
    Ok(int64(a.iter().map(to_i64).min().unwrap()))
}
fn f_addf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(a.iter().map(to_f64).sum::<f64>()))
}
fn f_subf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("subf", a, 1)?;
    Ok(Value::from(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), |x, y| x - y)))
}
fn f_mulf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("mulf", a, 1)?;
    Ok(Value::from(a.iter().map(to_f64).fold(1.0, |x, y| x * y)))
}
fn f_divf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("divf", a, 1)?;
    Ok(Value::from(a[1..].iter().map(to_f64).fold(to_f64(&a[0]), |x, y| x / y)))
}
fn f_floor(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("floor", a, 1)?;
    Ok(Value::from(to_f64(&a[0]).floor()))
}
fn f_ceil(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("ceil", a, 1)?;
    Ok(Value::from(to_f64(&a[0]).ceil()))
}
fn f_round(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("round", a, 2)?;
    let p = 10f64.powi(to_i64(&a[1]) as i32);
    let x = to_f64(&a[0]) * p;
    let r = if x >= 0.0 { (x + 0.5).floor() } else { (x - 0.5).ceil() };
    Ok(Value::from(r / p))
}

fn f_until(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("until", a, 1)?;
    let n = i_arg(&a[0])?;
    reserve(n.unsigned_abs(), 0)?;
    let v: Vec<Value> = if n >= 0 { (0..n).map(Value::from).collect() } else { (n + 1..=0).rev().map(Value::from).collect() };
    Ok(list(v))
}

fn f_until_step(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("untilStep", a, 3)?;
    let (start, stop, step) = (i_arg(&a[0])?, i_arg(&a[1])?, i_arg(&a[2])?);
    Ok(list(until_step(start, stop, step)?.into_iter().map(Value::from).collect::<Vec<_>>()))
}

/// sprig's `untilStep`: `start`, `start+step`, … up to (excluding) `stop`. The length is
/// checked against the budget first, and the arithmetic cannot overflow (stepping past
/// `i64::MAX` ends the list; Go's int wraps around and loops forever). `seq` computes its
/// `stop` as `end±1` with Go's wrapping, as sprig does.
fn until_step(start: i64, stop: i64, step: i64) -> Result<Vec<i64>, Error> {
    if step == 0 || (stop < start && step >= 0) || (stop >= start && step <= 0) {
        return Ok(Vec::new());
    }
    let (span, stride) = ((stop as i128 - start as i128).unsigned_abs(), (step as i128).unsigned_abs());
    let count = span.div_ceil(stride);
    reserve(u64::try_from(count).unwrap_or(u64::MAX), 0)?;
    let mut v = Vec::with_capacity(count as usize);
    let mut i = start as i128;
    while (step > 0 && i < stop as i128) || (step < 0 && i > stop as i128) {
        v.push(i as i64);
        i += step as i128;
    }
    Ok(v)
}

/// sprig `seq`: like GNU seq, returns a space-separated string.
fn f_seq(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let p: Vec<i64> = a.iter().map(i_arg).collect::<Result<_, _>>()?;
    let out = match p.len() {
        1 | 2 => {
            let (start, end) = if p.len() == 1 { (1, p[0]) } else { (p[0], p[1]) };
            let inc = if end < start { -1 } else { 1 };
            until_step(start, end.wrapping_add(inc), inc)?
        }
        3 => {
            let (start, step, end) = (p[0], p[1], p[2]);
            if end < start {
                if step > 0 {
                    vec![]
                } else {
                    until_step(start, end.wrapping_sub(1), step)?
                }
            } else if step < 0 {
                vec![]
            } else {
                until_step(start, end.wrapping_add(1), step)?
            }
        }
        _ => vec![],
    };
    reserve(0, (out.len() as u64).saturating_mul(21))?;
    Ok(vstr(out.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(" ")))
}

// ------------------------------------------------------------ sprig: lists

fn f_list(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(list(a.to_vec()))
}

fn f_first(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("first", a, 1)?;
    Ok(list_arg(&a[0], "find first")?.first().cloned().unwrap_or_default())
}
fn f_last(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("last", a, 1)?;
    Ok(list_arg(&a[0], "find last")?.last().cloned().unwrap_or_default())
}
fn f_rest(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("rest", a, 1)?;
    let l = list_arg(&a[0], "find rest")?;
    if l.is_empty() {
        return Ok(Value::from(()));
    }
    Ok(Value::from(l[1..].to_vec()))
}
fn f_initial(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("initial", a, 1)?;
    let l = list_arg(&a[0], "find initial")?;
    if l.is_empty() {
        return Ok(Value::from(()));
    }
    Ok(Value::from(l[..l.len() - 1].to_vec()))
}
fn f_append(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("append", a, 2)?;
    let mut l = list_arg(&a[0], "append")?;
    l.push(a[1].clone());
    Ok(Value::from(l))
}
fn f_prepend(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("prepend", a, 2)?;
    let mut l = list_arg(&a[0], "prepend")?;
    l.insert(0, a[1].clone());
    Ok(Value::from(l))
}
fn f_concat(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let mut out = Vec::new();
    for x in a {
        out.extend(list_arg(x, "concat")?);
    }
    Ok(Value::from(out))
}
fn f_reverse(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("reverse", a, 1)?;
    let mut l = list_arg(&a[0], "reverse")?;
    l.reverse();
    Ok(Value::from(l))
}
fn deep_eq(a: &Value, b: &Value) -> bool {
    type_name(a) == type_name(b) && to_json(a) == to_json(b)
}
fn f_uniq(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("uniq", a, 1)?;
    let l = list_arg(&a[0], "uniq")?;
    let mut out: Vec<Value> = Vec::new();
    for x in l {
        if !out.iter().any(|y| deep_eq(&x, y)) {
            out.push(x);
        }
    }
    Ok(Value::from(out))
}
fn f_compact(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("compact", a, 1)?;
    Ok(Value::from(list_arg(&a[0], "compact")?.into_iter().filter(|x| !empty(x)).collect::<Vec<_>>()))
}
fn f_has(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("has", a, 2)?;
    if is_nil(&a[1]) {
        return Ok(Value::from(false));
    }
    let l = list_arg(&a[1], "find has")?;
    Ok(Value::from(l.iter().any(|x| deep_eq(x, &a[0]))))
}
fn f_without(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("without", a, 1)?;
    let l = list_arg(&a[0], "find without")?;
    Ok(Value::from(l.into_iter().filter(|x| !a[1..].iter().any(|o| deep_eq(x, o))).collect::<Vec<_>>()))
}

// ------------------------------------------------------------ sprig: dicts

fn f_dict(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let mut m = BTreeMap::new();
    let mut i = 0;
    while i < a.len() {
        let k = strval(&a[i]);
        let v = a.get(i + 1).cloned().unwrap_or_else(|| vstr(""));
        m.insert(k, v);
        i += 2;
    }
    Ok(GoMap::new_value(m))
}
fn f_set(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("set", a, 3)?;
    map_arg(&a[0])?.insert_checked(s_arg(&a[1])?, a[2].clone())?;
    Ok(a[0].clone())
}
fn f_unset(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("unset", a, 2)?;
    map_arg(&a[0])?.remove(&s_arg(&a[1])?);
    Ok(a[0].clone())
}
fn f_has_key(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("hasKey", a, 2)?;
    Ok(Value::from(map_arg(&a[0])?.get(&s_arg(&a[1])?).is_some()))
}
fn f_sprig_get(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("sprigGet", a, 2)?;
    Ok(map_arg(&a[0])?.get(&s_arg(&a[1])?).unwrap_or_else(|| vstr("")))
}
fn f_keys(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let mut out = Vec::new();
    for d in a {
        for k in map_arg(d)?.snapshot().into_keys() {
            out.push(vstr(k));
        }
    }
    Ok(Value::from(out))
}
fn f_values(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("values", a, 1)?;
    Ok(Value::from(map_arg(&a[0])?.snapshot().into_values().collect::<Vec<_>>()))
}
fn f_pluck(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("pluck", a, 1)?;
    let k = s_arg(&a[0])?;
    let mut out = Vec::new();
    for d in &a[1..] {
        if let Some(v) = map_arg(d)?.get(&k) {
            out.push(v);
        }
    }
    Ok(Value::from(out))
}
fn f_pick(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("pick", a, 1)?;
    let m = map_arg(&a[0])?;
    let mut out = BTreeMap::new();
    for k in &a[1..] {
        let k = s_arg(k)?;
        if let Some(v) = m.get(&k) {
            out.insert(k, v);
        }
    }
    Ok(GoMap::new_value(out))
}
fn f_omit(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("omit", a, 1)?;
    let m = map_arg(&a[0])?;
    let omit: Vec<String> = a[1..].iter().map(s_arg).collect::<Result<_, _>>()?;
    Ok(GoMap::new_value(m.snapshot().into_iter().filter(|(k, _)| !omit.contains(k)).collect()))
}
fn f_dig(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("dig", a, 3)?;
    let n = a.len();
    let def = &a[n - 2];
    let mut cur = Value::from_object(GoMap(std::sync::Mutex::new(map_arg(&a[n - 1])?.snapshot())));
    for k in &a[..n - 2] {
        let k = s_arg(k)?;
        match classify(&cur) {
            G::Map(m) => match m.get(&k) {
                Some(v) => cur = v,
                None => return Ok(def.clone()),
            },
            _ => return Err(err(format!("interface conversion: interface {{}} is {}, not map[string]interface {{}}", type_name(&cur)))),
        }
    }
    Ok(cur)
}

/// mergo-style deep merge of `src` into `dst` (no overwrite unless `overwrite`).
fn merge_into(dst: &GoMap, src: &GoMap, overwrite: bool, depth: usize) -> Result<(), Error> {
    if !super::limits::nesting(depth) || !super::limits::step(1) {
        return super::limits::check();
    }
    if std::ptr::eq(dst, src) {
        return Ok(());
    }
    for (k, sv) in src.snapshot() {
        match dst.get(&k) {
            None => dst.insert_checked(k, sv)?,
            Some(dv) => match (classify(&dv), classify(&sv)) {
                (G::Map(dm), G::Map(sm)) => merge_into(&dm, &sm, overwrite, depth + 1)?,
                _ => {
                    if overwrite {
                        // verified: mergeOverwrite (dict "a" 1) (dict "a" "") gives a:""
                        dst.insert_checked(k, sv)?;
                    } else if empty(&dv) {
                        dst.insert_checked(k, sv)?;
                    }
                }
            },
        }
    }
    Ok(())
}

fn f_merge(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("merge", a, 1)?;
    let dst = map_arg(&a[0])?;
    for s in &a[1..] {
        { let sm = map_arg(s)?; merge_into(&dst, &sm, false, 0)?; }
    }
    Ok(a[0].clone())
}
fn f_merge_overwrite(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs_min("mergeOverwrite", a, 1)?;
    let dst = map_arg(&a[0])?;
    for s in &a[1..] {
        { let sm = map_arg(s)?; merge_into(&dst, &sm, true, 0)?; }
    }
    Ok(a[0].clone())
}
fn f_deep_copy(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("deepCopy", a, 1)?;
    Ok(deep_copy(&a[0]))
}

// ------------------------------------------------------------ sprig: encoding

/// Go encoding/json float formatting.
fn json_float(f: f64) -> String {
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{:e}", f);
        let (m, e) = s.split_once('e').unwrap();
        let exp: i32 = e.parse().unwrap();
        format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs()).replace("e-0", "e-").replace("e+0", "e+")
    } else {
        let s = super::value::fmt_float_g(f);
        if s.contains('e') {
            // expand into plain decimal
            let e = format!("{:e}", f);
            let (mant, x) = e.split_once('e').unwrap();
            let exp: i32 = x.parse().unwrap();
            let neg = mant.starts_with('-');
            let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
            format!("{}{}", if neg { "-" } else { "" }, super::value::digits_positioned(&digits, exp))
        } else {
            s
        }
    }
}

fn json_str(s: &str, out: &mut String, html_escape: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' if html_escape => out.push_str(&format!("\\u{:04x}", c as u32)),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Go json.Marshal (sorted keys, HTML escaping) / MarshalIndent.
pub fn go_json(v: &Value, indent: Option<&str>, html_escape: bool) -> String {
    let mut out = String::new();
    write_json(v, &mut out, indent, 0, html_escape);
    out
}

fn write_json(v: &Value, out: &mut String, indent: Option<&str>, depth: usize, he: bool) {
    let nl = |out: &mut String, d: usize| {
        if let Some(ind) = indent {
            out.push('\n');
            for _ in 0..d {
                out.push_str(ind);
            }
        }
    };
    if !super::limits::nesting(depth) || !super::limits::step(1) {
        return;
    }
    if let Some(s) = v.as_str() {
        if super::limits::bytes(s.len() as u64 + 2) {
            json_str(s, out, he);
        }
        return;
    }
    super::limits::bytes(4 + indent.map_or(0, |i| (i.len() * (depth + 1)) as u64));
    match classify(v) {
        G::Nil => out.push_str("null"),
        G::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        G::Int(i) => out.push_str(&i.to_string()),
        G::Float(f) => out.push_str(&json_float(f)),
        G::Str(s) => json_str(&s, out, he),
        G::List(l) => {
            if l.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                write_json(x, out, indent, depth + 1, he);
            }
            nl(out, depth);
            out.push(']');
        }
        G::Map(m) => {
            let snap = m.snapshot();
            if snap.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, x)) in snap.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                nl(out, depth + 1);
                json_str(k, out, he);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_json(x, out, indent, depth + 1, he);
            }
            nl(out, depth);
            out.push('}');
        }
        G::Other => json_str(&v.to_string(), out, he),
    }
}

fn f_to_json(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toJson", a, 1)?;
    Ok(vstr(go_json(&a[0], None, true)))
}
fn f_to_pretty_json(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toPrettyJson", a, 1)?;
    Ok(vstr(go_json(&a[0], Some("  "), true)))
}
fn f_to_raw_json(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toRawJson", a, 1)?;
    Ok(vstr(go_json(&a[0], None, false)))
}
/// Go's encoding/json decodes every number into float64.
fn json_floats(v: Value) -> Value {
    json_floats_at(v, 0)
}
fn json_floats_at(v: Value, depth: usize) -> Value {
    if !super::limits::nesting(depth) || !super::limits::step(1) {
        return Value::from(());
    }
    match classify(&v) {
        G::Int(i) => Value::from(i as f64),
        G::List(l) => list(l.into_iter().map(|x| json_floats_at(x, depth + 1)).collect::<Vec<_>>()),
        G::Map(m) => GoMap::new_value(m.snapshot().into_iter().map(|(k, x)| (k, json_floats_at(x, depth + 1))).collect()),
        _ => v,
    }
}

fn f_from_json(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("fromJson", a, 1)?;
    let s = s_arg(&a[0])?;
    Ok(serde_json::from_str::<serde_json::Value>(&s).map(|j| json_floats(from_json(&j))).unwrap_or_default())
}
fn f_must_from_json(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("mustFromJson", a, 1)?;
    let s = s_arg(&a[0])?;
    serde_json::from_str::<serde_json::Value>(&s).map(|j| json_floats(from_json(&j))).map_err(|e| err(e.to_string()))
}

// ------------------------------------------------------------ sprig: dates (subset)

/// One chunk of a Go time layout (time.nextStdChunk's vocabulary).
enum Chunk {
    Lit(String),
    /// chrono format directive
    Fmt(&'static str),
    /// zone abbreviation ("MST")
    ZoneName,
    /// lower-case am/pm ("pm")
    LowerAmPm,
}

fn go_layout_chunks(layout: &str) -> Vec<Chunk> {
    const TOKENS: &[(&str, &str)] = &[
        ("January", "%B"),
        ("Jan", "%b"),
        ("Monday", "%A"),
        ("Mon", "%a"),
        ("2006", "%Y"),
        ("-07:00:00", "%:z"),
        ("-070000", "%z"),
        ("-07:00", "%:z"),
        ("-0700", "%z"),
        ("Z07:00", "%:z"),
        ("Z0700", "%z"),
        ("002", "%j"),
        ("01", "%m"),
        ("02", "%d"),
        ("03", "%I"),
        ("04", "%M"),
        ("05", "%S"),
        ("06", "%y"),
        ("15", "%H"),
        ("_2", "%e"),
        ("1", "%-m"),
        ("2", "%-d"),
        ("3", "%-I"),
        ("4", "%-M"),
        ("5", "%-S"),
        ("PM", "%p"),
        (".000000000", "%.9f"),
        (".000000", "%.6f"),
        (".000", "%.3f"),
        (".999999999", "%.f"),
        (".999999", "%.f"),
        (".999", "%.f"),
    ];
    let mut out = Vec::new();
    let mut rest = layout;
    'outer: while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("MST") {
            out.push(Chunk::ZoneName);
            rest = r;
            continue;
        }
        if let Some(r) = rest.strip_prefix("pm") {
            out.push(Chunk::LowerAmPm);
            rest = r;
            continue;
        }
        for (g, c) in TOKENS {
            if let Some(r) = rest.strip_prefix(g) {
                out.push(Chunk::Fmt(c));
                rest = r;
                continue 'outer;
            }
        }
        let ch = rest.chars().next().unwrap();
        out.push(Chunk::Lit(ch.to_string()));
        rest = &rest[ch.len_utf8()..];
    }
    out
}

/// Go layout -> chrono format string (for parsing).
pub fn go_layout_to_chrono(layout: &str) -> String {
    go_layout_chunks(layout)
        .into_iter()
        .map(|c| match c {
            Chunk::Lit(s) => s.replace('%', "%%"),
            Chunk::Fmt(f) => f.to_string(),
            Chunk::ZoneName => "%Z".to_string(),
            Chunk::LowerAmPm => "%P".to_string(),
        })
        .collect()
}

/// Format a time with a Go layout.
pub fn go_format_time<Tz: chrono::TimeZone>(t: &chrono::DateTime<Tz>, layout: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    use chrono::Offset;
    let mut out = String::new();
    for c in go_layout_chunks(layout) {
        match c {
            Chunk::Lit(s) => out.push_str(&s),
            Chunk::Fmt(f) => out.push_str(&t.format(f).to_string()),
            Chunk::LowerAmPm => out.push_str(&t.format("%P").to_string()),
            Chunk::ZoneName => {
                let secs = t.offset().fix().local_minus_utc();
                if secs == 0 {
                    out.push_str("UTC");
                } else {
                    // Go prints unnamed zones as "+03" / "-0530"
                    let (sign, a) = if secs < 0 { ('-', -secs) } else { ('+', secs) };
                    if a % 3600 == 0 {
                        out.push_str(&format!("{}{:02}", sign, a / 3600));
                    } else {
                        out.push_str(&format!("{}{:02}{:02}", sign, a / 3600, (a % 3600) / 60));
                    }
                }
            }
        }
    }
    out
}

fn f_now(_c: &Ctx, _s: &State, _a: &[Value]) -> R {
    let now = chrono::Local::now();
    Ok(vstr(now.format("%Y-%m-%d %H:%M:%S%.f %z %Z").to_string()))
}

fn f_date(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("date", a, 2)?;
    let layout = s_arg(&a[0])?;
    let t = match classify(&a[1]) {
        G::Int(i) => chrono::DateTime::from_timestamp(i, 0).map(|d| d.with_timezone(&chrono::Local)),
        G::Str(s) => chrono::DateTime::parse_from_str(&s, "%Y-%m-%d %H:%M:%S%.f %z %Z")
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(&s))
            .ok()
            .map(|d| d.with_timezone(&chrono::Local)),
        _ => None,
    }
    .unwrap_or_else(chrono::Local::now);
    Ok(vstr(go_format_time(&t, &layout)))
}

// ------------------------------------------------------------ registry

pub const FUNCS: &[(&str, Func)] = &[
    // Go text/template builtins
    ("and", f_and),
    ("or", f_or),
    ("not", f_not),
    ("len", f_len),
    ("index", f_index),
    ("slice", f_slice),
    ("print", f_print),
    ("printf", f_printf),
    ("println", f_println),
    ("html", f_html),
    ("js", f_js),
    ("urlquery", f_urlquery),
    ("eq", f_eq),
    ("ne", f_ne),
    ("lt", f_lt),
    ("le", f_le),
    ("gt", f_gt),
    ("ge", f_ge),
    ("call", f_call),
    // helmfile
    ("env", f_env),
    ("expandenv", f_expandenv),
    ("requiredEnv", f_required_env),
    ("exec", f_exec),
    ("envExec", f_env_exec),
    ("isFile", f_is_file),
    ("readFile", f_read_file),
    ("readDir", f_read_dir),
    ("readDirEntries", f_list_dir),
    ("toYaml", f_to_yaml),
    ("fromYaml", f_from_yaml),
    ("setValueAtPath", f_set_value_at_path),
    ("get", f_get),
    ("getOrNil", f_get_or_nil),
    ("sprigGet", f_sprig_get),
    ("tpl", f_tpl),
    ("include", f_include),
    ("required", f_required),
    ("fetchSecretValue", f_fetch_secret),
    ("expandSecretRefs", f_expand_secret_refs),
    ("fail", f_fail),
    // sprig general
    ("default", f_default),
    ("empty", f_empty),
    ("coalesce", f_coalesce),
    ("all", f_all),
    ("any", f_any),
    ("ternary", f_ternary),
    ("deepEqual", f_deep_equal),
    ("typeOf", f_type_of),
    ("kindOf", f_kind_of),
    ("kindIs", f_kind_is),
    ("typeIs", f_type_is),
    // conversion
    ("toString", f_to_string),
    ("toStrings", f_to_strings),
    ("int", f_int),
    ("int64", f_int64),
    ("float64", f_float64),
    ("atoi", f_atoi),
    ("toDecimal", f_to_decimal),
    // strings
    ("quote", f_quote),
    ("squote", f_squote),
    ("cat", f_cat),
    ("upper", f_upper),
    ("lower", f_lower),
    ("title", f_title),
    ("untitle", f_untitle),
    ("trim", f_trim),
    ("trimAll", f_trim_all),
    ("trimall", f_trim_all_legacy),
    ("trimPrefix", f_trim_prefix),
    ("trimSuffix", f_trim_suffix),
    ("replace", f_replace),
    ("contains", f_contains),
    ("hasPrefix", f_has_prefix),
    ("hasSuffix", f_has_suffix),
    ("repeat", f_repeat),
    ("substr", f_substr),
    ("trunc", f_trunc),
    ("abbrev", f_abbrev),
    ("wrap", f_wrap),
    ("indent", f_indent),
    ("nindent", f_nindent),
    ("split", f_split),
    ("splitList", f_split_list),
    ("splitn", f_splitn),
    ("join", f_join),
    ("sortAlpha", f_sort_alpha),
    ("plural", f_plural),
    ("snakecase", f_snakecase),
    ("kebabcase", f_kebabcase),
    ("camelcase", f_camelcase),
    ("swapcase", f_swapcase),
    ("b64enc", f_b64enc),
    ("b64dec", f_b64dec),
    ("sha256sum", f_sha256sum),
    ("sha1sum", f_sha1sum),
    ("regexMatch", f_regex_match),
    ("mustRegexMatch", f_must_regex_match),
    ("regexFind", f_regex_find),
    ("regexFindAll", f_regex_find_all),
    ("regexReplaceAll", f_regex_replace_all),
    ("regexReplaceAllLiteral", f_regex_replace_all_literal),
    ("regexSplit", f_regex_split),
    ("regexQuoteMeta", f_regex_quote_meta),
    ("semverCompare", f_semver_compare),
    ("semver", f_semver),
    // math
    ("add", f_add),
    ("add1", f_add1),
    ("sub", f_sub),
    ("mul", f_mul),
    ("div", f_div),
    ("mod", f_mod),
    ("max", f_max),
    ("min", f_min),
    ("addf", f_addf),
    ("subf", f_subf),
    ("mulf", f_mulf),
    ("divf", f_divf),
    ("floor", f_floor),
    ("ceil", f_ceil),
    ("round", f_round),
    ("until", f_until),
    ("untilStep", f_until_step),
    ("seq", f_seq),
    // lists
    ("list", f_list),
    ("tuple", f_list),
    ("first", f_first),
    ("mustFirst", f_first),
    ("mustRest", f_rest),
    ("mustInitial", f_initial),
    ("mustPrepend", f_prepend),
    ("mustPush", f_append),
    ("mustReverse", f_reverse),
    ("mustUniq", f_uniq),
    ("mustWithout", f_without),
    ("mustHas", f_has),
    ("mustSlice", f_slice),
    ("mustCompact", f_compact),
    ("mustRegexFind", f_regex_find),
    ("mustRegexFindAll", f_regex_find_all),
    ("mustRegexReplaceAll", f_regex_replace_all),
    ("mustRegexReplaceAllLiteral", f_regex_replace_all_literal),
    ("mustRegexSplit", f_regex_split),
    ("biggest", f_max),
    ("last", f_last),
    ("mustLast", f_last),
    ("rest", f_rest),
    ("initial", f_initial),
    ("append", f_append),
    ("push", f_append),
    ("mustAppend", f_append),
    ("prepend", f_prepend),
    ("concat", f_concat),
    ("reverse", f_reverse),
    ("uniq", f_uniq),
    ("compact", f_compact),
    ("has", f_has),
    ("without", f_without),
    // dicts
    ("dict", f_dict),
    ("set", f_set),
    ("unset", f_unset),
    ("hasKey", f_has_key),
    ("keys", f_keys),
    ("values", f_values),
    ("pluck", f_pluck),
    ("pick", f_pick),
    ("omit", f_omit),
    ("dig", f_dig),
    ("merge", f_merge),
    ("mustMerge", f_merge),
    ("mergeOverwrite", f_merge_overwrite),
    ("mustMergeOverwrite", f_merge_overwrite),
    ("deepCopy", f_deep_copy),
    ("mustDeepCopy", f_deep_copy),
    // encoding
    ("toJson", f_to_json),
    ("mustToJson", f_to_json),
    ("toPrettyJson", f_to_pretty_json),
    ("mustToPrettyJson", f_to_pretty_json),
    ("toRawJson", f_to_raw_json),
    ("mustToRawJson", f_to_raw_json),
    ("fromJson", f_from_json),
    ("mustFromJson", f_must_from_json),
    // dates
    ("now", f_now),
    ("date", f_date),
];

fn f_trim_all_legacy(c: &Ctx, s: &State, a: &[Value]) -> R {
    f_trim_all(c, s, a)
}

/// Evaluator helpers (names registered as `g__<name>`).
pub const HELPERS: &[(&str, Func)] = &[
    ("field", h_field),
    ("rfield", h_rfield),
    ("truth", h_truth),
    ("id", h_id),
    ("fail", h_fail),
    ("range", h_range),
    ("float", h_float),
    ("template", h_template),
];

pub fn is_func(name: &str) -> bool {
    all_funcs().any(|(n, _)| *n == name)
}

fn all_funcs() -> impl Iterator<Item = &'static (&'static str, Func)> {
    FUNCS.iter().chain(super::funcs_extra::EXTRA_FUNCS.iter())
}

/// Run one function call within the execution's budget (see [`super::limits`]): the call
/// costs a step, its result's text bytes and list or map entries are charged, and an
/// exhausted budget — also one the function ran into while printing or copying — is the
/// call's error. Lists come back as [`GoList`](super::value::GoList)s, whose drop is
/// iterative, so lists nested by many calls never overflow the stack.
fn limited(f: impl FnOnce() -> R) -> R {
    use super::limits;
    if !limits::step(1) {
        limits::check()?;
    }
    let r = f();
    limits::check()?;
    let v = r?;
    match v.kind() {
        minijinja::value::ValueKind::String => {
            limits::bytes(v.as_str().map_or(0, |s| s.len() as u64));
        }
        minijinja::value::ValueKind::Seq | minijinja::value::ValueKind::Map => {
            limits::step(v.len().unwrap_or(0) as u64);
        }
        _ => {}
    }
    limits::check()?;
    Ok(super::value::own_list(v))
}

/// Register all functions on a minijinja environment.
pub fn register(env: &mut minijinja::Environment<'static>, ctx: Arc<Ctx>) {
    for (name, f) in all_funcs() {
        let c = ctx.clone();
        let f = *f;
        let fname: &'static str = name;
        env.add_function(format!("g_{}", name), move |st: &State, args: minijinja::value::Rest<Value>| {
            let r = limited(|| f(&c, st, &args));
            r.map_err(|e| {
                let msg = e.detail().unwrap_or("").to_string();
                // argument count/type errors happen before the call in Go
                if msg.starts_with("error calling ")
                    || msg.starts_with("wrong number of args")
                    || msg.starts_with("wrong type for value")
                    || msg.starts_with("invalid value; expected")
                {
                    e
                } else {
                    err(format!("error calling {}: {}", fname, msg))
                }
            })
        });
    }
    for (name, f) in HELPERS {
        let c = ctx.clone();
        let f = *f;
        env.add_function(format!("g__{}", name), move |st: &State, args: minijinja::value::Rest<Value>| limited(|| f(&c, st, &args)));
    }
    // Go variables: one mutable slot table per template execution
    env.add_function("g__vars", || Value::from_object(GoMap::default()));
    env.add_function("g__set", |vars: Value, slot: String, v: Value| -> Result<Value, Error> {
        if let Some(m) = vars.downcast_object_ref::<GoMap>() {
            m.insert(slot, v);
        }
        Ok(Value::from(""))
    });
    env.add_function("g__setv", |vars: Value, slot: String, v: Value| -> Result<Value, Error> {
        if let Some(m) = vars.downcast_object_ref::<GoMap>() {
            m.insert(slot, v.clone());
        }
        Ok(v)
    });
}
