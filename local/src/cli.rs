//! The command line: `setup`, `threads`, `processes` (and the hidden `__child` worker role).

use cdn_params::ParamArgs;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

const EXAMPLES: &str = "\
Examples:
  cdn-local setup                                  # sample JPEGs in /tmp/node_a and /tmp/node_b
  cdn-local threads /tmp/node_a /tmp/node_b        # thumbnails with one thread per CPU
  cdn-local processes -j 2 /tmp/node_a /tmp/node_b # the same with 2 worker processes
  ls -l /tmp/node_a/                               # img_100.jpg_thumb.jpg, ...
  cdn-local threads --force --width 128 --height 128 --fit cover /tmp/node_a
  cdn-local threads --json /tmp/node_a | jq .images_per_second

Exit status: 0 when every image was done or skipped, 1 when any image failed,
2 when the run could not start (bad flags, missing folder, unusable plugin).
Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=cdn_local=debug) for more.";

/// imagecdn on one machine: makes thumbnails of the images in some folders with a sandboxed
/// WebAssembly plugin, across threads or across processes.
#[derive(Debug, Parser)]
#[command(name = "cdn-local", version, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Make the sample folders: photographic-looking JPEGs img_100.jpg, img_200.jpg, ...
    ///
    /// The images are deterministic (same --seed, same bytes), so runs can be compared. Files
    /// of other names are left alone; an existing sample with identical bytes is not rewritten
    /// (so its thumbnail stays up to date), a different one is replaced.
    #[command(
        after_help = "Example:\n  cdn-local setup --dirs /tmp/node_a /tmp/node_b --count 10 --size 2000x1500"
    )]
    Setup(SetupArgs),

    /// Thumbnail every image in the folders with N threads sharing one compiled plugin.
    ///
    /// Each image gets a fresh sandboxed instance of the plugin; threads take the next image
    /// as soon as they are free. Results are written beside the sources as
    /// NAME_thumb.EXT (img_100.jpg -> img_100.jpg_thumb.jpg).
    #[command(after_help = RUN_HELP)]
    Threads(RunArgs),

    /// Thumbnail every image in the folders with N worker processes.
    ///
    /// The binary re-executes itself N times as workers; each loads the plugin once and is
    /// handed one image at a time. If a worker dies, its image is retried once by another.
    /// Same flags and outputs as `threads`.
    #[command(after_help = RUN_HELP)]
    Processes(RunArgs),

    /// Worker role of `processes` (internal): reads requests on stdin, answers on stdout.
    #[command(name = "__child", hide = true)]
    Child(ChildArgs),
}

const RUN_HELP: &str = "\
Which files: *.jpg, *.jpeg, *.png, *.webp, *.gif (any case) directly in each folder, never our
own outputs (*_thumb.*). A thumbnail newer than its source is skipped unless --force. Outputs are
written to a temporary file and renamed, so an interrupted run leaves no half-written thumbnail.
A bad image is reported with its error and the run goes on; the exit status is then 1.

Custom plugins: --plugin FILE.wasm runs any ABI v1 plugin instead of the built-in thumbnail
plugin (--plugin builtin:stamp runs the bundled example). The box flags are passed to it as
`--width W --height H --fit F --format F --quality Q`; for a plugin with other flags, give its
arguments with --arg instead (repeatable, e.g. --arg=--border --arg=8). With --arg the box flags
are not allowed and --format only names the output's extension.

Examples:
  cdn-local threads /tmp/node_a /tmp/node_b
  cdn-local processes -j 4 --force --format png /tmp/node_a
  cdn-local threads --plugin builtin:stamp --arg=--size --arg=200 /tmp/node_a
  cdn-local threads --json -q /tmp/node_a";

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// Folders to fill (created if missing).
    #[arg(long, num_args = 1.., value_name = "DIR", default_values = ["/tmp/node_a", "/tmp/node_b"])]
    pub dirs: Vec<PathBuf>,

    /// Images per folder: img_100.jpg, img_200.jpg, ... img_<COUNT*100>.jpg.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub count: u32,

    /// Size of each image in pixels, WIDTHxHEIGHT (default 3 megapixels).
    #[arg(long, default_value = "2000x1500", value_parser = parse_size)]
    pub size: (u32, u32),

    /// Seed of the image content: the same seed makes the same files.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// JPEG quality of the sample images (1-100).
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(1..=100))]
    pub quality: u8,
}

