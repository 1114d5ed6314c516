//! Past one machine: the control plane and the distributed path on the engines operators run —
//! a real PostgreSQL registry and a real S3 API server (moto) for the blobs — under one master
//! and under two (each worker starting with another), against the embedded default (SQLite + a
//! folder) measured in the same run. The servers are started the way the tests start them
//! (`cdn_testkit::postgres`, `cdn_testkit::s3`) and stopped by pid afterwards.

use crate::cluster::{Deployment, Setup};
use crate::control_plane::{self, ControlFigures};
use crate::distributed::{self, DistFigures};
use crate::local_runners::Corpus;
use crate::report::Report;
use anyhow::{anyhow, Result};
use std::path::Path;

/// The bucket the masters share.
const BUCKET: &str = "imagecdn-bench";

/// What one deployment measured (either part may have failed).
struct Row {
    label: String,
    control: Result<ControlFigures>,
    dist: Option<Result<DistFigures>>,
}

/// Runs `f`, turning a panic of the test engines' helpers (which fail loudly) into an error.
fn engine<T>(what: &str, f: impl FnOnce() -> T + std::panic::UnwindSafe) -> Result<T> {
    std::panic::catch_unwind(f).map_err(|panic| {
        let why = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "it panicked".into());
        anyhow!("starting {what}: {why}")
    })
}

/// Measures the shared deployments (one run each) and reports them beside the embedded figures
/// of sections 2 and 3 (`embedded_*`).
#[allow(clippy::too_many_arguments)]
pub fn report(
    out: &mut Report,
    setup: &Setup,
    scratch: &Path,
    tasks: usize,
    corpus: Option<(&Corpus, &Path)>,
    embedded_control: Option<&ControlFigures>,
    embedded_dist: Option<&DistFigures>,
) -> Result<()> {
    let s3 = engine("the S3 server (moto)", cdn_testkit::s3::S3Server::start)?;
    let mut rows = Vec::new();
    // Each deployment starts empty: a database of its own (on one server, kept while any of
    // them is held) and a prefix of its own.
    let mut databases = Vec::new();
    for masters in [1, 2] {
        let label = format!(
            "postgres + s3, {masters} master{}",
            if masters > 1 { "s" } else { "" }
        );
        let database = engine("PostgreSQL", cdn_testkit::postgres::database)?;
        let url = database.url.clone();
        databases.push(database);
        engine("the bench bucket", || s3.create_bucket(BUCKET))?;
        let deployment = Deployment {
            label: label.clone(),
            masters,
            registry: Some(url),
            blobs: Some(format!("s3://{BUCKET}/masters-{masters}")),
            env: s3.env(),
        };
        eprintln!("(measuring {label})");
        let control = control_plane::measure(setup, scratch, tasks, 1, &deployment);
        let dist = corpus.map(|(corpus, warm_up)| {
            distributed::measure(setup, scratch, corpus, warm_up, 1, &deployment)
        });
        rows.push(Row {
            label,
            control,
            dist,
        });
    }

    out.section("5. Past one machine: PostgreSQL + S3, one master and two");
    let tasks_per_s = |c: &Result<ControlFigures>| match c {
        Ok(f) => format!("{:.0}", f.tasks_per_second),
        Err(e) => format!("failed: {e:#}"),
    };
    let p50 = |c: &Result<ControlFigures>| match c {
        Ok(f) => format!("{:.0}", f.p50_ms),
        Err(_) => "-".into(),
    };
    let images_per_s = |d: Option<&Result<DistFigures>>| match d {
        Some(Ok(f)) => format!("{:.2}", f.to_last_thumbnail),
        Some(Err(e)) => format!("failed: {e:#}"),
        None => "-".into(),
    };
    let mut table = vec![vec![
        Deployment::embedded().label,
        embedded_control.map_or("-".into(), |f| format!("{:.0}", f.tasks_per_second)),
        embedded_control.map_or("-".into(), |f| format!("{:.0}", f.p50_ms)),
        embedded_dist.map_or("-".into(), |f| format!("{:.2}", f.to_last_thumbnail)),
        "1.00x".into(),
    ]];
    for row in &rows {
        let ratio = match (&row.control, embedded_control) {
            (Ok(f), Some(base)) if base.tasks_per_second > 0.0 => {
                format!("{:.2}x", f.tasks_per_second / base.tasks_per_second)
            }
            _ => "-".into(),
        };
        table.push(vec![
            row.label.clone(),
            tasks_per_s(&row.control),
            p50(&row.control),
            images_per_s(row.dist.as_ref()),
            ratio,
        ]);
    }
    out.table(
        &[
            "deployment",
            "control plane tasks/s",
            "p50 register -> done (ms)",
            "distributed images/s",
            "tasks/s vs embedded",
        ],
        &table,
    );
    out.para(&format!(
        "One run each ({tasks} tiny tasks; the distributed path on the corpus), PostgreSQL ({}) \
         and moto's S3 server on this machine, started by the bench and stopped after it. The \
         embedded row is sections 2 and 3's median. With two masters the workers start with \
         different masters and the client is given both; both masters share the database and \
         the bucket. Everything runs on the same CPUs, so two masters share the cores with the \
         workers, PostgreSQL and moto: the figure shows the cost of the shared engines, not a \
         second machine's worth of capacity.",
        std::env::var("DATABASE_URL").map_or("a throwaway cluster".into(), |_| {
            "$DATABASE_URL".to_string()
        })
    ));
    Ok(())
}
