//! `cdn register ID PATH` and `cdn register --dir DIR`.
//!
//! With `--dir`, small files travel together: up to [`GROUP_FILES`] files (and
//! [`GROUP_BYTES`] bytes) in one `batch` request, `--jobs` requests in flight, each file
//! answered and reported as if registered alone. A larger file goes on its own, and the
//! requests in flight carry at most [`IN_FLIGHT_BYTES`] between them: uploads share the link,
//! so sending fewer at once lands the first registrations (and the workers' first tasks)
//! sooner without slowing the whole.

use crate::cli::{Global, RegisterArgs};
use crate::connect::Master;
use crate::dir_scan::{self, Candidate};
use crate::exit::{refusal, Exit, Refused};
use crate::output;
use anyhow::Context;
use cdn_proto::{
    kind, parse_response, BatchEntry, BatchResponse, Params, ProtoError, RegisterResponse,
    RegisterStatus, Request, MAX_BATCH_REQUESTS,
};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Files per `batch` request of `--dir` (the master's cap on a batch).
const GROUP_FILES: usize = 32;
/// Bytes of files per `batch` request; a file this large or larger goes alone.
const GROUP_BYTES: u64 = 1 << 20;
/// Bytes of files in the requests in flight at once (a larger group still goes, alone). With
/// eight 1 MiB uploads at once, each arrives at an eighth of the link's speed, and the master
/// commits nothing until the first has arrived whole.
const IN_FLIGHT_BYTES: u64 = 4 << 20;

pub async fn run(global: &Global, args: RegisterArgs) -> anyhow::Result<Exit> {
    let params = args.params.params();
    match (args.dir, args.id, args.path) {
        (Some(dir), _, _) => {
            register_dir(global, &dir, args.plugin, params, args.jobs, args.json).await
        }
        (None, Some(id), Some(path)) => {
            register_one(global, id, &path, args.plugin, params, args.json).await
        }
        // clap requires ID and PATH unless --dir is given.
        _ => anyhow::bail!("give ID and PATH, or --dir DIR"),
    }
}

/// The line printed for a successful registration.
fn describe(id: &str, response: &RegisterResponse) -> String {
    match response.status {
        RegisterStatus::New => format!(
            "registered {id} ({} bytes, plugin {})",
            response.image.source.size, response.image.plugin.name
        ),
        RegisterStatus::AlreadyRegistered => {
            format!("{id}: already registered with the same bytes (nothing to do)")
        }
    }
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

async fn register_one(
    global: &Global,
    id: String,
    path: &Path,
    plugin: String,
    params: Params,
    json: bool,
) -> anyhow::Result<Exit> {
    let bytes = read(path)?;
    let request = Request::Register {
        id: id.clone(),
        plugin,
        params,
    };
    let (response, _) = Master::call_once::<RegisterResponse>(global, &request, bytes).await?;
    if json {
        output::json(&response)?;
    } else {
        output::line(&describe(&id, &response))?;
    }
    Ok(Exit::Success)
}

/// What became of one file of the folder.
#[derive(Debug)]
enum Outcome {
    Registered(Box<RegisterResponse>),
    /// Refused by the master, or a name that cannot be an id.
    Refused(Refused),
    /// The file could not be read.
    Unreadable(anyhow::Error),
}

/// The totals of a `--dir` run.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Summary {
    new: usize,
    already: usize,
    refused: usize,
    unreadable: usize,
}

impl Summary {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Registered(r) if r.status == RegisterStatus::New => self.new += 1,
            Outcome::Registered(_) => self.already += 1,
            Outcome::Refused(_) => self.refused += 1,
            Outcome::Unreadable(_) => {
                self.refused += 1;
                self.unreadable += 1;
            }
        }
    }

    /// `N new, M already registered, K refused` (K includes unreadable files).
    fn line(&self) -> String {
        format!(
            "{} new, {} already registered, {} refused",
            self.new, self.already, self.refused
        )
    }

    /// 1 if a file could not be read, else 3 if one was refused, else 0.
    fn exit(&self) -> Exit {
        if self.unreadable > 0 {
            Exit::Local
        } else if self.refused > 0 {
            Exit::Refused
        } else {
            Exit::Success
        }
    }
}

