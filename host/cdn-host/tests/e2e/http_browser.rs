//! The status page in a real headless browser: Debian's `chromium`, driven by `chromedriver`
//! over the WebDriver HTTP API (started here on a free loopback port, killed by pid). The page
//! must show the counts and the workers, and every image of its grid must actually load
//! (`naturalWidth` > 0).

use crate::http_support::*;
use cdn_testkit::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn require_browser() {
    for path in [CHROMIUM, CHROMEDRIVER] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: this test needs Debian's chromium and its driver \
             (`apt-get install -y chromium chromium-driver`)"
        );
    }
}

/// A WebDriver call: `method` on `path` of the driver, with a JSON body; the `value` answered.
fn webdriver(base: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let url = format!("{base}{path}");
    let agent = agent();
    let response = match (method, body) {
        ("POST", Some(body)) => agent.post(&url).send_json(body),
        ("DELETE", _) => agent.delete(&url).call(),
        _ => agent.get(&url).call(),
    };
    let mut response = response.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let answer: Value = response
        .body_mut()
        .read_json()
        .unwrap_or_else(|e| panic!("{method} {url}: not JSON: {e}"));
    assert_eq!(status, 200, "{method} {url}: {answer}");
    answer["value"].clone()
}

#[test]
fn the_status_page_loads_in_a_browser_with_its_thumbnails() {
    require_browser();
    let h = HttpCluster::start(&[]);
    let _worker = h.c.worker("w1", 2, &[]);
    let ids = ["one.jpg", "two.jpg", "three.jpg"];
    for (seed, id) in ids.iter().enumerate() {
        h.register(id, 800, 600, seed as u64 + 10, &[]);
    }
    let broken = h.c.file("broken.jpg", b"not an image");
    h.c.cdn(&["register", "broken.jpg", path_str(&broken)]).ok();
    h.wait_done(&ids);
    h.c.wait_until("broken.jpg", "failed", |v| v["status"] == "failed");

    // The page itself, as plain HTML.
    let page = get(&h.url("/"));
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let html = page.text();
    assert!(html.contains("http-equiv=\"refresh\""), "{html}");
    assert!(!html.contains("<script"), "no JavaScript: {html}");

    let port = free_tcp_port();
    let mut command = Command::new(CHROMEDRIVER);
    command.arg(format!("--port={port}"));
    let _driver = Proc::spawn("chromedriver", command, &h.c.path("chromedriver.log"));
    let driver = format!("http://127.0.0.1:{port}");
    eventually(Duration::from_secs(30), Duration::from_millis(100), || {
        agent()
            .get(&format!("{driver}/status"))
            .call()
            .ok()
            .filter(|r| r.status() == 200)
    })
    .expect("chromedriver answers within 30 s");

    let session = webdriver(
        &driver,
        "POST",
        "/session",
        Some(json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1200,900"]
            }
        }}})),
    );
    let session = session["sessionId"]
        .as_str()
        .expect("a session id")
        .to_string();
    let s = format!("/session/{session}");
    let outcome = std::panic::catch_unwind(|| {
        webdriver(
            &driver,
            "POST",
            &format!("{s}/url"),
            Some(json!({"url": h.url("/")})),
        );
        let script = json!({
            "script": "return Array.from(document.images).map(i => \
                       [i.complete, i.naturalWidth, i.getAttribute('src')]);",
            "args": []
        });
        let images = eventually(Duration::from_secs(30), Duration::from_millis(100), || {
            let images = webdriver(
                &driver,
                "POST",
                &format!("{s}/execute/sync"),
                Some(script.clone()),
            );
            let list = images.as_array()?.clone();
            (list.len() == ids.len() && list.iter().all(|i| i[0] == true)).then_some(list)
        })
        .expect("the grid's images finish loading within 30 s");
        for image in &images {
            assert!(
                image[1].as_u64().is_some_and(|w| w > 0),
                "an image did not load: {image}"
            );
        }
        let mut srcs: Vec<String> = images
            .iter()
            .map(|i| i[2].as_str().unwrap_or_default().to_string())
            .collect();
        srcs.sort();
        let mut expected: Vec<String> = ids
            .iter()
            .map(|id| format!("/v1/images/{id}/thumbnail"))
            .collect();
        expected.sort();
        assert_eq!(srcs, expected);
        let text = webdriver(
            &driver,
            "POST",
            &format!("{s}/execute/sync"),
            Some(json!({"script": "return document.body.innerText;", "args": []})),
        );
        let text = text.as_str().unwrap_or_default().to_string();
        for needle in ["w1", "broken.jpg", "Latest thumbnails", "s ago"] {
            assert!(
                text.contains(needle),
                "{needle:?} missing from the page:\n{text}"
            );
        }
        let counts = webdriver(
            &driver,
            "POST",
            &format!("{s}/execute/sync"),
            Some(
                json!({"script": "return Array.from(document.querySelectorAll('#counts td')).map(t => t.innerText);", "args": []}),
            ),
        );
        assert_eq!(
            counts,
            json!(["0", "0", "3", "1"]),
            "pending, leased, done, failed"
        );
    });
    webdriver(&driver, "DELETE", &s, None);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
