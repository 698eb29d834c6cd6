//! `kod post-render --map FILE`: the helm post-renderer kod wires into rewritten helmfiles
//! (`postRenderer`/`postRendererArgs`) for images no value path controls. Reads manifests
//! on stdin, writes them with the mapped images on stdout.

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::{Context as _, Result};
use clap::Args;

use super::Context;
use crate::rewrite::post_render::{rewrite, ImageMap};

#[derive(Args, Debug)]
pub struct PostRenderArgs {
    /// The image map (JSON: {"images": {"SOURCE": "TARGET"}})
    #[arg(long, value_name = "FILE")]
    pub map: PathBuf,
}

pub async fn exec(_ctx: &Context, args: PostRenderArgs) -> Result<i32> {
    let map = ImageMap::load(&args.map)?;
    let mut input = String::new();
    std::io::stdin().read_to_string(&mut input).context("reading manifests from stdin")?;
    let out = rewrite(&input, &map);
    std::io::stdout().write_all(out.as_bytes()).context("writing manifests to stdout")?;
    Ok(super::exit::OK)
}
