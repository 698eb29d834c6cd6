//! Shell quoting and secret redaction for echoed commands.
//!
//! Every command kod runs is echoed in a form a user can paste into a POSIX shell. Secrets
//! never appear in that echo, in logs, or in error messages. Two mechanisms work together:
//!
//! 1. **Marking**: the code that builds a command marks an argument, an environment value
//!    or standard input as secret ([`super::Cmd::secret_arg`] and friends). Marked values
//!    are always shown as [`REDACTED`].
//! 2. **Rules** (defence in depth): the value after any flag in [`SECRET_FLAGS`] (and the
//!    `--flag=value` form) is redacted even when it was not marked, the password half of
//!    `--creds user:pass`-style flags ([`CREDS_FLAGS`]) is redacted, and environment
//!    variables whose name looks secret ([`is_secret_env_name`]) are redacted.
//!
//! Secret *values* collected from both mechanisms are also scrubbed from any child output
//! kod prints or embeds in an error ([`scrub`]).

/// What a redacted value is shown as.
pub const REDACTED: &str = "***";

/// Flags whose following value (or `=value`) is a secret in every tool kod wraps.
pub const SECRET_FLAGS: &[&str] = &[
    "--password",
    "--pass",
    "--token",
    "--registry-token",
    "--src-registry-token",
    "--dest-registry-token",
    "--identity-token",
    "--bearer-token",
    "--client-secret",
    "--secret",
    "--api-key",
];

/// Flags whose value is `user:password`; only the password half is redacted.
pub const CREDS_FLAGS: &[&str] = &["--creds", "--src-creds", "--dest-creds"];

/// Whether an environment variable's value must be redacted, judged by its name.
pub fn is_secret_env_name(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    ["PASSWORD", "PASSWD", "TOKEN", "SECRET", "CREDENTIAL", "API_KEY", "APIKEY", "_AUTH"]
        .iter()
        .any(|needle| upper.contains(needle))
}

/// Quote one word for a POSIX shell: unchanged when it is made only of characters that are
/// safe everywhere, otherwise in single quotes (with `'` written as `'\''`).
pub fn quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'/' | b':' | b'=' | b'@' | b'%' | b'+' | b',')
        });
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// Redact the password half of a `user:password` value (a value without `:` is all secret).
pub fn redact_creds(value: &str) -> String {
    match value.split_once(':') {
        Some((user, _)) => format!("{user}:{REDACTED}"),
        None => REDACTED.to_string(),
    }
}

/// Apply the flag rules to an argument list: returns the display form of each argument
/// (already redacted where needed, not yet quoted) and the secret values found by the rules.
///
/// `marked[i]` says whether argument `i` was explicitly marked secret.
pub fn redact_args(args: &[String], marked: &[bool]) -> (Vec<String>, Vec<String>) {
    let mut shown = Vec::with_capacity(args.len());
    let mut secrets = Vec::new();
    let mut next_is = NextIs::Plain;
    for (i, arg) in args.iter().enumerate() {
        let is_marked = marked.get(i).copied().unwrap_or(false);
        let display = match next_is {
            NextIs::Secret => {
                secrets.push(arg.clone());
                REDACTED.to_string()
            }
            NextIs::Creds => {
                if let Some((_, pass)) = arg.split_once(':') {
                    secrets.push(pass.to_string());
                } else {
                    secrets.push(arg.clone());
                }
                redact_creds(arg)
            }
            NextIs::Plain if is_marked => {
                secrets.push(arg.clone());
                REDACTED.to_string()
            }
            NextIs::Plain => redact_inline(arg, &mut secrets),
        };
        next_is = if is_flag_in(arg, SECRET_FLAGS) {
            NextIs::Secret
        } else if is_flag_in(arg, CREDS_FLAGS) {
            NextIs::Creds
        } else {
            NextIs::Plain
        };
        // An explicitly marked argument always stays hidden, whatever the rules said.
        if is_marked && display != REDACTED {
            secrets.push(arg.clone());
            shown.push(REDACTED.to_string());
        } else {
            shown.push(display);
        }
    }
    secrets.retain(|s| !s.is_empty());
    (shown, secrets)
}

#[derive(Clone, Copy)]
enum NextIs {
    Plain,
    Secret,
    Creds,
}

/// `arg` is exactly one of `flags` (the value follows as the next argument).
fn is_flag_in(arg: &str, flags: &[&str]) -> bool {
    flags.contains(&arg)
}

/// Redact the `--flag=value` forms, and credentials embedded in URLs (`https://u:p@host`).
fn redact_inline(arg: &str, secrets: &mut Vec<String>) -> String {
    if let Some((flag, value)) = arg.split_once('=') {
        if SECRET_FLAGS.contains(&flag) {
            secrets.push(value.to_string());
            return format!("{flag}={REDACTED}");
        }
        if CREDS_FLAGS.contains(&flag) {
            if let Some((_, pass)) = value.split_once(':') {
                secrets.push(pass.to_string());
            } else {
                secrets.push(value.to_string());
            }
            return format!("{flag}={}", redact_creds(value));
        }
    }
    redact_url_userinfo(arg, secrets)
}

