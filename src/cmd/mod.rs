//! One module per subcommand; `run` dispatches to them and returns the process exit code.

pub mod executor_config;
pub mod version;

pub mod debug;
pub mod lint;

pub mod format;
pub mod history;
pub mod images;
pub mod import;
pub mod inspect;
pub mod load;
pub mod prune;
pub mod rmi;
pub mod save;
pub mod store_open;
pub mod system;
pub mod tag;
pub mod template;
pub mod unpack;

pub mod image_source;
pub mod login;
pub mod logout;
pub mod pull;
pub mod push;
pub mod registry_opts;

pub mod build;
pub mod daemon;
pub mod du;
pub mod run;

pub mod attach;
pub mod commit;
pub mod container_fmt;
pub mod container_inspect;
pub mod container_opts;
pub mod container_run;
pub mod cp;
pub mod create;
pub mod diff;
pub mod events;
pub mod exec;
pub mod export;
pub mod isolation_opts;
pub mod kill;
pub mod log_opts;
pub mod logs;
pub mod network;
pub mod network_opts;
pub mod pause;
pub mod port;
pub mod ps;
pub mod rename;
pub mod restart;
pub mod rm;
pub mod start;
pub mod stats;
pub mod stop;
pub mod top;
pub mod unpause;
pub mod update;
pub mod volume;
pub mod wait;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<i32> {
    // Through the daemon when one serves this store; in-process (holding the store's
    // lock) otherwise.
    let _in_process = match crate::client::route(&cli)? {
        crate::client::Route::Done(code) => return Ok(code),
        crate::client::Route::InProcess(lock) => lock,
    };
    match cli.command {
        Command::Version(args) => version::run(&cli.global, args),
        Command::Lint(args) => lint::run(&cli.global, args),
        Command::Debug(args) => debug::run(&cli.global, args),
        Command::Images(args) => images::run(&cli.global, args),
        Command::Tag(args) => tag::run(&cli.global, args),
        Command::Rmi(args) => rmi::run(&cli.global, args),
        Command::Inspect(args) => inspect::run(&cli.global, args),
        Command::History(args) => history::run(&cli.global, args),
        Command::Save(args) => save::run(&cli.global, args),
        Command::Load(args) => load::run(&cli.global, args),
        Command::Import(args) => import::run(&cli.global, args),
        Command::System(args) => system::run(&cli.global, args),
        Command::Prune(args) => prune::run(&cli.global, args),
        Command::Pull(args) => pull::run(&cli.global, args),
        Command::Push(args) => push::run(&cli.global, args),
        Command::Login(args) => login::run(&cli.global, args),
        Command::Logout(args) => logout::run(&cli.global, args),
        Command::Build(args) => build::run(&cli.global, *args),
        Command::Run(args) => run::run(&cli.global, args),
        Command::Create(args) => create::run(&cli.global, args),
        Command::Start(args) => start::run(&cli.global, args),
        Command::Stop(args) => stop::run(&cli.global, args),
        Command::Restart(args) => restart::run(&cli.global, args),
        Command::Kill(args) => kill::run(&cli.global, args),
        Command::Rm(args) => rm::run(&cli.global, args),
        Command::Ps(args) => ps::run(&cli.global, args),
        Command::Logs(args) => logs::run(&cli.global, args),
        Command::Exec(args) => exec::run(&cli.global, args),
        Command::Wait(args) => wait::run(&cli.global, args),
        Command::Rename(args) => rename::run(&cli.global, args),
        Command::Volume(args) => volume::run(&cli.global, args),
        Command::Container(args) => container_inspect::run(&cli.global, args),
        Command::Diff(args) => diff::run(&cli.global, args),
        Command::Commit(args) => commit::run(&cli.global, args),
        Command::Cp(args) => cp::run(&cli.global, args),
        Command::Export(args) => export::run(&cli.global, args),
        Command::Pause(args) => pause::run(&cli.global, args),
        Command::Unpause(args) => unpause::run(&cli.global, args),
        Command::Top(args) => top::run(&cli.global, args),
        Command::Stats(args) => stats::run(&cli.global, args),
        Command::Attach(args) => attach::run(&cli.global, args),
        Command::Events(args) => events::run(&cli.global, args),
        Command::Update(args) => update::run(&cli.global, args),
        Command::Network(args) => network::run(&cli.global, args),
        Command::Port(args) => port::run(&cli.global, args),
        Command::Daemon(args) => daemon::run(&cli.global, args),
        Command::Du(args) => du::run(&cli.global, args),
    }
}
