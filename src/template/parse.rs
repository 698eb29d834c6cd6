//! Lexer and parser for Go's text/template syntax (as of Go 1.22, the Go
//! version helmfile 0.166 is built with: no `else with`, no `range` over
//! integers, `break`/`continue` allowed inside `range`).

/// A parse error: 1-based line and a Go-like message.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone)]
pub enum Node {
    Text { text: String, line: usize },
    Action { pipe: Pipe, line: usize },
    If { pipe: Pipe, body: Vec<Node>, else_: Option<Vec<Node>>, line: usize },
    With { pipe: Pipe, body: Vec<Node>, else_: Option<Vec<Node>>, line: usize },
    Range { pipe: Pipe, body: Vec<Node>, else_: Option<Vec<Node>>, line: usize },
    Break { line: usize },
    Continue { line: usize },
    Template { name: String, pipe: Option<Pipe>, line: usize },
}

impl Node {
    pub fn line(&self) -> usize {
        match self {
            Node::Text { line, .. }
            | Node::Action { line, .. }
            | Node::If { line, .. }
            | Node::With { line, .. }
            | Node::Range { line, .. }
            | Node::Break { line }
            | Node::Continue { line }
            | Node::Template { line, .. } => *line,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Pipe {
    pub line: usize,
    /// declared/assigned variable names including `$`
    pub decl: Vec<String>,
    pub is_assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub struct Cmd {
    pub args: Vec<Operand>,
    /// source text of the command, for error messages (`<...>`)
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Operand {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// a function name
    Ident(String),
    /// `.a.b` (fields of dot)
    Field(Vec<String>),
    /// `$x.a.b`
    Var(String, Vec<String>),
    /// `(pipeline).a.b` or `literal.a`
    Chain(Box<Operand>, Vec<String>),
    Pipe(Box<Pipe>),
}

#[derive(Debug, Clone)]
pub struct Define {
    pub name: String,
    pub line: usize,
    pub body: Vec<Node>,
}

#[derive(Debug, Clone, Default)]
pub struct Tree {
    pub root: Vec<Node>,
    pub defines: Vec<Define>,
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    LeftDelim,
    RightDelim,
    Space,
    Ident(String),
    Keyword(&'static str),
    Field(String),
    Var(String),
    Dot,
    Str(String),
    Char(i64),
    Number(String),
    Bool(bool),
    Nil,
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    /// byte offset (for command source text)
    pos: usize,
    /// the token's source text (for Go-style error messages)
    raw: String,
}

const KEYWORDS: &[&str] = &["block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"];

struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    line_starts: Vec<usize>,
    out: Vec<Token>,
}

fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r' || c == b'\n'
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn line_of(&self, pos: usize) -> usize {
        match self.line_starts.binary_search(&pos) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    fn push(&mut self, tok: Tok, pos: usize) {
        let line = self.line_of(pos);
        let raw = match tok {
            Tok::RightDelim => "}}".to_string(),
            Tok::LeftDelim => "{{".to_string(),
            Tok::Eof | Tok::Text(_) => String::new(),
            _ if self.pos > pos => self.src[pos..self.pos].to_string(),
            _ => String::new(),
        };
        self.out.push(Token { tok, line, pos, raw });
    }

    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { line: self.line_of(pos), message: msg.into() })
    }

    fn run(mut self) -> Result<Vec<Token>, ParseError> {
        let mut trim_next = false;
        loop {
            let rest = &self.src[self.pos..];
            let next = rest.find("{{");
            let text_end = match next {
                Some(i) => self.pos + i,
                None => self.src.len(),
            };
            let mut text_start = self.pos;
            if trim_next {
                while text_start < text_end && is_space(self.b[text_start]) {
                    text_start += 1;
                }
            }
            let mut tend = text_end;
            let mut trim_left = false;
            if next.is_some() {
                let after = text_end + 2;
                if after + 1 < self.b.len() + 1
                    && self.b.get(after) == Some(&b'-')
                    && self.b.get(after + 1).map(|c| is_space(*c)).unwrap_or(false)
                {
                    trim_left = true;
                    while tend > text_start && is_space(self.b[tend - 1]) {
                        tend -= 1;
                    }
                }
            }
            if tend > text_start {
                self.push(Tok::Text(self.src[text_start..tend].to_string()), text_start);
            }
            let Some(_) = next else {
                self.push(Tok::Eof, self.src.len());
                return Ok(self.out);
            };
            // inside an action
            let delim_pos = text_end;
            self.pos = text_end + 2;
            if trim_left {
                self.pos += 2; // "- "  (the whitespace itself is lexed as space, fine to skip one)
            }
            // comment?
            let mut p = self.pos;
            while trim_left && p < self.b.len() && is_space(self.b[p]) {
                p += 1;
            }
            if self.src[p..].starts_with("/*") || (!trim_left && self.src[self.pos..].starts_with("/*")) {
                let start = if self.src[p..].starts_with("/*") { p } else { self.pos };
                let Some(end) = self.src[start + 2..].find("*/") else {
                    return self.err(delim_pos, "unclosed comment");
                };
                let mut q = start + 2 + end + 2;
                // optional trim marker
                let mut trim = false;
                if self.src[q..].starts_with(" -}}") || self.src[q..].starts_with("\t-}}") || self.src[q..].starts_with("\n-}}") || self.src[q..].starts_with("\r-}}") {
                    trim = true;
                    q += 2;
                }
                if !self.src[q..].starts_with("}}") {
                    return self.err(delim_pos, "comment ends before closing delimiter");
                }
                self.pos = q + 2;
                trim_next = trim;
                continue;
            }
            self.push(Tok::LeftDelim, delim_pos);
            trim_next = self.lex_inside(delim_pos)?;
        }
    }

    /// Lex the inside of an action; returns whether the right delimiter had a trim marker.
    fn lex_inside(&mut self, delim_pos: usize) -> Result<bool, ParseError> {
        let mut paren_depth = 0i32;
        loop {
            let rest = &self.src[self.pos..];
            if rest.is_empty() {
                return self.err(delim_pos, "unclosed action");
            }
            let c = self.b[self.pos];
            // right delimiter with trim marker
            if is_space(c) && rest.len() >= 4 && &rest.as_bytes()[1..4] == b"-}}" {
                self.push(Tok::Space, self.pos);
                self.push(Tok::RightDelim, self.pos + 1);
                self.pos += 4;
                if paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                return Ok(true);
            }
            if rest.starts_with("}}") {
                if paren_depth > 0 {
                    return self.err(self.pos, "unclosed left paren");
                }
                self.push(Tok::RightDelim, self.pos);
                self.pos += 2;
                return Ok(false);
            }
            let start = self.pos;
            match c {
                _ if is_space(c) => {
                    while self.pos < self.b.len() && is_space(self.b[self.pos]) {
                        // stop before a " -}}" trim marker
                        if self.b.len() >= self.pos + 4 && &self.b[self.pos + 1..self.pos + 4] == b"-}}" {
                            break;
                        }
                        self.pos += 1;
                    }
                    if self.pos == start {
                        // whitespace right before the trim marker: handled above next loop
                        continue;
                    }
                    self.push(Tok::Space, start);
                }
                b'=' => {
                    self.pos += 1;
                    self.push(Tok::Assign, start);
                }
                b':' => {
                    if self.b.get(self.pos + 1) != Some(&b'=') {
                        return self.err(start, "expected :=");
                    }
                    self.pos += 2;
                    self.push(Tok::Declare, start);
                }
                b'|' => {
                    self.pos += 1;
                    self.push(Tok::Pipe, start);
                }
                b',' => {
                    self.pos += 1;
                    self.push(Tok::Comma, start);
                }
                b'(' => {
                    self.pos += 1;
                    paren_depth += 1;
                    self.push(Tok::LParen, start);
                }
                b')' => {
                    self.pos += 1;
                    paren_depth -= 1;
                    if paren_depth < 0 {
                        return self.err(start, "unexpected right paren");
                    }
                    self.push(Tok::RParen, start);
                }
                b'"' => {
                    let mut i = self.pos + 1;
                    loop {
                        match self.b.get(i) {
                            None | Some(b'\n') => return self.err(start, "unterminated quoted string"),
                            Some(b'\\') => i += 2,
                            Some(b'"') => break,
                            _ => i += 1,
                        }
                    }
                    let raw = &self.src[self.pos..=i];
                    let s = unquote(raw).map_err(|m| ParseError { line: self.line_of(start), message: m })?;
                    self.pos = i + 1;
                    self.push(Tok::Str(s), start);
                }
                b'`' => {
                    let Some(end) = self.src[self.pos + 1..].find('`') else {
                        return self.err(start, "unterminated raw quoted string");
                    };
                    let s = self.src[self.pos + 1..self.pos + 1 + end].replace('\r', "");
                    self.pos = self.pos + 1 + end + 1;
                    self.push(Tok::Str(s), start);
                }
                b'\'' => {
                    let mut i = self.pos + 1;
                    loop {
                        match self.b.get(i) {
                            None | Some(b'\n') => return self.err(start, "unterminated character constant"),
                            Some(b'\\') => i += 2,
                            Some(b'\'') => break,
                            _ => i += 1,
                        }
                    }
                    let inner = &self.src[self.pos + 1..i];
                    let s = unquote(&format!("\"{}\"", inner.replace("\\'", "'")))
                        .map_err(|m| ParseError { line: self.line_of(start), message: m })?;
                    let mut cs = s.chars();
                    let (Some(ch), None) = (cs.next(), cs.next()) else {
                        return self.err(start, format!("malformed character constant: {}", &self.src[start..=i]));
                    };
                    self.pos = i + 1;
                    self.push(Tok::Char(ch as i64), start);
                }
                b'$' => {
                    let mut i = self.pos + 1;
                    while i < self.b.len() {
                        let ch = self.src[i..].chars().next().unwrap();
                        if !is_alnum(ch) {
                            break;
                        }
                        i += ch.len_utf8();
                    }
                    let name = self.src[self.pos..i].to_string();
                    self.pos = i;
                    self.check_terminator()?;
                    self.push(Tok::Var(name), start);
                }
                b'.' => {
                    if self.b.get(self.pos + 1).map(|c| c.is_ascii_digit()).unwrap_or(false) {
                        self.lex_number()?;
                    } else {
                        let mut i = self.pos + 1;
                        while i < self.b.len() {
                            let ch = self.src[i..].chars().next().unwrap();
                            if !is_alnum(ch) {
                                break;
                            }
                            i += ch.len_utf8();
                        }
                        if i == self.pos + 1 {
                            self.pos += 1;
                            self.push(Tok::Dot, start);
                        } else {
                            let name = self.src[self.pos + 1..i].to_string();
                            self.pos = i;
                            self.check_terminator()?;
                            self.push(Tok::Field(name), start);
                        }
                    }
                }
                b'+' | b'-' | b'0'..=b'9' => self.lex_number()?,
                _ => {
                    let ch = rest.chars().next().unwrap();
                    if is_alnum(ch) {
                        let mut i = self.pos;
                        while i < self.b.len() {
                            let ch = self.src[i..].chars().next().unwrap();
                            if !is_alnum(ch) {
                                break;
                            }
                            i += ch.len_utf8();
                        }
                        let word = &self.src[self.pos..i];
                        self.pos = i;
                        self.check_terminator()?;
                        let tok = if let Some(k) = KEYWORDS.iter().find(|k| **k == word) {
                            Tok::Keyword(k)
                        } else if word == "true" || word == "false" {
                            Tok::Bool(word == "true")
                        } else if word == "nil" {
                            Tok::Nil
                        } else {
                            Tok::Ident(word.to_string())
                        };
                        self.push(tok, start);
                    } else {
                        return self.err(start, format!("unrecognized character in action: {:?}", ch));
                    }
                }
            }
        }
    }

    /// Go's lexer: identifiers, fields and variables must be followed by a
    /// terminator, else "bad character".
    fn check_terminator(&self) -> Result<(), ParseError> {
        let rest = &self.src[self.pos..];
        let Some(c) = rest.chars().next() else { return Ok(()) };
        if c == ' ' || c == '\t' || c == '\r' || c == '\n' || ".,|:)(".contains(c) || rest.starts_with("}}") {
            return Ok(());
        }
        self.err(self.pos, format!("bad character U+{:04X} '{}'", c as u32, c))
    }

    fn lex_number(&mut self) -> Result<(), ParseError> {
        let start = self.pos;
        let mut i = self.pos;
        if matches!(self.b.get(i), Some(b'+') | Some(b'-')) {
            i += 1;
        }
        while i < self.b.len() {
            let c = self.b[i];
            let exp_sign = (c == b'+' || c == b'-')
                && i > start
                && matches!(self.b[i - 1], b'e' | b'E' | b'p' | b'P')
                && !self.src[start..i].to_ascii_lowercase().starts_with("0x");
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exp_sign {
                i += 1;
            } else {
                break;
            }
        }
        let text = &self.src[start..i];
        if text == "+" || text == "-" {
            return self.err(start, format!("illegal number syntax: {:?}", text));
        }
        self.pos = i;
        self.push(Tok::Number(text.to_string()), start);
        Ok(())
    }
}

/// Go's strconv.Unquote for a double-quoted string.
pub fn unquote(raw: &str) -> Result<String, String> {
    let inner = &raw[1..raw.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars().peekable();
    let bad = || format!("invalid syntax: {}", raw);
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else { return Err(bad()) };
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '\'' => out.push('\''),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = (0..n).filter_map(|_| it.next()).collect();
                let v = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                if e == 'x' {
                    // a raw byte; for ASCII this is the char itself
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                } else {
                    out.push(char::from_u32(v).ok_or_else(bad)?);
                }
            }
            '0'..='7' => {
                let mut s = String::from(e);
                for _ in 0..2 {
                    if let Some(d) = it.next() {
                        s.push(d);
                    }
                }
                let v = u32::from_str_radix(&s, 8).map_err(|_| bad())?;
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Parse a Go number literal: Ok(Int) or Ok(Float).
fn parse_number(text: &str) -> Result<Operand, String> {
    let clean: String = text.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, clean.strip_prefix('+').unwrap_or(&clean).to_string()),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.chars().all(|c| c.is_ascii_digit()) {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.chars().all(|c| c.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Ok(Operand::Int(if neg { -i } else { i }));
    }
    if !lower.starts_with("0x") && lower.contains(['.', 'e']) {
        if let Ok(f) = lower.parse::<f64>() {
            return Ok(Operand::Float(if neg { -f } else { f }));
        }
    }
    Err(format!("bad number syntax: {:?}", text))
}

// ---------------------------------------------------------------- parser

struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    i: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: Vec<Define>,
    range_depth: usize,
    /// nesting of blocks (`if`, `with`, `range`, `define`, `block`) and parentheses
    depth: usize,
}

/// Deepest nesting of blocks and parentheses parsed. The parser and the translator recurse,
/// and minijinja refuses more than 150 nested blocks or expressions anyway (a deeper
/// template used to overflow the stack here; found by fuzzing).
const MAX_PARSE_DEPTH: usize = 200;

#[allow(clippy::enum_variant_names)]
enum End {
    End,
    Else(usize),
    Eof,
}

type PResult<T> = Result<T, ParseError>;

impl<'a> Parser<'a> {
    fn peek(&self) -> &Token {
        &self.toks[self.i]
    }
    fn next(&mut self) -> Token {
        let t = self.toks[self.i].clone();
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
        t
    }
    fn peek_non_space(&mut self) -> &Token {
        while self.toks[self.i].tok == Tok::Space {
            self.i += 1;
        }
        &self.toks[self.i]
    }
    fn next_non_space(&mut self) -> Token {
        self.peek_non_space();
        self.next()
    }
    fn err<T>(&self, line: usize, msg: impl Into<String>) -> PResult<T> {
        Err(ParseError { line, message: msg.into() })
    }
    /// Run `f` one nesting level deeper.
    fn nested<T>(&mut self, line: usize, f: impl FnOnce(&mut Self) -> PResult<T>) -> PResult<T> {
        if self.depth >= MAX_PARSE_DEPTH {
            return self.err(
                line,
                format!("template nesting too deep for kod (more than {MAX_PARSE_DEPTH} nested blocks or parentheses)"),
            );
        }
        self.depth += 1;
        let r = f(self);
        self.depth -= 1;
        r
    }
    fn expect_right(&mut self, ctx: &str) -> PResult<()> {
        let t = self.next_non_space();
        if t.tok != Tok::RightDelim {
            return self.err(t.line, format!("unexpected {} in {}", describe_tok(&t), ctx));
        }
        Ok(())
    }

    /// Parse a list of nodes until `{{end}}`, `{{else}}` or EOF.
    fn list(&mut self, top: bool) -> PResult<(Vec<Node>, End)> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => return Ok((nodes, End::Eof)),
                Tok::Text(s) => nodes.push(Node::Text { text: s, line: t.line }),
                Tok::LeftDelim => {
                    let k = self.next_non_space();
                    match k.tok {
                        Tok::Keyword("end") => {
                            self.expect_right("end")?;
                            if top {
                                return self.err(k.line, "unexpected {{end}}");
                            }
                            return Ok((nodes, End::End));
                        }
                        Tok::Keyword("else") => {
                            if top {
                                return self.err(k.line, "unexpected {{else}}");
                            }
                            return Ok((nodes, End::Else(k.line)));
                        }
                        Tok::Keyword("define") => {
                            if !top {
                                return self.err(k.line, "unexpected <define> in command");
                            }
                            self.define(k.line)?;
                        }
                        Tok::Keyword("if") => nodes.push(self.control("if", k.line)?),
                        Tok::Keyword("with") => nodes.push(self.control("with", k.line)?),
                        Tok::Keyword("range") => nodes.push(self.control("range", k.line)?),
                        Tok::Keyword("break") | Tok::Keyword("continue") => {
                            let is_break = k.tok == Tok::Keyword("break");
                            self.expect_right(if is_break { "{{break}}" } else { "{{continue}}" })?;
                            if self.range_depth == 0 {
                                return self.err(k.line, format!("{{{{{}}}}} outside {{{{range}}}}", if is_break { "break" } else { "continue" }));
                            }
                            nodes.push(if is_break { Node::Break { line: k.line } } else { Node::Continue { line: k.line } });
                        }
                        Tok::Keyword("template") => {
                            let (name, pipe) = self.template_args("template", k.line)?;
                            nodes.push(Node::Template { name, pipe, line: k.line });
                        }
                        Tok::Keyword("block") => {
                            let (name, pipe) = self.template_args("block", k.line)?;
                            let (body, end) = self.nested(k.line, |p| p.list(false))?;
                            match end {
                                End::End => {}
                                End::Else(l) => return self.err(l, "unexpected {{else}}"),
                                End::Eof => return self.err(k.line, "unexpected EOF"),
                            }
                            self.defines.push(Define { name: name.clone(), line: k.line, body });
                            nodes.push(Node::Template { name, pipe, line: k.line });
                        }
                        _ => {
                            self.i -= 1;
                            // back up over the keyword: find first non-space again
                            let pipe = self.pipeline("command", k.line, true)?;
                            nodes.push(Node::Action { pipe, line: k.line });
                        }
                    }
                }
                _ => return self.err(t.line, format!("unexpected {}", describe_tok(&t))),
            }
        }
    }

    fn template_args(&mut self, ctx: &str, line: usize) -> PResult<(String, Option<Pipe>)> {
        let t = self.next_non_space();
        let name = match t.tok {
            Tok::Str(s) => s,
            _ => return self.err(t.line, format!("unexpected {} in {} clause", describe_tok(&t), ctx)),
        };
        if self.peek_non_space().tok == Tok::RightDelim {
            self.next();
            if ctx == "block" {
                return self.err(line, "missing value for block clause");
            }
            return Ok((name, None));
        }
        let pipe = self.pipeline(ctx, line, false)?;
        Ok((name, Some(pipe)))
    }

    fn define(&mut self, line: usize) -> PResult<()> {
        let t = self.next_non_space();
        let name = match t.tok {
            Tok::Str(s) => s,
            _ => return self.err(t.line, format!("unexpected {} in define clause", describe_tok(&t))),
        };
        self.expect_right("define clause")?;
        let saved = self.range_depth;
        self.range_depth = 0;
        let (body, end) = self.nested(line, |p| p.list(false))?;
        self.range_depth = saved;
        match end {
            End::End => {}
            End::Else(l) => return self.err(l, "unexpected {{else}}"),
            End::Eof => return self.err(line, "unexpected EOF"),
        }
        self.defines.push(Define { name, line, body });
        Ok(())
    }

    /// if / with / range after the keyword.
    fn control(&mut self, kw: &str, line: usize) -> PResult<Node> {
        self.nested(line, |p| p.control_body(kw, line))
    }

    fn control_body(&mut self, kw: &str, line: usize) -> PResult<Node> {
        let pipe = self.pipeline(kw, line, false)?;
        if kw == "range" {
            self.range_depth += 1;
        }
        let (body, end) = self.list(false)?;
        if kw == "range" {
            self.range_depth -= 1;
        }
        let else_ = match end {
            End::End => None,
            End::Eof => return self.err(line, "unexpected EOF"),
            End::Else(eline) => {
                // `else if` chains (not `else with`: Go 1.22 rejects it)
                let t = self.peek_non_space().clone();
                if kw == "if" && t.tok == Tok::Keyword("if") {
                    self.next();
                    let nested = self.control("if", eline)?;
                    Some(vec![nested])
                } else if t.tok == Tok::RightDelim {
                    self.next();
                    let (eb, end2) = self.list(false)?;
                    match end2 {
                        End::End => {}
                        End::Else(l) => return self.err(l, "expected end; found {{else}}"),
                        End::Eof => return self.err(line, "unexpected EOF"),
                    }
                    Some(eb)
                } else if t.tok == Tok::Keyword("if") {
                    // Go accepts `else if` syntactically, then rejects the
                    // `if` outside an if-chain
                    return self.err(t.line, "unexpected <if> in input");
                } else {
                    return self.err(t.line, format!("unexpected {} in else", describe_tok(&t)));
                }
            }
        };
        Ok(match kw {
            "if" => Node::If { pipe, body, else_, line },
            "with" => Node::With { pipe, body, else_, line },
            _ => Node::Range { pipe, body, else_, line },
        })
    }

    /// Parse a pipeline up to the closing delimiter (or `)` when nested).
    fn pipeline(&mut self, ctx: &str, line: usize, _is_action: bool) -> PResult<Pipe> {
        let mut decl = Vec::new();
        let mut is_assign = false;
        // declarations: $x := / $x = / $i, $v :=
        let save = self.i;
        let t = self.peek_non_space().clone();
        if let Tok::Var(v) = &t.tok {
            self.next();
            let t2 = self.peek_non_space().clone();
            match t2.tok {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    is_assign = t2.tok == Tok::Assign;
                    decl.push(v.clone());
                }
                Tok::Comma if ctx == "range" => {
                    self.next();
                    let t3 = self.next_non_space();
                    let Tok::Var(v2) = t3.tok else {
                        return self.err(t3.line, "range can only initialize variables");
                    };
                    if self.peek_non_space().tok == Tok::Comma {
                        return self.err(t3.line, "too many declarations in range");
                    }
                    let t4 = self.next_non_space();
                    if t4.tok != Tok::Declare && t4.tok != Tok::Assign {
                        return self.err(t4.line, "expected := in range");
                    }
                    is_assign = t4.tok == Tok::Assign;
                    decl.push(v.clone());
                    decl.push(v2);
                }
                _ => self.i = save,
            }
        }
        let mut cmds: Vec<Cmd> = Vec::new();
        loop {
            let t = self.peek_non_space().clone();
            match t.tok {
                Tok::RightDelim | Tok::RParen => {
                    let closing = t.tok == Tok::RParen;
                    if (ctx == "paren") != closing {
                        return self.err(t.line, format!("unexpected {} in {}", describe_tok(&t), ctx));
                    }
                    self.next();
                    if cmds.is_empty() {
                        return self.err(line, format!("missing value for {}", ctx));
                    }
                    // only the first command may start with a non-executable operand
                    for (i, c) in cmds.iter().enumerate().skip(1) {
                        if matches!(c.args[0], Operand::Bool(_) | Operand::Dot | Operand::Nil | Operand::Int(_) | Operand::Float(_) | Operand::Str(_)) {
                            return self.err(line, format!("non executable command in pipeline stage {}", i + 1));
                        }
                    }
                    return Ok(Pipe { line, decl, is_assign, cmds });
                }
                Tok::Eof => return self.err(t.line, "unclosed action"),
                _ => {
                    let cmd = self.command(ctx)?;
                    cmds.push(cmd);
                    // after a command: `|` or end (Go accepts a trailing `|`)
                    let t = self.peek_non_space().clone();
                    if t.tok == Tok::Pipe {
                        self.next();
                    }
                }
            }
        }
    }

