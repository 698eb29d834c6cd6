//! `kod bundle inspect|verify|unpack`: look into a bundle without kod's work directory.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, Subcommand};

use super::{Context, OutputFormat};
use crate::bundle::{format::Manifest, read};

#[derive(Args, Debug)]
pub struct BundleCmd {
    #[command(subcommand)]
    pub verb: Verb,
}

#[derive(Subcommand, Debug)]
pub enum Verb {
    /// Show a bundle's releases, charts, images and sizes (reads only its first entry)
    Inspect(InspectArgs),
    /// Check every checksum, the OCI layout's digests and that every image is present
    Verify(VerifyArgs),
    /// Verify and extract a bundle into a new directory (e.g. for a vulnerability scanner)
    Unpack(UnpackArgs),
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// The bundle file
    pub bundle: PathBuf,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The bundle file
    pub bundle: PathBuf,
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Args, Debug)]
pub struct UnpackArgs {
    /// The bundle file
    pub bundle: PathBuf,
    /// A new (or empty) directory to extract into
    pub dir: PathBuf,
}

pub async fn exec(ctx: &Context, cmd: BundleCmd) -> Result<i32> {
    match cmd.verb {
        Verb::Inspect(a) => inspect(a),
        Verb::Verify(a) => verify(ctx, a),
        Verb::Unpack(a) => unpack(ctx, a),
    }
}

fn short(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}

/// The text form of `inspect`.
pub fn render_inspect(m: &Manifest) -> String {
    let mut out = String::new();
    out.push_str(&format!("kod bundle (schema {}, made by kod {} at {})\n", m.schema_version, m.kod_version, m.created_at));
    out.push_str(&format!("environments: {}\nplatforms:    {}\n", m.environments.join(", "), m.platforms.join(", ")));
    if m.pin_digests {
        out.push_str("images are referenced by digest on the offline side (packaged with --pin-digests)\n");
    }
    out.push_str(&format!("\nRELEASES ({})\n", m.releases.len()));
    for r in &m.releases {
        out.push_str(&format!(
            "  {:<10} {:<40} {:<22} {:<14} {} image(s){}\n",
            r.environment,
            r.id,
            r.chart_ref,
            r.chart_file.trim_start_matches("charts/"),
            r.images.len(),
            if r.installed { "" } else { "  (delete)" }
        ));
    }
    out.push_str(&format!("\nCHARTS ({})\n", m.charts.len()));
    for c in &m.charts {
        out.push_str(&format!("  {:<30} {:<12} {:>10}  {}\n", c.name, c.version, crate::bundle::human_size(c.size), c.source));
    }
    out.push_str(&format!("\nIMAGES ({})\n", m.images.len()));
    for i in &m.images {
        out.push_str(&format!("  {:<60} {}  {:>10}  {} blobs\n", i.source, short(&i.digest), crate::bundle::human_size(i.size), i.blobs));
    }
    let t = &m.totals;
    let saved = t.image_bytes.saturating_sub(t.unique_blob_bytes);
    out.push_str(&format!(
        "\nTOTALS\n  images: {} as separate archives, {} stored ({} unique blobs; shared layers save {})\n  charts: {}\n  bundle content: {} in {} files\n",
        crate::bundle::human_size(t.image_bytes),
        crate::bundle::human_size(t.unique_blob_bytes),
        t.unique_blobs,
        crate::bundle::human_size(saved),
        crate::bundle::human_size(t.chart_bytes),
        crate::bundle::human_size(t.file_bytes),
        m.files.len() + 1
    ));
    out
}

fn inspect(a: InspectArgs) -> Result<i32> {
    let m = read::read_manifest(&a.bundle)?;
    match a.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&m)?),
        OutputFormat::Text => print!("{}", render_inspect(&m)),
    }
    Ok(super::exit::OK)
}

fn verify(ctx: &Context, a: VerifyArgs) -> Result<i32> {
    ctx.ui.info(format!("verifying {}", a.bundle.display()));
    let (_, report) = read::verify(&a.bundle)?;
    match a.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => {
            if report.ok {
                println!(
                    "ok: {} files ({}) and {} images verified",
                    report.files_checked + 1,
                    crate::bundle::human_size(report.bytes_checked),
                    report.images_checked
                );
            } else {
                println!("FAILED: {} problem(s) in {}", report.problems.len(), a.bundle.display());
                for p in &report.problems {
                    println!("  - {p}");
                }
            }
        }
    }
    Ok(if report.ok { super::exit::OK } else { super::exit::FAILURE })
}

fn unpack(ctx: &Context, a: UnpackArgs) -> Result<i32> {
    let (_, report) = read::unpack(&a.bundle, &a.dir)?;
    if !report.ok {
        for p in &report.problems {
            ctx.ui.error(p);
        }
        anyhow::bail!("{} was not unpacked: {} problem(s) (nothing was left in {})", a.bundle.display(), report.problems.len(), a.dir.display());
    }
    ctx.ui.info(format!("unpacked {} files into {} (the OCI layout is {}/images)", report.files_checked + 1, a.dir.display(), a.dir.display()));
    Ok(super::exit::OK)
}
