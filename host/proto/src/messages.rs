//! Requests (one enum, tagged by `op`) and the success responses of each op.

use crate::DEFAULT_PLUGIN;
use crate::{ContentHash, Params};
use serde::{Deserialize, Serialize};

fn default_plugin() -> String {
    DEFAULT_PLUGIN.to_string()
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// One request header. Ops that carry bytes say so; the bytes are the frame's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    // ---- client ----
    /// Body: the source image bytes. Response: [`RegisterResponse`].
    Register {
        id: String,
        #[serde(default = "default_plugin")]
        plugin: String,
        #[serde(default)]
        params: Params,
    },
    /// Response: [`ImageView`].
    Query { id: String },
    /// Response: [`ImageView`], body: the thumbnail bytes (error `not_done` before then).
    Fetch { id: String },
    /// One page of images, oldest first. Response: [`ListResponse`]; ask again with its
    /// `next` as `after` until `next` is `null`.
    List {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<Status>,
        /// Images per page (default [`crate::DEFAULT_LIST_PAGE`], at most
        /// [`crate::MAX_LIST_PAGE`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        /// The cursor from the previous page's `next`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
    },
    /// Puts `failed` images back to `pending` with no attempts spent: the listed `ids`, or
    /// (with `failed`) every failed image. Response: [`RetryResponse`].
    Retry {
        #[serde(default)]
        ids: Vec<String>,
        #[serde(default)]
        failed: bool,
    },
    /// Body: the `.wasm` bytes. Response: [`PluginInfo`].
    PluginAdd { name: String },
    /// Response: [`PluginListResponse`].
    PluginList,
    /// Response: [`StatsResponse`].
    Stats,

    // ---- worker ----
    /// Long poll for work, held up to `wait_ms` (capped at [`crate::MAX_LEASE_WAIT_MS`]) until
    /// at least one task is pending; then up to `max` tasks (default 1, at most
    /// [`crate::MAX_LEASE_BATCH`]) are leased at once. Response: [`LeaseResponse`]; body: the
    /// source bytes of each grant, in order (each grant's `source_size` says how many).
    Lease {
        #[serde(default)]
        wait_ms: u64,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        max: u32,
    },
    /// Response: [`ExtendResponse`] or `stale`.
    Extend { image_id: String, token: u64 },
    /// Body: the thumbnail bytes. Response: [`CompleteResponse`] or `stale`.
    Complete {
        image_id: String,
        token: u64,
        width: u32,
        height: u32,
        format: String,
    },
    /// Response: [`FailResponse`] or `stale`. `attempted`: the plugin ran (the failure spends
    /// an attempt); `false` for a task given back unrun (a worker stopping, a transfer error).
    Fail {
        image_id: String,
        token: u64,
        kind: String,
        message: String,
        retryable: bool,
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        attempted: bool,
    },
    /// Response: [`PluginFetchResponse`], body: the `.wasm` bytes (check their hash).
    /// Also allowed to clients.
    PluginFetch { hash: String },

    // ---- either ----
    /// Several requests in one frame (at most [`crate::MAX_BATCH_REQUESTS`]), each answered as
    /// if sent alone and allowed or refused by the same role rules; their writes share commits.
    /// Requests on different images run at once; those on the same image (or not on one image,
    /// see [`Request::image_id`]) run in the batch's order.
    /// Body: each entry's body, in order (`body_len` bytes each). Not allowed inside: `lease`
    /// (a long poll) and `batch`. Response: [`BatchResponse`].
    Batch { requests: Vec<BatchEntry> },
}

/// One request of a [`Request::Batch`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchEntry {
    pub request: Request,
    /// Bytes of the batch's body that belong to this request.
    #[serde(default)]
    pub body_len: u64,
}

/// The answers of a [`Request::Batch`], one per request and in its order: each the header the
/// request alone would have had (a success object or `{"error": {...}}`). Body: each answer's
/// body, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    pub answers: Vec<BatchAnswer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAnswer {
    pub header: crate::Header,
    #[serde(default)]
    pub body_len: u64,
}

