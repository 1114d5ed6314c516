//! `cdn wait ID... [--timeout T] [--interval I]`: polls `query` until every id is done or
//! failed. A lost connection moves to the next master of `--master` (a query may be asked
//! twice), until the timeout.

use crate::cli::{Global, WaitArgs};
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{ImageView, Request, Status};
use std::time::Duration;
use tokio::time::Instant;

/// The shortest pause between two rounds of queries.
const MIN_INTERVAL: Duration = Duration::from_millis(10);

pub async fn run(global: &Global, mut args: WaitArgs) -> anyhow::Result<Exit> {
    let mut waiting: Vec<(String, Option<Status>)> = Vec::new();
    for id in std::mem::take(&mut args.ids) {
        if !waiting.iter().any(|(seen, _)| *seen == id) {
            waiting.push((id, None));
        }
    }
    let mut master = Master::connect(global).await?;
    let polled = poll(&mut master, waiting, &args).await;
    // Closed whatever happened (see `Master::call_once`).
    master.close().await;
    let (waiting, any_failed) = polled?;
    if !waiting.is_empty() {
        let unfinished: Vec<String> = waiting
            .iter()
            .map(|(id, status)| format!("{id} ({})", status.map_or("unknown", Status::as_str)))
            .collect();
        eprintln!(
            "cdn: timed out after {}; unfinished: {}",
            humantime::format_duration(args.timeout),
            unfinished.join(", ")
        );
        return Ok(Exit::TimedOut);
    }
    Ok(if any_failed {
        Exit::Failed
    } else {
        Exit::Success
    })
}

/// Queries the ids in rounds until each is done or failed or the timeout passes. Returns the
/// ids still unfinished (with their last status) and whether any failed.
async fn poll(
    master: &mut Master,
    mut waiting: Vec<(String, Option<Status>)>,
    args: &WaitArgs,
) -> anyhow::Result<(Vec<(String, Option<Status>)>, bool)> {
    let deadline = Instant::now() + args.timeout;
    // `--interval 0s` would be a busy loop.
    let interval = args.interval.max(MIN_INTERVAL);
    let mut any_failed = false;
    let mut timed_out = false;
    while !waiting.is_empty() && !timed_out {
        let mut still = Vec::with_capacity(waiting.len());
        for (id, last) in waiting {
            if timed_out {
                still.push((id, last));
                continue;
            }
            let request = Request::Query { id: id.clone() };
            let Some((view, _)) = master.call_moving::<ImageView>(&request, deadline).await? else {
                timed_out = true;
                still.push((id, last));
                continue;
            };
            match view.status {
                Status::Done => output::line(&format!("{id} done"))?,
                Status::Failed => {
                    any_failed = true;
                    output::line(&format!("{id} failed"))?;
                    if let Some(error) = &view.last_error {
                        eprintln!(
                            "cdn: {id}: {}: {}",
                            output::printable(&error.kind),
                            output::printable(&error.message)
                        );
                    }
                }
                other => still.push((id, Some(other))),
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            timed_out = true;
        } else {
            tokio::time::sleep_until(deadline.min(now + interval)).await;
        }
    }
    Ok((waiting, any_failed))
}
