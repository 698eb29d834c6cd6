//! Go-flavoured values on top of `minijinja::Value`.
//!
//! * Go `nil` is `Value::NONE` (undefined is treated the same way).
//! * Go maps (`map[string]interface{}`) are [`GoMap`] objects: mutable
//!   (sprig `set`/`unset`/`merge` mutate in place, like Go maps which are
//!   reference types) and always iterated in sorted key order.
//! * Go slices are [`GoList`] sequences (immutable; sprig's list functions
//!   return new lists).
//! * ints stay `i64`, floats stay `f64`.
//!
//! Values can nest arbitrarily deep (`$l = list $l` in a loop) and maps can be shared,
//! so nothing here may recurse without bound: [`GoList`] and [`GoMap`] drop their
//! contents iteratively, walkers stop at [`limits::MAX_NESTING`] and charge the
//! execution's budget (see [`super::limits`]), and a map never contains itself.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};

use super::limits;

/// A mutable Go map with string keys, iterated in sorted order.
#[derive(Default)]
pub struct GoMap(pub Mutex<BTreeMap<String, Value>>);

impl std::fmt::Debug for GoMap {
    // shallow: a derived Debug would recurse into nested values
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GoMap({} keys)", self.len())
    }
}

impl Drop for GoMap {
    fn drop(&mut self) {
        let m = std::mem::take(self.0.get_mut().unwrap_or_else(|e| e.into_inner()));
        drop_iteratively(m.into_values().collect());
    }
}

/// An immutable Go slice.
#[derive(Default)]
pub struct GoList(pub Vec<Value>);

impl std::fmt::Debug for GoList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GoList({} items)", self.0.len())
    }
}

impl Drop for GoList {
    fn drop(&mut self) {
        drop_iteratively(std::mem::take(&mut self.0));
    }
}

impl Object for GoList {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Seq
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        self.0.get(key.as_usize()?).cloned()
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Seq(self.0.len())
    }
    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.0.len())
    }
    fn is_true(self: &Arc<Self>) -> bool {
        !self.0.is_empty()
    }
    fn custom_cmp(self: &Arc<Self>, other: &minijinja::value::DynObject) -> Option<std::cmp::Ordering> {
        Some(cmp_lists(&self.0, &other.downcast_ref::<GoList>()?.0, 0))
    }
}

thread_local! {
    static DROPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    static PENDING: std::cell::RefCell<Vec<Value>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Drop the contents of a list or map without recursing: nested lists and maps are queued
/// and dropped one after the other by the outermost drop on this thread, so a value nested
/// a million levels deep does not overflow the stack.
fn drop_iteratively(items: Vec<Value>) {
    if !items.iter().any(|v| matches!(v.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable)) {
        return;
    }
    let queued = PENDING.try_with(|p| p.borrow_mut().extend(items)).is_ok();
    if !queued || DROPPING.with(|d| d.replace(true)) {
        return;
    }
    while let Some(v) = PENDING.with(|p| p.borrow_mut().pop()) {
        drop(v);
    }
    DROPPING.with(|d| d.set(false));
}

/// A list value.
pub fn list(v: Vec<Value>) -> Value {
    Value::from_object(GoList(v))
}

/// `v` with a sequence of minijinja's own turned into a [`GoList`] (top level only).
pub fn own_list(v: Value) -> Value {
    if v.kind() == ValueKind::Seq && v.downcast_object_ref::<GoList>().is_none() {
        match v.try_iter() {
            Ok(it) => list(it.collect()),
            Err(_) => v,
        }
    } else {
        v
    }
}

/// An identity for shared containers (lists and maps), to walk each once.
fn container_id(v: &Value) -> Option<usize> {
    if let Some(m) = v.downcast_object_ref::<GoMap>() {
        return Some(m as *const GoMap as usize);
    }
    v.downcast_object_ref::<GoList>().map(|l| l as *const GoList as usize)
}

/// Whether `v` contains the map `target` (at any depth). Walks each shared container once.
fn reaches(v: &Value, target: usize, seen: &mut std::collections::HashSet<usize>, depth: usize) -> bool {
    if !matches!(v.kind(), ValueKind::Seq | ValueKind::Map | ValueKind::Iterable) {
        return false;
    }
    if let Some(id) = container_id(v) {
        if id == target {
            return true;
        }
        if !seen.insert(id) {
            return false;
        }
    }
    if !limits::nesting(depth) || !limits::step(1) {
        return false;
    }
    match classify(v) {
        G::List(l) => l.iter().any(|x| reaches(x, target, seen, depth + 1)),
        G::Map(m) => m.snapshot().values().any(|x| reaches(x, target, seen, depth + 1)),
        _ => false,
    }
}

/// Compare two values structurally (what minijinja's `==` uses for lists and maps), at
/// most [`limits::MAX_NESTING`] levels deep and charged to the execution's budget.
fn cmp_at(a: &Value, b: &Value, depth: usize) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    if !limits::nesting(depth) || !limits::step(1) {
        return Ordering::Less;
    }
    match (classify(a), classify(b)) {
        (G::List(x), G::List(y)) => cmp_lists(&x, &y, depth),
        (G::Map(x), G::Map(y)) if Arc::ptr_eq(&x, &y) => Ordering::Equal,
        (G::Map(x), G::Map(y)) => cmp_maps(&x.snapshot(), &y.snapshot(), depth),
        (G::List(_) | G::Map(_), _) | (_, G::List(_) | G::Map(_)) => a.kind().cmp(&b.kind()),
        _ => a.partial_cmp(b).unwrap_or(Ordering::Less),
    }
}

