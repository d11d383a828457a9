//! The clap command tree and global options. Each subcommand's arguments live beside
//! its implementation in `cmd/<name>.rs`; this file only lists them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cmd;

#[derive(Debug, Parser)]
#[command(
    name = "kiln",
    about = "Build container images from Dockerfiles, cache every step, and run containers",
    version = env!("CARGO_PKG_VERSION"),
    propagate_version = true,
    disable_help_subcommand = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Root directory of kiln's store
    #[arg(
        long,
        global = true,
        env = "KILN_ROOT",
        default_value = "/var/lib/kiln"
    )]
    pub root: PathBuf,
    /// Log level: error, warn, info, debug or trace (or a tracing filter)
    #[arg(long, global = true, env = "KILN_LOG", default_value = "warn")]
    pub log_level: String,
    /// Container runtime for RUN steps and foreground `run`: kiln's own, or runc
    #[arg(
        long,
        global = true,
        env = "KILN_RUNTIME",
        value_enum,
        default_value = "native"
    )]
    pub runtime: RuntimeKind,
    /// Which daemon to use (--host, --tlsverify, ...); see `kiln daemon`
    #[command(flatten)]
    pub daemon: crate::client::HostArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeKind {
    Native,
    Runc,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show kiln's version information
    Version(cmd::version::VersionArgs),
    /// Run BuildKit's build checks on a Dockerfile
    Lint(cmd::lint::LintArgs),
    /// Inspect how kiln reads a Dockerfile (parse tree, build graph)
    Debug(cmd::debug::DebugArgs),
    /// List images
    Images(cmd::images::ImagesArgs),
    /// Give an image another name
    Tag(cmd::tag::TagArgs),
    /// Remove images
    Rmi(cmd::rmi::RmiArgs),
    /// Show detailed information about images as JSON
    Inspect(cmd::inspect::InspectArgs),
    /// Show the history of an image
    History(cmd::history::HistoryArgs),
    /// Save images to a tar archive (Docker and OCI format at once)
    Save(cmd::save::SaveArgs),
    /// Load images from a Docker or OCI archive or OCI layout
    Load(cmd::load::LoadArgs),
    /// Create an image from a root filesystem tarball
    Import(cmd::import::ImportArgs),
    /// Store usage, pruning and integrity checks
    System(cmd::system::SystemArgs),
    /// Remove build cache
    Prune(cmd::prune::PruneArgs),
    /// Download an image from a registry
    Pull(cmd::pull::PullArgs),
    /// Upload an image to a registry
    Push(cmd::push::PushArgs),
    /// Log in to a registry (saved in the Docker-compatible config)
    Login(cmd::login::LoginArgs),
    /// Forget the saved login for a registry
    Logout(cmd::logout::LogoutArgs),
    /// Build an image from a Dockerfile
    Build(Box<cmd::build::BuildArgs>),
    /// Run a command in a new container (in the foreground, or detached with -d)
    Run(cmd::run::RunArgs),
    /// Create a container (not started)
    Create(cmd::create::CreateArgs),
    /// Start stopped containers
    Start(cmd::start::StartArgs),
    /// Stop running containers (stop signal, then SIGKILL)
    Stop(cmd::stop::StopArgs),
    /// Restart containers
    Restart(cmd::restart::RestartArgs),
    /// Send a signal to running containers
    Kill(cmd::kill::KillArgs),
    /// Remove containers
    Rm(cmd::rm::RmArgs),
    /// List containers
    Ps(cmd::ps::PsArgs),
    /// Show a container's logs
    Logs(cmd::logs::LogsArgs),
    /// Run a command in a running container
    Exec(cmd::exec::ExecArgs),
    /// Wait for containers to stop and print their exit codes
    Wait(cmd::wait::WaitArgs),
    /// Rename a container
    Rename(cmd::rename::RenameArgs),
    /// Manage volumes
    Volume(cmd::volume::VolumeArgs),
    /// Manage containers (inspect, prune, and the top-level container commands)
    Container(cmd::container_inspect::ContainerArgs),
    /// Show a container's filesystem changes
    Diff(cmd::diff::DiffArgs),
    /// Create an image from a container's changes
    Commit(cmd::commit::CommitArgs),
    /// Copy files between a container and the host
    Cp(cmd::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(cmd::export::ExportArgs),
    /// Pause all processes of containers
    Pause(cmd::pause::PauseArgs),
    /// Unpause paused containers
    Unpause(cmd::unpause::UnpauseArgs),
    /// Show the processes of a container
    Top(cmd::top::TopArgs),
    /// Show containers' resource usage
    Stats(cmd::stats::StatsArgs),
    /// Follow a running container's output until it exits
    Attach(cmd::attach::AttachArgs),
    /// Show container events (live unless --until is given)
    Events(cmd::events::EventsArgs),
    /// Change containers' limits and restart policy
    Update(cmd::update::UpdateArgs),
    /// Manage networks (create, ls, inspect, rm, prune, connect, disconnect)
    Network(cmd::network::NetworkArgs),
    /// List a container's published ports
    Port(cmd::port::PortArgs),
    /// Run the build-cache service that kiln commands use when it runs
    Daemon(cmd::daemon::DaemonArgs),
    /// Show the build cache record by record: size, last use, shared with images or not
    Du(cmd::du::DuArgs),
}

pub fn init_logging(global: &GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&global.log_level).unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
