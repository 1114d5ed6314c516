//! The master's HTTP side end to end: real `cdn-host` master and worker processes on loopback,
//! a real HTTP client (ureq; curl for HTTP/2), every route and error; `/metrics` parsed strictly as
//! OpenMetrics text; signed sizes on demand made with `cdn url`; log formats.

use crate::http_support::*;
use cdn_proto::ContentHash;
use cdn_testkit::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn thumbnails_are_served_with_cache_headers_and_every_error_has_its_code() {
    let h = HttpCluster::start(&[]);
    // Before any worker: registered, not done yet.
    h.register("waiting.jpg", 640, 480, 1, &[]);
    let early = get(&h.thumb_url("waiting.jpg"));
    assert_eq!(early.status, 503, "{}", early.text());
    assert_eq!(early.header("retry-after"), Some("1"));
    assert_eq!(early.error_kind(), "not_done");

    let _worker = h.c.worker("w1", 2, &[]);
    h.register(
        "cat.jpg",
        1600,
        1200,
        2,
        &["--width", "200", "--height", "200"],
    );
    let broken = h.c.file("broken.jpg", b"this is not an image at all");
    h.c.cdn(&["register", "broken.jpg", path_str(&broken)]).ok();
    h.c.cdn(&["wait", "cat.jpg", "waiting.jpg", "--timeout", "90s"])
        .ok();
    h.c.wait_until("broken.jpg", "failed", |v| v["status"] == "failed");

    // The image as JSON: what `cdn query` prints.
    let view = get(&h.url("/v1/images/cat.jpg"));
    assert_eq!(view.status, 200);
    assert_eq!(view.header("content-type"), Some("application/json"));
    assert_eq!(view.json(), h.c.query("cat.jpg"));
    let hash = view.json()["thumbnail"]["hash"]
        .as_str()
        .expect("a thumbnail hash")
        .to_string();

    // The thumbnail, twice (the second from memory), with its headers.
    for _ in 0..2 {
        let thumb = get(&h.thumb_url("cat.jpg"));
        assert_eq!(thumb.status, 200);
        assert_eq!(thumb.header("content-type"), Some("image/jpeg"));
        assert_eq!(
            thumb.header("content-length"),
            Some(thumb.body.len().to_string().as_str())
        );
        assert_eq!(thumb.header("etag"), Some(format!("\"{hash}\"").as_str()));
        assert_eq!(
            thumb.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(ContentHash::of(&thumb.body).to_hex(), hash);
        assert_eq!(assert_thumbnail_fits(&thumb.body, 200, 200), (200, 150));
    }
    let fetched = h.c.path("fetched.jpg");
    h.c.cdn(&["fetch", "cat.jpg", "-o", path_str(&fetched)])
        .ok();
    assert_eq!(
        std::fs::read(&fetched).unwrap(),
        get(&h.thumb_url("cat.jpg")).body
    );

    // HEAD: the same headers, no body.
    let headed = head(&h.thumb_url("cat.jpg"));
    assert_eq!(headed.status, 200);
    assert!(headed.body.is_empty());
    assert_eq!(headed.header("etag"), Some(format!("\"{hash}\"").as_str()));
    assert_eq!(headed.header("content-type"), Some("image/jpeg"));
    let length: usize = headed
        .header("content-length")
        .and_then(|l| l.parse().ok())
        .expect("HEAD has a Content-Length");
    assert!(length > 0);

    // Conditional requests.
    for tag in [
        format!("\"{hash}\""),
        format!("\"other\", W/\"{hash}\""),
        "*".to_string(),
    ] {
        let cached = get_with(&h.thumb_url("cat.jpg"), &[("If-None-Match", &tag)]);
        assert_eq!(cached.status, 304, "If-None-Match: {tag}");
        assert!(cached.body.is_empty());
        assert_eq!(cached.header("etag"), Some(format!("\"{hash}\"").as_str()));
    }
    let changed = get_with(&h.thumb_url("cat.jpg"), &[("If-None-Match", "\"stale\"")]);
    assert_eq!(changed.status, 200);

    // Failed: 422 with the plugin's error.
    let failed = get(&h.thumb_url("broken.jpg"));
    assert_eq!(failed.status, 422, "{}", failed.text());
    let error = failed.json();
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    assert_eq!(
        error["error"]["kind"],
        h.c.query("broken.jpg")["last_error"]["kind"]
    );

    // Unknown and invalid ids, unknown routes.
    for (url, status, kind) in [
        (h.thumb_url("nobody.jpg"), 404, "not_found"),
        (h.url("/v1/images/nobody.jpg"), 404, "not_found"),
        (h.thumb_url(".hidden"), 400, "invalid_id"),
        (h.url("/v1/nothing"), 404, "not_found"),
    ] {
        let reply = get(&url);
        assert_eq!(reply.status, status, "{url}: {}", reply.text());
        assert_eq!(reply.error_kind(), kind, "{url}");
        assert_eq!(reply.header("content-type"), Some("application/json"));
    }

    // Health.
    let healthz = get(&h.url("/healthz"));
    assert_eq!(
        (healthz.status, healthz.json()["status"].clone()),
        (200, "ok".into())
    );
    let readyz = get(&h.url("/readyz"));
    assert_eq!(readyz.status, 200, "{}", readyz.text());
    assert_eq!(readyz.json()["registry"], "ok");
    assert_eq!(readyz.json()["blobs"], "ok");

    // HTTP/2 (cleartext, prior knowledge) with curl, a second real client.
    let out = Command::new("curl")
        .args([
            "--http2-prior-knowledge",
            "-sS",
            "-o",
            "/dev/null",
            "--max-time",
            "30",
            "-w",
            "%{http_version} %{http_code} %{size_download}",
            &h.thumb_url("cat.jpg"),
        ])
        .output()
        .expect("curl is installed");
    let line = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        line,
        format!("2 200 {length}"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Logs written to a file carry no colour codes.
    assert!(!h.master.log().contains('\u{1b}'), "ANSI codes in the log");
}

/// One sample of a scrape.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// The names of the samples a scrape holds.
fn sample_names(scrape: &[Sample]) -> Vec<String> {
    scrape.iter().map(|s| s.name.clone()).collect()
}

fn value(scrape: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(sk, sv)| sk == k && sv == v))
        })
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {:?}", sample_names(scrape)))
        .value
}

