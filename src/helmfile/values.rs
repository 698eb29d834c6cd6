//! Values as helmfile handles them: JSON-like trees with string keys, deep-merged with maps
//! merging and everything else (lists included) replaced, `--state-values-set` parsing, and
//! the conversion of YAML (any key type) into string-keyed trees.

use anyhow::{anyhow, bail, Result};
use serde_json::{Map, Value};
use serde_yaml::Value as Yaml;

/// Deep-merge `src` into `dst`: maps merge key by key (recursively); any other value in
/// `src` replaces the one in `dst` (lists replace, as helmfile's mergo `WithOverride`).
/// A `null` in `src` replaces too, except that a null never erases a map.
pub fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    Some(existing) if existing.is_object() && v.is_null() => {}
                    _ => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (d, s) => *d = s.clone(),
    }
}

/// An empty map value.
pub fn empty_map() -> Value {
    Value::Object(Map::new())
}

/// Convert YAML into a string-keyed JSON tree the way helmfile does
/// (`maputil.CastKeysToStrings`): keys of any scalar type become strings.
pub fn yaml_to_json(y: &Yaml) -> Result<Value> {
    Ok(match y {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(*b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                serde_json::Number::from_f64(f).map(Value::Number).unwrap_or_else(|| Value::String(n.to_string()))
            }
        }
        Yaml::String(s) => Value::String(s.clone()),
        Yaml::Sequence(items) => Value::Array(items.iter().map(yaml_to_json).collect::<Result<_>>()?),
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Number(n) => n.to_string(),
                    Yaml::Bool(b) => b.to_string(),
                    Yaml::Null => "null".to_string(),
                    other => bail!("unsupported map key {other:?}"),
                };
                out.insert(key, yaml_to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(t) => yaml_to_json(&t.value)?,
    })
}

/// Convert a JSON tree back to YAML (for output).
pub fn json_to_yaml(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Bool(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Yaml::Number(i.into())
            } else if let Some(u) = n.as_u64() {
                Yaml::Number(u.into())
            } else {
                Yaml::Number(n.as_f64().unwrap_or(0.0).into())
            }
        }
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Sequence(a.iter().map(json_to_yaml).collect()),
        Value::Object(m) => {
            let mut out = serde_yaml::Mapping::new();
            for (k, v) in m {
                out.insert(Yaml::String(k.clone()), json_to_yaml(v));
            }
            Yaml::Mapping(out)
        }
    }
}

/// Parse a YAML document holding values (a map, or empty) into a JSON tree.
pub fn parse_values_yaml(text: &str) -> Result<Value> {
    let y: Yaml = serde_yaml::from_str(text)?;
    match y {
        Yaml::Null => Ok(empty_map()),
        Yaml::Mapping(_) => yaml_to_json(&y),
        other => Err(anyhow!("values must be a map, found {}", kind_of(&other))),
    }
}

fn kind_of(y: &Yaml) -> &'static str {
    match y {
        Yaml::Null => "null",
        Yaml::Bool(_) => "a boolean",
        Yaml::Number(_) => "a number",
        Yaml::String(_) => "a string",
        Yaml::Sequence(_) => "a list",
        Yaml::Mapping(_) => "a map",
        Yaml::Tagged(_) => "a tagged value",
    }
}

/// Parse `--state-values-set k=v[,k2=v2]` as helmfile does (helm's strvals): comma-separated
/// `key=value` pairs (`\,` escapes a comma), dotted keys create nested maps, and values are
/// typed: `true`/`false` are booleans, `null` is null, integers without a leading zero are
/// integers, anything else is a string (checked against helmfile 0.166: `n=3` is an int).
pub fn parse_set(spec: &str) -> Result<Value> {
    let mut out = empty_map();
    for pair in split_unescaped(spec) {
        let pair = pair.as_str();
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| anyhow!("--state-values-set {spec:?}: {pair:?} is not KEY=VALUE"))?;
        if key.is_empty() {
            bail!("--state-values-set {spec:?}: empty key in {pair:?}");
        }
        let mut tree = typed(value);
        for part in key.split('.').rev() {
            if part.is_empty() {
                bail!("--state-values-set {spec:?}: empty key segment in {key:?}");
            }
            let mut m = Map::new();
            m.insert(part.to_string(), tree);
            tree = Value::Object(m);
        }
        merge(&mut out, &tree);
    }
    Ok(out)
}

/// Split on commas not preceded by a backslash; `\,` becomes `,`.
fn split_unescaped(spec: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut chars = spec.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&',') => {
                parts.last_mut().expect("non-empty").push(',');
                chars.next();
            }
            ',' => parts.push(String::new()),
            c => parts.last_mut().expect("non-empty").push(c),
        }
    }
    parts
}

/// helm strvals' typing of a `--set` value.
fn typed(value: &str) -> Value {
    match value {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        "0" => Value::from(0),
        v if v.starts_with('0') => Value::String(v.to_string()),
        v => match v.parse::<i64>() {
            Ok(i) => Value::from(i),
            Err(_) => Value::String(v.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_maps_deep_and_replace_lists() {
        let mut a = json!({"a": {"b": 1, "c": [1, 2]}, "d": "x"});
        merge(&mut a, &json!({"a": {"c": [3], "e": true}, "d": {"n": 1}}));
        assert_eq!(a, json!({"a": {"b": 1, "c": [3], "e": true}, "d": {"n": 1}}));
        let mut b = json!({"m": {"k": 1}});
        merge(&mut b, &json!({"m": null}));
        assert_eq!(b, json!({"m": {"k": 1}}));
    }

    #[test]
    fn set_parsing() {
        assert_eq!(parse_set("a.b=1,c=x").unwrap(), json!({"a": {"b": 1}, "c": "x"}));
        assert_eq!(parse_set("a.b=1,a.c=2").unwrap(), json!({"a": {"b": 1, "c": 2}}));
        assert_eq!(parse_set("t=true,n=null,z=0,o=012,f=1.5,s=a\\,b").unwrap(), json!({"t": true, "n": null, "z": 0, "o": "012", "f": "1.5", "s": "a,b"}));
        assert!(parse_set("novalue").unwrap_err().to_string().contains("is not KEY=VALUE"));
        assert!(parse_set("a..b=1").is_err());
    }

    #[test]
    fn yaml_keys_become_strings() {
        let y: Yaml = serde_yaml::from_str("1: a\ntrue: b\nx: {2: c}\nf: 1.5\n").unwrap();
        assert_eq!(yaml_to_json(&y).unwrap(), json!({"1": "a", "true": "b", "x": {"2": "c"}, "f": 1.5}));
    }

    #[test]
    fn values_documents() {
        assert_eq!(parse_values_yaml("").unwrap(), json!({}));
        assert!(parse_values_yaml("- a").unwrap_err().to_string().contains("found a list"));
    }
}