async fn register_dir(
    global: &Global,
    dir: &Path,
    plugin: String,
    params: Params,
    jobs: u16,
    json: bool,
) -> anyhow::Result<Exit> {
    let candidates = dir_scan::scan(dir)?;
    if candidates.is_empty() {
        eprintln!(
            "cdn: no images in {} (looked for {})",
            dir.display(),
            dir_scan::IMAGE_EXTENSIONS.join(", ")
        );
    }
    let master = Arc::new(Master::connect(global).await?);
    let progress = progress_bar(candidates.len() as u64);
    let mut results: Vec<(String, Outcome)> = Vec::with_capacity(candidates.len());
    let mut summary = Summary::default();
    let mut in_flight = JoinSet::new();
    let mut in_flight_bytes = 0;
    let mut queue = groups(candidates).into_iter().peekable();
    let finished: anyhow::Result<()> = async {
        loop {
            while in_flight.len() < usize::from(jobs) {
                let fits = queue.peek().is_some_and(|group| {
                    in_flight.is_empty() || in_flight_bytes + group.bytes <= IN_FLIGHT_BYTES
                });
                let Some(group) = queue.next_if(|_| fits) else {
                    break;
                };
                in_flight_bytes += group.bytes;
                let master = master.clone();
                let plugin = plugin.clone();
                in_flight.spawn(async move {
                    let bytes = group.bytes;
                    let outcomes = register_group(&master, group.files, plugin, params).await;
                    (bytes, outcomes)
                });
            }
            let Some(joined) = in_flight.join_next().await else {
                return Ok(());
            };
            // A panic in a task would be a bug; say so rather than unwinding.
            let (bytes, outcomes) = joined.context("a registration task failed")?;
            in_flight_bytes -= bytes;
            for (name, outcome) in outcomes? {
                summary.add(&outcome);
                progress.inc(1);
                progress.suspend(|| report(&name, &outcome, json))?;
                results.push((name, outcome));
            }
        }
    }
    .await;
    progress.finish_and_clear();
    // Closed whatever happened (see `Master::call_once`): the tasks holding it end first.
    in_flight.shutdown().await;
    if let Ok(master) = Arc::try_unwrap(master) {
        master.close().await;
    }
    finished?;
    if json {
        results.sort_by(|a, b| a.0.cmp(&b.0));
        let array: Vec<serde_json::Value> = results
            .iter()
            .map(|(name, outcome)| json_of(name, outcome))
            .collect::<anyhow::Result<_>>()?;
        output::json(&array)?;
        eprintln!("{}", summary.line());
    } else {
        output::line(&summary.line())?;
    }
    Ok(summary.exit())
}

/// Prints one file's outcome as it finishes: success on stdout (not with --json), failures on
/// stderr.
fn report(name: &str, outcome: &Outcome, json: bool) -> anyhow::Result<()> {
    match outcome {
        Outcome::Registered(response) if !json => output::line(&describe(name, response))?,
        Outcome::Registered(_) => {}
        Outcome::Refused(refused) => eprintln!("cdn: {name}: {refused}"),
        Outcome::Unreadable(error) => {
            eprintln!("cdn: {name}: {}", output::printable(&format!("{error:#}")))
        }
    }
    Ok(())
}

fn json_of(name: &str, outcome: &Outcome) -> anyhow::Result<serde_json::Value> {
    Ok(match outcome {
        Outcome::Registered(response) => {
            serde_json::to_value(response).context("cannot encode JSON")?
        }
        Outcome::Refused(Refused { kind, message }) => serde_json::json!({
            "id": name, "status": "refused", "error": {"kind": kind, "message": message}
        }),
        Outcome::Unreadable(error) => serde_json::json!({
            "id": name, "status": "unreadable", "error": {"kind": "io", "message": format!("{error:#}")}
        }),
    })
}

