//! Thumbnails kept in memory for serving, bounded in bytes. A `done` image's thumbnail never
//! changes, so an entry never goes stale; when the budget is full the oldest entries go first.
//! Each entry holds its ready-made header values, so a hit costs a map lookup and a reference
//! count, no copy of the bytes.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, RwLock};

/// `Cache-Control` of every thumbnail: its URL names the same bytes forever.
pub(crate) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One thumbnail, ready to send.
pub(crate) struct Hot {
    pub etag: HeaderValue,
    pub content_type: HeaderValue,
    pub bytes: Bytes,
}

impl Hot {
    /// `etag` is the thumbnail's SHA-256 in hex; `mime` its content type.
    pub fn new(hash_hex: &str, mime: &'static str, bytes: Bytes) -> Option<Hot> {
        Some(Hot {
            etag: HeaderValue::from_str(&format!("\"{hash_hex}\"")).ok()?,
            content_type: HeaderValue::from_static(mime),
            bytes,
        })
    }

    /// 200 with the bytes, or 304 when `If-None-Match` names this thumbnail.
    pub fn respond(&self, request_headers: &HeaderMap) -> Response {
        let cache = HeaderValue::from_static(IMMUTABLE);
        if matches_etag(request_headers, &self.etag) {
            return (
                StatusCode::NOT_MODIFIED,
                [
                    (header::ETAG, self.etag.clone()),
                    (header::CACHE_CONTROL, cache),
                ],
            )
                .into_response();
        }
        (
            [
                (header::CONTENT_TYPE, self.content_type.clone()),
                (header::ETAG, self.etag.clone()),
                (header::CACHE_CONTROL, cache),
            ],
            self.bytes.clone(),
        )
            .into_response()
    }
}

/// Whether `If-None-Match` lists `etag` (weak comparison, as RFC 9110 says for this header) or
/// is `*`.
pub(crate) fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(etag) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// The cache: image id to thumbnail.
pub(crate) struct HotCache {
    budget: usize,
    inner: RwLock<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Arc<Hot>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl HotCache {
    pub fn new(budget: usize) -> HotCache {
        HotCache {
            budget,
            inner: RwLock::new(Inner::default()),
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Hot>> {
        let inner = self.inner.read().unwrap_or_else(|p| p.into_inner());
        inner.entries.get(id).cloned()
    }

    /// Keeps `hot` (unless it alone is over a quarter of the budget), dropping the oldest
    /// entries to stay within the budget.
    pub fn insert(&self, id: &str, hot: Arc<Hot>) {
        let size = hot.bytes.len();
        if size > self.budget / 4 {
            return;
        }
        let mut inner = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if inner.entries.contains_key(id) {
            return;
        }
        while inner.bytes + size > self.budget {
            let Some(old) = inner.order.pop_front() else {
                break;
            };
            if let Some(gone) = inner.entries.remove(&old) {
                inner.bytes -= gone.bytes.len();
            }
        }
        inner.entries.insert(id.to_string(), hot);
        inner.order.push_back(id.to_string());
        inner.bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hot(n: usize) -> Arc<Hot> {
        Arc::new(Hot::new("ab", "image/png", Bytes::from(vec![0u8; n])).unwrap())
    }

    #[test]
    fn stays_within_its_budget_dropping_the_oldest() {
        let cache = HotCache::new(100);
        cache.insert("a", hot(20));
        cache.insert("b", hot(20));
        cache.insert("c", hot(25));
        cache.insert("d", hot(25));
        assert!(cache.get("a").is_some());
        cache.insert("e", hot(20));
        assert!(cache.get("a").is_none(), "the oldest went first");
        assert!(cache.get("e").is_some() && cache.get("b").is_some());
        cache.insert("big", hot(26));
        assert!(cache.get("big").is_none(), "over a quarter of the budget");
    }

    #[test]
    fn if_none_match_lists_and_weak_tags_match() {
        let etag = HeaderValue::from_static("\"abc\"");
        let mut headers = HeaderMap::new();
        assert!(!matches_etag(&headers, &etag));
        headers.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"x\", W/\"abc\""),
        );
        assert!(matches_etag(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"abcd\""));
        assert!(!matches_etag(&headers, &etag));
        headers.insert(header::IF_NONE_MATCH, HeaderValue::from_static("*"));
        assert!(matches_etag(&headers, &etag));
    }
}
