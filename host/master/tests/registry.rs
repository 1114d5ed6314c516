//! The registry against real databases: every shared case runs on a SQLite file and on a
//! PostgreSQL database (a real server, `cdn_testkit::postgres`); opening the store again stands
//! for a master restart, and two open registries for two masters. Cases that only one backend
//! has (SQLite's file format and group commit, each one's restart rule) follow the shared ones.

use cdn_common::ContentHash;
use cdn_master::registry::Status;
use cdn_master::{Registered, Registry, RegistryError, RegistrySpec, ThumbInfo};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a test's registry lives; [`Store::open`] opens it (again).
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres(cdn_testkit::postgres::Database),
}

impl Store {
    fn sqlite() -> Store {
        Store::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Store {
        Store::Postgres(cdn_testkit::postgres::database())
    }

    fn open(&self) -> Registry {
        match self {
            Store::Sqlite(dir) => Registry::open(db(dir.path())).unwrap(),
            Store::Postgres(db) => {
                Registry::connect(&RegistrySpec::Postgres(db.url.clone())).unwrap()
            }
        }
    }

    /// Several masters may share it (PostgreSQL): a starting master leaves leases alone.
    fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }
}

/// Each shared case as a test on both backends.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $( #[test] fn $case() { super::$case(&super::Store::sqlite()) } )*
        }
        mod postgres {
            $( #[test] fn $case() { super::$case(&super::Store::postgres()) } )*
        }
    };
}

on_both_backends!(
    register_new_same_and_conflict,
    leases_oldest_first_and_never_twice,
    fencing_tokens_grow_across_restarts,
    extend_only_with_the_current_token,
    stale_completion_is_refused_and_changes_nothing,
    expiry_requeues_and_only_the_new_lease_completes,
    expiry_fails_after_max_attempts,
    undelivered_grants_and_hand_backs_spend_no_attempt,
    retry_requeues_failed_images_with_attempts_reset,
    list_pages_follow_the_cursor_to_the_end,
    retryable_failure_is_retried_up_to_max_attempts,
    non_retryable_failure_is_final_and_stale_failure_refused,
    plugins_are_named_and_durable,
    four_threads_lease_two_hundred_images_each_once,
    two_registries_on_one_store_never_lease_the_same_image,
    writes_return_only_once_committed,
    deferred_writes_return_only_once_committed,
    recent_images_are_the_last_finished_first,
);

const TTL: i64 = 30_000;
const MAX: u32 = 3;

fn db(dir: &Path) -> PathBuf {
    dir.join("registry.sqlite")
}

fn blob(s: &str) -> ContentHash {
    ContentHash::of(s.as_bytes())
}

fn plugin() -> ContentHash {
    blob("thumbnail.wasm")
}

fn reg(r: &Registry, id: &str, src: &str, now: i64) -> Registered {
    r.register(
        id,
        &blob(src),
        src.len() as u64,
        r#"{"width":256,"height":256}"#,
        "thumbnail",
        &plugin(),
        now,
    )
    .unwrap()
}

fn thumb(s: &str) -> ThumbInfo {
    ThumbInfo {
        blob: blob(s),
        size: s.len() as u64,
        width: 256,
        height: 171,
        format: "jpeg".into(),
    }
}

fn status(r: &Registry, id: &str) -> Status {
    r.get(id).unwrap().unwrap().status
}