#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Folders whose images to thumbnail (not recursive).
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// How many threads (or processes) work at once [default: number of CPUs].
    #[arg(short = 'j', long = "jobs", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub jobs: Option<u32>,

    /// A plugin .wasm file (ABI v1) to use instead of the built-in thumbnail plugin; or
    /// builtin:NAME for a bundled one (builtin:thumbnail, builtin:stamp).
    #[arg(long, value_name = "FILE.wasm")]
    pub plugin: Option<String>,

    /// The thumbnail: box, fit, format (also the output file's extension: jpeg ->
    /// NAME_thumb.jpg), quality, largest source.
    #[command(flatten)]
    pub params: ParamArgs,

    /// The caps of one plugin call.
    #[command(flatten)]
    pub limits: LimitArgs,

    /// A raw argument for the plugin, instead of the box flags (repeatable, in order).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true,
          conflicts_with_all = ["width", "height", "fit", "quality", "max_pixels"])]
    pub args: Vec<String>,

    /// Redo thumbnails that already exist and are newer than their source.
    #[arg(long)]
    pub force: bool,

    /// Print the summary as JSON on stdout (for scripts and benchmarks).
    #[arg(long)]
    pub json: bool,

    /// No progress bar and no line per image (the summary is still printed).
    #[arg(short, long)]
    pub quiet: bool,
}

/// The caps of one plugin call (the worker's flags of the same names).
#[derive(Debug, Clone, Copy, Args)]
pub struct LimitArgs {
    /// Longest one plugin call may run (e.g. 500ms, 30s, 2m); a plugin still running then,
    /// computing or blocked in a host call, fails its image with time_limit.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_plugin_time)]
    pub plugin_time: Duration,

    /// Most memory one plugin call may use, in MiB.
    #[arg(long, default_value_t = 512, value_name = "MIB",
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub plugin_memory_mib: u64,
}

impl LimitArgs {
    /// The runtime's limits: these caps, the defaults for the rest.
    pub fn limits(&self) -> cdn_runtime::Limits {
        cdn_runtime::Limits {
            time: self.plugin_time,
            memory_bytes: (self.plugin_memory_mib << 20) as usize,
            ..cdn_runtime::Limits::default()
        }
    }

    /// The same flags, for a worker process's command line (read back exactly).
    pub fn to_args(self) -> Vec<String> {
        vec![
            "--plugin-time".to_string(),
            humantime::format_duration(self.plugin_time).to_string(),
            "--plugin-memory-mib".to_string(),
            self.plugin_memory_mib.to_string(),
        ]
    }
}

/// A humantime duration (`1s`, `500ms`, `2m 30s`), more than zero and at most a day.
fn parse_plugin_time(text: &str) -> Result<Duration, String> {
    let time = humantime::parse_duration(text).map_err(|e| format!("{e} (e.g. 500ms, 30s, 2m)"))?;
    if time.is_zero() || time > Duration::from_secs(24 * 3600) {
        return Err(format!("{text:?} is not between 1ns and 24h"));
    }
    Ok(time)
}

#[derive(Debug, Args)]
pub struct ChildArgs {
    /// `builtin:NAME` or a path to a .wasm file.
    #[arg(long)]
    pub plugin: String,
    /// The caps of one plugin call, as the parent was given them.
    #[command(flatten)]
    pub limits: LimitArgs,
    /// The plugin's arguments.
    #[arg(last = true, allow_hyphen_values = true)]
    pub plugin_args: Vec<String>,
}

