//! The command line (clap derive).

use crate::exit::EXIT_CODES_HELP;
use cdn_common::{MasterList, MasterListError};
use cdn_params::ParamArgs;
use cdn_proto::{Status, DEFAULT_PLUGIN};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

const MAIN_EXAMPLES: &str = "\
Examples:
  cdn register cat.jpg ./photos/cat.jpg
  cdn register --dir ./photos --width 128 --height 128 --fit cover
  cdn wait cat.jpg --timeout 2m
  cdn query cat.jpg
  cdn fetch cat.jpg -o cat_thumb.jpg
  cdn list --status failed
  cdn plugin add stamp stamp.wasm && cdn register dog.jpg dog.jpg --plugin stamp
  cdn --master cdn.example.org:4433 --certs /etc/imagecdn/certs --name alice stats
  CDN_MASTER=10.0.0.1:4433,10.0.0.2:4433 cdn list

Certificates: the folder (--certs) must hold ca.pem and client.pem/client.key
(or client-NAME.pem/.key with --name NAME), as made by `cdn-certs init`.
Logs: RUST_LOG=debug cdn ... (default warn), on stderr.";

/// The imagecdn client: registers images with the master and fetches their thumbnails.
#[derive(Debug, Parser)]
#[command(name = "cdn", version, after_help = format!("{MAIN_EXAMPLES}\n\n{EXIT_CODES_HELP}"))]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command takes (before or after the command name).
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The master's address (QUIC over UDP), or several, comma separated: the first that
    /// answers is used (a master that is down costs half a second, not the connect timeout),
    /// and `wait` moves to the next when its connection is lost.
    #[arg(
        long,
        global = true,
        env = "CDN_MASTER",
        hide_env_values = true,
        default_value = "127.0.0.1:4433",
        value_name = "HOST:PORT[,HOST:PORT...]"
    )]
    pub master: String,
    /// The certificate folder made by `cdn-certs init` (ca.pem, client.pem, client.key).
    #[arg(
        long,
        global = true,
        env = "CDN_CERTS",
        hide_env_values = true,
        default_value = "./certs",
        value_name = "DIR"
    )]
    pub certs: PathBuf,
    /// Use the named client identity client-NAME.pem/.key (default: client.pem/.key).
    #[arg(long, global = true, value_name = "NAME")]
    pub name: Option<String>,
    /// Give up connecting to the master after this long (e.g. 500ms, 10s, 1m).
    #[arg(
        long,
        global = true,
        default_value = "10s",
        value_parser = humantime::parse_duration,
        value_name = "DURATION"
    )]
    pub connect_timeout: Duration,
}

impl Global {
    /// `--master` as a list. Checked here rather than by clap, so that a bad address exits 1
    /// with `cdn: ...`, as an unreachable one does.
    pub fn masters(&self) -> Result<MasterList, MasterListError> {
        self.master.parse()
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register an image (or every image of a folder) for thumbnailing.
    #[command(after_help = REGISTER_AFTER_HELP)]
    Register(RegisterArgs),
    /// Show everything the master knows about an image, as JSON.
    #[command(after_help = "Example:\n  cdn query cat.jpg | jq -r .status")]
    Query(QueryArgs),
    /// Download the thumbnail of a finished image.
    #[command(after_help = FETCH_AFTER_HELP)]
    Fetch(FetchArgs),
    /// List the registered images, as a table or JSON.
    #[command(after_help = LIST_AFTER_HELP)]
    List(ListArgs),
    /// Wait until images are done or failed.
    #[command(after_help = WAIT_AFTER_HELP)]
    Wait(WaitArgs),
    /// Put failed images back in the queue, with their attempts reset.
    #[command(after_help = RETRY_AFTER_HELP)]
    Retry(RetryArgs),
    /// Add or list the master's plugins.
    #[command(subcommand, after_help = PLUGIN_AFTER_HELP)]
    Plugin(PluginCommand),
    /// Show how many images are in each status, and how many workers are connected.
    #[command(after_help = STATS_AFTER_HELP)]
    Stats(JsonArg),
    /// Print a signed URL of another size of an image, for the master's HTTP side.
    #[command(
        after_help = "Example:\n  cdn url cat.jpg --width 128 --height 128 --fit cover --url-key-file url.key --base http://127.0.0.1:8080"
    )]
    Url(crate::commands::url::UrlArgs),
}

