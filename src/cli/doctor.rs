//! `kod doctor`: find and version-check helm, helmfile and skopeo; with `--registry`, check
//! that the registry accepts the credentials with both tools that will push to it.

use clap::Args;
use serde::Serialize;

use super::{read_password_stdin, Context, OutputFormat, UsageError};
use crate::exec::Tool;
use crate::registry::target::{check_login, LoginCheck};
use crate::registry::{RegistryTarget, Secret};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// Also check this registry: HOST[:PORT][/PREFIX]
    #[arg(long, value_name = "HOST[:PORT][/PREFIX]")]
    pub registry: Option<String>,
    /// Registry user name
    #[arg(long, requires = "registry")]
    pub username: Option<String>,
    /// Read the registry password from stdin (or set KOD_REGISTRY_PASSWORD)
    #[arg(long, requires = "username")]
    pub password_stdin: bool,
    /// A containers/docker auth file with the registry's credentials
    #[arg(long, value_name = "FILE", requires = "registry")]
    pub registry_auth_file: Option<std::path::PathBuf>,
    /// CA certificate (PEM) that signed the registry's TLS certificate
    #[arg(long, value_name = "FILE", requires = "registry")]
    pub ca_file: Option<std::path::PathBuf>,
    /// The registry speaks plain HTTP (no TLS)
    #[arg(long, requires = "registry")]
    pub plain_http: bool,
    /// Do not verify the registry's TLS certificate
    #[arg(long, requires = "registry")]
    pub insecure_skip_tls_verify: bool,
}

#[derive(Serialize)]
struct ToolReport {
    tool: String,
    ok: bool,
    path: Option<String>,
    version: Option<String>,
    supported: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct Report {
    ok: bool,
    tools: Vec<ToolReport>,
    registry: Option<LoginCheck>,
}

pub async fn exec(ctx: &Context, args: DoctorArgs) -> anyhow::Result<i32> {
    let mut tools = Vec::new();
    for tool in Tool::ALL {
        let report = match ctx.runner.tool(tool).await {
            Ok(t) => ToolReport {
                tool: tool.to_string(),
                ok: true,
                path: Some(t.path.display().to_string()),
                version: Some(t.version.to_string()),
                supported: tool.supported_text().to_string(),
                error: None,
            },
            Err(e) => ToolReport {
                tool: tool.to_string(),
                ok: false,
                path: None,
                version: None,
                supported: tool.supported_text().to_string(),
                error: Some(e.to_string()),
            },
        };
        tools.push(report);
    }
    let tools_ok = tools.iter().all(|t| t.ok);

    let mut registry = None;
    if let Some(spec) = &args.registry {
        if !tools_ok {
            return finish(ctx, &args, Report { ok: false, tools, registry: None });
        }
        let mut target = RegistryTarget::parse(spec).map_err(|e| UsageError { message: format!("{e:#}") })?;
        target.username = args.username.clone();
        target.ca_file = args.ca_file.clone();
        target.auth_file = args.registry_auth_file.clone();
        target.plain_http = args.plain_http;
        target.insecure_skip_tls_verify = args.insecure_skip_tls_verify;
        if args.password_stdin {
            target.password = Some(read_password_stdin("registry password")?);
        } else if let Ok(p) = std::env::var("KOD_REGISTRY_PASSWORD") {
            if target.username.is_some() && !p.is_empty() {
                target.password = Some(Secret::new(p));
            }
        }
        target.validate().map_err(|e| UsageError { message: format!("{e:#}") })?;
        if !target.tls_verify() {
            ctx.ui.warn(format!(
                "TLS verification is off for {} ({})",
                target.host,
                if target.plain_http { "--plain-http" } else { "--insecure-skip-tls-verify" }
            ));
        }
        ctx.ui.info(format!("checking registry {}", target.host));
        registry = Some(check_login(&ctx.runner, &target).await?);
    }
    finish(ctx, &args, Report { ok: tools_ok, tools, registry })
}

fn finish(ctx: &Context, args: &DoctorArgs, report: Report) -> anyhow::Result<i32> {
    match args.output {
        OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Text => {
            for t in &report.tools {
                match (&t.path, &t.version) {
                    (Some(p), Some(v)) => println!("ok       {:<9} {:<9} {}", t.tool, v, p),
                    _ => println!("missing  {:<9} {}", t.tool, t.error.as_deref().unwrap_or("")),
                }
            }
            if let Some(r) = &report.registry {
                println!("ok       registry  {} (login verified with {})", r.registry, r.verified_with.join(" and "));
                for s in &r.skipped {
                    println!("         registry  not checked: {s}");
                }
            }
        }
    }
    if !report.ok {
        ctx.ui.error("some tools are missing or unsupported (see above)");
        return Ok(super::exit::TOOL);
    }
    Ok(super::exit::OK)
}
