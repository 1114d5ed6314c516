//! `cdn plugin add NAME FILE` and `cdn plugin list [--json]`.

use crate::cli::Global;
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use anyhow::Context;
use cdn_proto::{PluginInfo, PluginListResponse, Request};
use std::path::Path;

pub async fn add(global: &Global, name: String, file: &Path) -> anyhow::Result<Exit> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (info, _) =
        Master::call_once::<PluginInfo>(global, &Request::PluginAdd { name }, wasm).await?;
    output::line(&format!("plugin {} = {}", info.name, info.hash))?;
    Ok(Exit::Success)
}

pub async fn list(global: &Global, json: bool) -> anyhow::Result<Exit> {
    let (list, _) =
        Master::call_once::<PluginListResponse>(global, &Request::PluginList, Vec::new()).await?;
    if json {
        output::json(&list)?;
    } else {
        let rows: Vec<Vec<String>> = list
            .plugins
            .iter()
            .map(|p| vec![p.name.clone(), p.hash.to_hex()])
            .collect();
        output::line(output::table(&["NAME", "HASH"], &rows).trim_end())?;
    }
    Ok(Exit::Success)
}
