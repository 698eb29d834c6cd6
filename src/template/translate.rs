//! Translate the Go template AST into minijinja source.
//!
//! Every Go operation becomes a call to a registered function (`g_<name>`
//! for Go/sprig/helmfile functions, `g__<helper>` for the evaluator's own
//! helpers), so the semantics are the Go ones implemented in Rust, and
//! minijinja only supplies control flow.  Line structure is preserved: each
//! node is emitted on the same line as in the Go source (missing newlines
//! are padded with `{# … #}` comments), so minijinja's error lines are the
//! Go source lines.

use std::collections::HashMap;

use super::parse::{Cmd, Define, Node, Operand, ParseError, Pipe, Tree};

/// Result of translating one Go template source.
pub struct Translated {
    /// minijinja source of the main template
    pub main: String,
    /// (define name, minijinja source)
    pub defines: Vec<(String, String)>,
    /// generated call expression -> Go command text (for error messages)
    pub labels: HashMap<String, String>,
}

struct Tr<'a> {
    labels: &'a mut HashMap<String, String>,
    /// the minijinja variable holding the current dot: `_d` (the template's
    /// data) at top level, the `with` value / range element inside.  No
    /// minijinja `{% with %}` frames are used: minijinja's `break` inside
    /// one would pop the wrong frame.
    dot: String,
    /// enclosing minijinja loops: `None` for a Go range loop, `Some(slot)`
    /// for the one-shot loop around a range's `else` list (see Node::Range)
    loops: Vec<Option<(String, bool)>>,
    /// variables being declared by the pipeline under translation
    pending: Vec<String>,
    out: String,
    line: usize,
    scopes: Vec<Vec<(String, String)>>,
    counter: usize,
}

const PROLOGUE: &str = "{% set _ns = g__vars() %}{{ g__set(_ns, \"root\", _root) }}";

/// The Go type of a function parameter when it is string (`s`), int (`i`)
/// or bool (`b`); `None` for interface{} and others.
fn param_kind(func: &str, idx: usize) -> Option<char> {
    let sig: &str = match func {
        "upper" | "lower" | "title" | "untitle" | "trim" | "nospace" | "initials" | "swapcase" | "shuffle" | "snakecase"
        | "camelcase" | "kebabcase" | "b64enc" | "b64dec" | "b32enc" | "b32dec" | "sha1sum" | "sha256sum" | "adler32sum"
        | "regexQuoteMeta" | "atoi" | "env" | "expandenv" | "base" | "dir" | "clean" | "ext" | "isAbs" | "osBase" | "osDir"
        | "osClean" | "osExt" | "osIsAbs" | "semver" | "fail" | "requiredEnv" | "readFile" | "readDir" | "readDirEntries"
        | "isFile" | "fromYaml" | "fromJson" | "mustFromJson" | "fetchSecretValue" | "getHostByName" => "s",
        "trimAll" | "trimall" | "trimPrefix" | "trimSuffix" | "contains" | "hasPrefix" | "hasSuffix" | "split" | "splitList"
        | "regexMatch" | "mustRegexMatch" | "regexFind" | "mustRegexFind" | "semverCompare" | "toDate" | "mustToDate" => "ss",
        "replace" | "regexReplaceAll" | "mustRegexReplaceAll" | "regexReplaceAllLiteral" | "mustRegexReplaceAllLiteral" => "sss",
        "regexFindAll" | "mustRegexFindAll" | "regexSplit" | "mustRegexSplit" => "ssi",
        "repeat" | "trunc" | "abbrev" | "wrap" | "indent" | "nindent" => "is",
        "substr" | "abbrevboth" => "iis",
        "wrapWith" => "iss",
        "splitn" => "sis",
        "until" | "randAlphaNum" | "randAlpha" | "randNumeric" | "randAscii" => "i",
        "untilStep" => "iii",
        "randInt" => "ii",
        "plural" => "ssi",
        "ternary" => "??b",
        "chunk" => "i?",
        "join" | "required" | "getOrNil" | "tpl" | "include" | "get" | "date" | "dateModify" | "mustDateModify" | "printf"
        | "htmlDateInZone" | "kindIs" | "typeIs" | "typeIsLike" => "s",
        "exec" => "s??s",
        "hasKey" | "unset" | "sprigGet" | "set" => "ms",
        "pick" | "omit" => return if idx == 0 { Some('m') } else { Some('s') },
        "keys" | "merge" | "mergeOverwrite" | "mustMerge" | "mustMergeOverwrite" => return Some('m'),
        "values" => "m",
        "pluck" => return if idx == 0 { Some('s') } else { Some('m') },
        "setValueAtPath" => "s?m",
        "envExec" => "ms??s",
        "dateInZone" | "date_in_zone" => "s?s",
        "seq" => return Some('i'),
        _ => return None,
    };
    match sig.as_bytes().get(idx) {
        Some(b's') => Some('s'),
        Some(b'i') => Some('i'),
        Some(b'b') => Some('b'),
        Some(b'm') => Some('m'),
        _ => None,
    }
}

