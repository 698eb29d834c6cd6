//! `toYaml`: a re-implementation of gopkg.in/yaml.v2's `Marshal` output for
//! plain data (maps with string keys, lists, scalars): sorted keys, 2-space
//! indentation, sequences inside mappings not indented, yaml.v2's scalar
//! style choice (plain / single-quoted / double-quoted / literal block) and
//! its folding of long scalars at 80 columns.

use std::sync::LazyLock;

use minijinja::value::Value;

use super::limits;
use super::value::{classify, fmt_float_g, G};

const BEST_WIDTH: usize = 80;

pub fn to_yaml(v: &Value) -> String {
    let mut e = Emitter { out: String::new(), column: 0, stopped: false, depth: 0 };
    match classify(v) {
        G::Map(m) if !m.is_empty() => e.map(&m.snapshot(), 0, false),
        G::List(l) if !l.is_empty() => e.list(&l, 0, false),
        _ => {
            // a top-level scalar continues at indentation 2 (yaml.v2)
            e.scalar_or_empty(v, 2, true);
            e.newline();
        }
    }
    e.out
}

struct Emitter {
    out: String,
    column: usize,
    /// the execution's budget ran out (see [`super::limits`]): emit nothing more
    stopped: bool,
    /// nesting of the collection being emitted
    depth: usize,
}

#[derive(PartialEq, Clone, Copy)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

impl Emitter {
    fn put(&mut self, s: &str) {
        if self.stopped || !limits::bytes(s.len() as u64) {
            self.stopped = true;
            return;
        }
        for c in s.chars() {
            if c == '\n' {
                self.column = 0;
            } else {
                self.column += 1;
            }
        }
        self.out.push_str(s);
    }
    fn newline(&mut self) {
        self.put("\n");
    }
    fn indent(&mut self, n: usize) {
        for _ in 0..n {
            self.put(" ");
        }
    }
    /// write "\n" + indentation (yaml_emitter_write_indent)
    fn write_indent(&mut self, n: usize) {
        self.put("\n");
        self.indent(n);
    }

    /// Whether to go on into a nested collection (budget and nesting); when it does,
    /// [`Emitter::ascend`] ends it.
    fn descend(&mut self) -> bool {
        self.depth += 1;
        if self.stopped || !limits::step(1) || !limits::nesting(self.depth) {
            self.stopped = true;
        }
        if self.stopped {
            self.depth -= 1;
        }
        !self.stopped
    }

    fn ascend(&mut self) {
        self.depth -= 1;
    }

    fn map(&mut self, m: &std::collections::BTreeMap<String, Value>, indent: usize, first_inline: bool) {
        if !self.descend() {
            return;
        }
        self.map_entries(m, indent, first_inline);
        self.ascend();
    }

    fn map_entries(&mut self, m: &std::collections::BTreeMap<String, Value>, indent: usize, first_inline: bool) {
        for (i, (k, v)) in sorted_entries(m).into_iter().enumerate() {
            if i > 0 || !first_inline {
                self.indent(indent);
            }
            if k.contains('\n') {
                // a multi-line key can't be a simple key: "? |-" complex key
                self.put("? ");
                self.string(k, indent + 2, true);
                self.newline();
                self.indent(indent);
            } else {
                self.string(k, indent + 2, false);
            }
            self.put(":");
            match classify(v) {
                G::Map(sub) if !sub.is_empty() => {
                    self.newline();
                    self.map(&sub.snapshot(), indent + 2, false);
                }
                G::List(l) if !l.is_empty() => {
                    self.newline();
                    self.list(&l, indent, false);
                }
                _ => {
                    self.put(" ");
                    self.scalar_or_empty(v, indent + 2, true);
                    self.newline();
                }
            }
        }
    }

    fn list(&mut self, l: &[Value], indent: usize, first_inline: bool) {
        if !self.descend() {
            return;
        }
        self.list_items(l, indent, first_inline);
        self.ascend();
    }

    fn list_items(&mut self, l: &[Value], indent: usize, first_inline: bool) {
        for (i, v) in l.iter().enumerate() {
            if i > 0 || !first_inline {
                self.indent(indent);
            }
            self.put("- ");
            match classify(v) {
                G::Map(sub) if !sub.is_empty() => self.map(&sub.snapshot(), indent + 2, true),
                G::List(sub) if !sub.is_empty() => self.list(&sub, indent + 2, true),
                _ => {
                    self.scalar_or_empty(v, indent + 2, true);
                    self.newline();
                }
            }
        }
    }