impl Request {
    /// The op name as on the wire.
    pub fn op(&self) -> &'static str {
        match self {
            Request::Register { .. } => "register",
            Request::Query { .. } => "query",
            Request::Fetch { .. } => "fetch",
            Request::List { .. } => "list",
            Request::Retry { .. } => "retry",
            Request::PluginAdd { .. } => "plugin_add",
            Request::PluginList => "plugin_list",
            Request::Stats => "stats",
            Request::Lease { .. } => "lease",
            Request::Extend { .. } => "extend",
            Request::Complete { .. } => "complete",
            Request::Fail { .. } => "fail",
            Request::PluginFetch { .. } => "plugin_fetch",
            Request::Batch { .. } => "batch",
        }
    }

    /// The one image this request reads or writes, if it names exactly one. Requests of a
    /// batch that name the same image run in the batch's order; `None` (lists, retries,
    /// plugins, stats) runs after everything before it and before everything after it.
    pub fn image_id(&self) -> Option<&str> {
        match self {
            Request::Register { id, .. } | Request::Query { id } | Request::Fetch { id } => {
                Some(id)
            }
            Request::Extend { image_id, .. }
            | Request::Complete { image_id, .. }
            | Request::Fail { image_id, .. } => Some(image_id),
            _ => None,
        }
    }
}

/// Where an image is: `pending -> leased -> done | failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Leased,
    Done,
    Failed,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Pending,
        Status::Leased,
        Status::Done,
        Status::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Leased => "leased",
            Status::Done => "done",
            Status::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `register` added the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterStatus {
    New,
    AlreadyRegistered,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub status: RegisterStatus,
    pub image: ImageView,
}

/// The source image of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceView {
    /// SHA-256 of the bytes.
    pub hash: ContentHash,
    pub size: u64,
}

/// A named plugin and the SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub hash: ContentHash,
}

/// An error recorded for an image (the plugin's, or the master's such as `lease_expired`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorView {
    pub kind: String,
    pub message: String,
}

/// The thumbnail of a `done` image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThumbnailView {
    pub hash: ContentHash,
    pub size: u64,
    pub width: u32,
    pub height: u32,
    pub format: String,
    /// Where the blob is, as a URI: `file:///…` (the master's disk) or `s3://bucket/key`.
    pub location: String,
}

/// The current lease of a `leased` image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseView {
    pub worker: String,
    pub deadline_ms: i64,
}

/// Everything the master knows about one image. Times are unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageView {
    pub id: String,
    pub status: Status,
    pub source: SourceView,
    pub params: Params,
    pub plugin: PluginInfo,
    pub attempts: u32,
    pub last_error: Option<ErrorView>,
    pub lease: Option<LeaseView>,
    pub thumbnail: Option<ThumbnailView>,
    pub made_by: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub finished_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListResponse {
    pub images: Vec<ImageView>,
    /// The cursor of the next page (`after`), or `None` when this was the last.
    #[serde(default)]
    pub next: Option<String>,
}

/// An id `retry` did not re-queue, and why (`not_found`, or its status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotRetried {
    pub id: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryResponse {
    /// Back to `pending`, attempts reset.
    pub retried: Vec<String>,
    pub not_retried: Vec<NotRetried>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginListResponse {
    pub plugins: Vec<PluginInfo>,
}

/// Images per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub pending: u64,
    pub leased: u64,
    pub done: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsResponse {
    pub counts: Counts,
    /// Distinct workers that made a request within the last `workers_window_s` seconds.
    pub workers_connected: u64,
    pub workers_window_s: u64,
}

/// A task: run plugin `plugin_hash` with `args` on the source bytes (the response body).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrant {
    pub image_id: String,
    pub lease_id: String,
    /// The fencing token: send it with `extend`, `complete` and `fail`.
    pub token: u64,
    /// Unix milliseconds on the master's clock (informational: clocks differ).
    pub deadline_ms: i64,
    /// How long the lease lasts from when the master answered: the worker times it on its own
    /// clock from when it received the grant, and extends before then.
    #[serde(default)]
    pub ttl_ms: u64,
    pub plugin_name: String,
    pub plugin_hash: ContentHash,
    pub args: Vec<String>,
    /// SHA-256 of the source bytes in the body.
    pub source_hash: ContentHash,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Bytes of the response body that are this grant's source.
    #[serde(default)]
    pub source_size: u64,
}

/// The answer to `lease`: no task (`lease` is `null`), or one, or (with `max` above 1) several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseResponse {
    pub lease: Option<LeaseGrant>,
    /// Grants after the first, when `max` allowed more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<LeaseGrant>,
}

impl LeaseResponse {
    pub fn none() -> LeaseResponse {
        LeaseResponse {
            lease: None,
            more: Vec::new(),
        }
    }

    /// Every grant, first to last.
    pub fn grants(self) -> Vec<LeaseGrant> {
        self.lease.into_iter().chain(self.more).collect()
    }
}

