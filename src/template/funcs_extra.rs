//! The rest of sprig's function map: paths, base32, checksums, random
//! values, URLs, dates, and the crypto/network functions kod refuses
//! (they parse, like in helmfile, but fail when executed).

use std::collections::BTreeMap;

use minijinja::value::Value;
use minijinja::{Error, State};

use super::funcs::{err, i_arg, nargs, s_arg, to_f64, vstr, Ctx, Func};
use super::value::{classify, type_name, GoMap, G};

type R = Result<Value, Error>;

// ------------------------------------------------------------ paths (Go's path package)

/// Go path.Clean.
pub fn path_clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if parts.last().map(|l| *l != "..").unwrap_or(false) {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            s => parts.push(s),
        }
    }
    let s = parts.join("/");
    match (rooted, s.is_empty()) {
        (true, _) => format!("/{}", s),
        (false, true) => ".".into(),
        (false, false) => s,
    }
}

fn path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn path_dir(p: &str) -> String {
    let dir = match p.rfind('/') {
        Some(i) => &p[..=i],
        None => "",
    };
    path_clean(dir)
}

fn path_ext(p: &str) -> String {
    let base_start = p.rfind('/').map(|i| i + 1).unwrap_or(0);
    match p[base_start..].rfind('.') {
        Some(i) => p[base_start + i..].to_string(),
        None => String::new(),
    }
}

fn f_base(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("base", a, 1)?;
    Ok(vstr(path_base(&s_arg(&a[0])?)))
}
fn f_dir(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("dir", a, 1)?;
    Ok(vstr(path_dir(&s_arg(&a[0])?)))
}
fn f_clean(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("clean", a, 1)?;
    Ok(vstr(path_clean(&s_arg(&a[0])?)))
}
fn f_ext(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("ext", a, 1)?;
    Ok(vstr(path_ext(&s_arg(&a[0])?)))
}
fn f_is_abs(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("isAbs", a, 1)?;
    Ok(Value::from(s_arg(&a[0])?.starts_with('/')))
}

// ------------------------------------------------------------ strings

fn f_hello(_c: &Ctx, _s: &State, _a: &[Value]) -> R {
    Ok(vstr("Hello!"))
}

