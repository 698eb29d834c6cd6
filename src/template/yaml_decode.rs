//! `fromYaml`: decode YAML the way gopkg.in/yaml.v2 does (YAML 1.1 scalar
//! resolution: `yes`/`on`/`y` are booleans, `0755` is octal, `~` is null,
//! merge keys `<<`, timestamps stay strings), into Go values.
//!
//! serde_yaml resolves scalars by YAML 1.2 rules and hides whether a
//! scalar was quoted, so this walks libyaml's event stream (the
//! `unsafe-libyaml` crate serde_yaml itself is built on) and resolves
//! scalars with yaml.v2's rules.

use std::collections::{BTreeMap, HashMap};
use std::mem::MaybeUninit;

use minijinja::value::Value;
#[allow(clippy::unsafe_removed_from_name)]
use unsafe_libyaml as y;

use super::value::{deep_copy, sprint, GoMap};

/// Result of decoding the first document: `None` for an empty stream.
pub enum Decoded {
    Empty,
    Node { value: Value, kind: &'static str, line: usize, text: String },
}

enum Frame {
    Seq { items: Vec<Value>, anchor: Option<String>, line: usize },
    Map { map: BTreeMap<String, Value>, key: Option<(Value, bool, String)>, anchor: Option<String>, line: usize },
}

struct Parser {
    p: Box<MaybeUninit<y::yaml_parser_t>>,
    _input: Vec<u8>,
}

impl Parser {
    fn new(src: &str) -> Parser {
        let input = src.as_bytes().to_vec();
        let mut p = Box::new(MaybeUninit::<y::yaml_parser_t>::uninit());
        // SAFETY: libyaml initialises the parser struct; the input buffer is
        // owned by `Parser` and outlives the parser (dropped after delete).
        unsafe {
            let _ = y::yaml_parser_initialize(p.as_mut_ptr());
            y::yaml_parser_set_input_string(p.as_mut_ptr(), input.as_ptr(), input.len() as _);
        }
        Parser { p, _input: input }
    }

    fn error(&mut self) -> String {
        // SAFETY: the parser was initialised in `new`.
        unsafe {
            let p = &*self.p.as_ptr();
            let mut line = 0usize;
            if p.problem_mark.line != 0 {
                line = p.problem_mark.line as usize;
                if p.error == y::YAML_SCANNER_ERROR {
                    line += 1;
                }
            } else if p.context_mark.line != 0 {
                line = p.context_mark.line as usize;
            }
            let problem = if p.problem.is_null() {
                "unknown problem parsing YAML content".to_string()
            } else {
                std::ffi::CStr::from_ptr(p.problem as *const std::ffi::c_char).to_string_lossy().into_owned()
            };
            if line != 0 {
                format!("yaml: line {}: {}", line, problem)
            } else {
                format!("yaml: {}", problem)
            }
        }
    }

