//! A small stand-in for the master over real QUIC and mutual TLS (`cdn-transport`'s server with
//! the master certificate), speaking the `cdn-proto` client ops, so that the binary's output and
//! exit codes can be checked without the real master (whose own tests live in host/cdn-host).
//!
//! Images move by their id's prefix: `done-*` is done at once, `fail-*` failed at once, `later-*`
//! becomes done on its third query, anything else stays pending.

use cdn_proto::{
    kind, to_header, Counts, ErrorView, ImageView, ListResponse, Params, PluginInfo,
    PluginListResponse, RegisterResponse, RegisterStatus, Request, SourceView, StatsResponse,
    Status, ThumbnailView,
};
use cdn_transport::{Frame, FrameLimits, Handler, Identity, Peer, Role, Server};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The thumbnail bytes every done image has.
pub const THUMB: &[u8] = b"THUMB";

struct Image {
    bytes: Vec<u8>,
    view: ImageView,
    queries: u32,
}

#[derive(Default)]
pub struct State {
    images: Mutex<BTreeMap<String, Image>>,
    plugins: Mutex<BTreeMap<String, String>>,
    in_flight: AtomicUsize,
    /// The most `register` requests seen in flight at once.
    pub max_in_flight: AtomicUsize,
}

pub struct FakeMaster {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    runtime: tokio::runtime::Runtime,
    server: Arc<Server>,
}

impl FakeMaster {
    /// Listens on 127.0.0.1 (a free port) with the master certificate of `certs`.
    pub fn start(certs: &Path) -> FakeMaster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let identity = Identity::load(certs, Role::Master, None).expect("master identity");
        let server = runtime.block_on(async {
            Server::bind(
                "127.0.0.1:0".parse().expect("addr"),
                &identity,
                FrameLimits::default(),
            )
            .expect("bind")
        });
        let addr = server.local_addr().expect("addr");
        let server = Arc::new(server);
        let state = Arc::new(State::default());
        state
            .plugins
            .lock()
            .unwrap()
            .insert("thumbnail".into(), "ab".repeat(32));
        let serving = server.clone();
        let handler = Arc::new(FakeHandler(state.clone()));
        runtime.spawn(async move { serving.serve(handler).await });
        FakeMaster {
            addr,
            state,
            runtime,
            server,
        }
    }

    /// `--master` for the binary.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    pub fn status(&self, id: &str) -> Option<Status> {
        let images = self.state.images.lock().unwrap();
        images.get(id).map(|image| image.view.status)
    }
}

impl Drop for FakeMaster {
    fn drop(&mut self) {
        self.server.close();
        let _ = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(2), self.server.wait_idle()).await
        });
    }
}

struct FakeHandler(Arc<State>);

fn error(kind: &str, message: impl Into<String>) -> Frame {
    Frame::error(kind, message)
}

fn ok<T: serde::Serialize>(value: &T, body: Vec<u8>) -> Frame {
    Frame {
        header: to_header(value).expect("response header"),
        body,
    }
}

fn hash(bytes: &[u8]) -> String {
    // Not SHA-256; a stable stand-in is enough here.
    let sum = bytes
        .iter()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(*b)));
    format!("{sum:064x}")
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn view(id: &str, bytes: &[u8], plugin: &str, params: Params) -> ImageView {
    let mut view = ImageView {
        id: id.into(),
        status: Status::Pending,
        source: SourceView {
            hash: hash(bytes),
            size: bytes.len() as u64,
        },
        params,
        plugin: PluginInfo {
            name: plugin.into(),
            hash: "ab".repeat(32),
        },
        attempts: 0,
        last_error: None,
        lease: None,
        thumbnail: None,
        made_by: None,
        created_ms: 1,
        updated_ms: 1,
        finished_ms: None,
    };
    if id.starts_with("done-") {
        finish(&mut view);
    } else if id.starts_with("fail-") {
        view.status = Status::Failed;
        view.attempts = 3;
        view.last_error = Some(ErrorView {
            kind: "plugin".into(),
            message: "not an image".into(),
        });
    }
    view
}

fn finish(view: &mut ImageView) {
    view.status = Status::Done;
    view.attempts = 1;
    view.made_by = Some("w1".into());
    view.finished_ms = Some(2);
    view.thumbnail = Some(ThumbnailView {
        hash: hash(THUMB),
        size: THUMB.len() as u64,
        width: 16,
        height: 8,
        format: "jpeg".into(),
        location: format!("/data/blobs/{}", hash(THUMB)),
    });
}