const REGISTER_AFTER_HELP: &str = "\
Examples:
  cdn register cat.jpg ./photos/cat.jpg
  cdn register cat-small.jpg ./photos/cat.jpg --width 64 --height 64 --format png
  cdn register --dir ./photos --plugin stamp

Output: `registered ID (N bytes, plugin NAME)`, or
`ID: already registered with the same bytes (nothing to do)`; --json prints the
master's response instead. Registering an id again with different bytes, plugin or
parameters is a conflict (exit 3).

With --dir: every regular file directly in DIR ending in .jpg, .jpeg, .png or .webp
(any case) is registered under its file name, several at once; hidden files and
`*_thumb.*` outputs of the local runners are skipped. One line per file as it
finishes (refusals on stderr as `cdn: FILE: KIND: MESSAGE`), then the summary
`N new, M already registered, K refused` (K counts files the master refused, or
whose name is not a valid id, or that could not be read). Exit 3 if any file was
refused, 1 if one could not be read.";

const FETCH_AFTER_HELP: &str = "\
Examples:
  cdn fetch cat.jpg -o cat_thumb.jpg
  cdn fetch cat.jpg -o - > cat_thumb.jpg

Writes FILE atomically (a temporary file in the same folder, then renamed) and prints
`wrote FILE (WxH FORMAT, N bytes)` on stderr. An image that is not done yet is
refused by the master with `not_done` (exit 3).";

const LIST_AFTER_HELP: &str = "\
Examples:
  cdn list
  cdn list --status failed --json

Columns: ID, STATUS, SOURCE (bytes), THUMB (WxH, or -), ATTEMPTS, WORKER (the
lease holder, or the worker that made the thumbnail), ERROR (the last error).";

const WAIT_AFTER_HELP: &str = "\
Examples:
  cdn wait cat.jpg dog.jpg --timeout 2m
  cdn wait cat.jpg && cdn fetch cat.jpg -o cat_thumb.jpg

Prints `ID STATUS` (done or failed) for each id as it finishes. Exit 0 when all are
done, 5 when all finished but one failed, 4 on timeout (the unfinished ids are
printed on stderr), 3 if an id is unknown to the master.";

const RETRY_AFTER_HELP: &str = "\
Examples:
  cdn retry cat.jpg dog.jpg
  cdn retry --failed

Prints `retried ID` for each image put back to pending; an id that is not failed
is reported on stderr (`cdn: ID: not retried: STATUS`) and makes the exit code 3.";

const PLUGIN_AFTER_HELP: &str = "\
Examples:
  cdn plugin add stamp target/plugins/stamp.wasm
  cdn plugin list

A plugin is named by the SHA-256 of its bytes; workers fetch it from the master
the first time a task names it.";

const STATS_AFTER_HELP: &str = "\
Output:
  pending  N
  leased   N
  done     N
  failed   N
  workers  N (seen in the last S s)";

/// `cdn register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The image id (1-128 characters of A-Z a-z 0-9 . _ -, not starting with '.').
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    pub id: Option<String>,
    /// The image file to upload.
    #[arg(required_unless_present = "dir", conflicts_with = "dir")]
    pub path: Option<PathBuf>,
    /// Register every image directly in this folder, each under its file name.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// With --dir: how many registrations are in flight at once.
    #[arg(short = 'j', long, default_value_t = 8, value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,
    /// The plugin that makes the thumbnail (added with `cdn plugin add`).
    #[arg(long, default_value = DEFAULT_PLUGIN, value_name = "NAME")]
    pub plugin: String,
    #[command(flatten)]
    pub params: ParamArgs,
    /// Print the master's response as JSON (with --dir: a JSON array, one element per file).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatusArg {
    Pending,
    Leased,
    Done,
    Failed,
}

impl From<StatusArg> for Status {
    fn from(status: StatusArg) -> Status {
        match status {
            StatusArg::Pending => Status::Pending,
            StatusArg::Leased => Status::Leased,
            StatusArg::Done => Status::Done,
            StatusArg::Failed => Status::Failed,
        }
    }
}

