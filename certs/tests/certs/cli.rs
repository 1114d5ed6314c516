//! The `cdn-certs` binary: what `init` and `issue` write, file modes, and refusals.

use std::path::Path;
use std::process::{Command, Output};

fn cdn_certs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cdn-certs"))
        .args(args)
        .output()
        .expect("run cdn-certs")
}

fn uris(pem_path: &Path) -> Vec<String> {
    let pem = std::fs::read(pem_path).expect("read pem");
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).expect("pem");
    cdn_certs::uri_sans(&pem.contents)
}

#[test]
fn init_writes_every_identity_with_private_keys_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("certs");
    let dir_s = dir.to_str().unwrap();
    let out = cdn_certs(&[
        "init",
        "--dir",
        dir_s,
        "--workers",
        "w1,w2",
        "--clients",
        "c1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for stem in [
        "ca",
        "master",
        "worker",
        "client",
        "worker-w1",
        "worker-w2",
        "client-c1",
    ] {
        assert!(dir.join(format!("{stem}.pem")).is_file(), "{stem}.pem");
        let key = dir.join(format!("{stem}.key"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&key)
                .unwrap_or_else(|e| panic!("{stem}.key: {e}"))
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{stem}.key mode {mode:o}");
        }
    }
    assert_eq!(
        uris(&dir.join("worker-w2.pem")),
        ["spiffe://imagecdn/worker/w2"]
    );
    assert_eq!(
        uris(&dir.join("client.pem")),
        ["spiffe://imagecdn/client/default"]
    );
    assert_eq!(
        uris(&dir.join("master.pem")),
        ["spiffe://imagecdn/master/localhost"]
    );
}

#[test]
fn init_never_replaces_a_ca_without_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    assert!(cdn_certs(&["init", "--dir", dir]).status.success());
    let ca_before = std::fs::read(tmp.path().join("ca.key")).unwrap();

    let again = cdn_certs(&["init", "--dir", dir]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read(tmp.path().join("ca.key")).unwrap(),
        ca_before,
        "CA untouched"
    );

    assert!(cdn_certs(&["init", "--dir", dir, "--force"])
        .status
        .success());
    assert_ne!(
        std::fs::read(tmp.path().join("ca.key")).unwrap(),
        ca_before,
        "CA replaced"
    );
}

#[test]
fn issue_adds_one_from_the_existing_ca_and_refuses_bad_names() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let missing = cdn_certs(&["issue", "--dir", dir, "--role", "worker", "--name", "w3"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cdn-certs init"));

    assert!(cdn_certs(&["init", "--dir", dir]).status.success());
    let out = cdn_certs(&["issue", "--dir", dir, "--role", "worker", "--name", "w3"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        uris(&tmp.path().join("worker-w3.pem")),
        ["spiffe://imagecdn/worker/w3"]
    );
    // Signed by the CA in the folder.
    let ca = cdn_certs::Ca::load(tmp.path()).expect("ca");
    assert!(!ca.cert_pem().is_empty());

    for bad in ["../x", ".hidden", "a/b", ""] {
        let out = cdn_certs(&["issue", "--dir", dir, "--role", "worker", "--name", bad]);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid name"),
            "{bad:?}"
        );
    }
    let out = cdn_certs(&["issue", "--dir", dir, "--role", "admin", "--name", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown role"));
    let again = cdn_certs(&["issue", "--dir", dir, "--role", "worker", "--name", "w3"]);
    assert!(!again.status.success(), "re-issue without --force refused");

    let shown = cdn_certs(&["show", "--dir", dir]);
    assert!(shown.status.success());
    let listing = String::from_utf8_lossy(&shown.stdout);
    let w3 = listing
        .lines()
        .find(|l| l.starts_with("worker-w3.pem"))
        .unwrap_or_else(|| panic!("worker-w3.pem not listed:\n{listing}"));
    assert!(w3.contains("spiffe://imagecdn/worker/w3"), "{w3}");
    assert!(w3.ends_with(" ok"), "{w3}");
}

#[test]
fn show_flags_certificates_the_folder_ca_did_not_sign() {
    let tmp = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    cdn_certs::init(&cdn_certs::InitOptions::new(tmp.path())).expect("init");
    cdn_certs::init(&cdn_certs::InitOptions::new(other.path())).expect("init other");
    std::fs::copy(
        other.path().join("client.pem"),
        tmp.path().join("client-stranger.pem"),
    )
    .unwrap();
    let shown = cdn_certs(&["show", "--dir", tmp.path().to_str().unwrap()]);
    assert!(shown.status.success());
    let listing = String::from_utf8_lossy(&shown.stdout);
    let line = |file: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(file))
            .unwrap_or_else(|| panic!("{file} not listed:\n{listing}"))
            .to_string()
    };
    let stranger = line("client-stranger.pem");
    assert!(stranger.contains("NOT signed by ca.pem"), "{stranger}");
    assert!(stranger.contains("key missing"), "{stranger}");
    assert!(line("master.pem").ends_with(" ok"), "{listing}");
}

#[test]
fn days_sets_the_validity_of_issued_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    assert!(cdn_certs(&["init", "--dir", dir, "--days", "10"])
        .status
        .success());
    let pem = std::fs::read(tmp.path().join("worker.pem")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let cert = pem.parse_x509().unwrap();
    let left = cert.validity().time_to_expiration().expect("still valid");
    assert!(
        left > time::Duration::days(9) && left <= time::Duration::days(10),
        "{left}"
    );
}
