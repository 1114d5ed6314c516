//! What the master's durable state costs on this disk, measured with its own code in this
//! process (no network, no other processes): a source blob put (`BlobStore::put`: file fsync,
//! rename, folder fsyncs) and the registry's three writes per task (`register`, `lease`,
//! `complete`, each one SQLite commit in WAL mode with synchronous=FULL). The registry is one
//! connection behind a lock, so its commits are serial: their sum caps tasks per second.

use crate::measure::median_of;
use anyhow::{bail, Context, Result};
use cdn_common::ContentHash;
use cdn_master::{BlobStore, Registry, ThumbInfo};
use std::path::Path;
use std::time::Instant;

const TASKS: usize = 200;

/// Median microseconds of each step, one task at a time.
pub struct StoreCosts {
    pub blob_put_us: f64,
    pub register_us: f64,
    pub lease_us: f64,
    pub complete_us: f64,
}

impl StoreCosts {
    /// Tasks per second the registry's serial commits allow.
    pub fn registry_cap(&self) -> f64 {
        1e6 / (self.register_us + self.lease_us + self.complete_us).max(1e-9)
    }
}

pub fn measure(scratch: &Path) -> Result<StoreCosts> {
    let dir = scratch.join("durability-probe");
    let blobs = BlobStore::open_dir(dir.join("blobs")).context("opening a blob store")?;
    let registry = Registry::open(dir.join("registry.sqlite3")).context("opening a registry")?;
    let plugin = ContentHash::of(b"plugin");
    let thumb = ThumbInfo {
        blob: ContentHash::of(b"thumbnail"),
        size: 70,
        width: 2,
        height: 1,
        format: "png".into(),
    };
    let mut steps: [Vec<f64>; 4] = Default::default();
    let mut timed =
        |step: usize, start: Instant| steps[step].push(start.elapsed().as_secs_f64() * 1e6);
    for i in 0..TASKS {
        let bytes = format!("durability probe source {i}").into_bytes();
        let id = format!("probe-{i}");
        let now = crate::cluster::now_ms();

        let start = Instant::now();
        let blob = blobs.put(&bytes).context("putting a blob")?;
        timed(0, start);

        let start = Instant::now();
        registry
            .register(&id, &blob, bytes.len() as u64, "{}", "tiny", &plugin, now)
            .context("registering")?;
        timed(1, start);

        let start = Instant::now();
        let Some(lease) = registry.lease("w1", 60_000, now).context("leasing")? else {
            bail!("the registry leased nothing after a registration");
        };
        timed(2, start);

        let start = Instant::now();
        registry
            .complete(lease.image_id.as_str(), lease.token, &thumb, "w1", now)
            .context("completing")?;
        timed(3, start);
    }
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    let [blob_put, register, lease, complete] = steps.map(median_of);
    Ok(StoreCosts {
        blob_put_us: blob_put,
        register_us: register,
        lease_us: lease,
        complete_us: complete,
    })
}
