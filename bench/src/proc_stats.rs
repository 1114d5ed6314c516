//! What Linux says about a running process: peak resident memory and CPU time.

use anyhow::{Context, Result};

/// Peak resident set size (`VmHWM` in `/proc/PID/status`), in bytes.
pub fn peak_rss(pid: u32) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("{path} has no VmHWM line"))?;
    Ok(kib * 1024)
}

/// CPU time of a whole process (all threads), in seconds.
#[derive(Clone, Copy, Default)]
pub struct Cpu {
    pub user: f64,
    pub system: f64,
}

impl Cpu {
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }

    pub fn add(self, other: Cpu) -> Cpu {
        Cpu {
            user: self.user + other.user,
            system: self.system + other.system,
        }
    }
}

/// `utime` and `stime` of `/proc/PID/stat`.
pub fn cpu(pid: u32) -> Result<Cpu> {
    let path = format!("/proc/{pid}/stat");
    let stat = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .with_context(|| format!("{path} is not a stat line"))?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<f64> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .map(|t| t as f64 / USER_HZ)
            .with_context(|| format!("{path}: no field {}", i + 3))
    };
    Ok(Cpu {
        user: ticks(11)?,
        system: ticks(12)?,
    })
}

/// Linux reports CPU times in USER_HZ, which is 100 on every architecture it supports.
const USER_HZ: f64 = 100.0;

/// The whole machine's CPU time so far (the `cpu` line of `/proc/stat`): (busy, total) seconds
/// summed over all CPUs; idle and iowait are not busy.
pub fn machine() -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/stat").context("reading /proc/stat")?;
    let line = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .context("/proc/stat has no cpu line")?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    Ok(((total - idle) as f64 / USER_HZ, total as f64 / USER_HZ))
}

/// Mebibytes with one decimal.
pub fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// The machine's CPU time ([`machine`]) sampled every 10 ms on a thread of its own, so that the
/// share of busy CPU can be taken up to a moment known only afterwards (the last completion the
/// registry records), not up to when a poll noticed it.
pub struct MachineSampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<Vec<(i64, f64, f64)>>>,
}

/// A run that fails before [`MachineSampler::busy_until`] stops the sampling too.
impl Drop for MachineSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

impl MachineSampler {
    /// Takes the first sample now.
    pub fn start() -> Result<MachineSampler> {
        use std::sync::atomic::{AtomicBool, Ordering};
        let first = machine()?;
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut samples = vec![(crate::cluster::now_ms(), first.0, first.1)];
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(10));
                if let Ok((busy, total)) = machine() {
                    samples.push((crate::cluster::now_ms(), busy, total));
                }
            }
            samples
        });
        Ok(MachineSampler {
            stop,
            thread: Some(thread),
        })
    }

    /// The share of the machine's CPU time that was busy from the start to `until_ms` (wall
    /// clock, milliseconds; up to the first sample at or after it).
    pub fn busy_until(mut self, until_ms: i64) -> Result<f64> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let samples = self
            .thread
            .take()
            .context("the CPU sampler was already stopped")?
            .join()
            .map_err(|_| anyhow::anyhow!("the CPU sampler thread panicked"))?;
        let (Some(first), Some(last)) = (samples.first(), samples.last()) else {
            anyhow::bail!("no CPU samples");
        };
        let end = samples.iter().find(|s| s.0 >= until_ms).unwrap_or(last);
        Ok((end.1 - first.1) / (end.2 - first.2).max(1e-9))
    }
}
