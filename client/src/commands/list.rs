//! `cdn list [--status S] [--json]`.

use crate::cli::{Global, ListArgs};
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{ListResponse, Request};

pub async fn run(global: &Global, args: ListArgs) -> anyhow::Result<Exit> {
    let request = Request::List {
        status: args.status.map(Into::into),
    };
    let (list, _) = Master::call_once::<ListResponse>(global, &request, Vec::new()).await?;
    if args.json {
        output::json(&list)?;
    } else {
        let rows: Vec<Vec<String>> = list.images.iter().map(output::image_row).collect();
        let text = output::table(&output::IMAGE_HEADER, &rows);
        output::line(text.trim_end())?;
    }
    Ok(Exit::Success)
}