fn scrape(url: &str) -> Vec<Sample> {
    let reply = get(url);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/openmetrics-text")),
        "{:?}",
        reply.header("content-type")
    );
    parse_scrape(&reply.text())
}

/// Parses a text-format scrape strictly: every line is a `# HELP`, `# TYPE`, `# UNIT` or
/// `# EOF` comment or a sample, `name{label="value",...} value [timestamp]`; anything else
/// fails the test. (Written here rather than taken from `prometheus-parse`: that crate brings
/// the whole `regex`, whose features then differ between the test build and the binaries'
/// build, so CI compiled every workspace crate twice.)
fn parse_scrape(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            let known = ["HELP ", "TYPE ", "UNIT ", "EOF"];
            assert!(
                known.iter().any(|k| comment.starts_with(k)),
                "not a known comment: {line:?}"
            );
            continue;
        }
        samples.push(parse_sample(line).unwrap_or_else(|| panic!("not a sample: {line:?}")));
    }
    samples
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    if name.is_empty()
        || name.starts_with(|c: char| c.is_ascii_digit())
        || !name.chars().all(name_ok)
    {
        return None;
    }
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = rest.split_once("=\"")?;
            if key.is_empty() || !key.chars().all(name_ok) {
                return None;
            }
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c @ ('"' | '\\') => value.push(c),
                        _ => return None,
                    },
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.to_string(), value));
            rest = &after[end + 1..];
            rest = rest.strip_prefix(',').unwrap_or(rest);
        }
    }
    let mut fields = rest.split_whitespace();
    let value = fields.next()?.parse().ok()?;
    if let Some(timestamp) = fields.next() {
        timestamp.parse::<f64>().ok()?;
    }
    if fields.next().is_some() {
        return None;
    }
    Some(Sample {
        name: name.to_string(),
        labels,
        value,
    })
}

#[test]
fn the_scrape_parser_reads_samples_and_refuses_what_is_not_one() {
    let text = "# HELP a_total Things.\n# TYPE a_total counter\na_total 3\n\
                b{kind=\"x\\\"y\",le=\"+Inf\"} 1.5e3 1700000000\nc{} NaN\n# EOF\n";
    let samples = parse_scrape(text);
    assert_eq!(sample_names(&samples), ["a_total", "b", "c"]);
    assert_eq!(value(&samples, "a_total", &[]), 3.0);
    assert_eq!(
        value(&samples, "b", &[("kind", "x\"y"), ("le", "+Inf")]),
        1500.0
    );
    assert!(value(&samples, "c", &[]).is_nan());
    for bad in [
        "a_total",
        "a_total three",
        "1a 2",
        "a{kind=x} 1",
        "a{kind=\"x} 1",
        "a 1 2 3",
        "a-b 1",
    ] {
        assert!(parse_sample(bad).is_none(), "{bad:?} parsed");
    }
}