/// Go's evalArg for a constant argument of the wrong kind.
fn literal_mismatch(kind: Option<char>, op: &Operand) -> Option<String> {
    let text = match op {
        Operand::Int(i) => i.to_string(),
        Operand::Float(f) => super::value::fmt_float_g(*f),
        Operand::Str(s) => super::printf::go_quote(s),
        Operand::Bool(b) => b.to_string(),
        Operand::Nil => "nil".to_string(),
        _ => return None,
    };
    let (ok, tname, want) = match kind? {
        's' => (matches!(op, Operand::Str(_)), "string", "string"),
        'i' => (matches!(op, Operand::Int(_)) || matches!(op, Operand::Float(f) if f.fract() == 0.0), "int", "integer"),
        'b' => (matches!(op, Operand::Bool(_)), "bool", "bool"),
        // no constant converts to a map (nil does: a nil map)
        'm' if matches!(op, Operand::Nil) => return None,
        'm' => return Some(format!("can't handle {} for arg of type map[string]interface {{}}", text)),
        _ => return None,
    };
    if ok {
        None
    } else if matches!(op, Operand::Nil) {
        Some(format!("cannot assign nil to {}", tname))
    } else {
        Some(format!("expected {}; found {}", want, text))
    }
}

/// Slot prefix marking an assignment to an undeclared variable.
const UNDEFINED_PREFIX: &str = "undefined:";

/// `{{ g__set(_ns, "v3", expr) }}`: assign a Go variable slot (prints nothing).
fn set_stmt(target: &str, expr: &str) -> String {
    let slot = target.trim_start_matches("_ns.");
    if let Some(name) = slot.strip_prefix(UNDEFINED_PREFIX) {
        return format!("{{{{ g__fail({}) }}}}", jstr(&format!("undefined variable: ${}", name)));
    }
    format!("{{{{ g__set(_ns, {}, {}) }}}}", jstr(slot), expr)
}

pub fn translate(tree: &Tree) -> Result<Translated, ParseError> {
    translate_groups(&tree.root, &[&tree.defines])
}