/// Splits a body into consecutive parts of the given lengths; `None` when they do not add up
/// to exactly the body's length.
pub fn split_body(body: &[u8], lens: impl IntoIterator<Item = u64>) -> Option<Vec<&[u8]>> {
    let mut parts = Vec::new();
    let mut rest = body;
    for len in lens {
        let len = usize::try_from(len).ok()?;
        if len > rest.len() {
            return None;
        }
        let (part, tail) = rest.split_at(len);
        parts.push(part);
        rest = tail;
    }
    rest.is_empty().then_some(parts)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtendResponse {
    /// The master's clock (informational).
    pub deadline_ms: i64,
    /// The lease now lasts this long from the answer.
    #[serde(default)]
    pub ttl_ms: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteResponse {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailResponse {
    /// `pending` (will be retried) or `failed`.
    pub status: Status,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginFetchResponse {
    pub hash: ContentHash,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{from_header, parse_response, to_header, Fit, Format, Header, ProtoError};
    use serde::de::DeserializeOwned;
    use serde_json::json;
    use std::fmt::Debug;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(message: T) {
        let header = to_header(&message).expect("to header");
        let back: T = from_header(&header).expect("from header");
        assert_eq!(back, message);
    }

    fn hash() -> ContentHash {
        ContentHash::of(b"ab")
    }

    fn view() -> ImageView {
        ImageView {
            id: "cat.jpg".into(),
            status: Status::Done,
            source: SourceView {
                hash: hash(),
                size: 1234,
            },
            params: Params::default(),
            plugin: PluginInfo {
                name: "thumbnail".into(),
                hash: hash(),
            },
            attempts: 1,
            last_error: Some(ErrorView {
                kind: "trap".into(),
                message: "boom".into(),
            }),
            lease: None,
            thumbnail: Some(ThumbnailView {
                hash: hash(),
                size: 99,
                width: 256,
                height: 170,
                format: "jpeg".into(),
                location: "file:///data/blobs/ab/abab".into(),
            }),
            made_by: Some("w1".into()),
            created_ms: 1,
            updated_ms: 2,
            finished_ms: Some(3),
        }
    }

    #[test]
    fn every_request_round_trips() {
        let requests = vec![
            Request::Register {
                id: "a".into(),
                plugin: "stamp".into(),
                params: Params {
                    width: 10,
                    height: 20,
                    fit: Fit::Cover,
                    format: Format::Webp,
                    quality: 50,
                    max_pixels: 1000,
                },
            },
            Request::Query { id: "a".into() },
            Request::Fetch { id: "a".into() },
            Request::List {
                status: None,
                limit: None,
                after: None,
            },
            Request::List {
                status: Some(Status::Failed),
                limit: Some(10),
                after: Some("5".into()),
            },
            Request::Retry {
                ids: vec!["a".into()],
                failed: false,
            },
            Request::Retry {
                ids: vec![],
                failed: true,
            },
            Request::PluginAdd { name: "p".into() },
            Request::PluginList,
            Request::Stats,
            Request::Lease {
                wait_ms: 500,
                max: 1,
            },
            Request::Lease {
                wait_ms: 0,
                max: 16,
            },
            Request::Batch {
                requests: vec![
                    BatchEntry {
                        request: Request::Extend {
                            image_id: "a".into(),
                            token: 7,
                        },
                        body_len: 0,
                    },
                    BatchEntry {
                        request: Request::Complete {
                            image_id: "b".into(),
                            token: 8,
                            width: 1,
                            height: 2,
                            format: "png".into(),
                        },
                        body_len: 10,
                    },
                ],
            },
            Request::Extend {
                image_id: "a".into(),
                token: 7,
            },
            Request::Complete {
                image_id: "a".into(),
                token: 7,
                width: 1,
                height: 2,
                format: "png".into(),
            },
            Request::Fail {
                image_id: "a".into(),
                token: 7,
                kind: "plugin".into(),
                message: "corrupt".into(),
                retryable: false,
                attempted: true,
            },
            Request::Fail {
                image_id: "a".into(),
                token: 7,
                kind: "worker_stopped".into(),
                message: "stopping".into(),
                retryable: true,
                attempted: false,
            },
            Request::PluginFetch {
                hash: hash().to_hex(),
            },
        ];
        for request in requests {
            let header = to_header(&request).unwrap();
            assert_eq!(header.get("op"), Some(json!(request.op())));
            round_trip(request);
        }
    }

    #[test]
    fn register_defaults_and_wire_shape() {
        let header = json!({"op": "register", "id": "x", "body_len": 3});
        let request: Request = from_header(&Header::encode(&header).unwrap()).unwrap();
        assert_eq!(
            request,
            Request::Register {
                id: "x".into(),
                plugin: "thumbnail".into(),
                params: Params::default()
            }
        );
        let header = to_header(&Request::Lease { wait_ms: 5, max: 1 }).unwrap();
        assert_eq!(json!(header), json!({"op": "lease", "wait_ms": 5}));
    }

    #[test]
    fn unknown_op_and_missing_fields_are_errors() {
        for bad in [
            json!({"op": "delete", "id": "x"}),
            json!({"op": "query"}),
            json!({"op": "extend", "image_id": "x", "token": "seven"}),
            json!({"id": "x"}),
        ] {
            assert!(
                from_header::<Request>(&Header::encode(&bad).unwrap()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn every_response_round_trips() {
        round_trip(RegisterResponse {
            status: RegisterStatus::AlreadyRegistered,
            image: view(),
        });
        round_trip(view());
        round_trip(ListResponse {
            images: vec![view(), view()],
            next: Some("2".into()),
        });
        round_trip(RetryResponse {
            retried: vec!["a".into()],
            not_retried: vec![NotRetried {
                id: "b".into(),
                reason: "done".into(),
            }],
        });
        round_trip(PluginInfo {
            name: "p".into(),
            hash: hash(),
        });
        round_trip(PluginListResponse { plugins: vec![] });
        round_trip(StatsResponse {
            counts: Counts {
                pending: 1,
                leased: 2,
                done: 3,
                failed: 4,
            },
            workers_connected: 2,
            workers_window_s: 30,
        });
        round_trip(LeaseResponse::none());
        round_trip(LeaseResponse {
            more: vec![],
            lease: Some(LeaseGrant {
                image_id: "a".into(),
                lease_id: "lease-1".into(),
                token: 1,
                deadline_ms: 10,
                ttl_ms: 30_000,
                plugin_name: "thumbnail".into(),
                plugin_hash: hash(),
                args: Params::default().to_args(),
                source_hash: hash(),
                attempt: 1,
                source_size: 3,
            }),
        });
        round_trip(BatchResponse {
            answers: vec![
                BatchAnswer {
                    header: to_header(&CompleteResponse {}).unwrap(),
                    body_len: 0,
                },
                BatchAnswer {
                    header: Header::encode(&json!({"error": {"kind": "stale", "message": "old"}}))
                        .unwrap(),
                    body_len: 0,
                },
            ],
        });
        round_trip(ExtendResponse {
            deadline_ms: 5,
            ttl_ms: 30_000,
        });
        round_trip(CompleteResponse {});
        round_trip(FailResponse {
            status: Status::Pending,
        });
        round_trip(PluginFetchResponse { hash: hash() });
        let none = to_header(&LeaseResponse::none()).unwrap();
        assert_eq!(json!(none), json!({"lease": null}));
    }

    #[test]
    fn error_responses_become_remote_errors() {
        let header = json!({"error": {"kind": "stale", "message": "old token"}});
        let err = parse_response::<ExtendResponse>(&Header::encode(&header).unwrap()).unwrap_err();
        assert_eq!(err.remote_kind(), Some("stale"));
        assert!(matches!(err, ProtoError::Remote { ref message, .. } if message == "old token"));
        let ok = json!({"deadline_ms": 9});
        assert_eq!(
            parse_response::<ExtendResponse>(&Header::encode(&ok).unwrap()).unwrap(),
            ExtendResponse {
                deadline_ms: 9,
                ttl_ms: 0
            }
        );
    }

    #[test]
    fn a_fail_without_attempted_spends_an_attempt() {
        let header = json!({"op": "fail", "image_id": "a", "token": 1, "kind": "trap",
                            "message": "m", "retryable": true});
        let Request::Fail { attempted, .. } =
            from_header(&Header::encode(&header).unwrap()).unwrap()
        else {
            panic!("not a fail")
        };
        assert!(attempted);
    }

    #[test]
    fn bodies_split_by_length() {
        assert_eq!(
            split_body(b"abcdef", [1, 0, 5]),
            Some(vec![&b"a"[..], b"", b"bcdef"])
        );
        assert_eq!(split_body(b"abc", [1, 1]), None, "a byte left over");
        assert_eq!(split_body(b"abc", [2, 2]), None, "past the end");
        assert_eq!(split_body(b"", []), Some(vec![]));
    }

    #[test]
    fn status_names() {
        for s in [
            Status::Pending,
            Status::Leased,
            Status::Done,
            Status::Failed,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), json!(s.as_str()));
        }
        assert_eq!(Status::parse("gone"), None);
    }
}
