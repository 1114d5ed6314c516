//! Sizes on demand (imgproxy's model, made by our workers):
//! `GET /v1/images/{id}/thumbnail?w=128&h=128&fit=cover&format=png&quality=80&sig=HEX`.
//!
//! A variant is an ordinary registry row with a derived id, [`variant_id`]:
//! `{id}.w{W}h{H}-{fit}-q{Q}.{ext}` (e.g. `cat.jpg.w128h128-cover-q80.png`), or, when that would
//! pass the 128-character id limit, `v-{first 40 hex of sha256(id)}.w...`. It is registered
//! with the image's source blob and the image's plugin (name and hash), and the image's params
//! with the query's fields replaced, so workers lease it like any image, and it is as durable.
//! The first request registers it and waits up to `--variant-wait` for it (then 202 with
//! `Retry-After`); later ones are served like any thumbnail.
//!
//! Who may ask: a URL whose `sig` verifies under `--url-key-file` (`cdn_common::url_signing`), or,
//! unsigned, a `w`x`h` in the `--http-sizes` allow-list (fit and format free, quality not
//! settable). Anything else is 403.

use super::{reply, thumbnails, Http};
use crate::ids::{validate_id, MAX_ID_LEN};
use crate::registry::Registered;
use crate::state::{blocking, now_ms};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cdn_common::url_signing as signing;
use cdn_common::ContentHash;
use cdn_proto::{kind, Fit, Format, ImageView, Params, Status};
use std::time::Duration;
use tokio::time::Instant;

/// What a variant query asks for, as written.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct VariantQuery<'a> {
    /// Every `name=value` except `sig`, as written.
    pub pairs: Vec<(&'a str, &'a str)>,
    pub sig: Option<&'a str>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Option<Fit>,
    pub format: Option<Format>,
    pub quality: Option<u8>,
}

impl<'a> VariantQuery<'a> {
    /// Parses `w`, `h`, `fit`, `format`, `quality` and `sig`; anything else, a repeated name, or
    /// a value with characters other than `A-Z a-z 0-9` is refused, saying which.
    pub fn parse(query: &'a str) -> Result<VariantQuery<'a>, String> {
        let mut q = VariantQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not name=value"))?;
            if value.is_empty() || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("{name}={value:?}: values are letters and digits"));
            }
            if name == "sig" {
                if q.sig.replace(value).is_some() {
                    return Err("sig is given twice".into());
                }
                continue;
            }
            if q.pairs.iter().any(|(n, _)| *n == name) {
                return Err(format!("{name} is given twice"));
            }
            let number = |what: &str| format!("{name}={value}: not a valid {what}");
            match name {
                "w" => q.width = Some(value.parse().map_err(|_| number("width"))?),
                "h" => q.height = Some(value.parse().map_err(|_| number("height"))?),
                "quality" => q.quality = Some(value.parse().map_err(|_| number("quality"))?),
                "fit" => {
                    q.fit = Some(
                        Fit::ALL
                            .into_iter()
                            .find(|f| f.name() == value)
                            .ok_or_else(|| number("fit (contain, cover)"))?,
                    )
                }
                "format" => {
                    q.format = Some(
                        Format::from_name(value)
                            .ok_or_else(|| number("format (jpeg, png, webp)"))?,
                    )
                }
                other => {
                    return Err(format!(
                        "unknown parameter {other:?} (w, h, fit, format, quality, sig)"
                    ))
                }
            }
            q.pairs.push((name, value));
        }
        Ok(q)
    }

    /// `base` with the fields this query sets.
    pub fn apply(&self, base: Params) -> Params {
        Params {
            width: self.width.unwrap_or(base.width),
            height: self.height.unwrap_or(base.height),
            fit: self.fit.unwrap_or(base.fit),
            format: self.format.unwrap_or(base.format),
            quality: self.quality.unwrap_or(base.quality),
            max_pixels: base.max_pixels,
        }
    }
}

/// The registry id of image `id`'s variant with `params` (see the module docs).
pub fn variant_id(id: &str, params: &Params) -> String {
    let suffix = format!(
        ".w{}h{}-{}-q{}.{}",
        params.width,
        params.height,
        params.fit.name(),
        params.quality,
        params.format.extension()
    );
    if id.len() + suffix.len() <= MAX_ID_LEN {
        format!("{id}{suffix}")
    } else {
        let hex = ContentHash::of(id.as_bytes()).to_hex();
        format!("v-{}{suffix}", &hex[..40])
    }
}

/// Whether this request may have a variant made: signed with the key, or an allowed size.
fn authorise(http: &Http, id: &str, q: &VariantQuery<'_>, params: &Params) -> Result<(), String> {
    if let Some(sig) = q.sig {
        let Some(key) = &http.config.url_key else {
            return Err(
                "signed URLs are not accepted here (the master has no --url-key-file)".into(),
            );
        };
        let message = signing::canonical(&signing::thumbnail_path(id), &q.pairs);
        return if signing::verify(key, &message, sig) {
            Ok(())
        } else {
            Err("the signature does not match the path and query".into())
        };
    }
    if q.quality.is_some() {
        return Err("quality may only be set by a signed URL".into());
    }
    if http.config.sizes.contains(&(params.width, params.height)) {
        return Ok(());
    }
    Err(format!(
        "{}x{} is not an allowed size, and the URL is not signed",
        params.width, params.height
    ))
}

