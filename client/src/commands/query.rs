//! `cdn query ID`: the image's view as pretty JSON.

use crate::cli::{Global, QueryArgs};
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{ImageView, Request};

pub async fn run(global: &Global, args: QueryArgs) -> anyhow::Result<Exit> {
    let request = Request::Query { id: args.id };
    let (view, _) = Master::call_once::<ImageView>(global, &request, Vec::new()).await?;
    output::json(&view)?;
    Ok(Exit::Success)
}
