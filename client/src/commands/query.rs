//! `cdn query ID`: the image's view as pretty JSON.

use crate::cli::{Global, QueryArgs};
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{ImageView, Request};

pub async fn run(global: &Global, args: QueryArgs) -> anyhow::Result<Exit> {
    let master = Master::connect(global).await?;
    let (view, _) = master
        .call::<ImageView>(&Request::Query { id: args.id }, Vec::new())
        .await?;
    master.close().await;
    output::json(&view)?;
    Ok(Exit::Success)
}