fn cmp_lists(x: &[Value], y: &[Value], depth: usize) -> std::cmp::Ordering {
    for (p, q) in x.iter().zip(y.iter()) {
        let o = cmp_at(p, q, depth + 1);
        if o.is_ne() {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

fn cmp_maps(x: &BTreeMap<String, Value>, y: &BTreeMap<String, Value>, depth: usize) -> std::cmp::Ordering {
    for ((k1, v1), (k2, v2)) in x.iter().zip(y.iter()) {
        let o = k1.cmp(k2).then_with(|| cmp_at(v1, v2, depth + 1));
        if o.is_ne() {
            return o;
        }
    }
    x.len().cmp(&y.len())
}

impl GoMap {
    pub fn new_value(m: BTreeMap<String, Value>) -> Value {
        Value::from_object(GoMap(Mutex::new(m)))
    }
    pub fn snapshot(&self) -> BTreeMap<String, Value> {
        self.0.lock().unwrap().clone()
    }
    pub fn get(&self, k: &str) -> Option<Value> {
        self.0.lock().unwrap().get(k).cloned()
    }
    /// Insert without checks: for values that cannot contain this map (scalars, fresh
    /// values, the variable slots of an execution).
    pub fn insert(&self, k: String, v: Value) {
        self.0.lock().unwrap().insert(k, v);
    }
    /// Insert a value that may come from the template: refused when it contains this map
    /// (Go allows such a cycle, but then printing it never ends).
    pub fn insert_checked(&self, k: String, v: Value) -> Result<(), minijinja::Error> {
        let mut seen = std::collections::HashSet::new();
        if reaches(&v, self as *const GoMap as usize, &mut seen, 0) {
            return Err(minijinja::Error::new(
                minijinja::ErrorKind::InvalidOperation,
                format!("kod does not put a map into itself (key {k:?}): printing it would never end"),
            ));
        }
        limits::check()?;
        self.insert(k, v);
        Ok(())
    }
    pub fn remove(&self, k: &str) {
        self.0.lock().unwrap().remove(k);
    }
    pub fn len(&self) -> usize {
        self.0.lock().unwrap().len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Object for GoMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        key.as_str().and_then(|k| self.get(k))
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let keys: Vec<Value> = self.0.lock().unwrap().keys().map(|k| Value::from(k.as_str())).collect();
        Enumerator::Values(keys)
    }
    fn enumerator_len(self: &Arc<Self>) -> Option<usize> {
        Some(self.len())
    }
    fn is_true(self: &Arc<Self>) -> bool {
        !self.is_empty()
    }
    fn custom_cmp(self: &Arc<Self>, other: &minijinja::value::DynObject) -> Option<std::cmp::Ordering> {
        let other = other.downcast_ref::<GoMap>()?;
        if std::ptr::eq(Arc::as_ptr(self), other) {
            return Some(std::cmp::Ordering::Equal);
        }
        Some(cmp_maps(&self.snapshot(), &other.snapshot(), 0))
    }
}

/// A Go `int64` (what sprig's arithmetic returns); plain ints are `i64`
/// minijinja numbers and stand for Go `int`.
#[derive(Debug)]
pub struct Int64(pub i64);

impl Object for Int64 {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn is_true(self: &Arc<Self>) -> bool {
        self.0 != 0
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

pub fn int64(i: i64) -> Value {
    Value::from_object(Int64(i))
}

pub fn is_int64(v: &Value) -> bool {
    v.downcast_object_ref::<Int64>().is_some()
}

/// An `fs.DirEntry` (from `readDirEntries`): methods `Name`, `IsDir`,
/// `Type`; prints like Go's `fs.FormatDirEntry` (`- file`, `d dir/`).
#[derive(Debug)]
pub struct DirEntry {
    pub name: String,
    pub is_dir: bool,
    /// Go FileMode type bits as printed by `.Type` (`----------`, `d---------`, `L---------`)
    pub mode: &'static str,
}

impl DirEntry {
    pub fn new(name: String, t: &std::fs::FileType) -> DirEntry {
        let mode = if t.is_dir() {
            "d---------"
        } else if t.is_symlink() {
            "L---------"
        } else {
            "----------"
        };
        DirEntry { name, is_dir: t.is_dir(), mode }
    }
    pub fn method(&self, m: &str) -> Option<Value> {
        match m {
            "Name" => Some(Value::from(self.name.as_str())),
            "IsDir" => Some(Value::from(self.is_dir)),
            "Type" => Some(Value::from(self.mode)),
            _ => None,
        }
    }
}

impl Object for DirEntry {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }
    fn render(self: &Arc<Self>, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.mode.chars().next().unwrap_or('-');
        write!(f, "{} {}{}", t, self.name, if self.is_dir { "/" } else { "" })
    }
}

/// A classified view of a value, by Go kind.
pub enum G {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(Arc<GoMap>),
    /// anything else (callables, foreign objects)
    Other,
}

pub fn classify(v: &Value) -> G {
    match v.kind() {
        ValueKind::Undefined | ValueKind::None => G::Nil,
        ValueKind::Bool => G::Bool(v.is_true()),
        ValueKind::Number => {
            if v.is_integer() {
                match v.as_i64() {
                    Some(i) => G::Int(i),
                    None => G::Float(f64::try_from(v.clone()).unwrap_or(0.0)),
                }
            } else {
                G::Float(f64::try_from(v.clone()).unwrap_or(0.0))
            }
        }
        ValueKind::String => G::Str(v.as_str().unwrap_or_default().to_string()),
        ValueKind::Seq | ValueKind::Iterable => match v.downcast_object_ref::<GoList>() {
            Some(l) => G::List(l.0.clone()),
            None => G::List(v.try_iter().map(|i| i.collect()).unwrap_or_default()),
        },
        ValueKind::Map => {
            if let Some(m) = v.downcast_object::<GoMap>() {
                G::Map(m)
            } else {
                // foreign map (e.g. a namespace); convert to a snapshot
                let mut out = BTreeMap::new();
                if let Ok(it) = v.try_iter() {
                    for k in it {
                        let val = v.get_item(&k).unwrap_or_default();
                        out.insert(k.to_string(), val);
                    }
                }
                G::Map(Arc::new(GoMap(Mutex::new(out))))
            }
        }
        ValueKind::Plain => match v.downcast_object_ref::<Int64>() {
            Some(i) => G::Int(i.0),
            None => G::Other,
        },
        _ => G::Other,
    }
}

/// Go's validateType for a nil argument: an invalid value (a missing
/// `index` result, minijinja's undefined) vs a nil interface (a nil from a
/// map, minijinja's none).
pub fn nil_arg_error(v: &Value, want: &str) -> minijinja::Error {
    let msg = if v.is_undefined() {
        format!("invalid value; expected {}", want)
    } else {
        format!("wrong type for value; expected {}; got interface {{}}", want)
    };
    minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, msg)
}

pub fn is_nil(v: &Value) -> bool {
    matches!(v.kind(), ValueKind::Undefined | ValueKind::None)
}

/// Go's template truth: false, 0, nil, empty string/list/map are false.
pub fn truth(v: &Value) -> bool {
    match classify(v) {
        G::Nil => false,
        G::Bool(b) => b,
        G::Int(i) => i != 0,
        G::Float(f) => f != 0.0,
        G::Str(s) => !s.is_empty(),
        G::List(l) => !l.is_empty(),
        G::Map(m) => !m.is_empty(),
        G::Other => true,
    }
}

/// Go type name as `%T` / sprig `typeOf` print it.
pub fn type_name(v: &Value) -> &'static str {
    if is_int64(v) {
        return "int64";
    }
    match classify(v) {
        G::Nil => "<nil>",
        G::Bool(_) => "bool",
        G::Int(_) => "int",
        G::Float(_) => "float64",
        G::Str(_) => "string",
        G::List(_) => "[]interface {}",
        G::Map(_) => "map[string]interface {}",
        G::Other if v.downcast_object_ref::<DirEntry>().is_some() => "*os.unixDirent",
        G::Other => "func",
    }
}

/// Go reflect kind name as sprig `kindOf` prints it.
pub fn kind_name(v: &Value) -> &'static str {
    if is_int64(v) {
        return "int64";
    }
    match classify(v) {
        G::Nil => "invalid",
        G::Bool(_) => "bool",
        G::Int(_) => "int",
        G::Float(_) => "float64",
        G::Str(_) => "string",
        G::List(_) => "slice",
        G::Map(_) => "map",
        G::Other => "func",
    }
}

/// Go `strconv.FormatFloat(f, 'g', -1, 64)` — what `%v` and yaml.v2 print:
/// shortest round-trip digits; exponent form when `exp < -4 || exp >= 6`
/// (Go uses precision 6 for the decision when printing shortest).
pub fn fmt_float_g(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let e = format!("{:e}", f); // e.g. "1.2345e6", "-5e-7"
    let (mant, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if !(-4..6).contains(&exp) {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        let _ = write!(s, "{:02}", exp.abs());
    } else {
        s.push_str(&digits_positioned(&digits, exp));
    }
    s
}

/// Place shortest digits `d1d2d3...` with decimal exponent `exp` as a plain decimal.
pub fn digits_positioned(digits: &str, exp: i32) -> String {
    let mut s = String::new();
    if exp < 0 {
        s.push_str("0.");
        for _ in 0..(-exp - 1) {
            s.push('0');
        }
        s.push_str(digits);
    } else {
        let int_len = (exp + 1) as usize;
        if digits.len() <= int_len {
            s.push_str(digits);
            for _ in 0..(int_len - digits.len()) {
                s.push('0');
            }
        } else {
            s.push_str(&digits[..int_len]);
            s.push('.');
            s.push_str(&digits[int_len..]);
        }
    }
    s
}

pub fn fmt_float_v(f: f64) -> String {
    fmt_float_g(f)
}

/// `fmt.Sprint(v)` of a value nested in a collection (`<nil>` for nil).
pub fn sprint(v: &Value) -> String {
    let mut s = String::new();
    write_sprint(&mut s, v);
    s
}

pub fn write_sprint(out: &mut String, v: &Value) {
    write_sprint_at(out, v, 0)
}

/// [`write_sprint`] at nesting level `depth`: stops (leaving the budget tripped) when the
/// execution's budget runs out or the value nests too deep.
fn write_sprint_at(out: &mut String, v: &Value, depth: usize) {
    if !limits::nesting(depth) || !limits::step(1) {
        return;
    }
    // strings are charged before they are copied; the rest is short
    if let Some(s) = v.as_str() {
        if limits::bytes(s.len() as u64) {
            out.push_str(s);
        }
        return;
    }
    limits::bytes(4);
    match classify(v) {
        G::Nil => out.push_str("<nil>"),
        G::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        G::Int(i) => {
            let _ = write!(out, "{}", i);
        }
        G::Float(f) => out.push_str(&fmt_float_v(f)),
        G::Str(s) => out.push_str(&s),
        G::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_sprint_at(out, x, depth + 1);
            }
            out.push(']');
        }
        G::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.snapshot().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if !limits::bytes(k.len() as u64) {
                    break;
                }
                out.push_str(k);
                out.push(':');
                write_sprint_at(out, x, depth + 1);
            }
            out.push(']');
        }
        G::Other => out.push_str(&v.to_string()),
    }
}