    /// Next event, converted to an owned form.
    fn next(&mut self) -> Result<Ev, String> {
        let mut ev = MaybeUninit::<y::yaml_event_t>::uninit();
        // SAFETY: parser initialised; the event is deleted after copying out.
        unsafe {
            if y::yaml_parser_parse(self.p.as_mut_ptr(), ev.as_mut_ptr()).fail {
                return Err(self.error());
            }
            let mut ev = ev.assume_init();
            let cstr = |p: *mut u8| -> Option<String> {
                if p.is_null() {
                    None
                } else {
                    Some(std::ffi::CStr::from_ptr(p as *const std::ffi::c_char).to_string_lossy().into_owned())
                }
            };
            let line = ev.start_mark.line as usize + 1;
            let out = match ev.type_ {
                y::YAML_STREAM_END_EVENT => Ev::StreamEnd,
                y::YAML_DOCUMENT_END_EVENT => Ev::DocEnd,
                y::YAML_ALIAS_EVENT => Ev::Alias(cstr(ev.data.alias.anchor).unwrap_or_default()),
                y::YAML_SCALAR_EVENT => {
                    let s = ev.data.scalar;
                    let bytes = std::slice::from_raw_parts(s.value, s.length as usize);
                    Ev::Scalar {
                        value: String::from_utf8_lossy(bytes).into_owned(),
                        tag: cstr(s.tag),
                        anchor: cstr(s.anchor),
                        plain: s.style == y::YAML_PLAIN_SCALAR_STYLE,
                        line,
                    }
                }
                y::YAML_SEQUENCE_START_EVENT => Ev::SeqStart(cstr(ev.data.sequence_start.anchor), line),
                y::YAML_SEQUENCE_END_EVENT => Ev::SeqEnd,
                y::YAML_MAPPING_START_EVENT => Ev::MapStart(cstr(ev.data.mapping_start.anchor), line),
                y::YAML_MAPPING_END_EVENT => Ev::MapEnd,
                _ => Ev::Other,
            };
            y::yaml_event_delete(&mut ev);
            Ok(out)
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        // SAFETY: initialised in `new`, deleted once.
        unsafe { y::yaml_parser_delete(self.p.as_mut_ptr()) }
    }
}

enum Ev {
    StreamEnd,
    DocEnd,
    Alias(String),
    Scalar { value: String, tag: Option<String>, anchor: Option<String>, plain: bool, line: usize },
    SeqStart(Option<String>, usize),
    SeqEnd,
    MapStart(Option<String>, usize),
    MapEnd,
    Other,
}

/// yaml.v2 scalar resolution. Returns (value, is_merge_key).
fn resolve(value: &str, tag: Option<&str>, plain: bool) -> Result<(Value, bool), String> {
    let tag = tag.map(|t| t.strip_prefix("tag:yaml.org,2002:").map(|x| format!("!!{}", x)).unwrap_or_else(|| t.to_string()));
    match tag.as_deref() {
        Some("!!str") => return Ok((Value::from(value), false)),
        Some("!!binary") => {
            use base64::Engine as _;
            let clean: String = value.chars().filter(|c| !c.is_whitespace()).collect();
            let b = base64::engine::general_purpose::STANDARD.decode(clean).map_err(|_| "!!binary value contains invalid base64 data".to_string())?;
            return Ok((Value::from(String::from_utf8_lossy(&b).into_owned()), false));
        }
        None | Some("!") if !plain => return Ok((Value::from(value), false)),
        _ => {}
    }
    let v = resolve_plain(value);
    if let Some(t) = tag.as_deref() {
        let ok = match t {
            "!!int" => matches!(v.0, R::Int(_)),
            "!!float" => matches!(v.0, R::Int(_) | R::Float(_)),
            "!!bool" => matches!(v.0, R::Bool(_)),
            "!!null" => matches!(v.0, R::Null),
            _ => true,
        };
        if !ok {
            return Err(format!("yaml: cannot decode !!str `{}` as a {}", value, t));
        }
        if t == "!!float" {
            if let R::Int(i) = v.0 {
                return Ok((Value::from(i as f64), false));
            }
        }
    }
    Ok(match v.0 {
        R::Null => (Value::from(()), false),
        R::Bool(b) => (Value::from(b), false),
        R::Int(i) => (Value::from(i), false),
        R::Uint(u) => (Value::from(u), false),
        R::Float(f) => (Value::from(f), false),
        R::Merge => (Value::from("<<"), true),
        R::Str => (Value::from(value), false),
    })
}

enum R {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Merge,
    Str,
}

fn resolve_plain(s: &str) -> (R,) {
    let r = match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => R::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => R::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => R::Null,
        ".nan" | ".NaN" | ".NAN" => R::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => R::Float(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => R::Float(f64::NEG_INFINITY),
        "<<" => R::Merge,
        _ => {
            let first = s.chars().next().unwrap();
            if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
                R::Str
            } else {
                let plain: String = s.chars().filter(|c| *c != '_').collect();
                if let Some(i) = go_parse_int(&plain) {
                    R::Int(i)
                } else if let Some(u) = go_parse_uint(&plain) {
                    R::Uint(u)
                } else if is_yaml_float(&plain) {
                    plain.parse::<f64>().map(R::Float).unwrap_or(R::Str)
                } else if let Some(b) = plain.strip_prefix("0b") {
                    i64::from_str_radix(b, 2).map(R::Int).unwrap_or(R::Str)
                } else if let Some(b) = plain.strip_prefix("-0b") {
                    i64::from_str_radix(b, 2).map(|i| R::Int(-i)).unwrap_or(R::Str)
                } else {
                    R::Str
                }
            }
        }
    };
    (r,)
}

/// Go strconv.ParseInt(s, 0, 64).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        (16, h)
    } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
        (8, o)
    } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
        (2, b)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = i128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -mag } else { mag };
    i64::try_from(v).ok()
}

fn go_parse_uint(s: &str) -> Option<u64> {
    if s.starts_with('-') || s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) {
        // leading-zero forms are octal/hex/binary and fit ParseInt already
        return None;
    }
    s.parse::<u64>().ok()
}

fn is_yaml_float(s: &str) -> bool {
    // ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match b.find(['e', 'E']) {
        Some(i) => (&b[..i], Some(&b[i + 1..])),
        None => (b, None),
    };
    let mant_ok = if let Some(frac) = mant.strip_prefix('.') {
        !frac.is_empty() && frac.chars().all(|c| c.is_ascii_digit())
    } else {
        let (int, frac) = match mant.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (mant, None),
        };
        !int.is_empty() && int.chars().all(|c| c.is_ascii_digit()) && frac.map(|f| f.chars().all(|c| c.is_ascii_digit())).unwrap_or(true)
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.chars().all(|c| c.is_ascii_digit())
        }
    };
    mant_ok && exp_ok
}