pub(crate) async fn variant(http: &Http, id: &str, query: &str, headers: &HeaderMap) -> Response {
    let q = match VariantQuery::parse(query) {
        Ok(q) => q,
        Err(e) => return reply::error(StatusCode::BAD_REQUEST, "bad_query", e),
    };
    if let Err(e) = validate_id(id) {
        return reply::error(StatusCode::BAD_REQUEST, kind::INVALID_ID, e.to_string());
    }
    // The signature is checked before anything is read: an unsigned URL learns nothing.
    if q.sig.is_some() {
        if let Err(e) = authorise(http, id, &q, &Params::default()) {
            return reply::error(StatusCode::FORBIDDEN, kind::FORBIDDEN, e);
        }
    }
    let owned = id.to_string();
    let base = match blocking(&http.state, move |s| Ok(s.registry.get(&owned)?)).await {
        Ok(Some(base)) => base,
        Ok(None) => {
            return reply::error(
                StatusCode::NOT_FOUND,
                kind::NOT_FOUND,
                format!("no image {id}"),
            )
        }
        Err(e) => return reply::op_error(e),
    };
    let params = q.apply(base.params);
    if q.sig.is_none() {
        if let Err(e) = authorise(http, id, &q, &params) {
            return reply::error(StatusCode::FORBIDDEN, kind::FORBIDDEN, e);
        }
    }
    if let Err(e) = params.validate() {
        return reply::error(StatusCode::BAD_REQUEST, kind::INVALID_PARAMS, e.to_string());
    }
    let vid = variant_id(id, &params);
    if http.hot.get(&vid).is_some() {
        return thumbnails::serve(http, &vid, headers).await;
    }
    let view = match register(http, &vid, &base, params).await {
        Ok(view) => view,
        Err(response) => return response,
    };
    match wait(http, view).await {
        Some(view) if view.status == Status::Done => thumbnails::serve(http, &vid, headers).await,
        Some(view) if view.status == Status::Failed => thumbnails::not_ready(&view),
        Some(view) => reply::retry_later(
            StatusCode::ACCEPTED,
            1,
            serde_json::json!({"id": view.id, "status": view.status}),
        ),
        None => reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            kind::INTERNAL,
            format!("variant {vid} vanished"),
        ),
    }
}

/// Registers the variant unless it exists (then it must be the same source, params and
/// plugin); returns its row.
async fn register(
    http: &Http,
    vid: &str,
    base: &ImageView,
    params: Params,
) -> Result<ImageView, Response> {
    let params_json = serde_json::to_string(&params).map_err(|e| {
        reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            kind::INTERNAL,
            e.to_string(),
        )
    })?;
    let (vid, base) = (vid.to_string(), base.clone());
    let registered = blocking(&http.state, move |s| {
        let outcome = s.registry.register(
            &vid,
            &base.source.hash,
            base.source.size,
            &params_json,
            &base.plugin.name,
            &base.plugin.hash,
            now_ms(),
        )?;
        let view = s.registry.get(&vid)?;
        Ok((outcome, view))
    })
    .await;
    match registered {
        Ok((Registered::Conflict { .. }, _)) => Err(reply::error(
            StatusCode::CONFLICT,
            kind::CONFLICT,
            "the variant's id is taken by an image with other bytes, params or plugin",
        )),
        Ok((outcome, Some(view))) => {
            if outcome == Registered::New {
                tracing::info!(variant = %view.id, "variant registered");
                http.state.metrics.variant_registered();
                http.state.poke();
            }
            Ok(view)
        }
        Ok((_, None)) => Err(reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            kind::INTERNAL,
            "the variant vanished after registering",
        )),
        Err(e) => Err(reply::op_error(e)),
    }
}

/// Polls the variant's row until it is done or failed, or `variant_wait` has passed.
async fn wait(http: &Http, mut view: ImageView) -> Option<ImageView> {
    let deadline = Instant::now() + http.config.variant_wait;
    while !matches!(view.status, Status::Done | Status::Failed) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let id = view.id.clone();
        view = blocking(&http.state, move |s| Ok(s.registry.get(&id)?))
            .await
            .ok()??;
    }
    Some(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_strictly() {
        let q = VariantQuery::parse("w=128&h=64&fit=cover&format=png&sig=ab12").unwrap();
        assert_eq!((q.width, q.height), (Some(128), Some(64)));
        assert_eq!(
            (q.fit, q.format, q.sig),
            (Some(Fit::Cover), Some(Format::Png), Some("ab12"))
        );
        assert_eq!(q.pairs.len(), 4);
        for bad in [
            "w=1&w=2",
            "x=1",
            "w=-1",
            "w",
            "fit=stretch",
            "format=gif",
            "w=1%20",
        ] {
            assert!(VariantQuery::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn variant_ids_are_valid_and_distinct() {
        let p = Params {
            width: 128,
            height: 128,
            fit: Fit::Cover,
            format: Format::Png,
            ..Params::default()
        };
        assert_eq!(variant_id("cat.jpg", &p), "cat.jpg.w128h128-cover-q80.png");
        let long = "a".repeat(128);
        let v = variant_id(&long, &p);
        assert!(validate_id(&v).is_ok() && v.starts_with("v-"), "{v}");
        assert_ne!(
            variant_id("cat.jpg", &Params { width: 64, ..p }),
            variant_id("cat.jpg", &p)
        );
    }
}
