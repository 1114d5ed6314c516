//! The built binaries as real processes, every one bounded in time and stopped by pid.

use crate::wait::eventually;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// The built binary `name` (`cdn-host`, `cdn`, `cdn-local`, `cdn-certs`), found beside the
/// running test executable (`target/<profile>/deps/..` → `target/<profile>/NAME`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build every binary first (`cargo build --release --workspace --bins`; \
         `cargo xtask test` does)",
        path.display()
    );
    path
}

/// A path as `&str` (test folders are UTF-8).
pub fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The finished result of a command.
#[derive(Debug)]
pub struct Ran {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
    /// How long it ran.
    pub took: Duration,
}

impl Ran {
    /// Asserts exit code 0 (showing both streams otherwise).
    pub fn ok(self) -> Ran {
        assert_eq!(
            self.code,
            Some(0),
            "stdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }
}

/// Runs `command` to completion (stdin closed, both outputs captured), killing it if it runs
/// past `bound`.
pub fn run_bounded(mut command: Command, bound: Duration) -> Ran {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    // Drain the pipes in threads so a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = eventually(bound, Duration::from_millis(20), || {
        child.try_wait().expect("try_wait")
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{command:?} ran past {bound:?}");
    };
    let stdout_bytes = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ran {
        code: status.code(),
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        stdout_bytes,
        took: started.elapsed(),
    }
}

/// A running process whose stderr goes to a log file (and stdout to a file, if asked); killed
/// (by pid) and reaped on drop.
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
    /// Where stdout goes, when it is kept.
    pub out: Option<PathBuf>,
    started: Instant,
}

impl Proc {
    /// Starts `command` with stdin closed, stdout discarded and stderr appended to `log` (so a
    /// restarted process keeps the earlier log).
    pub fn spawn(name: &str, command: Command, log: &Path) -> Proc {
        Self::start(name, command, log, None)
    }

    /// As [`Proc::spawn`], keeping stdout in the file `out` (read back by [`Proc::finish`]).
    pub fn spawn_keeping_stdout(name: &str, command: Command, log: &Path, out: &Path) -> Proc {
        Self::start(name, command, log, Some(out))
    }

    fn start(name: &str, mut command: Command, log: &Path, out: Option<&Path>) -> Proc {
        let file = std::fs::File::options()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let stdout = match out {
            Some(path) => Stdio::from(std::fs::File::create(path).expect("stdout file")),
            None => Stdio::null(),
        };
        let child = command
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        Proc {
            name: name.to_string(),
            child,
            log: log.to_path_buf(),
            out: out.map(Path::to_path_buf),
            started: Instant::now(),
        }
    }

    /// Waits (bounded by `within` from the start) for the process to exit and returns what it
    /// printed.
    pub fn finish(mut self, within: Duration) -> Ran {
        let left = within.saturating_sub(self.started.elapsed());
        let status = self.wait_exit(left);
        let stdout_bytes = self
            .out
            .as_ref()
            .and_then(|p| std::fs::read(p).ok())
            .unwrap_or_default();
        Ran {
            code: status.code(),
            stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
            stderr: self.log(),
            stdout_bytes,
            took: self.started.elapsed(),
        }
    }

    /// Fails the test (killing the process on drop) once `within` has passed since the start.
    pub fn check_time(&self, within: Duration) {
        if self.started.elapsed() > within {
            panic!(
                "{} ran past {within:?}; its log:\n{}",
                self.name,
                self.log()
            );
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The process's stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `signal` (`TERM`, `KILL`, `STOP`, `CONT`, ...) to the process.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let child = &mut self.child;
        eventually(within, Duration::from_millis(50), || {
            child.try_wait().expect("try_wait")
        })
        .unwrap_or_else(|| {
            panic!(
                "{} did not exit within {within:?}; its log:\n{}",
                self.name,
                self.log()
            )
        })
    }

    /// Waits (bounded) until the log contains `needle`.
    pub fn wait_log(&self, needle: &str, within: Duration) {
        eventually(within, Duration::from_millis(50), || {
            self.log().contains(needle).then_some(())
        })
        .unwrap_or_else(|| {
            panic!(
                "{} never logged {needle:?} within {within:?}; its log:\n{}",
                self.name,
                self.log()
            )
        })
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // A stopped process must be continued to die promptly of SIGKILL on some kernels.
            let _ = Command::new("kill")
                .args(["-CONT", &self.child.id().to_string()])
                .status();
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_past_its_bound_is_killed() {
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            run_bounded(sleep, Duration::from_millis(200))
        }));
        assert!(result.is_err(), "the bound must end the run");
    }

    #[test]
    fn outputs_and_code_are_captured() {
        let mut sh = Command::new("sh");
        sh.args(["-c", "echo out; echo err >&2; exit 3"]);
        let ran = run_bounded(sh, crate::BOUND);
        assert_eq!(ran.code, Some(3));
        assert_eq!(ran.stdout, "out\n");
        assert_eq!(ran.stderr, "err\n");
    }

    #[test]
    fn a_dropped_proc_is_killed_and_reaped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        let proc = Proc::spawn("sleep", sleep, &dir.path().join("log"));
        let pid = proc.pid();
        drop(proc);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} survived its guard"
        );
    }
}