fn key_string(k: &Value) -> String {
    sprint(k)
}

/// Collections nested deeper than [`super::limits::MAX_NESTING`] are refused (kod walks
/// values recursively; Go's yaml packages stop at 10000).
fn check_depth(open: usize) -> Result<(), String> {
    if open >= super::limits::MAX_NESTING {
        return Err(format!("yaml: exceeded max depth of {} (kod's limit)", super::limits::MAX_NESTING));
    }
    Ok(())
}

/// Decode the first document of `src`.
pub fn decode(src: &str) -> Result<Decoded, String> {
    let mut p = Parser::new(src);
    let mut anchors: HashMap<String, Value> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<(Value, &'static str, usize, String)> = None;
    loop {
        let ev = p.next()?;
        let (value, anchor, is_merge, kind, line, text): (Value, Option<String>, bool, &'static str, usize, String) = match ev {
            Ev::StreamEnd | Ev::DocEnd => break,
            Ev::Other => continue,
            Ev::Alias(a) => match anchors.get(&a) {
                Some(v) => (deep_copy(v), None, false, "", 0, String::new()),
                None => return Err(format!("yaml: unknown anchor '{}' referenced", a)),
            },
            Ev::Scalar { value, tag, anchor, plain, line } => {
                let (v, merge) = resolve(&value, tag.as_deref(), plain)?;
                let kind = match super::value::classify(&v) {
                    super::value::G::Str(_) => "!!str",
                    super::value::G::Int(_) => "!!int",
                    super::value::G::Float(_) => "!!float",
                    super::value::G::Bool(_) => "!!bool",
                    _ => "!!null",
                };
                (v, anchor, merge, kind, line, value)
            }
            Ev::SeqStart(anchor, line) => {
                check_depth(stack.len())?;
                stack.push(Frame::Seq { items: Vec::new(), anchor, line });
                continue;
            }
            Ev::MapStart(anchor, line) => {
                check_depth(stack.len())?;
                stack.push(Frame::Map { map: BTreeMap::new(), key: None, anchor, line });
                continue;
            }
            Ev::SeqEnd => match stack.pop() {
                Some(Frame::Seq { items, anchor, line }) => (super::value::list(items), anchor, false, "!!seq", line, String::new()),
                _ => return Err("yaml: unbalanced sequence".into()),
            },
            Ev::MapEnd => match stack.pop() {
                Some(Frame::Map { map, anchor, line, .. }) => (GoMap::new_value(map), anchor, false, "!!map", line, String::new()),
                _ => return Err("yaml: unbalanced mapping".into()),
            },
        };
        if let Some(a) = anchor {
            anchors.insert(a, value.clone());
        }
        let depth = stack.len();
        match stack.last_mut() {
            None => {
                root = Some((value, kind, line, text));
            }
            Some(Frame::Seq { items, .. }) => items.push(value),
            Some(Frame::Map { map, key, .. }) => match key.take() {
                None => *key = Some((value, is_merge, text)),
                Some((k, merge, raw)) => {
                    if merge {
                        // yaml.v2: merge a mapping or a sequence of mappings
                        let sources: Vec<Value> = match super::value::classify(&value) {
                            super::value::G::List(l) => l,
                            _ => vec![value],
                        };
                        for s in sources {
                            match super::value::classify(&s) {
                                super::value::G::Map(m) => {
                                    for (mk, mv) in m.snapshot() {
                                        map.insert(mk, mv);
                                    }
                                }
                                _ => return Err("yaml: map merge requires map or sequence of maps as the value".into()),
                            }
                        }
                    } else if depth == 1 {
                        // the top level decodes into map[string]interface{}:
                        // yaml.v2 stores a scalar key's text as the string
                        let ks = if raw.is_empty() && !matches!(super::value::classify(&k), super::value::G::Str(_)) { key_string(&k) } else { raw };
                        map.insert(ks, value);
                    } else {
                        // nested maps are map[interface{}]interface{}; helmfile
                        // then insists on string keys
                        if !matches!(super::value::classify(&k), super::value::G::Str(_)) {
                            // fmt prints string keys before the bool/int one
                            let mut parts: Vec<String> = map.iter().map(|(mk, mv)| format!("{}:{}", mk, sprint(mv))).collect();
                            parts.push(format!("{}:{}", key_string(&k), sprint(&value)));
                            return Err(format!(
                                "unexpected type of key in map: expected string, got {}: value={}, map=map[{}]",
                                super::value::type_name(&k),
                                key_string(&k),
                                parts.join(" ")
                            ));
                        }
                        map.insert(key_string(&k), value);
                    }
                }
            },
        }
    }
    Ok(match root {
        None => Decoded::Empty,
        Some((value, kind, line, text)) => Decoded::Node { value, kind, line, text },
    })
}