fn register_new_same_and_conflict(store: &Store) {
    let r = store.open();
    assert_eq!(reg(&r, "img1", "bytes-1", 1), Registered::New);
    // Same bytes, params (key order does not matter) and plugin: a no-op.
    let again = r
        .register(
            "img1",
            &blob("bytes-1"),
            7,
            r#"{ "height": 256, "width": 256 }"#,
            "thumbnail",
            &plugin(),
            99,
        )
        .unwrap();
    assert_eq!(again, Registered::AlreadyRegistered);
    let rec = r.get("img1").unwrap().unwrap();
    assert_eq!(rec.created_ms, 1);
    assert_eq!(rec.updated_ms, 1);
    assert_eq!(rec.status, Status::Pending);
    assert_eq!(rec.attempts, 0);
    // Different bytes: a conflict naming what is there, and nothing changes.
    match reg(&r, "img1", "bytes-2", 2) {
        Registered::Conflict {
            existing_source,
            existing_plugin_name,
            ..
        } => {
            assert_eq!(existing_source, blob("bytes-1"));
            assert_eq!(existing_plugin_name, "thumbnail");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Different params: a conflict too.
    let other_params = r
        .register(
            "img1",
            &blob("bytes-1"),
            7,
            r#"{"width":64}"#,
            "thumbnail",
            &plugin(),
            3,
        )
        .unwrap();
    assert!(matches!(other_params, Registered::Conflict { .. }));
    assert_eq!(r.get("img1").unwrap().unwrap(), rec);
    // Bad input is refused before touching the database.
    assert!(matches!(
        r.register("../x", &blob("a"), 1, "{}", "thumbnail", &plugin(), 1),
        Err(RegistryError::InvalidId { .. })
    ));
    assert!(matches!(
        r.register("ok", &blob("a"), 1, "{not json", "thumbnail", &plugin(), 1),
        Err(RegistryError::InvalidParams(_))
    ));
    assert!(r.get("ok").unwrap().is_none());
    // Durable: visible after reopening.
    drop(r);
    let r = store.open();
    assert_eq!(r.get("img1").unwrap().unwrap(), rec);
}

fn leases_oldest_first_and_never_twice(store: &Store) {
    let r = store.open();
    // Registered out of id order; times decide.
    reg(&r, "c", "c", 10);
    reg(&r, "a", "a", 20);
    reg(&r, "b", "b", 30);
    let l1 = r.lease("w1", TTL, 100).unwrap().unwrap();
    let l2 = r.lease("w2", TTL, 100).unwrap().unwrap();
    let l3 = r.lease("w1", TTL, 100).unwrap().unwrap();
    let order: Vec<_> = [&l1, &l2, &l3]
        .iter()
        .map(|l| l.image_id.to_string())
        .collect();
    assert_eq!(order, ["c", "a", "b"]);
    assert!(r.lease("w3", TTL, 100).unwrap().is_none());
    assert_eq!(l1.attempt, 1);
    assert_eq!(l1.deadline_ms, 100 + TTL);
    assert_eq!(l1.source_blob, blob("c"));
    assert_eq!(l1.plugin_hash, plugin());
    assert_eq!(l1.params_json, r#"{"height":256,"width":256}"#);
    let ids: HashSet<_> = [&l1, &l2, &l3].iter().map(|l| l.lease_id.clone()).collect();
    assert_eq!(ids.len(), 3);
    let rec = r.get("c").unwrap().unwrap();
    assert_eq!(rec.status, Status::Leased);
    assert_eq!(rec.lease.unwrap().worker, "w1");
    let c = r.counts().unwrap();
    assert_eq!((c.pending, c.leased, c.done, c.failed), (0, 3, 0, 0));
    assert_eq!(r.list(Some(Status::Leased)).unwrap().len(), 3);
    assert!(r.list(Some(Status::Pending)).unwrap().is_empty());
    let all: Vec<_> = r
        .list(None)
        .unwrap()
        .into_iter()
        .map(|i| i.id.to_string())
        .collect();
    assert_eq!(all, ["c", "a", "b"]);
}

/// The persisted fencing-token counter, read from the SQLite file itself.
fn token_counter(dir: &Path) -> u64 {
    let raw = rusqlite::Connection::open(db(dir)).unwrap();
    raw.query_row(
        "SELECT value FROM meta WHERE key = 'fencing_token'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .unwrap() as u64
}

fn fencing_tokens_grow_across_restarts(store: &Store) {
    let mut last = 0;
    let mut leased = 0;
    for round in 0..3 {
        let r = store.open();
        r.recover(round).unwrap();
        reg(&r, &format!("img{round}"), &format!("src{round}"), round);
        while let Some(l) = r.lease("w", TTL, 1000).unwrap() {
            assert!(l.token > last, "token {} after {last}", l.token);
            last = l.token;
            leased += 1;
        }
        if let Store::Sqlite(dir) = store {
            assert_eq!(token_counter(dir.path()), last);
        }
    }
    // SQLite: rounds 0, 1, 2 lease 1, 2 and 3 images (recover puts the earlier ones back).
    // Shared: leases stay with their workers across a restart, so each round leases its one.
    assert_eq!(leased, if store.is_shared() { 3 } else { 6 });
}

fn extend_only_with_the_current_token(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    let l = r.lease("w", 1000, 10).unwrap().unwrap();
    assert_eq!(r.extend("img", l.token, "w", 1000, 500).unwrap(), 1500);
    assert_eq!(
        r.get("img").unwrap().unwrap().lease.unwrap().deadline_ms,
        1500
    );
    assert!(matches!(
        r.extend("img", l.token + 1, "w", 1000, 600),
        Err(RegistryError::Stale { .. })
    ));
    assert!(matches!(
        r.extend("img", l.token, "another", 1000, 600),
        Err(RegistryError::Stale { .. })
    ));
    assert!(matches!(
        r.extend("nope", l.token, "w", 1000, 600),
        Err(RegistryError::NotFound(_))
    ));
    // Past the deadline, even the right token cannot extend.
    assert!(matches!(
        r.extend("img", l.token, "w", 1000, 1501),
        Err(RegistryError::Stale { .. })
    ));
    assert_eq!(
        r.get("img").unwrap().unwrap().lease.unwrap().deadline_ms,
        1500
    );
}

fn stale_completion_is_refused_and_changes_nothing(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    let l = r.lease("w1", TTL, 10).unwrap().unwrap();
    let before = r.get("img").unwrap().unwrap();
    let err = r
        .complete("img", l.token - 1, &thumb("t"), "w1", 20)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Stale { .. }), "{err}");
    assert_eq!(r.get("img").unwrap().unwrap(), before);
    // The right token from a worker that does not hold the lease: refused too.
    let err = r
        .complete("img", l.token, &thumb("t"), "w2", 25)
        .unwrap_err();
    assert!(matches!(err, RegistryError::Stale { .. }), "{err}");
    assert_eq!(r.get("img").unwrap().unwrap(), before);
    let created = r.complete("img", l.token, &thumb("t"), "w1", 30).unwrap();
    assert_eq!(created, 1, "complete returns when the image was registered");
    let done = r.get("img").unwrap().unwrap();
    assert_eq!(done.status, Status::Done);
    let made = done.thumbnail.clone().expect("a thumbnail");
    let want = thumb("t");
    assert_eq!(
        (made.hash, made.size, made.width, made.height, made.format),
        (want.blob, want.size, want.width, want.height, want.format)
    );
    assert_eq!(done.made_by.as_deref(), Some("w1"));
    assert_eq!(done.finished_ms, Some(30));
    assert!(done.lease.is_none());
    // A second completion of a finished image is refused too.
    assert!(matches!(
        r.complete("img", l.token, &thumb("other"), "w1", 40),
        Err(RegistryError::Stale { .. })
    ));
    assert_eq!(r.get("img").unwrap().unwrap(), done);
}

fn expiry_requeues_and_only_the_new_lease_completes(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    let old = r.lease("w1", 1000, 0).unwrap().unwrap();
    assert!(
        r.expire(1000, MAX).unwrap().is_empty(),
        "at the deadline it still holds"
    );
    let expired = r.expire(1001, MAX).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].as_str(), "img");
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!(rec.status, Status::Pending);
    assert_eq!(rec.last_error.unwrap().kind, "lease_expired");
    // Late completion with the old token, while pending: refused.
    assert!(matches!(
        r.complete("img", old.token, &thumb("late"), "w1", 1002),
        Err(RegistryError::Stale { .. })
    ));
    let new = r.lease("w2", 1000, 1003).unwrap().unwrap();
    assert!(new.token > old.token);
    assert_eq!(new.attempt, 1, "a lease never extended spent no attempt");
    // Late completion with the old token, while leased by someone else: refused.
    assert!(matches!(
        r.complete("img", old.token, &thumb("late"), "w1", 1004),
        Err(RegistryError::Stale { .. })
    ));
    assert_eq!(status(&r, "img"), Status::Leased);
    r.complete("img", new.token, &thumb("fresh"), "w2", 1005)
        .unwrap();
    let done = r.get("img").unwrap().unwrap();
    assert_eq!(done.thumbnail.unwrap().hash, blob("fresh"));
    assert_eq!(done.made_by.as_deref(), Some("w2"));
}