/// Translate a main body plus the defines of several `Parse` calls (helper
/// `_*.tpl` files first, the main source last).  Within one parse a second
/// non-empty definition is an error (text/template's Tree.add); across
/// parses a non-empty definition replaces the earlier one and an empty
/// one never does (Template.associate).
pub fn translate_groups(root: &[Node], groups: &[&[Define]]) -> Result<Translated, ParseError> {
    let mut labels = HashMap::new();
    let main = translate_body(root, 1, &mut labels)?;
    // name -> (define, is empty)
    let mut chosen: Vec<(String, &Define, bool)> = Vec::new();
    for group in groups {
        let mut in_group: HashMap<&str, (usize, bool)> = HashMap::new();
        for d in group.iter() {
            let empty = is_empty_tree(&d.body);
            if let Some((_, old_empty)) = in_group.get(d.name.as_str()).copied() {
                if !old_empty && !empty {
                    return Err(ParseError { line: d.line, message: format!("template: multiple definition of template {:?}", d.name) });
                }
                if !old_empty && empty {
                    continue;
                }
            }
            match chosen.iter().position(|(n, _, _)| *n == d.name) {
                Some(i) => {
                    let (_, _, old_empty) = chosen[i];
                    if !empty || old_empty {
                        chosen[i] = (d.name.clone(), d, empty);
                    }
                }
                None => chosen.push((d.name.clone(), d, empty)),
            }
            let idx = chosen.iter().position(|(n, _, _)| *n == d.name).unwrap();
            in_group.insert(d.name.as_str(), (idx, empty));
        }
    }
    let mut defines = Vec::new();
    for (name, d, _) in chosen {
        defines.push((name, translate_body(&d.body, d.line, &mut labels)?));
    }
    Ok(Translated { main, defines, labels })
}

/// text/template's IsEmptyTree: only whitespace text.
fn is_empty_tree(nodes: &[Node]) -> bool {
    nodes.iter().all(|n| matches!(n, Node::Text { text, .. } if text.trim().is_empty()))
}

fn translate_body(nodes: &[Node], start_line: usize, labels: &mut HashMap<String, String>) -> Result<String, ParseError> {
    let mut tr = Tr { labels, dot: "_d".to_string(), loops: Vec::new(), pending: Vec::new(), out: String::new(), line: 1, scopes: vec![vec![]], counter: 0 };
    tr.emit(PROLOGUE);
    tr.pad(start_line);
    tr.nodes(nodes)?;
    Ok(tr.out)
}

