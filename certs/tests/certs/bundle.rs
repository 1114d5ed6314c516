//! `cdn-certs bundle` through the built binary: what goes into the folder for one machine (never
//! `ca.key`), key modes, refusals, and the warning for a folder that holds the CA key.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

fn cdn_certs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdn-certs"))
        .args(args)
        .output()
        .expect("run cdn-certs")
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "cdn-certs failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The names of the files in `dir`.
fn listing(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read bundle folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect()
}

fn same_bytes(a: &Path, b: &Path) -> bool {
    std::fs::read(a).expect("read a") == std::fs::read(b).expect("read b")
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `init` with a named worker and client, in `tmp/certs`.
fn issued(tmp: &Path) -> std::path::PathBuf {
    let dir = tmp.join("certs");
    ok(&cdn_certs(&[
        "init",
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--workers",
        "w1",
        "--clients",
        "alice",
    ]));
    dir
}

#[test]
fn each_role_gets_its_own_files_and_ca_pem_and_never_ca_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = issued(tmp.path());
    let dir_s = dir.to_str().expect("utf-8");
    let cases: [(&str, Option<&str>, &str); 5] = [
        ("worker", Some("w1"), "worker-w1"),
        ("worker", None, "worker"),
        ("worker", Some("default"), "worker"),
        ("client", Some("alice"), "client-alice"),
        ("master", None, "master"),
    ];
    for (i, (role, name, stem)) in cases.into_iter().enumerate() {
        // A folder that does not exist yet, two levels deep.
        let out = tmp.path().join(format!("bundle-{i}")).join("certs");
        let out_s = out.to_str().expect("utf-8");
        let mut args = vec!["bundle", "--dir", dir_s, "--role", role, "--out", out_s];
        if let Some(name) = name {
            args.extend(["--name", name]);
        }
        let run = cdn_certs(&args);
        ok(&run);
        let expected: BTreeSet<String> = [
            "ca.pem".to_string(),
            format!("{stem}.pem"),
            format!("{stem}.key"),
        ]
        .into_iter()
        .collect();
        assert_eq!(listing(&out), expected, "{role} {name:?}");
        assert!(!out.join("ca.key").exists());
        for file in [
            "ca.pem".to_string(),
            format!("{stem}.pem"),
            format!("{stem}.key"),
        ] {
            assert!(same_bytes(&dir.join(&file), &out.join(&file)), "{file}");
        }
        #[cfg(unix)]
        {
            assert_eq!(mode(&out.join(format!("{stem}.key"))), 0o600, "{stem}.key");
            assert_eq!(mode(&out) & 0o077, 0, "a folder made for a key is private");
        }
        let printed = String::from_utf8_lossy(&run.stdout);
        assert!(
            printed.contains(&format!(
                "wrote {}",
                out.join(format!("{stem}.key")).display()
            )),
            "{printed}"
        );
    }
}

#[test]
fn a_missing_identity_names_the_issue_command_that_makes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = issued(tmp.path());
    let dir_s = dir.to_str().expect("utf-8");
    let out = tmp.path().join("out");
    let out_s = out.to_str().expect("utf-8");

    let run = cdn_certs(&[
        "bundle", "--dir", dir_s, "--role", "worker", "--name", "w9", "--out", out_s,
    ]);
    assert!(!run.status.success());
    let error = stderr(&run);
    assert!(error.contains("worker-w9.pem is missing"), "{error}");
    assert!(
        error.contains(&format!(
            "cdn-certs issue --dir {dir_s} --role worker --name w9"
        )),
        "{error}"
    );
    assert!(!out.exists(), "nothing written for a missing identity");

    // A key without its certificate's partner is as missing as a certificate.
    std::fs::remove_file(dir.join("client-alice.key")).expect("remove key");
    let run = cdn_certs(&[
        "bundle", "--dir", dir_s, "--role", "client", "--name", "alice", "--out", out_s,
    ]);
    assert!(!run.status.success());
    let error = stderr(&run);
    assert!(error.contains("client-alice.key is missing"), "{error}");
    assert!(error.contains("--role client --name alice"), "{error}");

    // No CA at all: says to run init.
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let run = cdn_certs(&[
        "bundle",
        "--dir",
        empty.to_str().expect("utf-8"),
        "--role",
        "worker",
        "--out",
        out_s,
    ]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("cdn-certs init"), "{}", stderr(&run));

    for (role, name, why) in [
        ("admin", "x", "unknown role"),
        ("worker", "../x", "invalid name"),
    ] {
        let run = cdn_certs(&[
            "bundle", "--dir", dir_s, "--role", role, "--name", name, "--out", out_s,
        ]);
        assert!(!run.status.success());
        assert!(stderr(&run).contains(why), "{}", stderr(&run));
    }
    assert!(!out.exists());
}