    fn command(&mut self, ctx: &str) -> PResult<Cmd> {
        let start_pos = self.peek_non_space().pos;
        let mut args = Vec::new();
        let mut end_pos;
        loop {
            self.peek_non_space();
            let t = self.peek().clone();
            match t.tok {
                Tok::Pipe if args.is_empty() => return self.err(t.line, format!("unexpected {} in command", describe_tok(&t))),
                Tok::RightDelim | Tok::RParen | Tok::Pipe => {
                    end_pos = t.pos;
                    break;
                }
                _ => {}
            }
            let op = self.operand()?;
            args.push(op);
            let nt = self.peek().clone();
            match nt.tok {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RParen | Tok::Pipe => {
                    end_pos = nt.pos;
                    break;
                }
                _ => return self.err(nt.line, format!("unexpected {} in operand", describe_tok(&nt))),
            }
        }
        let _ = ctx;
        if args.is_empty() {
            let t = self.peek().clone();
            return self.err(t.line, "missing value for command");
        }
        // the command's source text without trailing spaces
        while end_pos > start_pos && self.src.as_bytes()[end_pos - 1].is_ascii_whitespace() {
            end_pos -= 1;
        }
        let text = self.src[start_pos..end_pos].to_string();
        Ok(Cmd { args, text })
    }