/// A minijinja string literal.
pub fn jstr(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

impl Tr<'_> {
    fn emit(&mut self, s: &str) {
        self.line += s.bytes().filter(|b| *b == b'\n').count();
        self.out.push_str(s);
    }

    fn pad(&mut self, line: usize) {
        if line > self.line {
            let n = line - self.line;
            self.out.push_str("{#");
            for _ in 0..n {
                self.out.push('\n');
            }
            self.out.push_str("#}");
            self.line = line;
        }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{}{}", prefix, self.counter)
    }

    fn err<T>(&self, line: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError { line, message: msg.into() })
    }

    fn lookup_var(&self, name: &str, line: usize) -> Result<String, ParseError> {
        match self.lookup_declared(name, line) {
            // Go's parser declares the variable before parsing its value, so
            // `$v := f $v` parses and fails when executed
            Err(_) if self.pending.iter().any(|p| p == name) => Ok(format!("g__fail({})", jstr(&format!("undefined variable: {}", name)))),
            r => r,
        }
    }

    fn lookup_declared(&self, name: &str, line: usize) -> Result<String, ParseError> {
        if name == "$" {
            // `$` is an ordinary (assignable) variable holding the data
            return Ok("_ns.root".into());
        }
        for scope in self.scopes.iter().rev() {
            for (n, slot) in scope.iter().rev() {
                if n == name {
                    return Ok(format!("_ns.{}", slot));
                }
            }
        }
        self.err(line, format!("undefined variable {:?}", name))
    }

    fn declare(&mut self, name: &str) -> String {
        let slot = self.fresh("v");
        self.scopes.last_mut().unwrap().push((name.to_string(), slot.clone()));
        format!("_ns.{}", slot)
    }

    /// Declare or assign the pipeline's variables; returns the jinja targets.
    fn decl_targets(&mut self, pipe: &Pipe) -> Result<Vec<String>, ParseError> {
        let mut out = Vec::new();
        for v in &pipe.decl {
            if pipe.is_assign {
                match self.lookup_var(v, pipe.line) {
                    Ok(t) => out.push(t),
                    // Go fails at execution: "undefined variable: $x"
                    Err(_) => out.push(format!("_ns.{}", UNDEFINED_PREFIX.to_string() + v.trim_start_matches('$'))),
                }
            } else {
                out.push(self.declare(v));
            }
        }
        Ok(out)
    }

    fn text(&mut self, text: &str) {
        let needs_raw = text.contains("{{") || text.contains("{%") || text.contains("{#") || text.ends_with('{');
        if !needs_raw {
            self.emit(text);
        } else if !text.contains("endraw") {
            self.emit("{% raw %}");
            self.emit(text);
            self.emit("{% endraw %}");
        } else {
            // can't use raw: emit string literals line by line
            let mut first = true;
            for part in text.split('\n') {
                if !first {
                    self.emit("{{ \"\\n\" }}{#\n#}");
                }
                first = false;
                if !part.is_empty() {
                    let lit = jstr(part);
                    self.emit(&format!("{{{{ {} }}}}", lit));
                }
            }
        }
    }

    fn nodes(&mut self, nodes: &[Node]) -> Result<(), ParseError> {
        for n in nodes {
            self.node(n)?;
        }
        Ok(())
    }

    fn node(&mut self, n: &Node) -> Result<(), ParseError> {
        self.pad(n.line());
        match n {
            Node::Text { text, .. } => self.text(text),
            Node::Action { pipe, .. } => {
                let e = self.pipe_expr(pipe)?;
                if pipe.decl.is_empty() {
                    self.emit(&format!("{{{{ {} }}}}", e));
                } else {
                    let targets = self.decl_targets(pipe)?;
                    let t = &targets[0];
                    self.emit(&set_stmt(t, &e));
                }
            }
            Node::If { pipe, body, else_, .. } => {
                self.scopes.push(vec![]);
                let cond = self.cond_expr(pipe)?;
                self.emit(&format!("{{% if g__truth({}) %}}", cond));
                self.scoped(body)?;
                if let Some(e) = else_ {
                    self.emit("{% else %}");
                    self.scoped(e)?;
                }
                self.emit("{% endif %}");
                self.scopes.pop();
            }
            Node::With { pipe, body, else_, .. } => {
                self.scopes.push(vec![]);
                let cond = self.cond_expr(pipe)?;
                let t = self.fresh("_w");
                self.emit(&format!("{{% set {} = {} %}}{{% if g__truth({}) %}}", t, cond, t));
                let saved = std::mem::replace(&mut self.dot, t.clone());
                self.scoped(body)?;
                self.dot = saved;
                if let Some(e) = else_ {
                    self.emit("{% else %}");
                    self.scoped(e)?;
                }
                self.emit("{% endif %}");
                self.scopes.pop();
            }
            Node::Range { pipe, body, else_, .. } => {
                self.scopes.push(vec![]);
                let p = Pipe { decl: vec![], ..pipe.clone() };
                let e = self.pipe_expr(&p)?;
                let targets = self.decl_targets(pipe)?;
                let k = self.fresh("_k");
                let v = self.fresh("_e");
                // no minijinja for-else: Go's range-else runs outside the
                // loop (a `break` there belongs to an enclosing range)
                let items = self.fresh("_r");
                if else_.is_some() {
                    self.emit(&format!("{{% set {} = g__range({}) %}}{{% if {} %}}", items, e, items));
                    self.emit(&format!("{{% for {}, {} in {} %}}", k, v, items));
                } else {
                    self.emit(&format!("{{% for {}, {} in g__range({}) %}}", k, v, e));
                }
                match targets.len() {
                    0 => {}
                    1 => self.emit(&set_stmt(&targets[0], &v)),
                    _ => {
                        let a = set_stmt(&targets[0], &k);
                        let b = set_stmt(&targets[1], &v);
                        self.emit(&format!("{}{}", a, b));
                    }
                }
                let saved = std::mem::replace(&mut self.dot, v.clone());
                self.loops.push(None);
                self.scoped(body)?;
                self.loops.pop();
                self.dot = saved;
                self.emit("{% endfor %}");
                if let Some(e) = else_ {
                    // Go walks the else list inside the range statement: a
                    // `break` there ends the statement, a `continue` goes to
                    // the enclosing range.  A one-shot loop gives `break`
                    // that meaning; `continue` sets a flag, breaks, and is
                    // re-issued after the one-shot loop.
                    let flag = self.fresh("c");
                    self.emit("{% else %}{% for _once in [1] %}");
                    self.loops.push(Some((flag.clone(), false)));
                    self.scoped(e)?;
                    let used = matches!(self.loops.pop(), Some(Some((_, true))));
                    self.emit("{% endfor %}");
                    if used {
                        self.emit(&format!("{{% if _ns.{} %}}{}", flag, set_stmt(&format!("_ns.{}", flag), "false")));
                        self.emit_continue();
                        self.emit("{% endif %}");
                    }
                    self.emit("{% endif %}");
                }
                self.scopes.pop();
            }
            Node::Break { .. } => self.emit("{% break %}"),
            Node::Continue { .. } => self.emit_continue(),
            Node::Template { name, pipe, .. } => {
                let arg = match pipe {
                    Some(p) => self.pipe_expr(p)?,
                    None => "none".into(),
                };
                self.emit(&format!("{{{{ g__template({}, {}) }}}}", jstr(name), arg));
            }
        }
        Ok(())
    }

    /// `continue` for the innermost Go range (see Node::Range's else list).
    fn emit_continue(&mut self) {
        match self.loops.last_mut() {
            Some(Some((flag, used))) => {
                *used = true;
                let f = format!("_ns.{}", flag);
                let stmt = set_stmt(&f, "true");
                self.emit(&format!("{}{{% break %}}", stmt));
            }
            _ => self.emit("{% continue %}"),
        }
    }

    fn scoped(&mut self, nodes: &[Node]) -> Result<(), ParseError> {
        self.scopes.push(vec![]);
        let r = self.nodes(nodes);
        self.scopes.pop();
        r
    }

    /// Condition of if/with: evaluates, assigns declared variables, yields value expr.
    fn cond_expr(&mut self, pipe: &Pipe) -> Result<String, ParseError> {
        let e = self.pipe_expr(pipe)?;
        if pipe.decl.is_empty() {
            return Ok(e);
        }
        let targets = self.decl_targets(pipe)?;
        self.emit(&set_stmt(&targets[0], &e));
        Ok(targets[0].clone())
    }

    fn pipe_expr(&mut self, pipe: &Pipe) -> Result<String, ParseError> {
        let saved = self.pending.len();
        if !pipe.is_assign {
            self.pending.extend(pipe.decl.iter().cloned());
        }
        let r = self.pipe_expr_inner(pipe);
        self.pending.truncate(saved);
        r
    }

    fn pipe_expr_inner(&mut self, pipe: &Pipe) -> Result<String, ParseError> {
        let mut acc: Option<String> = None;
        for cmd in &pipe.cmds {
            acc = Some(self.cmd_expr(cmd, acc, pipe.line)?);
        }
        Ok(acc.unwrap_or_else(|| "none".into()))
    }

    fn cmd_expr(&mut self, cmd: &Cmd, piped: Option<String>, line: usize) -> Result<String, ParseError> {
        let first = &cmd.args[0];
        if let Operand::Ident(name) = first {
            // Go converts constant arguments to the parameter's type when the
            // call executes; a mismatch is an execution error
            for (i, a) in cmd.args[1..].iter().enumerate() {
                if let Some(msg) = literal_mismatch(param_kind(name, i), a) {
                    return Ok(format!("g__fail({})", jstr(&msg)));
                }
            }
            let mut args = Vec::new();
            for (i, a) in cmd.args[1..].iter().enumerate() {
                // an integral float constant passed to an int parameter is an int
                if let (Some('i'), Operand::Float(f)) = (param_kind(name, i), a) {
                    args.push(format!("({})", *f as i64));
                    continue;
                }
                args.push(self.operand(a, line)?);
            }
            if let Some(p) = piped {
                args.push(p);
            }
            return Ok(match name.as_str() {
                "and" | "or" => {
                    if args.is_empty() {
                        return self.err(line, format!("wrong number of args for {}: want at least 1 got 0", name));
                    }
                    // wrap literals so minijinja's constant folding can't
                    // turn `1 and 0` into a bool: Go returns the operand
                    let wrapped: Vec<String> = cmd.args[1..]
                        .iter()
                        .zip(args.iter())
                        .map(|(op, a)| match op {
                            Operand::Int(_) | Operand::Float(_) | Operand::Str(_) | Operand::Bool(_) | Operand::Nil => format!("g__id({})", a),
                            _ => a.clone(),
                        })
                        .chain(args.iter().skip(cmd.args.len() - 1).cloned())
                        .collect();
                    format!("({})", wrapped.join(&format!(" {} ", name)))
                }
                _ => {
                    let e = format!("g_{}({})", name, args.join(", "));
                    self.labels.entry(e.clone()).or_insert_with(|| cmd.text.clone());
                    e
                }
            });
        }
        if cmd.args.len() > 1 || piped.is_some() {
            // Go: a non-function can't take arguments (an execution error)
            let what = match first {
                Operand::Field(f) => format!("{} is not a method but has arguments", f.last().unwrap()),
                Operand::Nil => "nil is not a command".to_string(),
                _ => format!("can't give argument to non-function {}", cmd.text.split_whitespace().next().unwrap_or("")),
            };
            return Ok(format!("g__fail({})", jstr(&what)));
        }
        if let Operand::Nil = first {
            return Ok(format!("g__fail({})", jstr("nil is not a command")));
        }
        self.operand(first, line)
    }

    fn fields_call(&self, base: String, label: &str, fields: &[String]) -> String {
        // the template's own data (`.` at top level, `$`): Go reports a nil
        // one as "nil data; no entry for key"
        let root = base == "_d" || base == "_ns.root";
        let mut s = format!("{}({}, {}", if root { "g__rfield" } else { "g__field" }, base, jstr(label));
        for f in fields {
            s.push_str(", ");
            s.push_str(&jstr(f));
        }
        s.push(')');
        s
    }

    fn operand(&mut self, op: &Operand, line: usize) -> Result<String, ParseError> {
        Ok(match op {
            Operand::Dot => self.dot.clone(),
            Operand::Nil => "none".into(),
            Operand::Bool(b) => (if *b { "true" } else { "false" }).into(),
            Operand::Int(i) => format!("({})", i),
            Operand::Float(f) => {
                if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e15 {
                    format!("({:.1})", f)
                } else {
                    format!("g__float({})", jstr(&format!("{:e}", f)))
                }
            }
            Operand::Str(s) => jstr(s),
            Operand::Ident(name) => match name.as_str() {
                "and" | "or" => return self.err(line, format!("wrong number of args for {}: want at least 1 got 0", name)),
                _ => format!("g_{}()", name),
            },
            Operand::Field(fields) => {
                let label = format!(".{}", fields.join("."));
                self.fields_call(self.dot.clone(), &label, fields)
            }
            Operand::Var(v, fields) => {
                let base = self.lookup_var(v, line)?;
                if fields.is_empty() {
                    base
                } else {
                    let label = format!("{}.{}", v, fields.join("."));
                    self.fields_call(base, &label, fields)
                }
            }
            Operand::Chain(inner, fields) => {
                let base = self.operand(inner, line)?;
                let label = format!("(...).{}", fields.join("."));
                self.fields_call(base, &label, fields)
            }
            Operand::Pipe(p) => {
                if !p.decl.is_empty() {
                    // `($x := value)`: assign, then yield the value
                    let e = self.pipe_expr(p)?;
                    let targets = self.decl_targets(p)?;
                    return Ok(format!("g__setv(_ns, {}, {})", jstr(targets[0].trim_start_matches("_ns.")), e));
                }
                format!("({})", self.pipe_expr(p)?)
            }
        })
    }
}
