//! The offline steps after `push`: `kod helmfile rewrite`, `kod helmfile verify-offline`
//! and `kod helmfile sync` (which runs every step). `kod helm sync` is the last one for a
//! single-chart bundle.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _, Result};

use super::helmfile::{HelmfileFlags, OfflineArgs, RewriteArgs};
use super::{Context, OutputFormat, UsageError};
use crate::bundle::format::Manifest;
use crate::registry::push::{helm_registry_config, open_bundle, push_all, PushOptions};
use crate::registry::RegistryTarget;
use crate::rewrite::state::{rewrite as write_rewrite, RewriteOptions, RewriteReport, Rewritten};
use crate::sync::{bundle_plan, sync_waves, verify_offline as verify, HelmfileEnv, VerifyReport};

/// The environment to work on: `-e`, else the bundle's only one, else `default`.
fn environment(manifest: &Manifest, flags: &HelmfileFlags) -> Result<String> {
    if let Some(e) = flags.environment.first() {
        if !manifest.environments.contains(e) {
            return Err(UsageError { message: format!("environment {e:?} is not in the bundle (it has: {})", manifest.environments.join(", ")) }.into());
        }
        return Ok(e.clone());
    }
    match manifest.environments.as_slice() {
        [one] => Ok(one.clone()),
        list if list.iter().any(|e| e == "default") => Ok("default".into()),
        list => Err(UsageError { message: format!("the bundle has several environments ({}); choose one with -e", list.join(", ")) }.into()),
    }
}

fn workdir(args: &OfflineArgs) -> Result<PathBuf> {
    crate::chart::WorkDir::resolve(args.workdir.as_deref())
}

fn rewrite_dir(workdir: &Path, env: &str) -> PathBuf {
    workdir.join("rewrite").join(env)
}

fn do_rewrite(ctx: &Context, manifest: &Manifest, unpacked: &Path, target: &RegistryTarget, env: &str, workdir: &Path, args: &RewriteArgs) -> Result<Rewritten> {
    let kod_binary = std::env::current_exe().context("finding the kod binary for the post-renderer")?;
    let opts = RewriteOptions {
        bundle_dir: unpacked.to_path_buf(),
        environment: env.to_string(),
        out_dir: rewrite_dir(workdir, env),
        pin_digests: args.pin_digests,
        post_render_all: args.post_render_all,
        kod_binary,
    };
    let rw = write_rewrite(manifest, target, &opts)?;
    for w in &rw.report.warnings {
        ctx.ui.warn(w);
    }
    Ok(rw)
}

/// The diff (stdout, or stderr when stdout carries JSON) and a summary line.
fn print_rewrite(ctx: &Context, rw: &Rewritten, args: &RewriteArgs) {
    if !args.no_diff {
        match args.offline.output {
            OutputFormat::Text => print!("{}", rw.diff()),
            OutputFormat::Json => eprint!("{}", rw.diff()),
        }
    }
    {
        let (mut by_values, mut by_post) = (0, 0);
        for r in &rw.report.releases {
            for i in &r.images {
                if i.how.starts_with("values") {
                    by_values += 1;
                }
                if i.how.contains("post-render") {
                    by_post += 1;
                }
            }
        }
        ctx.ui.info(format!(
            "rewrote {} release(s) to {}: charts from {}, {by_values} image use(s) redirected by values, {by_post} by the post-renderer; plain helmfile: helmfile -f {} sync",
            rw.report.releases.len(),
            rw.report.registry,
            rw.report.charts_repository,
            rw.report.helmfile.display()
        ));
    }
}

/// `kod helmfile rewrite`.
pub async fn rewrite(ctx: &Context, flags: &HelmfileFlags, args: RewriteArgs) -> Result<i32> {
    let target = args.offline.registry.target(&ctx.ui)?;
    let workdir = workdir(&args.offline)?;
    let (manifest, unpacked) = open_bundle(&ctx.runner, &args.offline.bundle, &workdir)?;
    let env = environment(&manifest, flags)?;
    let rw = do_rewrite(ctx, &manifest, &unpacked, &target, &env, &workdir, &args)?;
    match args.offline.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rw.report)?),
        OutputFormat::Text => print_rewrite(ctx, &rw, &args),
    }
    Ok(super::exit::OK)
}

fn report_verify(ctx: &Context, report: &VerifyReport, target: &RegistryTarget) -> Result<()> {
    if !report.ran {
        ctx.ui.info("dry run: the render was printed, not run; nothing was checked");
        return Ok(());
    }
    if !report.ok() {
        bail!("{}", report.failure_text());
    }
    ctx.ui.info(format!(
        "offline-ready: {} image(s) in {} rendered object(s), every one under {} and present there with the bundle's digest",
        report.images.len(),
        report.objects,
        target.base()
    ));
    Ok(())
}