/// How text/template prints the value of an action: like `fmt.Fprint`
/// except that a nil interface prints `<no value>`.
pub fn template_print(v: &Value) -> String {
    if is_nil(v) {
        "<no value>".to_string()
    } else {
        sprint(v)
    }
}

/// Convert JSON (the caller's dot) into Go-flavoured values.
pub fn from_json(j: &serde_json::Value) -> Value {
    match j {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(a) => list(a.iter().map(from_json).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            GoMap::new_value(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Convert back to JSON (for toJson, for callers). Within a template execution the walk
/// is charged to its budget and stops (with nulls) when that runs out.
pub fn to_json(v: &Value) -> serde_json::Value {
    to_json_at(v, 0)
}

fn to_json_at(v: &Value, depth: usize) -> serde_json::Value {
    if !limits::nesting(depth) || !limits::step(1) {
        return serde_json::Value::Null;
    }
    match classify(v) {
        G::Nil => serde_json::Value::Null,
        G::Bool(b) => serde_json::Value::Bool(b),
        G::Int(i) => serde_json::Value::from(i),
        G::Float(f) => serde_json::Number::from_f64(f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null),
        G::Str(s) => {
            if limits::bytes(s.len() as u64) {
                serde_json::Value::String(s)
            } else {
                serde_json::Value::Null
            }
        }
        G::List(l) => serde_json::Value::Array(l.iter().map(|x| to_json_at(x, depth + 1)).collect()),
        G::Map(m) => serde_json::Value::Object(m.snapshot().iter().map(|(k, x)| (k.clone(), to_json_at(x, depth + 1))).collect()),
        G::Other => serde_json::Value::String(v.to_string()),
    }
}

/// Deep copy (maps get fresh GoMap objects). Within a template execution the walk is
/// charged to its budget and stops when that runs out.
pub fn deep_copy(v: &Value) -> Value {
    deep_copy_at(v, 0)
}

fn deep_copy_at(v: &Value, depth: usize) -> Value {
    if !limits::nesting(depth) || !limits::step(1) {
        return Value::from(());
    }
    match classify(v) {
        G::List(l) => list(l.iter().map(|x| deep_copy_at(x, depth + 1)).collect::<Vec<_>>()),
        G::Map(m) => GoMap::new_value(m.snapshot().iter().map(|(k, x)| (k.clone(), deep_copy_at(x, depth + 1))).collect()),
        _ => v.clone(),
    }
}

/// Convert serde_yaml values (fromYaml) to Go values.
pub fn from_yaml(y: &serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match y {
        Y::Null => Value::from(()),
        Y::Bool(b) => Value::from(*b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(0.0))
            }
        }
        Y::String(s) => Value::from(s.as_str()),
        Y::Sequence(a) => list(a.iter().map(from_yaml).collect::<Vec<_>>()),
        Y::Mapping(m) => GoMap::new_value(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => sprint(&from_yaml(other)),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => from_yaml(&t.value),
    }
}

pub fn new_map() -> Value {
    GoMap::new_value(BTreeMap::new())
}


