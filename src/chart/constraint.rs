//! Chart version constraints as helm and helmfile read them (Masterminds semver v3 syntax):
//! `1.2.3`, `v1.2.3`, `=1.2`, `!=1.2.3`, `>1.2`, `>=1.2.3`, `<2`, `<=1.4.x`, `~1.2`, `~>1.2`,
//! `^1.2.3`, `1.2.x`/`1.2.*`/`*`, hyphen ranges `1.2 - 1.4.5`, AND with `,` or spaces, OR
//! with `||`. Missing or wildcard parts widen the comparison the way Masterminds does
//! (`>1.2` = `>=1.3.0`, `<=1.2` = `<1.3.0`, `1.2` = `>=1.2.0 <1.3.0`).
//!
//! Pre-release versions only satisfy a constraint when `devel` is asked for (helm's
//! `--devel`) or when a comparator itself names a pre-release.

use std::cmp::Ordering;
use std::fmt;

use semver::{Prerelease, Version};

/// A parsed version constraint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Constraint {
    text: String,
    /// OR of AND groups.
    groups: Vec<Vec<Comparator>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Comparator {
    op: Op,
    version: Version,
    /// How many of major/minor/patch were given as numbers (the rest are wildcards).
    given: usize,
    has_pre: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Tilde,
    Caret,
}

/// Why a constraint does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid chart version constraint {text:?}: {reason}")]
pub struct ConstraintError {
    /// The constraint as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parse a version as Masterminds' non-strict `NewVersion` does: an optional `v`, one to
/// three numeric parts (missing ones are 0), optional pre-release and build metadata.
pub fn parse_version(text: &str) -> Option<Version> {
    parse_partial(text).map(|(v, _)| v)
}

/// True when `text` names exactly one version (no operator, no wildcard, all three parts).
pub fn is_exact(text: &str) -> bool {
    matches!(parse_partial(text.trim()), Some((_, 3)))
}

/// A version and how many numeric parts it was written with (wildcards stop the count).
fn parse_partial(text: &str) -> Option<(Version, usize)> {
    let t = text.trim();
    let t = t.strip_prefix('v').or_else(|| t.strip_prefix('V')).unwrap_or(t);
    if t.is_empty() {
        return None;
    }
    let (core, build) = match t.split_once('+') {
        Some((c, b)) => (c, Some(b)),
        None => (t, None),
    };
    let (nums, pre) = match core.split_once('-') {
        Some((n, p)) => (n, Some(p)),
        None => (core, None),
    };
    let parts: Vec<&str> = nums.split('.').collect();
    if parts.len() > 3 {
        return None;
    }
    let mut values = [0u64; 3];
    let mut given = 0;
    let mut wild = false;
    for (i, p) in parts.iter().enumerate() {
        if matches!(*p, "x" | "X" | "*") {
            wild = true;
            continue;
        }
        if wild || p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        values[i] = p.parse().ok()?;
        given = i + 1;
    }
    let mut v = Version::new(values[0], values[1], values[2]);
    if let Some(p) = pre {
        if given < 3 {
            return None;
        }
        v.pre = Prerelease::new(p).ok()?;
    }
    if let Some(b) = build {
        v.build = semver::BuildMetadata::new(b).ok()?;
    }
    Some((v, given))
}

impl Constraint {
    /// Parse a constraint; an empty string (or `*`) accepts every version.
    pub fn parse(text: &str) -> Result<Constraint, ConstraintError> {
        let err = |reason: &str| ConstraintError { text: text.to_string(), reason: reason.to_string() };
        let mut groups = Vec::new();
        for group in text.split("||") {
            let tokens = tokenize(group);
            let mut comparators = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                // Hyphen range: A - B.
                if i + 2 < tokens.len() && tokens[i + 1] == "-" {
                    let (lo, _) = parse_partial(&tokens[i]).ok_or_else(|| err(&format!("bad version {:?}", tokens[i])))?;
                    let (hi, hi_given) =
                        parse_partial(&tokens[i + 2]).ok_or_else(|| err(&format!("bad version {:?}", tokens[i + 2])))?;
                    comparators.push(Comparator { op: Op::Ge, has_pre: !lo.pre.is_empty(), version: lo, given: 3 });
                    comparators.push(Comparator { op: Op::Le, has_pre: !hi.pre.is_empty(), version: hi, given: hi_given });
                    i += 3;
                    continue;
                }
                comparators.push(parse_comparator(&tokens[i]).map_err(|r| err(&r))?);
                i += 1;
            }
            groups.push(comparators);
        }
        Ok(Constraint { text: text.to_string(), groups })
    }