/// `kod helmfile verify-offline`.
pub async fn verify_offline(ctx: &Context, flags: &HelmfileFlags, args: OfflineArgs) -> Result<i32> {
    let target = args.registry.target(&ctx.ui)?;
    let workdir = workdir(&args)?;
    let (manifest, _) = open_bundle(&ctx.runner, &args.bundle, &workdir)?;
    let env = environment(&manifest, flags)?;
    let rewrite = RewriteReport::load(&rewrite_dir(&workdir, &env))?;
    let auth_dir = workdir.join("push");
    let (registry_config, _login) = helm_registry_config(&ctx.runner, &target, &auth_dir, args.timeout).await?;
    let henv = HelmfileEnv { helmfile: rewrite.helmfile.clone(), registry_config, kube_context: flags.kube_context.clone(), concurrency: ctx.concurrency };
    let report = verify(&ctx.runner, &henv, &rewrite, &manifest, &target, &auth_dir, args.timeout).await?;
    if args.output == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    report_verify(ctx, &report, &target)?;
    Ok(super::exit::OK)
}

/// `kod helmfile sync` (and `kod helm sync`): every offline step.
pub async fn sync(ctx: &Context, flags: &HelmfileFlags, args: RewriteArgs) -> Result<i32> {
    flags.selectors()?;
    let target = args.offline.registry.target(&ctx.ui)?;
    let workdir = workdir(&args.offline)?;
    let lock = crate::sync::SyncLock::acquire(&workdir)?;
    if let Some(pid) = lock.interrupted {
        ctx.ui.warn(format!(
            "the previous sync in {} (pid {pid}) did not finish; releases it left pending are put back before their wave",
            workdir.display()
        ));
    }
    ctx.ui.info("step 1-3: verify the bundle, push images and charts");
    let (manifest, unpacked) = open_bundle(&ctx.runner, &args.offline.bundle, &workdir)?;
    let env = environment(&manifest, flags)?;
    let auth_dir = workdir.join("push");
    // One helm login for the chart push and every helmfile step; removed however the sync ends.
    let (registry_config, login) = helm_registry_config(&ctx.runner, &target, &auth_dir, args.offline.timeout).await?;
    let push_opts = PushOptions {
        helm_registry_config: Some(registry_config.clone()),
        ..PushOptions::new(unpacked.clone(), auth_dir.clone(), ctx.concurrency, args.offline.timeout)
    };
    let pushed = push_all(&ctx.runner, &manifest, &target, &push_opts).await?;
    ctx.ui.info(format!("pushed {} image(s) and {} chart(s) to {}", pushed.images.len(), pushed.charts.len(), pushed.registry));

    ctx.ui.info(format!("step 4: rewrite the helmfile (environment {env})"));
    let rw = do_rewrite(ctx, &manifest, &unpacked, &target, &env, &workdir, &args)?;
    print_rewrite(ctx, &rw, &args);

    ctx.ui.info("step 5: prove the rewritten helmfile is offline-ready");
    let henv = HelmfileEnv { helmfile: rw.report.helmfile.clone(), registry_config, kube_context: flags.kube_context.clone(), concurrency: ctx.concurrency };
    let verified = verify(&ctx.runner, &henv, &rw.report, &manifest, &target, &auth_dir, args.offline.timeout).await?;
    report_verify(ctx, &verified, &target).context("nothing was installed")?;

    ctx.ui.info("step 6: helmfile sync in waves");
    let plan = bundle_plan(&manifest, &env)?;
    let report = sync_waves(&ctx.runner, &henv, &rw.report, &plan, &flags.selector, lock.interrupted.is_some()).await?;
    match args.offline.output {
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"push": pushed, "rewrite": rw.report, "verify": verified, "sync": report}))?
        ),
        OutputFormat::Text => eprint!("{}", report.summary()),
    }
    if ctx.runner.dry_run() {
        ctx.ui.info("dry run: the commands above were printed; nothing was pushed or installed");
    } else {
        ctx.ui.info(format!("synced {} wave(s); the rewritten helmfile is {}", report.waves.len(), rw.report.helmfile.display()));
    }
    drop(login);
    drop(lock);
    if args.cleanup {
        std::fs::remove_dir_all(&workdir).with_context(|| format!("removing the work directory {}", workdir.display()))?;
        ctx.ui.info(format!("removed the work directory {} (the rewritten helmfile with it)", workdir.display()));
    }
    Ok(super::exit::OK)
}
