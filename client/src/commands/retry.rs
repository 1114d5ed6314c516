//! `cdn retry ID... | --failed [--json]`: puts failed images back to `pending`.

use crate::cli::{Global, RetryArgs};
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{Request, RetryResponse};

pub async fn run(global: &Global, args: RetryArgs) -> anyhow::Result<Exit> {
    let request = Request::Retry {
        ids: args.ids,
        failed: args.failed,
    };
    let (answer, _) = Master::call_once::<RetryResponse>(global, &request, Vec::new()).await?;
    if args.json {
        output::json(&answer)?;
    } else {
        for id in &answer.retried {
            output::line(&format!("retried {id}"))?;
        }
        if answer.retried.is_empty() && answer.not_retried.is_empty() {
            output::line("nothing to retry")?;
        }
    }
    for skipped in &answer.not_retried {
        eprintln!(
            "cdn: {}: not retried: {}",
            output::printable(&skipped.id),
            output::printable(&skipped.reason)
        );
    }
    Ok(if answer.not_retried.is_empty() {
        Exit::Success
    } else {
        Exit::Refused
    })
}