fn register(state: &State, id: String, plugin: String, params: Params, bytes: Vec<u8>) -> Frame {
    if !valid_id(&id) {
        return error(kind::INVALID_ID, format!("image id {id:?}: not a valid id"));
    }
    if bytes.is_empty() {
        return error(kind::EMPTY_BODY, "no image bytes");
    }
    if !state.plugins.lock().unwrap().contains_key(&plugin) {
        return error(kind::UNKNOWN_PLUGIN, format!("no plugin named {plugin}"));
    }
    let mut images = state.images.lock().unwrap();
    if let Some(image) = images.get(&id) {
        if image.bytes != bytes {
            return error(
                kind::CONFLICT,
                format!("image {id} is already registered with different bytes"),
            );
        }
        let response = RegisterResponse {
            status: RegisterStatus::AlreadyRegistered,
            image: image.view.clone(),
        };
        return ok(&response, Vec::new());
    }
    let view = view(&id, &bytes, &plugin, params);
    images.insert(
        id,
        Image {
            bytes,
            view: view.clone(),
            queries: 0,
        },
    );
    ok(
        &RegisterResponse {
            status: RegisterStatus::New,
            image: view,
        },
        Vec::new(),
    )
}

impl Handler for FakeHandler {
    async fn handle(&self, peer: &Peer, frame: Frame) -> Frame {
        if peer.role != Role::Client {
            return error(kind::FORBIDDEN, "clients only");
        }
        let Frame { header, body } = frame;
        let request: Request = match cdn_proto::from_header(&header) {
            Ok(request) => request,
            Err(e) => return error(kind::BAD_REQUEST, e.to_string()),
        };
        let state = &self.0;
        match request {
            Request::Register { id, plugin, params } => {
                let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                state.max_in_flight.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(30)).await;
                state.in_flight.fetch_sub(1, Ordering::SeqCst);
                register(state, id, plugin, params, body)
            }
            Request::PluginAdd { name } => {
                if body.is_empty() {
                    return error(kind::EMPTY_BODY, "no plugin bytes");
                }
                if !body.starts_with(b"\0asm") {
                    return error(kind::INVALID_PLUGIN, "not a wasm module");
                }
                let info = PluginInfo {
                    name: name.clone(),
                    hash: hash(&body),
                };
                state
                    .plugins
                    .lock()
                    .unwrap()
                    .insert(name, info.hash.clone());
                ok(&info, Vec::new())
            }
            Request::Query { id } => {
                let mut images = state.images.lock().unwrap();
                let Some(image) = images.get_mut(&id) else {
                    return error(kind::NOT_FOUND, format!("no image {id}"));
                };
                image.queries += 1;
                if id.starts_with("later-") && image.queries >= 3 {
                    finish(&mut image.view);
                }
                ok(&image.view, Vec::new())
            }
            Request::Fetch { id } => {
                let images = state.images.lock().unwrap();
                match images.get(&id) {
                    None => error(kind::NOT_FOUND, format!("no image {id}")),
                    Some(image) if image.view.status != Status::Done => error(
                        kind::NOT_DONE,
                        format!("image {id} is {}", image.view.status.as_str()),
                    ),
                    Some(image) => ok(&image.view, THUMB.to_vec()),
                }
            }
            Request::List { status } => {
                let images = state.images.lock().unwrap();
                let images = images
                    .values()
                    .map(|image| image.view.clone())
                    .filter(|view| status.is_none_or(|s| view.status == s))
                    .collect();
                ok(&ListResponse { images }, Vec::new())
            }
            Request::PluginList => {
                let plugins = state.plugins.lock().unwrap();
                let plugins = plugins
                    .iter()
                    .map(|(name, hash)| PluginInfo {
                        name: name.clone(),
                        hash: hash.clone(),
                    })
                    .collect();
                ok(&PluginListResponse { plugins }, Vec::new())
            }
            Request::Stats => {
                let images = state.images.lock().unwrap();
                let mut counts = Counts::default();
                for image in images.values() {
                    match image.view.status {
                        Status::Pending => counts.pending += 1,
                        Status::Leased => counts.leased += 1,
                        Status::Done => counts.done += 1,
                        Status::Failed => counts.failed += 1,
                    }
                }
                ok(
                    &StatsResponse {
                        counts,
                        workers_connected: 1,
                        workers_window_s: 30,
                    },
                    Vec::new(),
                )
            }
            other => error(
                kind::FORBIDDEN,
                format!("{} is not for clients", other.op()),
            ),
        }
    }
}