    fn operand(&mut self) -> PResult<Operand> {
        let t = self.next();
        let term = match t.tok {
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return self.err(t.line, format!("function {:?} not defined", name));
                }
                Operand::Ident(name)
            }
            Tok::Dot => Operand::Dot,
            Tok::Nil => Operand::Nil,
            Tok::Bool(b) => Operand::Bool(b),
            Tok::Str(s) => Operand::Str(s),
            Tok::Char(c) => Operand::Int(c),
            Tok::Number(n) => parse_number(&n).map_err(|m| ParseError { line: t.line, message: m })?,
            Tok::Field(f) => {
                let mut fields = vec![f];
                while let Tok::Field(f) = &self.peek().tok {
                    fields.push(f.clone());
                    self.next();
                }
                return Ok(Operand::Field(fields));
            }
            Tok::Var(v) => {
                let mut fields = vec![];
                while let Tok::Field(f) = &self.peek().tok {
                    fields.push(f.clone());
                    self.next();
                }
                return Ok(Operand::Var(v, fields));
            }
            Tok::LParen => {
                let p = self.nested(t.line, |p| p.pipeline("paren", t.line, false))?;
                Operand::Pipe(Box::new(p))
            }
            _ => return self.err(t.line, format!("unexpected {} in operand", describe_tok(&t))),
        };
        let mut fields = vec![];
        while let Tok::Field(f) = &self.peek().tok {
            fields.push(f.clone());
            self.next();
        }
        if fields.is_empty() {
            Ok(term)
        } else {
            match term {
                Operand::Bool(_) | Operand::Str(_) | Operand::Int(_) | Operand::Float(_) | Operand::Nil | Operand::Dot | Operand::Ident(_) => {
                    self.err(t.line, format!("unexpected . after term {}", super::printf::go_quote(&t.raw)))
                }
                other => Ok(Operand::Chain(Box::new(other), fields)),
            }
        }
    }
}

