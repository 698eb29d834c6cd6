//! `kod helm package|sync`: single-chart mode. The chart becomes a one-release helmfile
//! (written into the work directory and bundled like any other), so packaging, pushing,
//! rewriting, proving and syncing run the same pipeline as `kod helmfile`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde_yaml::{Mapping, Value as Yaml};

use super::helmfile::{HelmfileFlags, PackageArgs, RewriteArgs};
use super::{Context, UsageError};
use crate::exec::{Cmd, Tool};

#[derive(Args, Debug)]
pub struct HelmCmd {
    #[command(subcommand)]
    pub verb: HelmVerb,
}

#[derive(Subcommand, Debug)]
pub enum HelmVerb {
    /// Package one chart (as a one-release helmfile) with its images into a bundle
    #[command(disable_version_flag = true)]
    Package(Box<HelmPackageArgs>),
    /// Offline: verify, push, rewrite, prove and install a single-chart bundle
    Sync(HelmSyncArgs),
}

#[derive(Args, Debug)]
pub struct HelmPackageArgs {
    /// The chart: REPO/NAME (a repository `helm repo list` knows), NAME with --repo, oci://…, or a local directory or .tgz
    pub chart: String,
    /// Chart version or constraint [default: the latest]
    #[arg(long = "version", id = "chart_version", value_name = "VERSION")]
    pub chart_version: Option<String>,
    /// Chart repository URL (CHART is then the chart's name)
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Values file (repeatable; later files win)
    #[arg(short = 'f', long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Set a value: KEY=VALUE[,KEY=VALUE] (repeatable), as helm's --set
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The release's namespace
    #[arg(short = 'n', long, default_value = "default")]
    pub namespace: String,
    /// The release name [default: the chart's name]
    #[arg(long)]
    pub release: Option<String>,
    #[command(flatten)]
    pub package: PackageArgs,
}

#[derive(Args, Debug)]
pub struct HelmSyncArgs {
    #[command(flatten)]
    pub rewrite: RewriteArgs,
    /// Install into this kube context
    #[arg(long = "kube-context", value_name = "CONTEXT")]
    pub kube_context: Option<String>,
}

pub async fn exec(ctx: &Context, cmd: HelmCmd) -> Result<i32> {
    match cmd.verb {
        HelmVerb::Package(args) => package(ctx, *args).await,
        HelmVerb::Sync(args) => {
            let flags = HelmfileFlags { kube_context: args.kube_context.clone(), ..Default::default() };
            super::offline::sync(ctx, &flags, args.rewrite).await
        }
    }
}

fn key(s: &str) -> Yaml {
    Yaml::String(s.to_string())
}

/// Split at commas that are not escaped (`\,`) and, with `braces`, not inside `{…}`; escapes
/// are kept (see [`unescape`]).
fn split_commas(s: &str, braces: bool) -> Vec<String> {
    let mut parts = Vec::new();
    let (mut cur, mut depth, mut escaped) = (String::new(), 0i32, false);
    for c in s.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' if braces => depth += 1,
            '}' if braces => depth -= 1,
            ',' if depth == 0 => {
                parts.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    parts.push(cur);
    parts
}

/// Split one `--set` argument into `KEY=VALUE` pairs at unescaped commas outside `{…}`.
fn split_set(arg: &str) -> Result<Vec<(String, String)>> {
    split_commas(arg, true)
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(UsageError { message: format!("--set {arg:?}: {p:?} is not KEY=VALUE") }.into()),
        })
        .collect()
}