    fn scalar_or_empty(&mut self, v: &Value, indent: usize, allow_breaks: bool) {
        match classify(v) {
            G::Nil => self.put("null"),
            G::Bool(b) => self.put(if b { "true" } else { "false" }),
            G::Int(i) => self.put(&i.to_string()),
            G::Float(f) => {
                let s = fmt_float_g(f);
                let s = match s.as_str() {
                    "+Inf" => ".inf".to_string(),
                    "-Inf" => "-.inf".to_string(),
                    "NaN" => ".nan".to_string(),
                    _ => s,
                };
                self.put(&s)
            }
            G::Str(s) => self.string(&s, indent, allow_breaks),
            G::Map(_) => self.put("{}"),
            G::List(_) => self.put("[]"),
            G::Other => self.string(&v.to_string(), indent, allow_breaks),
        }
    }

    /// Emit a string scalar. `indent` is the indentation for continuation
    /// lines; `allow_breaks` is false for mapping keys.
    fn string(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let style = choose_style(s, !allow_breaks);
        match style {
            Style::Plain => self.plain(s, indent, allow_breaks),
            Style::Single => self.single(s, indent, allow_breaks),
            Style::Double => self.double(s, indent, allow_breaks),
            Style::Literal => self.literal(s, indent),
        }
    }

    fn plain(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                    self.write_indent(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                let mut b = [0u8; 4];
                self.put(c.encode_utf8(&mut b));
                spaces = false;
            }
        }
    }

    fn single(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.put("'");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != chars.len() - 1 && chars.get(i + 1) != Some(&' ') {
                    self.write_indent(indent);
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                if c == '\'' {
                    self.put("'");
                }
                let mut b = [0u8; 4];
                self.put(c.encode_utf8(&mut b));
                spaces = false;
            }
        }
        self.put("'");
    }

    fn double(&mut self, s: &str, indent: usize, allow_breaks: bool) {
        self.put("\"");
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                let esc = match c {
                    '\0' => "\\0".to_string(),
                    '\x07' => "\\a".to_string(),
                    '\x08' => "\\b".to_string(),
                    '\t' => "\\t".to_string(),
                    '\n' => "\\n".to_string(),
                    '\x0b' => "\\v".to_string(),
                    '\x0c' => "\\f".to_string(),
                    '\r' => "\\r".to_string(),
                    '\x1b' => "\\e".to_string(),
                    '"' => "\\\"".to_string(),
                    '\\' => "\\\\".to_string(),
                    '\u{85}' => "\\N".to_string(),
                    '\u{a0}' => "\\_".to_string(),
                    '\u{2028}' => "\\L".to_string(),
                    '\u{2029}' => "\\P".to_string(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.put(&esc);
                spaces = false;
            } else if c == ' ' {
                if allow_breaks && !spaces && self.column > BEST_WIDTH && i != 0 && i != chars.len() - 1 {
                    self.write_indent(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.put("\\");
                    }
                } else {
                    self.put(" ");
                }
                spaces = true;
            } else {
                let mut b = [0u8; 4];
                self.put(c.encode_utf8(&mut b));
                spaces = false;
            }
        }
        self.put("\"");
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.put("|");
        if s.starts_with(' ') || s.starts_with('\n') {
            self.put("2");
        }
        if !s.ends_with('\n') {
            self.put("-");
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            self.put("+");
        }
        // content
        let mut breaks = true;
        self.put("\n");
        for c in s.chars() {
            if c == '\n' {
                self.put("\n");
                breaks = true;
            } else {
                if breaks {
                    self.indent(indent);
                    breaks = false;
                }
                let mut b = [0u8; 4];
                self.put(c.encode_utf8(&mut b));
            }
        }
        // the trailing newline of the scalar is written by the caller's newline
        if s.ends_with('\n') {
            // remove the last "\n" we wrote: caller adds one
            self.out.pop();
            self.column = 0;
            // position: after removing, we are at end of last line
            let last_line_len = self.out.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0);
            self.column = last_line_len;
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// yaml.v2's is_printable works on UTF-8 bytes and only admits 1-3 byte
/// sequences: characters beyond the BMP (emoji) and U+0085 get escaped.
fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a || (0x20..=0x7e).contains(&u) || ((0xa0..=0xd7ff).contains(&u)) || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
}

