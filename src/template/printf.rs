//! A Go `fmt` compatible subset: `Sprint`, `Sprintln`, `Sprintf`.

use minijinja::value::Value;

use super::limits;
use super::value::{classify, fmt_float_g, sprint, type_name, G};

/// Go's `fmt` refuses widths and precisions above a million (`tooLarge`).
const TOO_LARGE: u64 = 1_000_000;

/// `n` zeros (or another digit) in front of `s`, charged to the execution's budget.
fn left_fill(s: &str, fill: char, n: usize) -> String {
    if !limits::bytes(n as u64) {
        return s.to_string();
    }
    let mut out = String::with_capacity(n + s.len());
    out.extend(std::iter::repeat(fill).take(n));
    out.push_str(s);
    out
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
pub fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(classify(a), G::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&sprint(a));
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: always spaces, trailing newline.
pub fn go_sprintln(args: &[Value]) -> String {
    let mut s = args.iter().map(sprint).collect::<Vec<_>>().join(" ");
    s.push('\n');
    s
}

#[derive(Default, Clone, Copy)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

/// Go `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\x07' => o.push_str("\\a"),
            '\x08' => o.push_str("\\b"),
            '\x0c' => o.push_str("\\f"),
            '\x0b' => o.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) < 0x10000 {
                    o.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    o.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn pad(s: String, spec: &Spec, numeric: bool) -> String {
    let Some(w) = spec.width else { return s };
    let len = s.chars().count();
    if len >= w {
        return s;
    }
    let n = w - len;
    if !limits::bytes(n as u64) {
        return s;
    }
    if spec.minus {
        format!("{}{}", s, " ".repeat(n))
    } else if spec.zero && numeric {
        // zero padding after the sign
        let (sign, rest) = if s.starts_with('-') || s.starts_with('+') { s.split_at(1) } else { ("", s.as_str()) };
        format!("{}{}{}", sign, "0".repeat(n), rest)
    } else if spec.zero {
        format!("{}{}", "0".repeat(n), s)
    } else {
        format!("{}{}", " ".repeat(n), s)
    }
}

/// Go's badVerb: the value is printed with `%v` and the same flags.
fn bad_verb(verb: char, spec: &Spec, v: &Value) -> String {
    if matches!(classify(v), G::Nil) {
        return format!("%!{}(<nil>)", verb);
    }
    format!("%!{}({}={})", verb, type_name(v), fmt_at('v', spec, v, 1))
}

/// Go's %x/%X/%b for floats (strconv 'x' / 'b' formats).
fn fmt_float_hex(f: f64, verb: char, spec: &Spec) -> String {
    let neg = f.is_sign_negative();
    let a = f.abs();
    if verb == 'b' {
        // mantissa p exponent, mantissa an integer
        let bits = a.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i64;
        let mant = bits & ((1u64 << 52) - 1);
        let (m, e) = if exp == 0 { (mant, -1074) } else { (mant | (1u64 << 52), exp - 1075) };
        let s = format!("{}p{}{}", m, if e < 0 { "-" } else { "+" }, e.abs());
        return sign(if neg { format!("-{}", s) } else { s }, spec, neg);
    }
    if a == 0.0 {
        let z = match spec.prec {
            Some(p) if p > 0 => format!("0x0.{}p+00", "0".repeat(p)),
            _ => "0x0p+00".to_string(),
        };
        let z = if verb == 'X' { z.to_uppercase() } else { z };
        return sign(if neg { format!("-{}", z) } else { z }, spec, neg);
    }
    // normalise to 1.xxxx * 2^e
    let bits = a.to_bits();
    let mut exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    if exp == 0 {
        // subnormal: shift until the implicit bit appears
        let shift = mant.leading_zeros() as i64 - 11;
        mant = (mant << shift) & ((1u64 << 52) - 1);
        exp = 1 - shift;
    }
    let mut e = exp - 1023;
    // 52 fraction bits = 13 hex digits
    let mut int_part = 1u64;
    let mut frac = mant;
    let digits = match spec.prec {
        Some(p) if p < 13 => {
            // round to p hex digits (round half to even)
            let drop = (13 - p) * 4;
            let keep = frac >> drop;
            let rem = frac & ((1u64 << drop) - 1);
            let half = 1u64 << (drop - 1);
            let mut keep = keep;
            if rem > half || (rem == half && keep & 1 == 1) {
                keep += 1;
                if keep >> (p * 4) != 0 {
                    keep = 0;
                    int_part += 1;
                }
            }
            if int_part == 2 {
                int_part = 1;
                e += 1;
            }
            frac = keep;
            if p == 0 { String::new() } else { format!("{:0width$x}", frac, width = p) }
        }
        Some(p) => format!("{:013x}{}", frac, left_fill("", '0', p - 13)),
        None => {
            let s = format!("{:013x}", frac);
            s.trim_end_matches('0').to_string()
        }
    };
    let mut s = format!("0x{}", int_part);
    if !digits.is_empty() {
        s.push('.');
        s.push_str(&digits);
    }
    s.push_str(&format!("p{}{:02}", if e < 0 { '-' } else { '+' }, e.abs()));
    if verb == 'X' {
        s = s.to_uppercase();
    }
    sign(if neg { format!("-{}", s) } else { s }, spec, neg)
}

fn sign(s: String, spec: &Spec, neg: bool) -> String {
    if neg {
        s
    } else if spec.plus {
        format!("+{}", s)
    } else if spec.space {
        format!(" {}", s)
    } else {
        s
    }
}

fn fmt_int(i: i64, verb: char, spec: &Spec) -> String {
    let neg = i < 0;
    let a = i.unsigned_abs();
    let mut digits = match verb {
        'd' | 'v' => a.to_string(),
        'x' => format!("{:x}", a),
        'X' => format!("{:X}", a),
        'o' => format!("{:o}", a),
        'O' => format!("0o{:o}", a),
        'b' => format!("{:b}", a),
        _ => a.to_string(),
    };
    if let Some(p) = spec.prec {
        // %.0d of 0 prints nothing
        if p == 0 && a == 0 {
            digits.clear();
        }
        if digits.len() < p {
            digits = left_fill(&digits, '0', p - digits.len());
        }
    }
    if spec.sharp {
        match verb {
            'x' => digits.insert_str(0, "0x"),
            'X' => digits.insert_str(0, "0X"),
            'o' if !digits.starts_with('0') => digits.insert(0, '0'),
            _ => {}
        }
    }
    let s = if neg { format!("-{}", digits) } else { digits };
    sign(s, spec, neg)
}

/// Digits past these are zeros for every f64 (its exact decimal expansion has at most 1074
/// fraction digits and 767 significant ones); Rust's formatter refuses precisions above
/// 65535, Go's goes up to a million.
const F64_FRACTION_DIGITS: usize = 1100;
const F64_SIGNIFICANT_DIGITS: usize = 800;

/// `{:.p$}` for any `p`: the digits past what an f64 can have are zeros.
fn fixed(f: f64, p: usize) -> String {
    if p <= F64_FRACTION_DIGITS || !f.is_finite() {
        return format!("{:.*}", p.min(F64_FRACTION_DIGITS), f);
    }
    let s = format!("{:.*}", F64_FRACTION_DIGITS, f);
    let zeros = left_fill("", '0', p - F64_FRACTION_DIGITS);
    s + &zeros
}

/// `{:.p$e}` for any `p`.
fn exponent(f: f64, p: usize) -> String {
    if p <= F64_SIGNIFICANT_DIGITS || !f.is_finite() {
        return format!("{:.*e}", p.min(F64_SIGNIFICANT_DIGITS), f);
    }
    let s = format!("{:.*e}", F64_SIGNIFICANT_DIGITS, f);
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{}{}e{}", m, left_fill("", '0', p - F64_SIGNIFICANT_DIGITS), e)
}

fn fmt_float(f: f64, verb: char, spec: &Spec) -> String {
    let neg = f.is_sign_negative() && f != 0.0;
    let s = match verb {
        'f' | 'F' => fixed(f, spec.prec.unwrap_or(6)),
        'e' | 'E' => {
            let s = exponent(f, spec.prec.unwrap_or(6));
            let s = go_exp(&s);
            if verb == 'E' {
                s.to_uppercase()
            } else {
                s
            }
        }
        'g' | 'G' | 'v' => match spec.prec {
            None => fmt_float_g(f),
            Some(p) => {
                // %.Ng: N significant digits, exponent if exp < -4 || exp >= N
                let p = p.clamp(1, F64_SIGNIFICANT_DIGITS);
                let e = format!("{:.*e}", p - 1, f);
                let (m, x) = e.split_once('e').unwrap();
                let exp: i32 = x.parse().unwrap();
                if exp < -4 || exp >= p as i32 {
                    let m = if m.contains('.') { m.trim_end_matches('0').trim_end_matches('.') } else { m };
                    go_exp(&format!("{}e{}", m, exp))
                } else {
                    let s = format!("{:.*}", (p as i32 - 1 - exp).max(0) as usize, f);
                    if s.contains('.') {
                        s.trim_end_matches('0').trim_end_matches('.').to_string()
                    } else {
                        s
                    }
                }
            }
        },
        _ => fmt_float_g(f),
    };
    sign(s, spec, neg)
}

/// Rust `1.5e3` -> Go `1.5e+03`.
fn go_exp(s: &str) -> String {
    let (m, e) = s.split_once('e').unwrap();
    let exp: i32 = e.parse().unwrap();
    format!("{}e{}{:02}", m, if exp < 0 { '-' } else { '+' }, exp.abs())
}

fn fmt_one(verb: char, spec: &Spec, v: &Value) -> String {
    fmt_at(verb, spec, v, 0)
}

fn fmt_at(verb: char, spec: &Spec, v: &Value, depth: usize) -> String {
    if !limits::nesting(depth) || !limits::step(1) {
        return String::new();
    }
    let g = classify(v);
    // a nil interface inside a collection prints <nil> for every verb
    if depth > 0 && matches!(g, G::Nil) {
        return pad("<nil>".into(), spec, false);
    }
    match (verb, g) {
        ('T', _) => {
            let t: String = match spec.prec {
                Some(p) => type_name(v).chars().take(p).collect(),
                None => type_name(v).to_string(),
            };
            pad(t, spec, false)
        }
        ('v', G::Nil) => pad("<nil>".into(), spec, false),
        ('U', G::Int(i)) => {
            let hex = format!("{:X}", i);
            let w = spec.prec.unwrap_or(4).max(4);
            pad(format!("U+{}", left_fill(&hex, '0', w.saturating_sub(hex.len()))), spec, false)
        }
        ('v', G::Str(s)) | ('s', G::Str(s)) => {
            let s = match spec.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s,
            };
            pad(s, spec, false)
        }
        ('q', G::Str(s)) => pad(go_quote(&s), spec, false),
        ('x', G::Str(s)) | ('X', G::Str(s)) => {
            let bytes: Vec<u8> = match spec.prec {
                Some(p) => s.into_bytes().into_iter().take(p).collect(),
                None => s.into_bytes(),
            };
            let h = hex::encode(&bytes);
            let h = if spec.sharp && !bytes.is_empty() { format!("0x{}", h) } else { h };
            pad(if verb == 'X' { h.to_uppercase() } else { h }, spec, false)
        }
        ('x' | 'X' | 'b', G::Float(f)) => pad(fmt_float_hex(f, verb, spec), spec, true),
        ('v', G::Bool(b)) | ('t', G::Bool(b)) => pad(b.to_string(), spec, false),
        // with a precision the zero flag is ignored for integers
        ('v' | 'd' | 'x' | 'X' | 'o' | 'O' | 'b', G::Int(i)) => {
            pad(fmt_int(i, verb, spec), &Spec { zero: spec.zero && spec.prec.is_none(), ..*spec }, true)
        }
        ('c', G::Int(i)) => pad(char::from_u32(i as u32).map(|c| c.to_string()).unwrap_or_default(), spec, false),
        ('q', G::Int(i)) => {
            let c = char::from_u32(i as u32).unwrap_or('\u{fffd}');
            let q = if c == '\'' { "\\'".to_string() } else if c == '"' { "\"".to_string() } else { go_quote(&c.to_string()).trim_matches('"').to_string() };
            pad(format!("'{}'", q), spec, false)
        }
        ('v' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G', G::Float(f)) => pad(fmt_float(f, verb, spec), spec, true),
        (_, G::List(l)) if verb != 'T' => {
            // Go applies width/flags to each element
            let inner: Vec<String> = l.iter().map(|x| fmt_at(verb, spec, x, depth + 1)).collect();
            format!("[{}]", inner.join(" "))
        }
        (_, G::Map(m)) => {
            let inner: Vec<String> = m
                .snapshot()
                .iter()
                .map(|(k, x)| format!("{}:{}", fmt_at(verb, spec, &Value::from(k.as_str()), depth + 1), fmt_at(verb, spec, x, depth + 1)))
                .collect();
            format!("map[{}]", inner.join(" "))
        }
        // Stringers (fs.DirEntry) print their String() for %v/%s
        ('v' | 's', G::Other) => pad(sprint(v), spec, false),
        _ => bad_verb(verb, spec, v),
    }
}

/// Go's `parsenum`: the number at `i` (if any) and the index after it; a number above
/// [`TOO_LARGE`] yields none and the end of the format.
fn parse_num(chars: &[char], mut i: usize) -> (Option<usize>, usize) {
    let mut num: u64 = 0;
    let mut any = false;
    while i < chars.len() && chars[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (None, chars.len());
        }
        num = num * 10 + chars[i].to_digit(10).unwrap_or(0) as u64;
        any = true;
        i += 1;
    }
    (any.then_some(num as usize), i)
}