fn expiry_fails_after_max_attempts(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    let mut now = 0;
    for attempt in 1..=MAX {
        let l = r.lease("w", 10, now).unwrap().unwrap();
        assert_eq!(l.attempt, attempt);
        // The worker reports the plugin running: the attempt counts.
        r.extend("img", l.token, "w", 10, now + 1).unwrap();
        now += 12;
        r.expire(now, MAX).unwrap();
    }
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!(rec.status, Status::Failed);
    assert_eq!(rec.attempts, MAX);
    let message = rec.last_error.unwrap().message;
    assert!(message.contains("attempt 3 of 3"), "{message}");
    assert!(r.lease("w", 10, now).unwrap().is_none());
}

fn undelivered_grants_and_hand_backs_spend_no_attempt(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    let mut now = 0;
    for _ in 0..(MAX + 2) {
        // A grant whose worker never reported the plugin running expires uncounted.
        let l = r.lease("w", 10, now).unwrap().unwrap();
        now += 11;
        r.expire(now, MAX).unwrap();
        assert_eq!(status(&r, "img"), Status::Pending);
        // A hand-back gives the attempt back, even after an extend.
        let l2 = r.lease("w", 10, now).unwrap().unwrap();
        assert!(l2.token > l.token);
        r.extend("img", l2.token, "w", 10, now).unwrap();
        let st = r
            .fail(
                "img",
                l2.token,
                "worker_stopped",
                "stop",
                true,
                false,
                MAX,
                now,
            )
            .unwrap();
        assert_eq!(st, Status::Pending);
        // A grant abandoned at once is released.
        let l3 = r.lease("w", 10, now).unwrap().unwrap();
        assert!(r.release_undelivered("img", l3.token, now).unwrap());
        assert!(!r.release_undelivered("img", l3.token, now).unwrap());
    }
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!(rec.status, Status::Pending);
    assert_eq!(rec.attempts, 0, "{rec:?}");
}