fn f_nospace(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("nospace", a, 1)?;
    // goutils.DeleteWhiteSpace works on bytes and turns each kept byte
    // into a rune (non-ASCII text comes out as Latin-1 mojibake, as in helmfile)
    let is_space = |b: u8| matches!(b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ' | 0x85 | 0xa0);
    Ok(vstr(s_arg(&a[0])?.bytes().filter(|b| !is_space(*b)).map(|b| b as char).collect::<String>()))
}

fn f_initials(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("initials", a, 1)?;
    let s = s_arg(&a[0])?;
    Ok(vstr(s.split_whitespace().filter_map(|w| w.chars().next()).collect::<String>()))
}

fn f_abbrevboth(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("abbrevboth", a, 3)?;
    let (left, right, s) = (i_arg(&a[0])?, i_arg(&a[1])?, s_arg(&a[2])?);
    // sprig's guard before goutils.AbbreviateFull(s, left, right)
    if right < 4 || (left > 0 && right < 7) {
        return Ok(vstr(s));
    }
    // goutils.AbbreviateFull(s, offset=left, maxWidth=right)
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let (mut offset, max_width) = (left, right);
    if s.is_empty() || (max_width < 4 && n > 0) || n <= max_width {
        return Ok(vstr(s));
    }
    if offset > n {
        offset = n;
    }
    if n - offset < max_width - 3 {
        offset = n - (max_width - 3);
    }
    let abbrev = "...";
    if offset <= 4 {
        return Ok(vstr(chars[..(max_width - 3) as usize].iter().collect::<String>() + abbrev));
    }
    if max_width < 7 {
        return Ok(vstr(s));
    }
    if offset + max_width - 3 < n {
        let inner: String = chars[offset as usize..].iter().collect();
        let tail = if (inner.chars().count() as i64) <= max_width - 3 {
            inner
        } else {
            inner.chars().take((max_width - 6) as usize).collect::<String>() + abbrev
        };
        return Ok(vstr(format!("{}{}", abbrev, tail)));
    }
    Ok(vstr(format!("{}{}", abbrev, chars[(n - (max_width - 3)) as usize..].iter().collect::<String>())))
}

fn f_wrap_with(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("wrapWith", a, 3)?;
    let (w, sep, s) = (i_arg(&a[0])?, s_arg(&a[1])?, s_arg(&a[2])?);
    Ok(vstr(super::funcs::go_wrap_custom(&s, w, &sep, true)))
}

fn f_adler32sum(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("adler32sum", a, 1)?;
    let s = s_arg(&a[0])?;
    let (mut x, mut y) = (1u32, 0u32);
    for b in s.bytes() {
        x = (x + b as u32) % 65521;
        y = (y + x) % 65521;
    }
    Ok(vstr(((y << 16) | x).to_string()))
}

const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn f_b32enc(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("b32enc", a, 1)?;
    let data = s_arg(&a[0])?.into_bytes();
    let mut out = String::new();
    for chunk in data.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let bits = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let nchars = (chunk.len() * 8).div_ceil(5);
        for i in 0..8 {
            if i < nchars {
                out.push(B32[((bits >> (35 - 5 * i)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    Ok(vstr(out))
}

fn f_b32dec(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("b32dec", a, 1)?;
    let s = s_arg(&a[0])?;
    let mut bits: u64 = 0;
    let mut nbits = 0;
    let mut out = Vec::new();
    for (i, c) in s.trim_end_matches('=').bytes().enumerate() {
        let Some(v) = B32.iter().position(|b| *b == c) else {
            return Ok(vstr(format!("illegal base32 data at input byte {}", i)));
        };
        bits = (bits << 5) | v as u64;
        nbits += 5;
        if nbits >= 8 {
            nbits -= 8;
            out.push((bits >> nbits) as u8);
            bits &= (1 << nbits) - 1;
        }
    }
    Ok(vstr(String::from_utf8_lossy(&out).into_owned()))
}

// ------------------------------------------------------------ math / lists

fn f_add1f(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("add1f", a, 1)?;
    Ok(Value::from(to_f64(&a[0]) + 1.0))
}
fn f_maxf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(a.iter().map(to_f64).fold(f64::NEG_INFINITY, f64::max)))
}
fn f_minf(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    Ok(Value::from(a.iter().map(to_f64).fold(f64::INFINITY, f64::min)))
}

fn f_chunk(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("chunk", a, 2)?;
    let size = i_arg(&a[0])?.max(1) as usize;
    let l = match classify(&a[1]) {
        G::List(l) => l,
        _ => return Err(err(format!("Cannot chunk type {}", type_name(&a[1])))),
    };
    Ok(Value::from(l.chunks(size).map(|c| super::value::list(c.to_vec())).collect::<Vec<_>>()))
}

fn f_type_is_like(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("typeIsLike", a, 2)?;
    let t = s_arg(&a[0])?;
    let n = type_name(&a[1]);
    Ok(Value::from(t == n || t == format!("*{}", n)))
}

// ------------------------------------------------------------ random (not reproducible in helmfile either)

fn rand_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        x = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0x9e3779b97f4a7c15)
            | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}

fn rand_from(a: &[Value], name: &str, alphabet: &[u8]) -> R {
    nargs(name, a, 1)?;
    let n = i_arg(&a[0])?.max(0) as usize;
    super::funcs::reserve(0, n as u64)?;
    Ok(vstr((0..n).map(|_| alphabet[(rand_u64() % alphabet.len() as u64) as usize] as char).collect::<String>()))
}

fn f_rand_alpha_num(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    rand_from(a, "randAlphaNum", b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}
fn f_rand_alpha(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    rand_from(a, "randAlpha", b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
}
fn f_rand_numeric(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    rand_from(a, "randNumeric", b"0123456789")
}
fn f_rand_ascii(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    let printable: Vec<u8> = (32u8..127).collect();
    rand_from(a, "randAscii", &printable)
}
fn f_rand_int(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("randInt", a, 2)?;
    let (lo, hi) = (i_arg(&a[0])?, i_arg(&a[1])?);
    if hi <= lo {
        return Err(err("invalid argument to Intn"));
    }
    Ok(Value::from(lo + (rand_u64() % (hi - lo) as u64) as i64))
}
fn f_shuffle(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("shuffle", a, 1)?;
    let mut v: Vec<char> = s_arg(&a[0])?.chars().collect();
    for i in (1..v.len()).rev() {
        let j = (rand_u64() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    Ok(vstr(v.into_iter().collect::<String>()))
}
fn f_uuidv4(_c: &Ctx, _s: &State, _a: &[Value]) -> R {
    let mut b = [0u8; 16];
    for chunk in b.chunks_mut(8) {
        chunk.copy_from_slice(&rand_u64().to_le_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(vstr(format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])))
}

// ------------------------------------------------------------ URLs

fn f_url_parse(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("urlParse", a, 1)?;
    let s = s_arg(&a[0])?;
    let mut rest = s.as_str();
    let mut m = BTreeMap::new();
    let (mut scheme, mut userinfo, mut host, mut query, mut fragment, mut opaque) =
        (String::new(), String::new(), String::new(), String::new(), String::new(), String::new());
    if let Some((f, frag)) = rest.split_once('#') {
        fragment = frag.to_string();
        rest = f;
    }
    if let Some(i) = rest.find(':') {
        let cand = &rest[..i];
        if !cand.is_empty() && cand.chars().next().unwrap().is_ascii_alphabetic() && cand.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            scheme = cand.to_lowercase();
            rest = &rest[i + 1..];
        }
    }
    if let Some((r, q)) = rest.split_once('?') {
        query = q.to_string();
        rest = r;
    }
    let path;
    if let Some(r) = rest.strip_prefix("//") {
        let (auth, p) = match r.find('/') {
            Some(i) => (&r[..i], &r[i..]),
            None => (r, ""),
        };
        if let Some((u, h)) = auth.rsplit_once('@') {
            userinfo = u.to_string();
            host = h.to_string();
        } else {
            host = auth.to_string();
        }
        path = p.to_string();
    } else if !scheme.is_empty() && !rest.starts_with('/') {
        opaque = rest.to_string();
        path = String::new();
    } else {
        path = rest.to_string();
    }
    let hostname = if host.starts_with('[') {
        host.split(']').next().unwrap_or("").trim_start_matches('[').to_string()
    } else {
        host.split(':').next().unwrap_or("").to_string()
    };
    m.insert("scheme".to_string(), vstr(scheme));
    m.insert("host".to_string(), vstr(host));
    m.insert("hostname".to_string(), vstr(hostname));
    m.insert("path".to_string(), vstr(path));
    m.insert("query".to_string(), vstr(query));
    m.insert("opaque".to_string(), vstr(opaque));
    m.insert("fragment".to_string(), vstr(fragment));
    m.insert("userinfo".to_string(), vstr(userinfo));
    Ok(GoMap::new_value(m))
}

fn f_url_join(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("urlJoin", a, 1)?;
    let m = match classify(&a[0]) {
        G::Map(m) => m,
        _ => return Err(err(format!("wrong type for value; expected map[string]interface {{}}; got {}", type_name(&a[0])))),
    };
    let g = |k: &str| m.get(k).map(|v| super::value::sprint(&v)).unwrap_or_default();
    let mut out = String::new();
    if !g("scheme").is_empty() {
        out.push_str(&g("scheme"));
        out.push(':');
    }
    if !g("opaque").is_empty() {
        out.push_str(&g("opaque"));
    } else {
        if !g("host").is_empty() || !g("userinfo").is_empty() {
            out.push_str("//");
            if !g("userinfo").is_empty() {
                out.push_str(&g("userinfo"));
                out.push('@');
            }
            out.push_str(&g("host"));
        }
        out.push_str(&g("path"));
    }
    if !g("query").is_empty() {
        out.push('?');
        out.push_str(&g("query"));
    }
    if !g("fragment").is_empty() {
        out.push('#');
        out.push_str(&g("fragment"));
    }
    Ok(vstr(out))
}

// ------------------------------------------------------------ dates (times are Go time.String() strings)

const GO_TIME_FMT: &str = "%Y-%m-%d %H:%M:%S%.f %z %Z";

fn parse_time(v: &Value) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    match classify(v) {
        G::Int(i) => chrono::DateTime::from_timestamp(i, 0).map(|d| d.fixed_offset()),
        G::Str(s) => chrono::DateTime::parse_from_str(&s, GO_TIME_FMT)
            .or_else(|_| chrono::DateTime::parse_from_rfc3339(&s))
            .ok()
            .or_else(|| {
                // "2006-01-02 15:04:05 +0000 UTC" without fractional seconds, or date only
                chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().fixed_offset())
            }),
        _ => None,
    }
}

fn fmt_time(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f %z").to_string() + if t.offset().local_minus_utc() == 0 { " UTC" } else { "" }
}

fn go_duration(secs: i64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let neg = secs < 0;
    let s = secs.unsigned_abs();
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    if h > 0 {
        out.push_str(&format!("{}h{}m{}s", h, m, sec));
    } else if m > 0 {
        out.push_str(&format!("{}m{}s", m, sec));
    } else {
        out.push_str(&format!("{}s", sec));
    }
    out
}

fn f_to_date(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("toDate", a, 2)?;
    let (layout, s) = (s_arg(&a[0])?, s_arg(&a[1])?);
    let fmt = super::funcs::go_layout_to_chrono(&layout);
    let t = chrono::DateTime::parse_from_str(&s, &fmt)
        .ok()
        .or_else(|| chrono::NaiveDateTime::parse_from_str(&s, &fmt).ok().map(|n| n.and_utc().fixed_offset()))
        .or_else(|| chrono::NaiveDate::parse_from_str(&s, &fmt).ok().map(|d| d.and_hms_opt(0, 0, 0).unwrap().and_utc().fixed_offset()));
    match t {
        Some(t) => Ok(vstr(fmt_time(t))),
        None => Err(err(format!("parsing time {:?} as {:?}: cannot parse", s, layout))),
    }
}

fn f_unix_epoch(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("unixEpoch", a, 1)?;
    let t = parse_time(&a[0]).ok_or_else(|| err("unixEpoch: not a time"))?;
    Ok(vstr(t.timestamp().to_string()))
}

fn f_date_in_zone(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("dateInZone", a, 3)?;
    let layout = s_arg(&a[0])?;
    let zone = s_arg(&a[2])?;
    let t = parse_time(&a[1]).unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    if zone != "UTC" && !zone.is_empty() {
        return Err(err(format!("dateInZone: time zone {:?} is not supported by kod (only UTC)", zone)));
    }
    let t = t.with_timezone(&chrono::Utc);
    Ok(vstr(super::funcs::go_format_time(&t, &layout)))
}

fn f_html_date(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("htmlDate", a, 1)?;
    let t = parse_time(&a[0]).unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    Ok(vstr(t.format("%Y-%m-%d").to_string()))
}

fn f_html_date_in_zone(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("htmlDateInZone", a, 2)?;
    let t = parse_time(&a[0]).unwrap_or_else(|| chrono::Utc::now().fixed_offset());
    Ok(vstr(t.with_timezone(&chrono::Utc).format("%Y-%m-%d").to_string()))
}

fn parse_go_duration(s: &str) -> Option<i64> {
    // subset: [-]NhNmNs
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let mult = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" | "µs" => 0.000001,
            "ns" => 0.000000001,
            _ => return None,
        };
        total += n * mult;
        rest = &rest[unit_end..];
    }
    // Go's durations are int64 nanoseconds: longer ones are "invalid duration"
    if !total.is_finite() || total > i64::MAX as f64 / 1e9 {
        return None;
    }
    Some(if neg { -total as i64 } else { total as i64 })
}

fn f_date_modify(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("dateModify", a, 2)?;
    let d = s_arg(&a[0])?;
    let t = parse_time(&a[1]).ok_or_else(|| err("dateModify: not a time"))?;
    let secs = parse_go_duration(&d).ok_or_else(|| err(format!("time: invalid duration {:?}", d)))?;
    let moved = chrono::Duration::try_seconds(secs).and_then(|d| t.checked_add_signed(d));
    Ok(vstr(fmt_time(moved.ok_or_else(|| err(format!("dateModify: {:?} moves the time out of range", d)))?)))
}

fn f_duration(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("duration", a, 1)?;
    // sprig only accepts string and int64 (a Go `int` gives 0s)
    let secs = match classify(&a[0]) {
        G::Str(s) => s.parse::<i64>().unwrap_or(0),
        G::Int(i) if super::value::is_int64(&a[0]) => i,
        _ => 0,
    };
    Ok(vstr(go_duration(secs)))
}

fn f_ago(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("ago", a, 1)?;
    let t = parse_time(&a[0]).ok_or_else(|| err("ago: not a time"))?;
    Ok(vstr(go_duration((chrono::Utc::now().fixed_offset() - t).num_seconds())))
}

fn f_duration_round(_c: &Ctx, _s: &State, a: &[Value]) -> R {
    nargs("durationRound", a, 1)?;
    let secs = match classify(&a[0]) {
        G::Str(s) => parse_go_duration(&s).unwrap_or(0),
        _ => super::funcs::to_i64(&a[0]) / 1_000_000_000,
    }
    .abs();
    let (y, mo, d, h, m) = (31536000, 2592000, 86400, 3600, 60);
    let s = if secs >= y {
        format!("{}y", secs / y)
    } else if secs >= mo {
        format!("{}mo", secs / mo)
    } else if secs >= d {
        format!("{}d", secs / d)
    } else if secs >= h {
        format!("{}h", secs / h)
    } else if secs >= m {
        format!("{}m", secs / m)
    } else {
        format!("{}s", secs)
    };
    Ok(vstr(s))
}

// ------------------------------------------------------------ refused

fn refuse(name: &str, why: &str) -> R {
    Err(err(format!("not supported by kod: {} ({})", name, why)))
}

macro_rules! refused {
    ($($fname:ident => $name:expr, $why:expr;)*) => {
        $(fn $fname(_c: &Ctx, _s: &State, _a: &[Value]) -> R { refuse($name, $why) })*
    };
}

refused! {
    f_get_host_by_name => "getHostByName", "network lookups are not reproducible offline";
    f_bcrypt => "bcrypt", "crypto material must be provided as values";
    f_htpasswd => "htpasswd", "crypto material must be provided as values";
    f_gen_private_key => "genPrivateKey", "crypto material must be provided as values";
    f_derive_password => "derivePassword", "crypto material must be provided as values";
    f_build_custom_cert => "buildCustomCert", "crypto material must be provided as values";
    f_gen_ca => "genCA", "crypto material must be provided as values";
    f_gen_ca_with_key => "genCAWithKey", "crypto material must be provided as values";
    f_gen_self_signed_cert => "genSelfSignedCert", "crypto material must be provided as values";
    f_gen_self_signed_cert_with_key => "genSelfSignedCertWithKey", "crypto material must be provided as values";
    f_gen_signed_cert => "genSignedCert", "crypto material must be provided as values";
    f_gen_signed_cert_with_key => "genSignedCertWithKey", "crypto material must be provided as values";
    f_encrypt_aes => "encryptAES", "crypto material must be provided as values";
    f_decrypt_aes => "decryptAES", "crypto material must be provided as values";
    f_rand_bytes => "randBytes", "crypto material must be provided as values";
}

pub const EXTRA_FUNCS: &[(&str, Func)] = &[
    ("hello", f_hello),
    ("base", f_base),
    ("dir", f_dir),
    ("clean", f_clean),
    ("ext", f_ext),
    ("isAbs", f_is_abs),
    ("osBase", f_base),
    ("osDir", f_dir),
    ("osClean", f_clean),
    ("osExt", f_ext),
    ("osIsAbs", f_is_abs),
    ("nospace", f_nospace),
    ("initials", f_initials),
    ("abbrevboth", f_abbrevboth),
    ("wrapWith", f_wrap_with),
    ("adler32sum", f_adler32sum),
    ("b32enc", f_b32enc),
    ("b32dec", f_b32dec),
    ("add1f", f_add1f),
    ("maxf", f_maxf),
    ("minf", f_minf),
    ("chunk", f_chunk),
    ("mustChunk", f_chunk),
    ("typeIsLike", f_type_is_like),
    ("randAlphaNum", f_rand_alpha_num),
    ("randAlpha", f_rand_alpha),
    ("randNumeric", f_rand_numeric),
    ("randAscii", f_rand_ascii),
    ("randInt", f_rand_int),
    ("shuffle", f_shuffle),
    ("uuidv4", f_uuidv4),
    ("urlParse", f_url_parse),
    ("urlJoin", f_url_join),
    ("toDate", f_to_date),
    ("mustToDate", f_to_date),
    ("unixEpoch", f_unix_epoch),
    ("dateInZone", f_date_in_zone),
    ("date_in_zone", f_date_in_zone),
    ("htmlDate", f_html_date),
    ("htmlDateInZone", f_html_date_in_zone),
    ("dateModify", f_date_modify),
    ("date_modify", f_date_modify),
    ("mustDateModify", f_date_modify),
    ("must_date_modify", f_date_modify),
    ("duration", f_duration),
    ("durationRound", f_duration_round),
    ("ago", f_ago),
    ("getHostByName", f_get_host_by_name),
    ("bcrypt", f_bcrypt),
    ("htpasswd", f_htpasswd),
    ("genPrivateKey", f_gen_private_key),
    ("derivePassword", f_derive_password),
    ("buildCustomCert", f_build_custom_cert),
    ("genCA", f_gen_ca),
    ("genCAWithKey", f_gen_ca_with_key),
    ("genSelfSignedCert", f_gen_self_signed_cert),
    ("genSelfSignedCertWithKey", f_gen_self_signed_cert_with_key),
    ("genSignedCert", f_gen_signed_cert),
    ("genSignedCertWithKey", f_gen_signed_cert_with_key),
    ("encryptAES", f_encrypt_aes),
    ("decryptAES", f_decrypt_aes),
    ("randBytes", f_rand_bytes),
];
