//! `cdn stats [--json]`: images per status and connected workers.

use crate::cli::Global;
use crate::connect::Master;
use crate::exit::Exit;
use crate::output;
use cdn_proto::{Request, StatsResponse};

pub async fn run(global: &Global, json: bool) -> anyhow::Result<Exit> {
    let (stats, _) =
        Master::call_once::<StatsResponse>(global, &Request::Stats, Vec::new()).await?;
    if json {
        output::json(&stats)?;
    } else {
        output::line(&text(&stats))?;
    }
    Ok(Exit::Success)
}

fn text(stats: &StatsResponse) -> String {
    let c = &stats.counts;
    format!(
        "pending  {}\nleased   {}\ndone     {}\nfailed   {}\nworkers  {} (seen in the last {} s)",
        c.pending, c.leased, c.done, c.failed, stats.workers_connected, stats.workers_window_s
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_proto::Counts;

    #[test]
    fn stats_text() {
        let stats = StatsResponse {
            counts: Counts {
                pending: 1,
                leased: 2,
                done: 30,
                failed: 4,
            },
            workers_connected: 2,
            workers_window_s: 30,
        };
        assert_eq!(
            text(&stats),
            "pending  1\nleased   2\ndone     30\nfailed   4\nworkers  2 (seen in the last 30 s)"
        );
    }
}
