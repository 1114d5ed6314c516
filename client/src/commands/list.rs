//! `cdn list [--status S] [--json]`.

use crate::cli::{Global, ListArgs};
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{ListResponse, Request};

/// Asks page after page (following each answer's `next`) until the last, so the output is the
/// whole list however long.
pub async fn run(global: &Global, args: ListArgs) -> anyhow::Result<Exit> {
    let master = Master::connect(global).await?;
    let listed = all_pages(&master, &args).await;
    // Closed whatever happened (see `Master::call_once`).
    master.close().await;
    let list = listed?;
    if args.json {
        output::json(&list)?;
    } else {
        let rows: Vec<Vec<String>> = list.images.iter().map(output::image_row).collect();
        let text = output::table(&output::IMAGE_HEADER, &rows);
        output::line(text.trim_end())?;
    }
    Ok(Exit::Success)
}

/// Every page of the list, in order.
async fn all_pages(master: &Master, args: &ListArgs) -> anyhow::Result<ListResponse> {
    let mut list = ListResponse {
        images: Vec::new(),
        next: None,
    };
    let mut after = None;
    loop {
        let request = Request::List {
            status: args.status.map(Into::into),
            limit: args.page,
            after: after.take(),
        };
        let (page, _) = master.call::<ListResponse>(&request, Vec::new()).await?;
        list.images.extend(page.images);
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(list),
        }
    }
}
