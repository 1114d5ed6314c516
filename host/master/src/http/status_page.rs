//! `GET /`: the status page, server-rendered HTML (no JavaScript) that reloads itself every
//! 5 s: images by status, workers and when each was last seen, recent failures with their
//! errors, and the latest thumbnails as a grid of images.

use super::{reply, Shared};
use crate::state::blocking;
use axum::extract::State;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use cdn_proto::{Counts, ImageView, Status};
use std::fmt::Write;
use std::time::Duration;

/// Thumbnails in the grid, failures listed.
const LATEST: u32 = 24;
const FAILURES: u32 = 10;

struct Page {
    counts: Counts,
    workers: Vec<(String, Duration)>,
    failures: Vec<ImageView>,
    latest: Vec<ImageView>,
}

pub(crate) async fn page(State(http): State<Shared>) -> Response {
    let gathered = blocking(&http.state, |s| {
        let counts = s.registry.counts()?;
        let failures = s.registry.recent(Status::Failed, FAILURES)?;
        let latest = s.registry.recent(Status::Done, LATEST)?;
        Ok(Page {
            counts,
            workers: s.workers.snapshot(),
            failures,
            latest,
        })
    })
    .await;
    match gathered {
        Ok(page) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            render(&page),
        )
            .into_response(),
        Err(e) => reply::op_error(e),
    }
}

/// Escapes text for HTML element content and quoted attributes.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin-bottom:1.5em}td,th{padding:.25em .8em;text-align:left;\
border-bottom:1px solid #ddd}.grid{display:grid;grid-template-columns:repeat(auto-fill,\
minmax(140px,1fr));gap:12px}.grid figure{margin:0;text-align:center;font-size:.8em}\
.grid img{max-width:128px;max-height:128px;display:block;margin:auto;background:#eee}";

fn render(page: &Page) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>imagecdn status</title>\
         <style>{STYLE}</style></head><body><h1>imagecdn</h1>"
    );
    let c = &page.counts;
    let _ = write!(
        html,
        "<h2>Images</h2><table id=\"counts\"><tr><th>pending</th><th>leased</th><th>done</th>\
         <th>failed</th></tr><tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        c.pending, c.leased, c.done, c.failed
    );
    let _ = write!(
        html,
        "<h2>Workers</h2><table id=\"workers\"><tr><th>worker</th><th>last seen</th></tr>"
    );
    if page.workers.is_empty() {
        html.push_str("<tr><td colspan=\"2\">none recently</td></tr>");
    }
    for (name, ago) in &page.workers {
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{:.1} s ago</td></tr>",
            esc(name),
            ago.as_secs_f64()
        );
    }
    html.push_str("</table><h2>Recent failures</h2><table id=\"failures\"><tr><th>image</th><th>error</th></tr>");
    if page.failures.is_empty() {
        html.push_str("<tr><td colspan=\"2\">none</td></tr>");
    }
    for view in &page.failures {
        let (kind, message) = view
            .last_error
            .as_ref()
            .map(|e| (e.kind.as_str(), e.message.as_str()))
            .unwrap_or(("", ""));
        let _ = write!(
            html,
            "<tr><td>{}</td><td><b>{}</b>: {}</td></tr>",
            esc(&view.id),
            esc(kind),
            esc(message)
        );
    }
    html.push_str("</table><h2>Latest thumbnails</h2><div class=\"grid\" id=\"latest\">");
    for view in &page.latest {
        let (w, h) = view
            .thumbnail
            .as_ref()
            .map_or((0, 0), |t| (t.width, t.height));
        let id = esc(&view.id);
        let _ = write!(
            html,
            "<figure><img src=\"/v1/images/{id}/thumbnail\" alt=\"{id}\" loading=\"eager\">\
             <figcaption>{id}<br>{w}x{h}</figcaption></figure>"
        );
    }
    html.push_str("</div></body></html>");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            esc("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