    /// Does `version` satisfy the constraint?
    pub fn matches(&self, version: &Version, devel: bool) -> bool {
        self.groups.iter().any(|group| {
            let pre_ok = devel || version.pre.is_empty() || group.iter().any(|c| c.has_pre);
            pre_ok && group.iter().all(|c| c.matches(version))
        })
    }

    /// The highest of `versions` (as written, e.g. `v1.2.3`) that satisfies the constraint.
    pub fn best<'a>(&self, versions: impl IntoIterator<Item = &'a str>, devel: bool) -> Option<&'a str> {
        versions
            .into_iter()
            .filter_map(|s| parse_version(s).map(|v| (v, s)))
            .filter(|(v, _)| self.matches(v, devel))
            .max_by(|(a, _), (b, _)| a.cmp_precedence(b).then(Ordering::Equal))
            .map(|(_, s)| s)
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Split one AND group into comparator tokens; an operator separated from its version by
/// spaces (`>= 1.2`) is glued back to it.
fn tokenize(group: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    for piece in group.split(|c: char| c == ',' || c.is_whitespace()) {
        if piece.is_empty() {
            continue;
        }
        match raw.last_mut() {
            Some(last) if is_bare_operator(last) => last.push_str(piece),
            _ => raw.push(piece.to_string()),
        }
    }
    raw
}

fn is_bare_operator(s: &str) -> bool {
    matches!(s, "=" | "!=" | ">" | "<" | ">=" | "=>" | "<=" | "=<" | "~" | "~>" | "^")
}

fn parse_comparator(token: &str) -> Result<Comparator, String> {
    let ops: [(&str, Op); 12] = [
        ("!=", Op::Ne),
        (">=", Op::Ge),
        ("=>", Op::Ge),
        ("<=", Op::Le),
        ("=<", Op::Le),
        ("~>", Op::Tilde),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("~", Op::Tilde),
        ("^", Op::Caret),
        ("=", Op::Eq),
        ("", Op::Eq),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(p, op)| token.strip_prefix(p).map(|rest| (*op, rest)))
        .expect("the empty prefix always matches");
    let rest = rest.trim();
    if matches!(rest, "*" | "x" | "X" | "latest") || rest.is_empty() {
        return Ok(Comparator { op: Op::Ge, version: Version::new(0, 0, 0), given: 0, has_pre: false });
    }
    let (version, given) = parse_partial(rest).ok_or_else(|| format!("bad version {rest:?}"))?;
    Ok(Comparator { op, has_pre: !version.pre.is_empty(), version, given })
}

/// The first version past the wildcard range of `v` with `given` numeric parts.
fn bump(v: &Version, given: usize) -> Version {
    match given {
        0 => Version::new(u64::MAX, 0, 0),
        1 => Version::new(v.major + 1, 0, 0),
        2 => Version::new(v.major, v.minor + 1, 0),
        _ => Version::new(v.major, v.minor, v.patch + 1),
    }
}

fn base(v: &Version) -> Version {
    let mut b = v.clone();
    b.build = semver::BuildMetadata::EMPTY;
    b
}