#[test]
fn a_certificate_under_the_wrong_name_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = issued(tmp.path());
    // w1's certificate copied to w2's file names: the name in the certificate decides.
    std::fs::copy(dir.join("worker-w1.pem"), dir.join("worker-w2.pem")).expect("copy");
    std::fs::copy(dir.join("worker-w1.key"), dir.join("worker-w2.key")).expect("copy");
    let out = tmp.path().join("out");
    let run = cdn_certs(&[
        "bundle",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--role",
        "worker",
        "--name",
        "w2",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(!run.status.success());
    let error = stderr(&run);
    assert!(
        error.contains("spiffe://imagecdn/worker/w1, not spiffe://imagecdn/worker/w2"),
        "{error}"
    );

    // A key that is not the certificate's.
    std::fs::copy(dir.join("worker.key"), dir.join("worker-w1.key")).expect("copy");
    let run = cdn_certs(&[
        "bundle",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--role",
        "worker",
        "--name",
        "w1",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert!(!run.status.success());
    assert!(
        stderr(&run).contains("is not the key of"),
        "{}",
        stderr(&run)
    );
    assert!(!out.exists());
}

#[test]
fn different_files_are_not_overwritten_without_force() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = issued(tmp.path());
    let other = tmp.path().join("other");
    ok(&cdn_certs(&[
        "init",
        "--dir",
        other.to_str().expect("utf-8"),
        "--workers",
        "w1",
    ]));
    let out = tmp.path().join("out");
    let out_s = out.to_str().expect("utf-8");
    let bundle = |from: &Path, force: bool| {
        let mut args = vec![
            "bundle",
            "--dir",
            from.to_str().expect("utf-8"),
            "--role",
            "worker",
            "--name",
            "w1",
            "--out",
            out_s,
        ];
        if force {
            args.push("--force");
        }
        cdn_certs(&args)
    };
    ok(&bundle(&dir, false));
    // The same bundle again is fine: nothing differs.
    let again = bundle(&dir, false);
    ok(&again);
    assert!(String::from_utf8_lossy(&again.stdout).contains("unchanged"));

    // Another CA's files: refused, and the folder is untouched.
    let refused = bundle(&other, false);
    assert!(!refused.status.success());
    let error = stderr(&refused);
    assert!(error.contains("--force"), "{error}");
    assert!(error.contains("ca.pem"), "{error}");
    assert!(error.contains("worker-w1.key"), "{error}");
    for file in ["ca.pem", "worker-w1.pem", "worker-w1.key"] {
        assert!(
            same_bytes(&dir.join(file), &out.join(file)),
            "{file} was changed"
        );
    }

    let forced = bundle(&other, true);
    ok(&forced);
    assert!(String::from_utf8_lossy(&forced.stdout).contains("replaced"));
    for file in ["ca.pem", "worker-w1.pem", "worker-w1.key"] {
        assert!(
            same_bytes(&other.join(file), &out.join(file)),
            "{file} not replaced"
        );
    }
    #[cfg(unix)]
    assert_eq!(mode(&out.join("worker-w1.key")), 0o600);
}

#[test]
fn a_folder_with_the_ca_key_is_never_a_bundle() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = issued(tmp.path());
    let dir_s = dir.to_str().expect("utf-8");
    // Into the issuing folder itself.
    let run = cdn_certs(&["bundle", "--dir", dir_s, "--role", "worker", "--out", dir_s]);
    assert!(!run.status.success());
    assert!(stderr(&run).contains("itself"), "{}", stderr(&run));

    // Into a folder that already holds a ca.key, even with --force.
    let out = tmp.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    std::fs::write(out.join("ca.key"), "not really a key").expect("write");
    for force in [false, true] {
        let mut args = vec![
            "bundle",
            "--dir",
            dir_s,
            "--role",
            "worker",
            "--out",
            out.to_str().expect("utf-8"),
        ];
        if force {
            args.push("--force");
        }
        let run = cdn_certs(&args);
        assert!(!run.status.success());
        assert!(
            stderr(&run).contains("never hold the CA key"),
            "{}",
            stderr(&run)
        );
        assert_eq!(listing(&out), ["ca.key".to_string()].into_iter().collect());
    }
}

#[test]
fn ca_key_warning_speaks_up_only_when_the_ca_key_is_there() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = issued(tmp.path());
    let warning = cdn_certs::ca_key_warning(&dir).expect("a warning for a folder with ca.key");
    assert!(warning.contains("ca.key"), "{warning}");
    assert!(warning.contains("cdn-certs bundle"), "{warning}");

    let out = tmp.path().join("out");
    ok(&cdn_certs(&[
        "bundle",
        "--dir",
        dir.to_str().expect("utf-8"),
        "--role",
        "client",
        "--out",
        out.to_str().expect("utf-8"),
    ]));
    assert_eq!(cdn_certs::ca_key_warning(&out), None);
    assert_eq!(cdn_certs::ca_key_warning(&tmp.path().join("nowhere")), None);
}