/// `scheme://user:pass@host/...` → `scheme://user:***@host/...`.
fn redact_url_userinfo(arg: &str, secrets: &mut Vec<String>) -> String {
    let Some(scheme_end) = arg.find("://") else {
        return arg.to_string();
    };
    let rest = &arg[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some(at) = authority.rfind('@') else {
        return arg.to_string();
    };
    let userinfo = &authority[..at];
    let Some((user, pass)) = userinfo.split_once(':') else {
        return arg.to_string();
    };
    secrets.push(pass.to_string());
    format!(
        "{}://{}:{}@{}",
        &arg[..scheme_end],
        user,
        REDACTED,
        &rest[at + 1..]
    )
}

/// Replace every occurrence of every secret value in `text` with [`REDACTED`].
///
/// Longer secrets are replaced first so a secret that contains another is fully hidden.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| s.len() >= 3).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for secret in sorted {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(args: &[&str]) -> (String, Vec<String>) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let marked = vec![false; args.len()];
        let (display, secrets) = redact_args(&args, &marked);
        (display.join(" "), secrets)
    }

    #[test]
    fn quoting_is_paste_safe() {
        assert_eq!(quote("helm"), "helm");
        assert_eq!(quote("oci://reg.local:5000/charts"), "oci://reg.local:5000/charts");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("a b"), "'a b'");
        assert_eq!(quote("it's"), r"'it'\''s'");
        assert_eq!(quote("$HOME"), "'$HOME'");
        assert_eq!(quote("a;rm -rf /"), "'a;rm -rf /'");
        assert_eq!(quote("key=va lue"), "'key=va lue'");
        assert_eq!(quote("*"), "'*'");
    }

    #[test]
    fn quoted_words_round_trip_through_a_shell_parser() {
        for word in ["plain", "with space", "it's", "\"dq\"", "$(cmd)", "back\\slash", "tab\there", "ünïcode"] {
            let parsed = shlex::split(&quote(word)).expect("shell-parsable");
            assert_eq!(parsed, vec![word.to_string()], "word {word:?}");
        }
    }

    // One test per secret-carrying flag kod passes to helm, helmfile or skopeo.
    #[test]
    fn helm_password_flag() {
        let (d, s) = shown(&["helm", "registry", "login", "reg:5000", "--username", "kod", "--password", "hunter22"]);
        assert_eq!(d, "helm registry login reg:5000 --username kod --password ***");
        assert_eq!(s, vec!["hunter22"]);
    }

    #[test]
    fn helm_password_equals_form() {
        let (d, s) = shown(&["helm", "repo", "add", "x", "https://h", "--password=hunter22"]);
        assert_eq!(d, "helm repo add x https://h --password=***");
        assert_eq!(s, vec!["hunter22"]);
    }

    #[test]
    fn skopeo_creds_flags() {
        for flag in ["--creds", "--src-creds", "--dest-creds"] {
            let (d, s) = shown(&["skopeo", "copy", flag, "admin:s3cr:et", "a", "b"]);
            assert_eq!(d, format!("skopeo copy {flag} admin:*** a b"));
            assert_eq!(s, vec!["s3cr:et"]);
            let eq = format!("{flag}=admin:s3cr:et");
            let (d, s) = shown(&["skopeo", "copy", &eq]);
            assert_eq!(d, format!("skopeo copy {flag}=admin:***"));
            assert_eq!(s, vec!["s3cr:et"]);
        }
    }

    #[test]
    fn skopeo_registry_token_flags() {
        for flag in ["--registry-token", "--src-registry-token", "--dest-registry-token"] {
            let (d, s) = shown(&["skopeo", "inspect", flag, "tok123", "docker://x"]);
            assert_eq!(d, format!("skopeo inspect {flag} *** docker://x"));
            assert_eq!(s, vec!["tok123"]);
        }
    }

    #[test]
    fn generic_token_flags() {
        for flag in ["--token", "--identity-token", "--bearer-token", "--api-key", "--client-secret"] {
            let (d, _) = shown(&["tool", flag, "abcdef"]);
            assert_eq!(d, format!("tool {flag} ***"));
        }
    }

    #[test]
    fn password_stdin_flag_itself_is_not_a_secret() {
        let (d, s) = shown(&["helm", "registry", "login", "h", "--username", "u", "--password-stdin"]);
        assert_eq!(d, "helm registry login h --username u --password-stdin");
        assert!(s.is_empty());
    }

    #[test]
    fn marked_arguments_are_hidden() {
        let args: Vec<String> = ["x", "--set", "db.password=topsecret"].iter().map(|s| s.to_string()).collect();
        let (d, s) = redact_args(&args, &[false, false, true]);
        assert_eq!(d.join(" "), "x --set ***");
        assert_eq!(s, vec!["db.password=topsecret"]);
    }

    #[test]
    fn url_userinfo_is_redacted() {
        let (d, s) = shown(&["helm", "repo", "add", "r", "https://user:pa55@charts.example.com/x"]);
        assert_eq!(d, "helm repo add r https://user:***@charts.example.com/x");
        assert_eq!(s, vec!["pa55"]);
        let (d, _) = shown(&["helm", "pull", "oci://reg:5000/charts/x"]);
        assert_eq!(d, "helm pull oci://reg:5000/charts/x");
    }

    #[test]
    fn secret_env_names() {
        for n in ["HELM_REGISTRY_PASSWORD", "GITHUB_TOKEN", "KOD_REGISTRY_PASSWORD", "AWS_SECRET_ACCESS_KEY", "REGISTRY_AUTH"] {
            assert!(is_secret_env_name(n), "{n}");
        }
        for n in ["HELM_REGISTRY_CONFIG", "PATH", "HOME", "KUBECONFIG"] {
            assert!(!is_secret_env_name(n), "{n}");
        }
    }

    #[test]
    fn scrub_replaces_longest_first() {
        let out = scrub("login as kod with pass hunter22 and hunter", &["hunter".into(), "hunter22".into()]);
        assert_eq!(out, "login as kod with pass *** and ***");
        // Tiny values are not scrubbed (they would mangle unrelated text).
        assert_eq!(scrub("a b c", &["a".into()]), "a b c");
    }
}