#[test]
fn metrics_have_every_series_for_the_master_and_the_worker() {
    let h = HttpCluster::start(&["--lease-ttl", "3s"]);
    let metrics_port = free_tcp_port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let _worker = h.c.worker("w1", 1, &["--metrics", &metrics_addr]);
    h.register("a.jpg", 800, 600, 3, &[]);
    h.register("b.jpg", 600, 800, 4, &[]);
    let broken = h.c.file("broken.jpg", b"not an image");
    h.c.cdn(&["register", "broken.jpg", path_str(&broken)]).ok();
    h.wait_done(&["a.jpg", "b.jpg"]);
    h.c.wait_until("broken.jpg", "failed", |v| v["status"] == "failed");
    assert_eq!(get(&h.thumb_url("a.jpg")).status, 200);
    assert_eq!(get(&h.thumb_url("nobody")).status, 404);

    let m = scrape(&h.url("/metrics"));
    assert_eq!(value(&m, "cdn_images", &[("status", "done")]), 2.0);
    assert_eq!(value(&m, "cdn_images", &[("status", "failed")]), 1.0);
    assert_eq!(value(&m, "cdn_images", &[("status", "pending")]), 0.0);
    assert_eq!(value(&m, "cdn_images", &[("status", "leased")]), 0.0);
    assert_eq!(value(&m, "cdn_registrations_total", &[]), 3.0);
    assert_eq!(value(&m, "cdn_leases_granted_total", &[]), 3.0);
    assert!(value(&m, "cdn_leases_extended_total", &[]) >= 0.0);
    assert_eq!(value(&m, "cdn_leases_expired_total", &[]), 0.0);
    assert_eq!(value(&m, "cdn_completions_total", &[]), 2.0);
    let kind = h.c.query("broken.jpg")["last_error"]["kind"]
        .as_str()
        .expect("an error kind")
        .to_string();
    assert_eq!(value(&m, "cdn_failures_total", &[("kind", &kind)]), 1.0);
    assert_eq!(value(&m, "cdn_workers_connected", &[]), 1.0);
    assert_eq!(value(&m, "cdn_queue_depth", &[]), 0.0);
    assert!(value(&m, "cdn_blob_bytes_stored", &[]) > 0.0);
    // Each stored blob: at least its file and its folder.
    assert!(value(&m, "cdn_blob_fsyncs", &[]) >= 6.0);
    // At least the 3 registrations, 3 leases, 2 completions and 1 failure, in no more commits
    // than writes.
    let writes = value(&m, "cdn_registry_writes", &[]);
    let commits = value(&m, "cdn_registry_commits", &[]);
    assert!(writes >= 9.0, "{writes}");
    assert!(
        commits >= 1.0 && commits <= writes,
        "{commits} commits, {writes} writes"
    );
    assert_eq!(
        value(
            &m,
            "cdn_http_requests_total",
            &[("route", "thumbnail"), ("code", "200")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &m,
            "cdn_http_requests_total",
            &[("route", "thumbnail"), ("code", "404")]
        ),
        1.0
    );
    for histogram in ["cdn_time_to_done_seconds", "cdn_plugin_duration_seconds"] {
        assert_eq!(
            value(&m, &format!("{histogram}_count"), &[]),
            2.0,
            "{histogram}"
        );
        assert!(
            value(&m, &format!("{histogram}_sum"), &[]) > 0.0,
            "{histogram}"
        );
    }

    let w = scrape(&format!("http://{metrics_addr}/metrics"));
    assert_eq!(value(&w, "cdn_worker_plugin_calls_total", &[]), 3.0);
    assert_eq!(
        value(&w, "cdn_worker_plugin_duration_seconds_count", &[]),
        3.0
    );
    assert_eq!(
        value(&w, "cdn_worker_errors_total", &[("kind", &kind)]),
        1.0
    );
    assert!(value(&w, "cdn_worker_plugin_cache_hits_total", &[]) >= 2.0);
    assert!(value(&w, "cdn_worker_plugin_cache_misses_total", &[]) >= 0.0);
    assert_eq!(value(&w, "cdn_worker_leases_lost_total", &[]), 0.0);
}

/// The last line of `cdn url ...`.
fn signed_url(h: &HttpCluster, key: &std::path::Path, id: &str, flags: &[&str]) -> String {
    let base = h.base();
    let mut args = vec!["url", id, "--url-key-file", path_str(key), "--base", &base];
    args.extend_from_slice(flags);
    let out = h.c.cdn(&args).ok();
    out.stdout
        .lines()
        .last()
        .expect("cdn url prints the URL")
        .to_string()
}

#[test]
fn sizes_on_demand_need_a_signature_or_an_allowed_size() {
    let c_key = tempfile::tempdir().unwrap();
    let key = c_key.path().join("url.key");
    std::fs::write(&key, b"a key of some thirty-two bytes!!").unwrap();
    let wrong_key = c_key.path().join("wrong.key");
    std::fs::write(&wrong_key, b"another key").unwrap();
    let h = HttpCluster::start(&[
        "--url-key-file",
        path_str(&key),
        "--http-sizes",
        "64x64,96x48",
        "--variant-wait",
        "3s",
    ]);
    let mut worker = h.c.worker("w1", 2, &[]);
    h.register("cat.jpg", 1200, 900, 5, &[]);
    h.wait_done(&["cat.jpg"]);

    // Signed: made on demand by the worker, answered by the first request.
    let url = signed_url(
        &h,
        &key,
        "cat.jpg",
        &[
            "--width", "100", "--height", "80", "--fit", "cover", "--format", "png",
        ],
    );
    assert!(url.starts_with(&h.thumb_url("cat.jpg")), "{url}");
    let first = get(&url);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("content-type"), Some("image/png"));
    let decoded = cdn_samples::decode_rgb(&first.body).expect("a PNG");
    assert_eq!((decoded.width, decoded.height), (100, 80));
    // A durable row with a derived id, served from the store afterwards.
    let variant = get(&h.url("/v1/images/cat.jpg.w100h80-cover-q80.png")).json();
    assert_eq!(variant["status"], "done", "{variant}");
    assert_eq!(variant["source"], h.c.query("cat.jpg")["source"]);
    let again = get(&url);
    assert_eq!((again.status, again.body.len()), (200, first.body.len()));
    assert_eq!(again.header("etag"), first.header("etag"));
    let revalidated = get_with(&url, &[("If-None-Match", first.header("etag").unwrap())]);
    assert_eq!(revalidated.status, 304);

    // Tampered, wrongly keyed, or unsigned outside the allow-list: 403.
    let tampered = url.replace("w=100", "w=101");
    assert_ne!(tampered, url);
    let wrong = signed_url(
        &h,
        &wrong_key,
        "cat.jpg",
        &["--width", "100", "--height", "80"],
    );
    let other_image = url.replace("/cat.jpg/", "/dog.jpg/");
    for bad in [
        tampered,
        wrong,
        other_image,
        h.thumb_url("cat.jpg") + "?w=65&h=65",
        h.thumb_url("cat.jpg") + "?w=64&h=64&quality=50",
    ] {
        let reply = get(&bad);
        assert_eq!(reply.status, 403, "{bad}: {}", reply.text());
        assert_eq!(reply.error_kind(), "forbidden");
    }
    // Malformed queries: 400.
    for bad in ["?w=64&w=64", "?width=64", "?w=abc", "?fit=stretch"] {
        let reply = get(&(h.thumb_url("cat.jpg") + bad));
        assert_eq!(reply.status, 400, "{bad}: {}", reply.text());
    }

    // Unsigned, allowed sizes (fit and format free).
    let allowed = get(&(h.thumb_url("cat.jpg") + "?w=96&h=48&format=webp"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_eq!(allowed.header("content-type"), Some("image/webp"));
    let allowed = get(&(h.thumb_url("cat.jpg") + "?h=64&w=64"));
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    assert_thumbnail_fits(&allowed.body, 64, 64);
    // A signed URL of an unknown image: 404.
    let unknown = signed_url(&h, &key, "dog.jpg", &["--width", "100"]);
    assert_eq!(get(&unknown).status, 404);

    // No worker: past the wait, 202 with Retry-After; then made once a worker is back.
    worker.signal("KILL");
    worker.wait_exit(Duration::from_secs(30));
    let slow = signed_url(&h, &key, "cat.jpg", &["--width", "50", "--height", "50"]);
    let accepted = get(&slow);
    assert_eq!(accepted.status, 202, "{}", accepted.text());
    assert_eq!(accepted.header("retry-after"), Some("1"));
    assert_eq!(accepted.json()["id"], "cat.jpg.w50h50-contain-q80.jpg");
    let _worker = h.c.worker("w2", 1, &[]);
    let made = eventually(BOUND, Duration::from_millis(200), || {
        let reply = get(&slow);
        (reply.status == 200).then_some(reply)
    })
    .expect("the size is made once a worker is back");
    assert_thumbnail_fits(&made.body, 50, 50);

    let m = get(&h.url("/metrics")).text();
    assert!(m.contains("cdn_variants_registered_total 4"), "{m}");
}

#[test]
fn json_logs_are_one_object_per_line() {
    let h = HttpCluster::start(&["--log-format", "json"]);
    assert_eq!(get(&h.url("/healthz")).status, 200);
    let log = h.master.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "{log}");
    for line in lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            value["level"].is_string() && value["fields"].is_object(),
            "{line}"
        );
    }
    assert!(log.contains("HTTP ready"), "{log}");
}
