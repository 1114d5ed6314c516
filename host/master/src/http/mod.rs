//! The master's HTTP side (`cdn-host master --http ADDR`), on axum (HTTP/1.1 and HTTP/2):
//!
//! | route | what |
//! | --- | --- |
//! | `GET`/`HEAD /v1/images/{id}/thumbnail` | the thumbnail, with a strong `ETag` (its SHA-256) and an immutable cache; `If-None-Match` answers 304 ([`thumbnails`]) |
//! | `GET /v1/images/{id}/thumbnail?w=..&h=..&fit=..&format=..&quality=..&sig=..` | another size, made on demand by the workers ([`variants`]), allowed by an HMAC signature (`cdn_common::url_signing`) or the `--http-sizes` allow-list |
//! | `GET /v1/images/{id}` | the image as JSON (what `cdn query` prints) |
//! | `GET /healthz`, `GET /readyz` | the process answers; the registry and blob store can be read ([`health`]) |
//! | `GET /metrics` | Prometheus (OpenMetrics text) ([`metrics`]) |
//! | `GET /` | the status page ([`status_page`]) |
//!
//! Errors are small JSON bodies, `{"error": {"kind": ..., "message": ...}}`, as on QUIC.

mod health;
mod hot;
mod metrics;
mod reply;
mod router;
mod status_page;
mod thumbnails;
pub mod variants;

use crate::errors::MasterError;
use crate::server::Master;
use crate::state::State;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How the HTTP side behaves.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Where to listen (TCP).
    pub addr: SocketAddr,
    /// The key of URL signatures (`--url-key-file`); `None`: signed sizes are refused.
    pub url_key: Option<Vec<u8>>,
    /// Sizes (width, height) anyone may ask for without a signature (`--http-sizes`).
    pub sizes: Vec<(u32, u32)>,
    /// How long the first request for a new size waits for it before answering 202.
    pub variant_wait: Duration,
    /// The most thumbnail bytes kept in memory for serving.
    pub hot_cache_bytes: usize,
}

impl HttpConfig {
    /// Defaults: no signing key, no allow-list (no sizes on demand), 10 s wait, 64 MiB of hot
    /// thumbnails.
    pub fn new(addr: SocketAddr) -> HttpConfig {
        HttpConfig {
            addr,
            url_key: None,
            sizes: Vec::new(),
            variant_wait: Duration::from_secs(10),
            hot_cache_bytes: 64 << 20,
        }
    }
}

/// What every HTTP handler shares.
pub(crate) struct Http {
    pub state: Arc<State>,
    pub config: HttpConfig,
    pub hot: hot::HotCache,
    pub blob_bytes: metrics::BlobBytes,
}

type Shared = Arc<Http>;

/// The HTTP server, running.
pub struct HttpServing {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl HttpServing {
    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets requests in flight finish for up to 2 s, then stops.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task)
            .await
            .is_err()
        {
            self.task.abort();
        }
    }
}

impl Master {
    /// Serves the HTTP side on `config.addr`. Must be called within a tokio runtime.
    pub async fn serve_http(&self, config: HttpConfig) -> Result<HttpServing, MasterError> {
        let addr = config.addr;
        let listen_error = |source| MasterError::Listen { addr, source };
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(listen_error)?;
        let local_addr = listener.local_addr().map_err(listen_error)?;
        let http = Arc::new(Http {
            state: self.state().clone(),
            hot: hot::HotCache::new(config.hot_cache_bytes),
            blob_bytes: metrics::BlobBytes::default(),
            config,
        });
        let app = router::router(http);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            use axum::serve::ListenerExt;
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!("HTTP server stopped: {e}");
            }
        });
        tracing::info!(%local_addr, "HTTP listening");
        Ok(HttpServing {
            local_addr,
            stop: Some(stop),
            task,
        })
    }
}