/// SQLite (one master): a lease running when the master stops is put back at the next open,
/// uncounted, and its late completion refused.
#[test]
fn sqlite_restarts_put_leases_back_uncounted() {
    let store = Store::sqlite();
    let mut now = 0;
    for _ in 0..(MAX + 2) {
        let r = store.open();
        r.recover(now).unwrap();
        if r.get("img").unwrap().is_none() {
            reg(&r, "img", "src", 1);
        }
        let l = r.lease("w", 10, now).unwrap().unwrap();
        r.extend("img", l.token, "w", 10, now).unwrap();
        now += 1;
    }
    let r = store.open();
    r.recover(now).unwrap();
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (Status::Pending, 0), "{rec:?}");
}

/// PostgreSQL (shared): a starting master leaves a live lease to its worker, which extends and
/// completes it through the new registry (as through another master); the attempt is spent
/// once.
#[test]
fn postgres_restarts_leave_live_leases_to_their_workers() {
    let store = Store::postgres();
    let l = {
        let r = store.open();
        reg(&r, "img", "src", 1);
        let l = r.lease("w", TTL, 10).unwrap().unwrap();
        r.extend("img", l.token, "w", TTL, 11).unwrap();
        l
    };
    let r = store.open();
    assert!(r.recover(20).unwrap().is_empty());
    assert_eq!(status(&r, "img"), Status::Leased);
    r.extend("img", l.token, "w", TTL, 21).unwrap();
    r.complete("img", l.token, &thumb("t"), "w", 22).unwrap();
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (Status::Done, 1), "{rec:?}");
}