/// Go's `item.String()`: keywords, `.` and `nil` as `<x>`, everything
/// else `%q`-quoted (longer than 10 bytes: `%.10q...`).
fn describe_tok(t: &Token) -> String {
    match &t.tok {
        Tok::Eof => "EOF".into(),
        Tok::Keyword(k) => format!("<{}>", k),
        Tok::Dot => "<.>".into(),
        Tok::Nil => "<nil>".into(),
        Tok::Text(_) => "text".into(),
        _ => {
            let raw = if t.raw.is_empty() { describe_plain(&t.tok) } else { t.raw.clone() };
            if raw.len() > 10 {
                let head: String = raw.chars().take(10).collect();
                format!("{}...", super::printf::go_quote(&head))
            } else {
                super::printf::go_quote(&raw)
            }
        }
    }
}

fn describe_plain(t: &Tok) -> String {
    match t {
        Tok::RightDelim => "}}".into(),
        Tok::LeftDelim => "{{".into(),
        Tok::Space => " ".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
        Tok::Pipe => "|".into(),
        Tok::Declare => ":=".into(),
        Tok::Assign => "=".into(),
        Tok::Comma => ",".into(),
        Tok::Ident(s) => s.clone(),
        Tok::Field(f) => format!(".{}", f),
        Tok::Var(v) => v.clone(),
        Tok::Number(n) => n.clone(),
        Tok::Bool(b) => b.to_string(),
        Tok::Str(s) => format!("{:?}", s),
        Tok::Char(c) => c.to_string(),
        _ => String::new(),
    }
}

/// Parse a whole template. `is_func` tells which function names exist.
pub fn parse(src: &str, is_func: &dyn Fn(&str) -> bool) -> Result<Tree, ParseError> {
    let mut line_starts = vec![0usize];
    for (i, b) in src.bytes().enumerate() {
        if b == b'\n' {
            line_starts.push(i + 1);
        }
    }
    let lx = Lexer { src, b: src.as_bytes(), pos: 0, line_starts, out: Vec::new() };
    let toks = lx.run()?;
    let mut p = Parser { src, toks, i: 0, is_func, defines: Vec::new(), range_depth: 0, depth: 0 };
    let (root, _) = p.list(true)?;
    Ok(Tree { root, defines: p.defines })
}