/// Files that travel in one request, and their bytes (by their size when grouped).
struct Group {
    files: Vec<Candidate>,
    bytes: u64,
}

/// The folder's files in groups of at most [`GROUP_FILES`] files and [`GROUP_BYTES`] bytes (by
/// their size now; a file that cannot be measured goes alone and says why when read).
fn groups(candidates: Vec<Candidate>) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for candidate in candidates {
        let size = std::fs::metadata(&candidate.path).map_or(GROUP_BYTES, |m| m.len());
        match groups.last_mut() {
            Some(group)
                if group.files.len() < GROUP_FILES.min(MAX_BATCH_REQUESTS)
                    && group.bytes + size < GROUP_BYTES =>
            {
                group.bytes += size;
                group.files.push(candidate);
            }
            _ => groups.push(Group {
                files: vec![candidate],
                bytes: size,
            }),
        }
    }
    groups
}

/// A file read and ready to send, or its outcome already decided here.
enum Prepared {
    Ready { id: String, bytes: Vec<u8> },
    Decided(String, Outcome),
}

/// Reads a group's files, all in one blocking task (not one hand-off per file).
async fn prepare_all(group: Vec<Candidate>) -> anyhow::Result<Vec<Prepared>> {
    tokio::task::spawn_blocking(move || group.into_iter().map(prepare).collect())
        .await
        .context("the task reading a group of files failed")
}

fn prepare(candidate: Candidate) -> Prepared {
    let Candidate { path, name } = candidate;
    let Some(id) = name.to_str().map(str::to_string) else {
        let shown = name.to_string_lossy().into_owned();
        let outcome = Outcome::Refused(Refused {
            kind: kind::INVALID_ID.into(),
            message: format!("file name {shown:?} is not valid UTF-8, so it cannot be an id"),
        });
        return Prepared::Decided(shown, outcome);
    };
    match read(&path) {
        Ok(bytes) => Prepared::Ready { id, bytes },
        Err(error) => Prepared::Decided(id, Outcome::Unreadable(error)),
    }
}

/// Registers a group of files: one `register` for a lone file, else one `batch`. `Err` only
/// for what stops the whole run (the connection is gone).
async fn register_group(
    master: &Master,
    group: Vec<Candidate>,
    plugin: String,
    params: Params,
) -> anyhow::Result<Vec<(String, Outcome)>> {
    let mut outcomes = Vec::with_capacity(group.len());
    let mut ids = Vec::new();
    let mut entries = Vec::new();
    let mut body = Vec::new();
    for prepared in prepare_all(group).await? {
        match prepared {
            Prepared::Decided(name, outcome) => outcomes.push((name, outcome)),
            Prepared::Ready { id, bytes } => {
                entries.push(BatchEntry {
                    request: Request::Register {
                        id: id.clone(),
                        plugin: plugin.clone(),
                        params,
                    },
                    body_len: bytes.len() as u64,
                });
                // The first file's bytes become the body as they are (a lone file is not
                // copied); the others are appended.
                if body.is_empty() {
                    body = bytes;
                } else {
                    body.extend_from_slice(&bytes);
                }
                ids.push(id);
            }
        }
    }
    if entries.len() == 1 {
        let entry = entries.remove(0);
        let id = ids.remove(0);
        let outcome = match master.call::<RegisterResponse>(&entry.request, body).await {
            Ok((response, _)) => Outcome::Registered(Box::new(response)),
            Err(error) => match refusal(&error) {
                Some(refused) => Outcome::Refused(refused.clone()),
                None => return Err(error),
            },
        };
        outcomes.push((id, outcome));
    } else if !entries.is_empty() {
        let request = Request::Batch { requests: entries };
        let response = match master.call::<BatchResponse>(&request, body).await {
            Ok((response, _)) => response,
            // Refused whole (the master busy, say): each file is refused for that reason.
            Err(error) => match refusal(&error) {
                Some(refused) => {
                    let refused = refused.clone();
                    outcomes.extend(
                        ids.into_iter()
                            .map(|id| (id, Outcome::Refused(refused.clone()))),
                    );
                    return Ok(outcomes);
                }
                None => return Err(error),
            },
        };
        anyhow::ensure!(
            response.answers.len() == ids.len(),
            "the master answered {} of a batch of {} registrations",
            response.answers.len(),
            ids.len()
        );
        for (id, answer) in ids.into_iter().zip(response.answers) {
            let outcome = match parse_response::<RegisterResponse>(&answer.header) {
                Ok(response) => Outcome::Registered(Box::new(response)),
                Err(ProtoError::Remote { kind, message }) => {
                    Outcome::Refused(Refused { kind, message })
                }
                Err(e) => {
                    return Err(anyhow::anyhow!(e)
                        .context(format!("the master's answer for {id} cannot be read")))
                }
            };
            outcomes.push((id, outcome));
        }
    }
    Ok(outcomes)
}

