//! The master's Prometheus metrics, in one registry that the QUIC ops and the HTTP side both
//! update (held in `State`), encoded by `prometheus-client` for `GET /metrics`.
//!
//! Counters are bumped where things happen (one call in each op); gauges that mirror the
//! registry (images by status, queue depth, connected workers, blob bytes) are set when the
//! metrics are scraped, so they are never out of step with the database.

use crate::group_commit::CommitStats;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    code: u16,
}

/// Leases granted and not yet completed, by fencing token, to time the work (bounded: entries
/// of leases that expired are dropped once this many are held).
const MAX_TIMED_LEASES: usize = 100_000;

/// Every series the master exports.
pub(crate) struct Metrics {
    registry: Registry,
    images: Family<StatusLabel, Gauge>,
    registrations: Counter,
    variants: Counter,
    leases_granted: Counter,
    leases_extended: Counter,
    leases_expired: Counter,
    completions: Counter,
    failures: Family<KindLabel, Counter>,
    time_to_done: Histogram,
    work_duration: Histogram,
    workers_connected: Gauge,
    queue_depth: Gauge,
    blob_bytes: Gauge,
    registry_writes: Gauge,
    registry_commits: Gauge,
    blob_fsyncs: Gauge,
    http_requests: Family<HttpLabels, Counter>,
    leased_at: Mutex<HashMap<u64, Instant>>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            images: Family::default(),
            registrations: Counter::default(),
            variants: Counter::default(),
            leases_granted: Counter::default(),
            leases_extended: Counter::default(),
            leases_expired: Counter::default(),
            completions: Counter::default(),
            failures: Family::default(),
            // 50 ms to about 27 minutes.
            time_to_done: Histogram::new(exponential_buckets(0.05, 2.0, 16)),
            // 5 ms to about 80 s.
            work_duration: Histogram::new(exponential_buckets(0.005, 2.0, 15)),
            workers_connected: Gauge::default(),
            queue_depth: Gauge::default(),
            blob_bytes: Gauge::default(),
            registry_writes: Gauge::default(),
            registry_commits: Gauge::default(),
            blob_fsyncs: Gauge::default(),
            http_requests: Family::default(),
            leased_at: Mutex::new(HashMap::new()),
            registry: Registry::default(),
        };
        registry.register(
            "cdn_images",
            "Images in the registry, by status",
            m.images.clone(),
        );
        registry.register(
            "cdn_registrations",
            "Images registered (new registrations only)",
            m.registrations.clone(),
        );
        registry.register(
            "cdn_variants_registered",
            "Sizes made on demand over HTTP (new variants registered)",
            m.variants.clone(),
        );
        registry.register(
            "cdn_leases_granted",
            "Leases handed to workers",
            m.leases_granted.clone(),
        );
        registry.register(
            "cdn_leases_extended",
            "Lease extensions accepted",
            m.leases_extended.clone(),
        );
        registry.register(
            "cdn_leases_expired",
            "Leases that passed their deadline and were taken back",
            m.leases_expired.clone(),
        );
        registry.register(
            "cdn_completions",
            "Thumbnails recorded (images done)",
            m.completions.clone(),
        );
        registry.register(
            "cdn_failures",
            "Failures reported by workers, by error kind",
            m.failures.clone(),
        );
        registry.register(
            "cdn_time_to_done_seconds",
            "Time from an image's registration to its thumbnail being recorded",
            m.time_to_done.clone(),
        );
        registry.register(
            "cdn_plugin_duration_seconds",
            "Time from a lease being granted to its completion (the plugin call and its transfers, as the master sees it)",
            m.work_duration.clone(),
        );
        registry.register(
            "cdn_workers_connected",
            "Distinct workers that made a request within the workers window",
            m.workers_connected.clone(),
        );
        registry.register(
            "cdn_queue_depth",
            "Images waiting for a worker (status pending)",
            m.queue_depth.clone(),
        );
        registry.register(
            "cdn_blob_bytes_stored",
            "Bytes in the blob store (images, thumbnails, plugins); 0 for a store that cannot count them cheaply (S3)",
            m.blob_bytes.clone(),
        );
        registry.register(
            "cdn_registry_writes",
            "Registry writes committed since the master started",
            m.registry_writes.clone(),
        );
        registry.register(
            "cdn_registry_commits",
            "Registry commits (one WAL fsync each) since the master started; writes/commits is the group-commit batching",
            m.registry_commits.clone(),
        );
        registry.register(
            "cdn_blob_fsyncs",
            "fsyncs of files and folders the folder blob store made since the master started (0 on S3)",
            m.blob_fsyncs.clone(),
        );
        registry.register(
            "cdn_http_requests",
            "HTTP requests answered, by route and status code",
            m.http_requests.clone(),
        );
        Metrics { registry, ..m }
    }

    pub fn registered(&self) {
        self.registrations.inc();
    }

    pub fn variant_registered(&self) {
        self.variants.inc();
    }

    pub fn lease_granted(&self, token: u64) {
        self.leases_granted.inc();
        let mut leased = self.leased_at.lock().unwrap_or_else(|p| p.into_inner());
        if leased.len() >= MAX_TIMED_LEASES {
            leased.clear();
        }
        leased.insert(token, Instant::now());
    }

    pub fn lease_extended(&self) {
        self.leases_extended.inc();
    }

    pub fn leases_expired(&self, count: usize) {
        self.leases_expired.inc_by(count as u64);
    }

    /// An image is done: counts it and times it (from its registration, `time_to_done_ms` as
    /// the registry's clock saw it, and from its lease).
    pub fn completed(&self, token: u64, time_to_done_ms: i64) {
        self.completions.inc();
        if let Some(at) = self.take_lease(token) {
            self.work_duration.observe(at.elapsed().as_secs_f64());
        }
        self.time_to_done
            .observe(time_to_done_ms.max(0) as f64 / 1000.0);
    }

    pub fn failed(&self, kind: &str, token: u64) {
        self.take_lease(token);
        self.failures
            .get_or_create(&KindLabel {
                kind: kind.to_string(),
            })
            .inc();
    }

    fn take_lease(&self, token: u64) -> Option<Instant> {
        let mut leased = self.leased_at.lock().unwrap_or_else(|p| p.into_inner());
        leased.remove(&token)
    }

    pub fn http_request(&self, route: &'static str, code: u16) {
        self.http_requests
            .get_or_create(&HttpLabels { route, code })
            .inc();
    }

    /// The registry-mirroring gauges, set just before encoding.
    pub fn set_state(
        &self,
        counts: &cdn_proto::Counts,
        workers: u64,
        blob_bytes: u64,
        commits: CommitStats,
    ) {
        for (status, n) in [
            ("pending", counts.pending),
            ("leased", counts.leased),
            ("done", counts.done),
            ("failed", counts.failed),
        ] {
            self.images
                .get_or_create(&StatusLabel { status })
                .set(clamp(n));
        }
        self.queue_depth.set(clamp(counts.pending));
        self.workers_connected.set(clamp(workers));
        self.blob_bytes.set(clamp(blob_bytes));
        self.registry_writes.set(clamp(commits.writes));
        self.registry_commits.set(clamp(commits.commits));
    }

    /// The blob store's fsyncs so far (set just before encoding, as [`Metrics::set_state`]).
    pub fn set_blob_fsyncs(&self, fsyncs: u64) {
        self.blob_fsyncs.set(clamp(fsyncs));
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_encoded() {
        let m = Metrics::new();
        m.registered();
        m.lease_granted(7);
        m.failed("plugin", 7);
        m.http_request("thumbnail", 200);
        m.set_state(
            &cdn_proto::Counts {
                pending: 2,
                ..Default::default()
            },
            1,
            10,
            CommitStats {
                writes: 6,
                commits: 2,
            },
        );
        let text = m.encode().unwrap();
        for line in [
            "cdn_registrations_total 1",
            "cdn_leases_granted_total 1",
            "cdn_failures_total{kind=\"plugin\"} 1",
            "cdn_http_requests_total{route=\"thumbnail\",code=\"200\"} 1",
            "cdn_images{status=\"pending\"} 2",
            "cdn_queue_depth 2",
            "cdn_workers_connected 1",
            "cdn_blob_bytes_stored 10",
            "cdn_registry_writes 6",
            "cdn_registry_commits 2",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(
            m.leased_at.lock().unwrap().is_empty(),
            "the lease was timed"
        );
    }
}