/// helm's `\,` (and any `\x`) in a --set value → the literal character.
fn unescape(v: &str) -> String {
    let mut out = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The items of helm's `{a,b}` list syntax (unescaped).
fn split_list(list: &str) -> Vec<String> {
    split_commas(list, false).iter().map(|i| unescape(i)).collect()
}

/// `(repositories entry, chart as helmfile names it)`.
async fn chart_source(ctx: &Context, args: &HelmPackageArgs) -> Result<(Option<Mapping>, String)> {
    let chart = args.chart.trim();
    if let Some(url) = &args.repo {
        if chart.contains('/') {
            return Err(UsageError { message: format!("with --repo, CHART is the chart's name, not {chart:?}") }.into());
        }
        let mut repo = Mapping::new();
        repo.insert(key("name"), key("chart-repo"));
        repo.insert(key("url"), key(url));
        return Ok((Some(repo), format!("chart-repo/{chart}")));
    }
    if chart.starts_with("oci://") {
        return Ok((None, chart.to_string()));
    }
    let local = Path::new(chart);
    if local.exists() {
        let abs = std::path::absolute(local).with_context(|| format!("resolving {chart}"))?;
        return Ok((None, abs.display().to_string()));
    }
    let Some((repo_name, _)) = chart.split_once('/') else {
        bail!("chart {chart:?} is neither a local path, oci://…, REPO/NAME, nor NAME with --repo URL");
    };
    // REPO/NAME: the URL from helm's repository list.
    let out = ctx
        .runner
        .run(&Cmd::new(Tool::Helm).args(["repo", "list", "-o", "json"]).read_only().capture())
        .await
        .with_context(|| format!("looking up helm repository {repo_name:?} for {chart} (or pass --repo URL)"))?;
    let list: Vec<serde_json::Value> = serde_json::from_str(out.stdout.trim()).unwrap_or_default();
    let url = list
        .iter()
        .find(|r| r["name"] == repo_name)
        .and_then(|r| r["url"].as_str())
        .ok_or_else(|| anyhow::anyhow!("helm knows no repository named {repo_name:?} (`helm repo add {repo_name} URL`, or pass --repo URL)"))?;
    let mut repo = Mapping::new();
    repo.insert(key("name"), key(repo_name));
    repo.insert(key("url"), key(url));
    Ok((Some(repo), chart.to_string()))
}

async fn package(ctx: &Context, args: HelmPackageArgs) -> Result<i32> {
    let (repo, chart) = chart_source(ctx, &args).await?;
    let release = match &args.release {
        Some(r) => r.clone(),
        None => chart.trim_end_matches('/').rsplit('/').next().unwrap_or("release").trim_end_matches(".tgz").to_string(),
    };
    let release = release.split('-').take_while(|p| !p.chars().next().is_some_and(|c| c.is_ascii_digit())).collect::<Vec<_>>().join("-");
    if release.is_empty() {
        return Err(UsageError { message: "cannot derive a release name from the chart; pass --release NAME".into() }.into());
    }
    let workdir = crate::chart::WorkDir::resolve(args.package.workdir.as_deref())?;
    let project = workdir.join("single-chart").join(&release);
    if project.exists() {
        std::fs::remove_dir_all(&project).with_context(|| format!("clearing {}", project.display()))?;
    }
    std::fs::create_dir_all(project.join("values")).with_context(|| format!("creating {}", project.display()))?;

    let mut r = Mapping::new();
    r.insert(key("name"), key(&release));
    r.insert(key("namespace"), key(&args.namespace));
    r.insert(key("chart"), key(&chart));
    if let Some(v) = &args.chart_version {
        r.insert(key("version"), key(v));
    }
    let mut values = Vec::new();
    for (i, f) in args.values.iter().enumerate() {
        let text = std::fs::read_to_string(f).with_context(|| format!("reading values file {}", f.display()))?;
        serde_yaml::from_str::<Yaml>(&text).with_context(|| format!("{} is not YAML", f.display()))?;
        let base = f.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "values".into());
        let rel = format!("values/{:02}-{base}.yaml", i + 1);
        std::fs::write(project.join(&rel), text)?;
        values.push(key(&rel));
    }
    if !values.is_empty() {
        r.insert(key("values"), Yaml::Sequence(values));
    }
    let mut sets = Vec::new();
    for s in &args.set {
        for (k, v) in split_set(s)? {
            // helmfile escapes `,`, `{` and `}` of a set value itself: give it the literal
            // value helm's syntax means, and a `{a,b}` list as helmfile's `values:` list.
            let mut m = Mapping::new();
            m.insert(key("name"), key(&k));
            match v.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
                Some(list) => {
                    let items = split_list(list);
                    m.insert(key("values"), Yaml::Sequence(items.iter().map(|i| key(i)).collect()));
                }
                None => {
                    m.insert(key("value"), key(&unescape(&v)));
                }
            }
            sets.push(Yaml::Mapping(m));
        }
    }
    if !sets.is_empty() {
        r.insert(key("set"), Yaml::Sequence(sets));
    }
    let mut state = Mapping::new();
    if let Some(repo) = repo {
        state.insert(key("repositories"), Yaml::Sequence(vec![Yaml::Mapping(repo)]));
    }
    state.insert(key("releases"), Yaml::Sequence(vec![Yaml::Mapping(r)]));
    let text = format!(
        "# Written by `kod helm package` (single-chart mode: a one-release helmfile).\n{}",
        crate::rewrite::state::escape_template(&serde_yaml::to_string(&Yaml::Mapping(state))?)
    );
    let helmfile = project.join("helmfile.yaml.gotmpl");
    std::fs::write(&helmfile, text).with_context(|| format!("writing {}", helmfile.display()))?;
    ctx.ui.info(format!("single-chart mode: release {release} in namespace {} from {}", args.namespace, helmfile.display()));

    let mut package = args.package;
    package.workdir = Some(workdir.clone());
    if package.output.is_none() {
        package.output = Some(std::env::current_dir()?.join(format!("{release}.kod.tar")));
    } else if let Some(o) = &package.output {
        package.output = Some(std::path::absolute(o)?);
    }
    let flags = HelmfileFlags { file: Some(helmfile), ..Default::default() };
    super::helmfile::run_package(ctx, &flags, package).await
}

#[cfg(test)]
mod tests {
    use super::split_set;


    #[test]
    fn set_arguments_split_like_helm() {
        let pairs = split_set("a=1,b.c=x\\,y,list={1,2}").unwrap();
        assert_eq!(pairs, vec![("a".into(), "1".into()), ("b.c".into(), "x\\,y".into()), ("list".into(), "{1,2}".into())]);
        assert!(split_set("novalue").is_err());
        assert_eq!(super::unescape("x\\,y"), "x,y");
        assert_eq!(super::split_list("1,a\\,b"), vec!["1", "a,b"]);
    }
}