/// Go `fmt.Sprintf` for the common verbs.
pub fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0usize;
    let chars: Vec<char> = format.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '%' {
            out.push(c);
            i += 1;
            continue;
        }
        i += 1;
        let mut spec = Spec::default();
        while i < chars.len() {
            match chars[i] {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = !spec.minus,
                _ => break,
            }
            i += 1;
        }
        // width (Go: a `*` argument that is not an int or is too large is BADWIDTH; a
        // literal number too large swallows the rest of the format, then NOVERB)
        if i < chars.len() && chars[i] == '*' {
            i += 1;
            match args.get(argi).map(classify) {
                Some(G::Int(w)) if w.unsigned_abs() <= TOO_LARGE => {
                    if w < 0 {
                        spec.minus = true;
                    }
                    spec.width = Some(w.unsigned_abs() as usize);
                }
                Some(G::Int(_)) => out.push_str("%!(BADWIDTH)"),
                _ => {}
            }
            argi += 1;
        } else {
            let (n, next) = parse_num(&chars, i);
            spec.width = n;
            i = next;
        }
        if i < chars.len() && chars[i] == '.' {
            i += 1;
            if i < chars.len() && chars[i] == '*' {
                i += 1;
                match args.get(argi).map(classify) {
                    Some(G::Int(p)) if p.unsigned_abs() <= TOO_LARGE => spec.prec = Some(p.max(0) as usize),
                    Some(G::Int(_)) => out.push_str("%!(BADPREC)"),
                    _ => {}
                }
                argi += 1;
            } else {
                let (n, next) = parse_num(&chars, i);
                spec.prec = Some(n.unwrap_or(0));
                i = next;
            }
        }
        if i >= chars.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = chars[i];
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{}(MISSING)", verb));
            continue;
        };
        argi += 1;
        out.push_str(&fmt_one(verb, &spec, arg));
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| if matches!(classify(a), G::Nil) { "<nil>".to_string() } else { format!("{}={}", type_name(a), sprint(a)) })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}