/// A progress bar on stderr, hidden when stderr is not a terminal.
fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} registered  {elapsed_precise}")
    {
        bar.set_style(style);
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use cdn_proto::{ImageView, PluginInfo, SourceView, Status};

    fn response(status: RegisterStatus) -> RegisterResponse {
        RegisterResponse {
            status,
            image: ImageView {
                id: "a.jpg".into(),
                status: Status::Pending,
                source: SourceView {
                    hash: cdn_proto::ContentHash::of(b"00"),
                    size: 1234,
                },
                params: Params::default(),
                plugin: PluginInfo {
                    name: "stamp".into(),
                    hash: cdn_proto::ContentHash::of(b"11"),
                },
                attempts: 0,
                last_error: None,
                lease: None,
                thumbnail: None,
                made_by: None,
                created_ms: 0,
                updated_ms: 0,
                finished_ms: None,
            },
        }
    }

    fn registered(status: RegisterStatus) -> Outcome {
        Outcome::Registered(Box::new(response(status)))
    }

    #[test]
    fn lines_for_new_and_repeated_registrations() {
        assert_eq!(
            describe("a.jpg", &response(RegisterStatus::New)),
            "registered a.jpg (1234 bytes, plugin stamp)"
        );
        assert_eq!(
            describe("a.jpg", &response(RegisterStatus::AlreadyRegistered)),
            "a.jpg: already registered with the same bytes (nothing to do)"
        );
    }

    #[test]
    fn summary_counts_and_exit_code() {
        let mut summary = Summary::default();
        assert_eq!(summary.exit(), Exit::Success);
        summary.add(&registered(RegisterStatus::New));
        summary.add(&registered(RegisterStatus::New));
        summary.add(&registered(RegisterStatus::AlreadyRegistered));
        assert_eq!(summary.exit(), Exit::Success);
        summary.add(&Outcome::Refused(Refused {
            kind: "conflict".into(),
            message: "different bytes".into(),
        }));
        assert_eq!(summary.line(), "2 new, 1 already registered, 1 refused");
        assert_eq!(summary.exit(), Exit::Refused);
        summary.add(&Outcome::Unreadable(anyhow::anyhow!("gone")));
        assert_eq!(summary.line(), "2 new, 1 already registered, 2 refused");
        assert_eq!(summary.exit(), Exit::Local);
    }

    #[test]
    fn json_of_a_refusal() {
        let value = json_of(
            "a b.jpg",
            &Outcome::Refused(Refused {
                kind: "invalid_id".into(),
                message: "bad".into(),
            }),
        )
        .unwrap();
        assert_eq!(
            value,
            serde_json::json!({"id": "a b.jpg", "status": "refused",
                               "error": {"kind": "invalid_id", "message": "bad"}})
        );
    }
}
