//! End to end with the real binaries: two workers share fifty images; each is made exactly once.
//! And a registry larger than one default frame header still lists.

use cdn_testkit::*;

#[test]
fn two_workers_fifty_images_each_done_exactly_once() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let dir = c.path("photos");
    std::fs::create_dir_all(&dir).unwrap();
    let ids: Vec<String> = (0..50).map(|i| format!("img_{i:03}.jpg")).collect();
    for (i, id) in ids.iter().enumerate() {
        std::fs::write(dir.join(id), jpeg(480, 360, i as u64)).unwrap();
    }
    let registered = c.cdn(&["register", "--dir", path_str(&dir)]).ok();
    assert!(registered.stdout.contains("50 new") || registered.stderr.contains("50 new"));

    let w1 = c.worker("w1", 2, &[]);
    let w2 = c.worker("w2", 2, &[]);
    let mut args = vec!["wait", "--timeout", "90s"];
    args.extend(ids.iter().map(String::as_str));
    c.cdn(&args).ok();

    let list = c.cdn(&["list", "--json"]).ok().json();
    let images = list["images"].as_array().expect("images");
    assert_eq!(images.len(), 50);
    for view in images {
        assert_eq!(view["status"], "done", "{view:#}");
        assert_eq!(view["attempts"], 1, "{view:#}");
        assert!(
            view["made_by"] == "w1" || view["made_by"] == "w2",
            "{view:#}"
        );
    }
    // One plugin call per image across both workers.
    let calls = |log: String| log.lines().filter(|l| l.contains("working")).count();
    assert_eq!(calls(w1.log()) + calls(w2.log()), 50);
    // Every thumbnail is a valid image that fits the box.
    for id in &ids {
        let out = c.path(&format!("{id}.thumb"));
        c.cdn(&["fetch", id, "-o", path_str(&out)]).ok();
        assert_eq!(
            assert_thumbnail_fits(&std::fs::read(&out).unwrap(), 256, 256),
            (256, 192)
        );
    }
}

/// A listing is one JSON header: many images must still fit (the client accepts large response
/// headers from the master it verified).
#[test]
fn a_thousand_images_list() {
    let c = Cluster::new();
    let _master = c.master(&[]);
    let dir = c.path("many");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..1000 {
        std::fs::write(dir.join(format!("tiny_{i:04}.jpg")), format!("bytes {i}")).unwrap();
    }
    let r = c
        .cdn(&["register", "--dir", path_str(&dir), "-j", "16"])
        .ok();
    assert!(r.stdout.contains("1000 new"), "{}", r.stdout);
    let list = c.cdn(&["list", "--json"]).ok().json();
    assert_eq!(list["images"].as_array().map(Vec::len), Some(1000));
    // In pages of 300 (four requests, the cursor followed to the end): the same list.
    let paged = c.cdn(&["list", "--json", "--page", "300"]).ok().json();
    assert_eq!(paged, list);
    let table = c.cdn(&["list", "--status", "pending"]).ok();
    assert_eq!(
        table.stdout.lines().count(),
        1001,
        "a header line and one per image"
    );
}
