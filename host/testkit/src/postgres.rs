//! A real PostgreSQL for tests: `$DATABASE_URL` when set, otherwise a throwaway cluster made
//! with the machine's PostgreSQL binaries (`initdb` into a temporary folder, its own port on
//! 127.0.0.1, stopped by pid when the last test using it is done).
//!
//! Each test takes a database of its own ([`database`]), so tests in parallel never see each
//! other's rows.

use crate::net::free_tcp_port;
use crate::process::{run_bounded, Proc};
use crate::wait::eventually;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// The server tests share while at least one of them holds it.
static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());

/// A PostgreSQL server: one of `$DATABASE_URL`, or a cluster of our own.
pub struct Server {
    /// `postgres://USER@HOST:PORT` (no database), or `$DATABASE_URL` as given.
    admin_url: String,
    bin: Option<PathBuf>,
    local: Option<LocalCluster>,
}

/// A cluster started by this process: stopped (by pid) and deleted on drop.
struct LocalCluster {
    postmaster: Proc,
    _dir: tempfile::TempDir,
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        // Immediate shutdown (SIGQUIT) stops the backends too; Proc's drop kills what is left.
        if self.postmaster.is_running() {
            self.postmaster.signal("QUIT");
            let child = &mut self.postmaster.child;
            let _ = eventually(Duration::from_secs(10), Duration::from_millis(20), || {
                child.try_wait().ok().flatten()
            });
        }
    }
}

/// A database of one test's own on the shared server: `url` connects to it.
pub struct Database {
    pub url: String,
    name: String,
    server: Arc<Server>,
}

impl Database {
    /// Runs one SQL statement in this database with `psql` (what an operator, or something
    /// outside imagecdn, would do); its output, or its error.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        self.server.psql(&self.url, sql)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        // A throwaway cluster is deleted whole; on a server we were given, clean up after us.
        if self.server.local.is_none() {
            let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = self.server.psql(&self.server.admin_url, &sql);
        }
    }
}

/// A fresh, empty database for one test (starting the shared server if no test holds it).
pub fn database() -> Database {
    let server = shared();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "cdn_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    server
        .psql(&server.admin_url, &format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("creating the test database {name}: {e}"));
    let url = with_database(&server.admin_url, &name);
    Database { url, name, server }
}

fn shared() -> Arc<Server> {
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(server) = slot.upgrade() {
        return server;
    }
    let server = Arc::new(Server::start());
    *slot = Arc::downgrade(&server);
    server
}

/// `url` pointing at database `name` (its path replaced, its query kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let (scheme, rest) = base.split_once("://").unwrap_or(("postgres", base));
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    match query {
        Some(query) => format!("{scheme}://{authority}/{name}?{query}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

impl Server {
    fn start() -> Server {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            return Server {
                admin_url: url,
                bin: find_bin().ok(),
                local: None,
            };
        }
        let bin = find_bin().unwrap_or_else(|why| panic!("{why}"));
        let dir = tempfile::Builder::new()
            .prefix("cdn-pg-")
            .tempdir()
            .expect("a temporary folder for PostgreSQL");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("the PostgreSQL data folder");
        // PostgreSQL refuses to run as root: as root, its files and processes belong to the
        // `postgres` user.
        let user = run_as();
        if let Some((uid, gid)) = user {
            for path in [dir.path(), data.as_path()] {
                std::os::unix::fs::chown(path, Some(uid), Some(gid))
                    .expect("chown the PostgreSQL folder to postgres");
            }
        }
        let as_user = |program: &Path| {
            let mut command = Command::new(program);
            if let Some((uid, gid)) = user {
                use std::os::unix::process::CommandExt;
                command.uid(uid).gid(gid);
            }
            command
        };
        let mut initdb = as_user(&bin.join("initdb"));
        initdb.args(["-D", &data.display().to_string()]);
        initdb.args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"]);
        initdb.args(["--locale", "C"]);
        let ran = run_bounded(initdb, Duration::from_secs(60));
        assert_eq!(ran.code, Some(0), "initdb failed:\n{}", ran.stderr);
        let port = free_tcp_port();
        let mut postgres = as_user(&bin.join("postgres"));
        postgres.args(["-D", &data.display().to_string()]);
        postgres.args(["-p", &port.to_string()]);
        postgres.args(["-k", &dir.path().display().to_string()]);
        postgres.args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "max_connections=300",
        ]);
        let log = dir.path().join("postgres.log");
        std::fs::File::create(&log).expect("the PostgreSQL log");
        if let Some((uid, gid)) = user {
            let _ = std::os::unix::fs::chown(&log, Some(uid), Some(gid));
        }
        let postmaster = Proc::spawn("postgres", postgres, &log);
        let server = Server {
            admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            bin: Some(bin),
            local: Some(LocalCluster {
                postmaster,
                _dir: dir,
            }),
        };
        let ready = eventually(Duration::from_secs(30), Duration::from_millis(100), || {
            server.psql(&server.admin_url, "SELECT 1").ok()
        });
        if ready.is_none() {
            let log = server
                .local
                .as_ref()
                .map(|l| l.postmaster.log())
                .unwrap_or_default();
            panic!("PostgreSQL did not accept connections within 30 s; its log:\n{log}");
        }
        server
    }

    /// Runs one SQL statement with `psql` against `url`.
    fn psql(&self, url: &str, sql: &str) -> Result<String, String> {
        let program = match &self.bin {
            Some(bin) => bin.join("psql"),
            None => PathBuf::from("psql"),
        };
        let mut command = Command::new(program);
        command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql]);
        let ran = run_bounded(command, Duration::from_secs(30));
        if ran.code == Some(0) {
            Ok(ran.stdout)
        } else {
            Err(ran.stderr)
        }
    }
}

/// The folder of the PostgreSQL server binaries: `$PG_BIN`, `pg_config --bindir`, the newest
/// `/usr/lib/postgresql/*/bin`, or where `initdb` is on the PATH.
fn find_bin() -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && has_initdb(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_initdb(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .find(|dir| has_initdb(dir))
        .ok_or_else(|| {
            "PostgreSQL server binaries (initdb, postgres) not found: install them \
             (apt-get install postgresql), set PG_BIN to their folder, or set DATABASE_URL to a \
             server the tests may create databases on"
                .to_string()
        })
}

/// As root, the `postgres` user's (uid, gid) to run the server as; otherwise `None`.
fn run_as() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let entry = passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .unwrap_or_else(|| {
            panic!(
                "running as root, PostgreSQL needs a `postgres` user to run as (the \
                 postgresql package makes one), or set DATABASE_URL"
            )
        });
    let number = |s: &str| s.parse::<u32>().expect("a numeric id in /etc/passwd");
    Some((number(entry[2]), number(entry[3])))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn urls_get_the_test_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "t1"),
            "postgres://u:p@h:5/t1?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5", "t2"),
            "postgres://u@h:5/t2"
        );
    }
}