impl RunArgs {
    /// The plugin's argv (without argv\[0\]): the raw `--arg`s if any, else the box flags.
    pub fn plugin_args(&self) -> Vec<String> {
        if !self.args.is_empty() {
            return self.args.clone();
        }
        self.params.params().to_args()
    }

    /// Worker count: `-j`, else the number of CPUs.
    pub fn jobs(&self) -> usize {
        match self.jobs {
            Some(n) => n as usize,
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Parses `WIDTHxHEIGHT` (e.g. `2000x1500`).
pub fn parse_size(text: &str) -> Result<(u32, u32), String> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT such as 2000x1500, got {text:?}"))?;
    let side = |s: &str| -> Result<u32, String> {
        match s.trim().parse::<u32>() {
            Ok(n) if (1..=20_000).contains(&n) => Ok(n),
            _ => Err(format!(
                "bad size {text:?}: each side must be 1-20000 pixels"
            )),
        }
    };
    Ok((side(w)?, side(h)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("2000x1500"), Ok((2000, 1500)));
        assert_eq!(parse_size("8X6"), Ok((8, 6)));
        assert!(parse_size("2000").is_err());
        assert!(parse_size("0x10").is_err());
        assert!(parse_size("axb").is_err());
    }

    fn run_args(argv: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from(argv).expect("valid command line");
        match cli.command {
            Command::Threads(args) | Command::Processes(args) => args,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn box_flags_become_plugin_args() {
        let args = run_args(&["cdn-local", "threads", "/tmp/x"]);
        assert_eq!(
            args.plugin_args(),
            [
                "--width",
                "256",
                "--height",
                "256",
                "--fit",
                "contain",
                "--format",
                "jpeg",
                "--quality",
                "80"
            ]
        );
        let args = run_args(&[
            "cdn-local",
            "processes",
            "--width",
            "100",
            "--fit",
            "cover",
            "--format",
            "png",
            "--max-pixels",
            "5",
            "/tmp/x",
        ]);
        assert_eq!(
            args.plugin_args(),
            [
                "--width",
                "100",
                "--height",
                "256",
                "--fit",
                "cover",
                "--format",
                "png",
                "--quality",
                "80",
                "--max-pixels",
                "5"
            ]
        );
        assert_eq!(args.params.format.extension(), "png");
    }

    #[test]
    fn plugin_limits() {
        let args = run_args(&["cdn-local", "threads", "/tmp/x"]);
        assert_eq!(args.limits.limits(), cdn_runtime::Limits::default());
        let args = run_args(&[
            "cdn-local",
            "processes",
            "--plugin-time",
            "1s 500ms",
            "--plugin-memory-mib",
            "64",
            "/tmp/x",
        ]);
        let limits = args.limits.limits();
        assert_eq!(limits.time, Duration::from_millis(1500));
        assert_eq!(limits.memory_bytes, 64 << 20);
        // The worker processes read back exactly what the parent was given.
        let mut child = vec![
            "cdn-local".to_string(),
            "__child".into(),
            "--plugin".into(),
            "x".into(),
        ];
        child.extend(args.limits.to_args());
        match Cli::try_parse_from(&child)
            .expect("child command line")
            .command
        {
            Command::Child(c) => assert_eq!(c.limits.limits(), limits),
            other => panic!("unexpected {other:?}"),
        }
        for bad in ["0s", "soon", "2days"] {
            assert!(
                Cli::try_parse_from(["cdn-local", "threads", "--plugin-time", bad, "/d"]).is_err(),
                "{bad}"
            );
        }
        assert!(
            Cli::try_parse_from(["cdn-local", "threads", "--plugin-memory-mib", "0", "/d"])
                .is_err()
        );
    }

    #[test]
    fn raw_args_replace_box_flags() {
        let args = run_args(&[
            "cdn-local",
            "threads",
            "--arg=--size",
            "--arg",
            "9",
            "/tmp/x",
        ]);
        assert_eq!(args.plugin_args(), ["--size", "9"]);
        assert!(
            Cli::try_parse_from(["cdn-local", "threads", "--arg=-x", "--width", "5", "/d"])
                .is_err()
        );
    }
}