/// `cdn query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The image id.
    pub id: String,
}

/// `cdn fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// The image id.
    pub id: String,
    /// Where to write the thumbnail (`-` for stdout).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
}

/// `cdn list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only images in this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusArg>,
    /// Images per request (the master's default page is 1000); every page is fetched.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub page: Option<u32>,
    /// Print the master's response as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `cdn wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The image ids to wait for.
    #[arg(required = true, value_name = "ID")]
    pub ids: Vec<String>,
    /// Give up after this long (exit 4).
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration,
          value_name = "DURATION")]
    pub timeout: Duration,
    /// How often to ask the master.
    #[arg(long, default_value = "200ms", value_parser = humantime::parse_duration,
          value_name = "DURATION")]
    pub interval: Duration,
}

/// `cdn retry`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The failed images to re-queue.
    #[arg(value_name = "ID", required_unless_present = "failed")]
    pub ids: Vec<String>,
    /// Re-queue every failed image.
    #[arg(long)]
    pub failed: bool,
    /// Print the master's response as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cdn plugin ...`.
#[derive(Debug, Subcommand)]
pub enum PluginCommand {
    /// Upload a plugin (a wasm32-wasip1 command module) under a name; prints `plugin NAME = HASH`.
    #[command(after_help = "Example:\n  cdn plugin add stamp target/plugins/stamp.wasm")]
    Add {
        /// The plugin's name (what `cdn register --plugin NAME` uses).
        #[arg(value_name = "NAME")]
        plugin_name: String,
        /// The .wasm file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// List the master's plugins (NAME, HASH).
    List(JsonArg),
}

/// Commands whose only flag is `--json`.
#[derive(Debug, Args)]
pub struct JsonArg {
    /// Print the master's response as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn help_lists_the_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains(EXIT_CODES_HELP), "{help}");
    }

    #[test]
    fn defaults_are_the_design_defaults() {
        let cli = Cli::try_parse_from(["cdn", "register", "a.jpg", "a.jpg"]).unwrap();
        assert_eq!(cli.global.master, "127.0.0.1:4433");
        assert_eq!(cli.global.connect_timeout, Duration::from_secs(10));
        let Command::Register(args) = cli.command else {
            panic!("not register")
        };
        assert_eq!(args.params.params(), cdn_proto::Params::default());
        assert_eq!(args.plugin, "thumbnail");
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let cli =
            Cli::try_parse_from(["cdn", "list", "--master", "h:1", "--connect-timeout", "2s"])
                .unwrap();
        assert_eq!(cli.global.master, "h:1");
        assert_eq!(cli.global.connect_timeout, Duration::from_secs(2));
        let cli = Cli::try_parse_from(["cdn", "--name", "bob", "stats"]).unwrap();
        assert_eq!(cli.global.name.as_deref(), Some("bob"));
    }

    #[test]
    fn master_takes_a_list_and_refuses_a_bad_one() {
        let cli = Cli::try_parse_from(["cdn", "stats", "--master", "a:1, b:2"]).unwrap();
        let masters = cli.global.masters().unwrap();
        assert_eq!(masters.iter().collect::<Vec<_>>(), ["a:1", "b:2"]);
        for bad in ["a:1,", "a:1,b", ""] {
            let cli = Cli::try_parse_from(["cdn", "stats", "--master", bad]).unwrap();
            let err = cli.global.masters().unwrap_err();
            assert!(err.to_string().contains("master address"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn register_takes_id_and_path_or_dir() {
        assert!(Cli::try_parse_from(["cdn", "register", "--dir", "x"]).is_ok());
        assert!(Cli::try_parse_from(["cdn", "register", "a", "b", "--dir", "x"]).is_err());
        assert!(Cli::try_parse_from(["cdn", "register", "a"]).is_err());
        assert!(Cli::try_parse_from(["cdn", "register"]).is_err());
        assert!(Cli::try_parse_from(["cdn", "register", "a", "b", "--quality", "0"]).is_err());
    }
}