/// yaml.v2's keyList.Less for string keys: a "natural" order where digit
/// runs compare numerically and non-letters sort before letters.
pub fn yaml_key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn) = (0i64, 0i64);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i as isize - 1;
            while j >= 0 && ar[j as usize].is_ascii_digit() {
                if ar[j as usize] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
                j -= 1;
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

fn sorted_entries(m: &std::collections::BTreeMap<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<(&String, &Value)> = m.iter().collect();
    v.sort_by(|a, b| {
        if yaml_key_less(a.0, b.0) {
            std::cmp::Ordering::Less
        } else if yaml_key_less(b.0, a.0) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    v
}

/// yaml.v2's resolve(): does this plain scalar resolve to a non-string?
fn resolves_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF", "true", "True",
        "TRUE", "false", "False", "FALSE", "", "~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf",
        ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let first = s.chars().next().unwrap();
    if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
        return false;
    }
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    if go_parse_int_base0(&plain) {
        return true;
    }
    static FLOAT_RE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").unwrap());
    if FLOAT_RE.is_match(&plain) {
        return true;
    }
    if first.is_ascii_digit() && is_timestamp(s) {
        return true;
    }
    false
}

fn go_parse_int_base0(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let l = body.to_ascii_lowercase();
    if let Some(h) = l.strip_prefix("0x") {
        return !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit());
    }
    if let Some(b) = l.strip_prefix("0b") {
        return !b.is_empty() && b.chars().all(|c| c == '0' || c == '1');
    }
    if let Some(o) = l.strip_prefix("0o") {
        return !o.is_empty() && o.chars().all(|c| ('0'..='7').contains(&c));
    }
    if l.starts_with('0') {
        return l.chars().all(|c| ('0'..='7').contains(&c));
    }
    l.chars().all(|c| c.is_ascii_digit())
}

fn is_timestamp(s: &str) -> bool {
    static RE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
        r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(([Tt]|[ \t]+)[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]*)?(([ \t]*)(Z|[-+][0-9]{1,2}(:[0-9]{2})?))?)?$",
        )
        .unwrap()
    });
    RE.is_match(s)
}

fn is_base60_float(s: &str) -> bool {
    static RE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").unwrap());
    // cheap pre-check: needs a ':'
    s.contains(':') && RE.is_match(s)
}

fn choose_style(s: &str, simple_key: bool) -> Style {
    let can_use_plain = !resolves_non_string(s) && !is_base60_float(s);
    let requested = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    match requested {
        Style::Plain => {
            if !a.block_plain_allowed || (s.is_empty() && simple_key) {
                if a.single_quoted_allowed {
                    Style::Single
                } else {
                    Style::Double
                }
            } else {
                Style::Plain
            }
        }
        Style::Literal => {
            if !a.block_allowed || simple_key {
                Style::Double
            } else {
                Style::Literal
            }
        }
        other => other,
    }
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn analyze(s: &str) -> Analysis {
    let chars: Vec<char> = s.chars().collect();
    if chars.is_empty() {
        return Analysis { block_plain_allowed: false, single_quoted_allowed: true, block_allowed: false };
    }
    let mut block_indicators = false;
    let mut special = false;
    let mut line_breaks = false;
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) = (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        block_indicators = true;
    }
    let blankz = |c: Option<&char>| match c {
        None => true,
        Some(c) => *c == ' ' || *c == '\t' || is_break(*c) || *c == '\0',
    };
    let mut preceded_by_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_by_ws = blankz(chars.get(i + 1));
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@' | '`' => {
                    block_indicators = true
                }
                '?' | ':' | '-' if followed_by_ws => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_ws => block_indicators = true,
                '#' if preceded_by_ws => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{feff}' {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_break = true;
            prev_space = false;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_by_ws = blankz(Some(&c));
    }
    let mut block_plain = true;
    let mut single = true;
    let mut block = true;
    if leading_space || leading_break || trailing_space || trailing_break {
        block_plain = false;
    }
    if trailing_space {
        block = false;
    }
    if break_space {
        block_plain = false;
        single = false;
    }
    if space_break || special {
        block_plain = false;
        single = false;
        block = false;
    }
    if line_breaks {
        block_plain = false;
    }
    if block_indicators {
        block_plain = false;
    }
    Analysis { block_plain_allowed: block_plain, single_quoted_allowed: single, block_allowed: block }
}
