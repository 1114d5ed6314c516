//! The worker's Prometheus metrics (`cdn-host worker --metrics ADDR` serves them at
//! `GET /metrics`): plugin calls, their durations, errors by kind, compiled-plugin cache hits,
//! and leases lost. One set per process (workers in one process add up), updated with one
//! call where each thing happens.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

struct Metrics {
    registry: Registry,
    plugin_calls: Counter,
    plugin_seconds: Histogram,
    errors: Family<KindLabel, Counter>,
    cache_hits: Counter,
    cache_misses: Counter,
    leases_lost: Counter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let m = Metrics {
        registry: Registry::default(),
        plugin_calls: Counter::default(),
        // 5 ms to about 80 s.
        plugin_seconds: Histogram::new(exponential_buckets(0.005, 2.0, 15)),
        errors: Family::default(),
        cache_hits: Counter::default(),
        cache_misses: Counter::default(),
        leases_lost: Counter::default(),
    };
    let mut registry = Registry::default();
    registry.register(
        "cdn_worker_plugin_calls",
        "Plugin calls made",
        m.plugin_calls.clone(),
    );
    registry.register(
        "cdn_worker_plugin_duration_seconds",
        "Duration of each plugin call",
        m.plugin_seconds.clone(),
    );
    registry.register(
        "cdn_worker_errors",
        "Tasks that failed, by error kind",
        m.errors.clone(),
    );
    registry.register(
        "cdn_worker_plugin_cache_hits",
        "Tasks whose plugin was already compiled in memory",
        m.cache_hits.clone(),
    );
    registry.register(
        "cdn_worker_plugin_cache_misses",
        "Tasks whose plugin had to be loaded (disk cache or fetched) and compiled",
        m.cache_misses.clone(),
    );
    registry.register(
        "cdn_worker_leases_lost",
        "Tasks given up because the lease was lost (expired or superseded)",
        m.leases_lost.clone(),
    );
    Metrics { registry, ..m }
});

/// A plugin call finished after `took`.
pub(crate) fn plugin_call(took: Duration) {
    METRICS.plugin_calls.inc();
    METRICS.plugin_seconds.observe(took.as_secs_f64());
}

/// A task failed with `kind`.
pub(crate) fn error(kind: &str) {
    METRICS
        .errors
        .get_or_create(&KindLabel {
            kind: kind.to_string(),
        })
        .inc();
}

/// A task's plugin was (`true`) or was not already compiled in memory.
pub(crate) fn plugin_cache(hit: bool) {
    if hit {
        METRICS.cache_hits.inc();
    } else {
        METRICS.cache_misses.inc();
    }
}

pub(crate) fn lease_lost() {
    METRICS.leases_lost.inc();
}

/// The OpenMetrics text of every series.
pub fn encode() -> Result<String, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &METRICS.registry)?;
    Ok(text)
}

async fn metrics_route() -> Response {
    match encode() {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            )],
            text,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Serves `GET /metrics` (and `GET /healthz`) on `addr` until the task is dropped; returns the
/// address bound.
pub async fn serve(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app = Router::new()
        .route("/metrics", get(metrics_route))
        .route("/healthz", get(|| async { "ok" }));
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics server stopped: {e}");
        }
    });
    tracing::info!(%local, "worker metrics listening");
    Ok((local, task))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_encoded() {
        plugin_call(Duration::from_millis(12));
        error("plugin");
        plugin_cache(true);
        plugin_cache(false);
        lease_lost();
        let text = encode().unwrap();
        for name in [
            "cdn_worker_plugin_calls_total",
            "cdn_worker_plugin_duration_seconds_bucket",
            "cdn_worker_errors_total{kind=\"plugin\"}",
            "cdn_worker_plugin_cache_hits_total",
            "cdn_worker_plugin_cache_misses_total",
            "cdn_worker_leases_lost_total",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
