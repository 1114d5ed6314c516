//! One module per command; [`run`] dispatches.

mod fetch;
mod list;
mod plugin;
mod query;
mod register;
mod retry;
mod stats;
pub mod url;
mod wait;

use crate::cli::{Cli, Command, PluginCommand};
use crate::exit::Exit;

/// Runs the command. `Ok` carries the exit code of a command that ran to its end (e.g. `wait`
/// timing out); `Err` is an error to print (its exit code from [`crate::exit::exit_for`]).
pub async fn run(cli: Cli) -> anyhow::Result<Exit> {
    let global = &cli.global;
    match cli.command {
        Command::Register(args) => register::run(global, args).await,
        Command::Query(args) => query::run(global, args).await,
        Command::Fetch(args) => fetch::run(global, args).await,
        Command::List(args) => list::run(global, args).await,
        Command::Wait(args) => wait::run(global, args).await,
        Command::Retry(args) => retry::run(global, args).await,
        Command::Plugin(PluginCommand::Add { plugin_name, file }) => {
            plugin::add(global, plugin_name, &file).await
        }
        Command::Plugin(PluginCommand::List(args)) => plugin::list(global, args.json).await,
        Command::Stats(args) => stats::run(global, args.json).await,
        Command::Url(args) => url::run(args),
    }
}
