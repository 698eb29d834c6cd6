//! Go-flavoured values on top of `minijinja::Value`.
//!
//! * Go `nil` is `Value::NONE` (undefined is treated the same way).
//! * Go maps (`map[string]interface{}`) are [`GoMap`] objects: mutable
//!   (sprig `set`/`unset`/`merge` mutate in place, like Go maps which are
//!   reference types) and always iterated in sorted key order.
//! * Go slices are minijinja sequences (immutable; sprig's list functions
//!   return new lists).
//! * ints stay `i64`, floats stay `f64`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value, ValueKind};

/// A mutable Go map with string keys, iterated in sorted order.
#[derive(Debug, Default)]
pub struct GoMap(pub Mutex<BTreeMap<String, Value>>);

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
    pub fn insert(&self, k: String, v: Value) {
        self.0.lock().unwrap().insert(k, v);
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
        ValueKind::Seq | ValueKind::Iterable => G::List(v.try_iter().map(|i| i.collect()).unwrap_or_default()),
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
                write_sprint(out, x);
            }
            out.push(']');
        }
        G::Map(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.snapshot().iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_sprint(out, x);
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
        serde_json::Value::Array(a) => Value::from(a.iter().map(from_json).collect::<Vec<_>>()),
        serde_json::Value::Object(o) => {
            GoMap::new_value(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect())
        }
    }
}

/// Convert back to JSON (for toJson, for callers).
pub fn to_json(v: &Value) -> serde_json::Value {
    match classify(v) {
        G::Nil => serde_json::Value::Null,
        G::Bool(b) => serde_json::Value::Bool(b),
        G::Int(i) => serde_json::Value::from(i),
        G::Float(f) => serde_json::Number::from_f64(f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null),
        G::Str(s) => serde_json::Value::String(s),
        G::List(l) => serde_json::Value::Array(l.iter().map(to_json).collect()),
        G::Map(m) => serde_json::Value::Object(m.snapshot().iter().map(|(k, x)| (k.clone(), to_json(x))).collect()),
        G::Other => serde_json::Value::String(v.to_string()),
    }
}

/// Deep copy (maps get fresh GoMap objects).
pub fn deep_copy(v: &Value) -> Value {
    match classify(v) {
        G::List(l) => Value::from(l.iter().map(deep_copy).collect::<Vec<_>>()),
        G::Map(m) => GoMap::new_value(m.snapshot().iter().map(|(k, x)| (k.clone(), deep_copy(x))).collect()),
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
        Y::Sequence(a) => Value::from(a.iter().map(from_yaml).collect::<Vec<_>>()),
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

pub fn list(v: Vec<Value>) -> Value {
    Value::from(v)
}