fn retry_requeues_failed_images_with_attempts_reset(store: &Store) {
    let r = store.open();
    reg(&r, "bad", "src1", 1);
    reg(&r, "good", "src2", 2);
    let l = r.lease("w", TTL, 10).unwrap().unwrap();
    assert_eq!(l.image_id.as_str(), "bad");
    r.fail(
        "bad",
        l.token,
        "plugin_error",
        "corrupt",
        false,
        true,
        MAX,
        11,
    )
    .unwrap();
    assert_eq!(status(&r, "bad"), Status::Failed);
    let (retried, not) = r.retry(&["good".into(), "nope".into()], true, 12).unwrap();
    assert_eq!(retried, ["bad"]);
    assert_eq!(
        not,
        [
            ("good".to_string(), "pending".to_string()),
            ("nope".to_string(), "not_found".to_string())
        ]
    );
    let rec = r.get("bad").unwrap().unwrap();
    assert_eq!((rec.status, rec.attempts), (Status::Pending, 0));
}

fn list_pages_follow_the_cursor_to_the_end(store: &Store) {
    let r = store.open();
    for i in 0..25 {
        reg(&r, &format!("img{i:02}"), &format!("src{i}"), i);
    }
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = r.list_page(None, after, 10).unwrap();
        assert!(page.len() <= 10);
        seen.extend(page.into_iter().map(|v| v.id));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("img{i:02}")).collect();
    assert_eq!(seen, expected);
}

fn retryable_failure_is_retried_up_to_max_attempts(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    for attempt in 1..=MAX {
        let l = r.lease("w", TTL, 10).unwrap().unwrap();
        assert_eq!(l.attempt, attempt);
        let msg = format!("trap {attempt}");
        let st = r
            .fail("img", l.token, "trap", &msg, true, true, MAX, 20)
            .unwrap();
        let expected = if attempt < MAX {
            Status::Pending
        } else {
            Status::Failed
        };
        assert_eq!(st, expected);
        assert_eq!(status(&r, "img"), expected);
    }
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!(rec.attempts, MAX);
    let e = rec.last_error.unwrap();
    assert_eq!((e.kind.as_str(), e.message.as_str()), ("trap", "trap 3"));
    assert_eq!(rec.finished_ms, Some(20));
    assert!(r.lease("w", TTL, 30).unwrap().is_none());
}

fn non_retryable_failure_is_final_and_stale_failure_refused(store: &Store) {
    let r = store.open();
    reg(&r, "img", "src", 1);
    let l = r.lease("w", TTL, 10).unwrap().unwrap();
    assert!(matches!(
        r.fail("img", l.token + 5, "plugin", "nope", false, true, MAX, 15),
        Err(RegistryError::Stale { .. })
    ));
    assert_eq!(status(&r, "img"), Status::Leased);
    let msg = "image is 50000x50000, over the 100 megapixel limit";
    assert_eq!(
        r.fail("img", l.token, "plugin", msg, false, true, MAX, 20)
            .unwrap(),
        Status::Failed
    );
    let rec = r.get("img").unwrap().unwrap();
    assert_eq!(rec.attempts, 1);
    assert_eq!(rec.last_error.unwrap().message, msg);
    assert_eq!(r.counts().unwrap().failed, 1);
}

/// SQLite (one master): at open, every leased image goes back to pending.
#[test]
fn sqlite_recover_after_reopen_requeues_leased() {
    let store = Store::sqlite();
    let old = {
        let r = store.open();
        reg(&r, "a", "a", 1);
        reg(&r, "b", "b", 2);
        reg(&r, "c", "c", 3);
        let la = r.lease("w", TTL, 10).unwrap().unwrap();
        r.complete("a", la.token, &thumb("ta"), "w", 11).unwrap();
        r.lease("w", TTL, 12).unwrap().unwrap()
    };
    let r = store.open();
    assert_eq!(status(&r, "b"), Status::Leased);
    let back = r.recover(100).unwrap();
    assert_eq!(back.iter().map(|i| i.as_str()).collect::<Vec<_>>(), ["b"]);
    assert_eq!(status(&r, "a"), Status::Done);
    assert_eq!(status(&r, "b"), Status::Pending);
    assert_eq!(status(&r, "c"), Status::Pending);
    assert!(matches!(
        r.complete("b", old.token, &thumb("late"), "w", 101),
        Err(RegistryError::Stale { .. })
    ));
    let again = r.lease("w", TTL, 102).unwrap().unwrap();
    assert_eq!(again.image_id.as_str(), "b");
    assert!(again.token > old.token);
    assert_eq!(again.attempt, 1, "the recovered lease spent no attempt");
}