impl Comparator {
    fn matches(&self, v: &Version) -> bool {
        let v = &base(v);
        let c = &base(&self.version);
        let lower = || v.cmp_precedence(c) != Ordering::Less;
        let below = |upper: &Version| v.cmp_precedence(upper) == Ordering::Less;
        match self.op {
            Op::Eq if self.given == 3 => v.cmp_precedence(c) == Ordering::Equal,
            Op::Eq => lower() && below(&bump(c, self.given)),
            Op::Ne if self.given == 3 => v.cmp_precedence(c) != Ordering::Equal,
            Op::Ne => !(lower() && below(&bump(c, self.given))),
            Op::Gt if self.given == 3 => v.cmp_precedence(c) == Ordering::Greater,
            Op::Gt => v.cmp_precedence(&bump(c, self.given)) != Ordering::Less,
            Op::Ge => lower(),
            Op::Lt => v.cmp_precedence(c) == Ordering::Less,
            Op::Le if self.given == 3 => v.cmp_precedence(c) != Ordering::Greater,
            Op::Le => below(&bump(c, self.given)),
            Op::Tilde => lower() && below(&bump(c, if self.given <= 1 { 1 } else { 2 })),
            Op::Caret => {
                let upper = if c.major > 0 || self.given <= 1 {
                    Version::new(c.major + 1, 0, 0)
                } else if c.minor > 0 || self.given == 2 {
                    Version::new(0, c.minor + 1, 0)
                } else {
                    Version::new(0, 0, c.patch + 1)
                };
                lower() && below(&upper)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &str, v: &str) -> bool {
        Constraint::parse(c).unwrap().matches(&parse_version(v).unwrap(), false)
    }

    #[test]
    fn exact_and_wildcards() {
        assert!(ok("1.2.3", "1.2.3") && ok("v1.2.3", "1.2.3") && ok("1.2.3", "v1.2.3"));
        assert!(!ok("1.2.3", "1.2.4"));
        assert!(ok("1.2", "1.2.9") && !ok("1.2", "1.3.0"));
        assert!(ok("1.2.x", "1.2.0") && ok("1.*", "1.9.9") && !ok("1.x", "2.0.0"));
        assert!(ok("*", "0.0.1") && ok("", "9.9.9"));
        assert!(ok("2.x.x", "2.31.4"));
    }

    #[test]
    fn comparisons() {
        assert!(ok(">1.2", "1.3.0") && !ok(">1.2", "1.2.9"));
        assert!(ok(">1.2.3", "1.2.4") && !ok(">1.2.3", "1.2.3"));
        assert!(ok(">= 1.2, < 2", "1.9.0") && !ok(">= 1.2, < 2", "2.0.0"));
        assert!(ok(">=1.2 <2", "1.5.0"));
        assert!(ok("<=1.2", "1.2.7") && !ok("<=1.2", "1.3.0"));
        assert!(ok("!=1.2.3", "1.2.4") && !ok("!=1.2.3", "1.2.3"));
        assert!(ok("1.0 - 1.4.5", "1.4.5") && !ok("1.0 - 1.4.5", "1.4.6"));
        assert!(ok("<1 || >=3", "3.1.0") && !ok("<1 || >=3", "2.0.0"));
    }

    #[test]
    fn tilde_and_caret() {
        assert!(ok("~1.2.3", "1.2.9") && !ok("~1.2.3", "1.3.0") && !ok("~1.2.3", "1.2.2"));
        assert!(ok("~1", "1.9.0") && !ok("~1", "2.0.0"));
        assert!(ok("~>1.2", "1.2.5"));
        assert!(ok("^1.2.3", "1.9.0") && !ok("^1.2.3", "2.0.0"));
        assert!(ok("^0.2.3", "0.2.9") && !ok("^0.2.3", "0.3.0"));
        assert!(ok("^0.0.3", "0.0.3") && !ok("^0.0.3", "0.0.4"));
    }

    #[test]
    fn prereleases_need_devel_or_a_prerelease_comparator() {
        let c = Constraint::parse(">=1.0.0").unwrap();
        let pre = parse_version("1.1.0-rc.1").unwrap();
        assert!(!c.matches(&pre, false));
        assert!(c.matches(&pre, true));
        assert!(Constraint::parse(">=1.1.0-rc.0").unwrap().matches(&pre, false));
    }

    #[test]
    fn best_picks_the_highest_match_as_written() {
        let c = Constraint::parse("^1.0").unwrap();
        assert_eq!(c.best(["1.0.0", "v1.4.0", "2.0.0", "1.3.9", "1.5.0-beta.1"], false), Some("v1.4.0"));
        assert_eq!(c.best(["2.0.0"], false), None);
    }

    #[test]
    fn exactness_and_errors() {
        assert!(is_exact("1.2.3") && is_exact("v1.21.1") && is_exact("1.0.0-rc.1"));
        assert!(!is_exact("1.2") && !is_exact("^1.2.3") && !is_exact("1.2.x") && !is_exact(""));
        let e = Constraint::parse(">=one").unwrap_err();
        assert!(e.to_string().contains("\">=one\""), "{e}");
    }
}