fn plugins_are_named_and_durable(store: &Store) {
    {
        let r = store.open();
        r.add_plugin("thumbnail", &plugin(), 1).unwrap();
        r.add_plugin("stamp", &blob("stamp v1"), 2).unwrap();
        r.add_plugin("stamp", &blob("stamp v2"), 3).unwrap();
        assert!(matches!(
            r.add_plugin("a/b", &plugin(), 4),
            Err(RegistryError::InvalidId { .. })
        ));
    }
    let r = store.open();
    assert_eq!(r.plugin("thumbnail").unwrap(), Some(plugin()));
    assert_eq!(r.plugin("missing").unwrap(), None);
    assert_eq!(
        r.plugins().unwrap(),
        vec![
            ("stamp".to_string(), blob("stamp v2")),
            ("thumbnail".to_string(), plugin())
        ]
    );
}

fn four_threads_lease_two_hundred_images_each_once(store: &Store) {
    let r = Arc::new(store.open());
    for i in 0..200 {
        reg(&r, &format!("img{i:03}"), &format!("src{i}"), i);
    }
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let r = Arc::clone(&r);
            std::thread::spawn(move || {
                let worker = format!("w{t}");
                let mut got = Vec::new();
                while let Some(l) = r.lease(&worker, TTL, 1000).unwrap() {
                    got.push((l.image_id.to_string(), l.token));
                }
                got
            })
        })
        .collect();
    let all: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(all.len(), 200);
    let ids: HashSet<_> = all.iter().map(|(id, _)| id.clone()).collect();
    let tokens: HashSet<_> = all.iter().map(|(_, t)| *t).collect();
    assert_eq!(ids.len(), 200, "an image was leased twice");
    assert_eq!(tokens.len(), 200, "a token was handed out twice");
    assert_eq!(r.counts().unwrap().leased, 200);
}

fn two_registries_on_one_store_never_lease_the_same_image(store: &Store) {
    // Two `Registry` values on the same store (two masters): the database's own locking must
    // keep leases exclusive, not just the in-process mutex.
    let first = Arc::new(store.open());
    let second = Arc::new(store.open());
    for i in 0..200 {
        reg(&first, &format!("img{i:03}"), &format!("src{i}"), i);
    }
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let r = Arc::clone(if t % 2 == 0 { &first } else { &second });
            std::thread::spawn(move || {
                let mut got = Vec::new();
                while let Some(l) = r.lease(&format!("w{t}"), TTL, 1000).unwrap() {
                    got.push((l.image_id.to_string(), l.token));
                }
                got
            })
        })
        .collect();
    let all: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ids: HashSet<_> = all.iter().map(|(id, _)| id.clone()).collect();
    let tokens: HashSet<_> = all.iter().map(|(_, t)| *t).collect();
    assert_eq!(all.len(), 200);
    assert_eq!(ids.len(), 200, "an image was leased twice");
    assert_eq!(tokens.len(), 200, "a token was handed out twice");
    if let Store::Sqlite(dir) = store {
        assert_eq!(token_counter(dir.path()), 200);
    }
}

#[test]
fn sqlite_file_is_wal_checked_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    drop(Registry::open(db(dir.path())).unwrap());
    let raw = rusqlite::Connection::open(db(dir.path())).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // The CHECKs keep nonsense out even from outside the registry.
    let bad_status = raw.execute(
        "INSERT INTO images (id, status, source_blob, source_size, params_json, plugin_name,
             plugin_hash, created_at, updated_at)
         VALUES ('x', 'lost', 'a', 1, '{}', 'p', 'h', 0, 0)",
        [],
    );
    assert!(bad_status.is_err());
    let leased_without_lease = raw.execute(
        "INSERT INTO images (id, status, source_blob, source_size, params_json, plugin_name,
             plugin_hash, created_at, updated_at)
         VALUES ('x', 'leased', 'a', 1, '{}', 'p', 'h', 0, 0)",
        [],
    );
    assert!(leased_without_lease.is_err());
    // A file from another schema version is refused, not silently used.
    raw.pragma_update(None, "user_version", 99).unwrap();
    drop(raw);
    assert!(matches!(
        Registry::open(db(dir.path())),
        Err(RegistryError::SchemaVersion { found: 99, .. })
    ));
}

/// The PostgreSQL schema keeps nonsense out even from outside the registry, two masters
/// starting at once migrate it once, and a database from a newer build is refused.
#[test]
fn postgres_schema_is_checked_migrated_once_and_versioned() {
    let store = Store::postgres();
    let Store::Postgres(db) = &store else {
        unreachable!()
    };
    let opened: Vec<_> = (0..3)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || Registry::connect(&RegistrySpec::Postgres(url)))
        })
        .collect();
    for registry in opened {
        registry
            .join()
            .unwrap()
            .expect("concurrent first opens all succeed");
    }
    let versions = db
        .psql("SELECT COUNT(*), MAX(version) FROM cdn_schema_migrations")
        .unwrap();
    assert!(
        versions.contains("1 |"),
        "migrated more than once: {versions}"
    );
    for bad in [
        "INSERT INTO images (id, status, source_blob, source_size, params_json, plugin_name,
             plugin_hash, created_at, updated_at)
         VALUES ('x', 'lost', 'a', 1, '{}', 'p', 'h', 0, 0)",
        "INSERT INTO images (id, status, source_blob, source_size, params_json, plugin_name,
             plugin_hash, created_at, updated_at)
         VALUES ('x', 'leased', 'a', 1, '{}', 'p', 'h', 0, 0)",
    ] {
        assert!(db.psql(bad).is_err(), "accepted: {bad}");
    }
    db.psql("INSERT INTO cdn_schema_migrations (version, applied_at) VALUES (99, 0)")
        .unwrap();
    let err = Registry::connect(&RegistrySpec::Postgres(db.url.clone())).unwrap_err();
    assert!(
        matches!(err, RegistryError::SchemaVersion { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}

/// A server that is not there, and a database that does not exist, are clear errors at open.
#[test]
fn postgres_connect_errors_name_the_place_not_the_password() {
    let port = cdn_testkit::free_tcp_port();
    let url = format!("postgres://cdn:hunter2@127.0.0.1:{port}/cdn");
    let err = Registry::connect(&RegistrySpec::Postgres(url))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(err.contains("cannot connect"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    let store = Store::postgres();
    let Store::Postgres(db) = &store else {
        unreachable!()
    };
    let missing = format!("{}_missing", db.url);
    let err = Registry::connect(&RegistrySpec::Postgres(missing))
        .unwrap_err()
        .to_string();
    assert!(err.contains("_missing"), "{err}");
}

/// Acknowledged = committed: writes from many threads at once, and each registration is seen
/// by another registry on the same store (which sees only committed rows: another master) as
/// soon as `register` has returned; a write that fails among them takes nothing of the others
/// with it. SQLite's writes share commits (group commit: one fsync for several).
fn writes_return_only_once_committed(store: &Store) {
    const THREADS: usize = 8;
    const EACH: usize = 40;
    let r = Arc::new(store.open());
    let observer = Arc::new(store.open());
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (r, observer) = (r.clone(), observer.clone());
            std::thread::spawn(move || {
                for i in 0..EACH {
                    let id = format!("t{t}-{i}");
                    assert_eq!(reg(&r, &id, &id, 1), Registered::New);
                    assert!(
                        observer.get(&id).expect("observer read").is_some(),
                        "{id} returned before it was committed"
                    );
                    // A write that fails (no such lease) in the middle of the others' batches.
                    let refused = r.extend(&id, 999_999, "w", TTL, 2);
                    assert!(
                        matches!(refused, Err(RegistryError::Stale { .. })),
                        "{refused:?}"
                    );
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("a writer thread panicked");
    }
    let stats = r.commit_stats();
    assert_eq!(stats.writes, (THREADS * EACH) as u64, "{stats:?}");
    if !store.is_shared() {
        assert!(
            stats.commits < stats.writes,
            "{THREADS} writers at once never shared a commit: {stats:?}"
        );
    }
    assert_eq!(r.list(None).unwrap().len(), THREADS * EACH);
    // Opened again (a restart): every acknowledged registration is there.
    drop((r, observer));
    assert_eq!(store.open().list(None).unwrap().len(), THREADS * EACH);
}

/// Several writes for one answer (a `lease` of many tasks) in one `deferring` scope: on SQLite
/// they are not committed (another registry does not see them) until the scope ends, then all
/// by one commit; on either backend everything is committed when the scope returns, and a
/// write that fails inside takes nothing of the others with it.
fn deferred_writes_return_only_once_committed(store: &Store) {
    let r = store.open();
    let observer = store.open();
    for id in ["a", "b", "c", "d"] {
        reg(&r, id, id, 1);
    }
    let before = r.commit_stats();
    let mut leases = Vec::new();
    r.deferring(&mut || {
        for _ in 0..3 {
            leases.push(r.lease("w1", TTL, 10)?.expect("a pending image"));
        }
        assert!(
            matches!(
                r.extend("d", 999_999, "w", TTL, 11),
                Err(RegistryError::Stale { .. })
            ),
            "a failed write inside the scope"
        );
        if !store.is_shared() {
            let seen = observer.get("a").unwrap().expect("registered");
            assert_eq!(
                seen.status,
                Status::Pending,
                "seen before the scope's commit"
            );
        }
        Ok(())
    })
    .unwrap();
    for lease in &leases {
        let seen = observer
            .get(lease.image_id.as_str())
            .unwrap()
            .expect("registered");
        assert_eq!(
            seen.status,
            Status::Leased,
            "{} not committed",
            lease.image_id
        );
    }
    let after = r.commit_stats();
    assert_eq!(after.writes - before.writes, 3, "{before:?} -> {after:?}");
    if !store.is_shared() {
        assert_eq!(after.commits - before.commits, 1, "{before:?} -> {after:?}");
    }
    assert_eq!(observer.get("d").unwrap().unwrap().status, Status::Pending);
}

/// The status page's query: the images of one status that finished last, newest first, at
/// most `limit` of them.
fn recent_images_are_the_last_finished_first(store: &Store) {
    let r = store.open();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        reg(&r, id, id, i as i64 + 1);
    }
    // Leased in registration order (a, b, c), finished in the order c, a, b.
    let leases: Vec<_> = (0..3)
        .map(|_| r.lease("w1", TTL, 10).unwrap().expect("a pending image"))
        .collect();
    for (lease, at) in leases.iter().zip([20, 30, 10]) {
        r.complete(lease.image_id.as_str(), lease.token, &thumb("t"), "w1", at)
            .unwrap();
    }
    let ids = |views: Vec<cdn_proto::ImageView>| -> Vec<String> {
        views.into_iter().map(|v| v.id.to_string()).collect()
    };
    assert_eq!(ids(r.recent(Status::Done, 10).unwrap()), ["b", "a", "c"]);
    assert_eq!(ids(r.recent(Status::Done, 2).unwrap()), ["b", "a"]);
    assert!(r.recent(Status::Failed, 10).unwrap().is_empty());
}

/// `LISTEN/NOTIFY`: work registered, retried or expired through one master wakes the
/// long-polls of another; a write that makes nothing pending does not.
#[test]
fn postgres_work_made_through_one_master_wakes_the_other() {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};
    let store = Store::postgres();
    let (a, b) = (store.open(), store.open());
    let woken = Arc::new(AtomicU32::new(0));
    let counter = woken.clone();
    b.watch_work(Arc::new(move || {
        counter.fetch_add(1, Ordering::SeqCst);
    }));
    let wait_for = |n: u32| {
        let start = Instant::now();
        while woken.load(Ordering::SeqCst) < n {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "no wake-up {n} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    // The listener wakes once when it starts listening (it may have missed something).
    wait_for(1);
    let base = woken.load(Ordering::SeqCst);
    reg(&a, "img", "src", 1);
    wait_for(base + 1);
    // Leasing makes nothing pending: no wake-up. Expiry does.
    let quiet = woken.load(Ordering::SeqCst);
    let l = a.lease("w", 10, 2).unwrap().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        woken.load(Ordering::SeqCst),
        quiet,
        "a lease woke the other master"
    );
    assert_eq!(a.expire(13, MAX).unwrap().len(), 1);
    wait_for(quiet + 1);
    assert!(l.token > 0);
}
