//! `kiln run`: a minimal foreground run of an image — the process's output goes to the
//! terminal, its exit code becomes kiln's. The image's Entrypoint/Cmd combine with the
//! command line as Docker's do; 125/126/127 as Docker when the container cannot run.
//! Like Docker's, the container is on the default bridge unless `--network host|none`; the
//! kiln process holds its namespace for the run (`kiln_runtime::network::foreground`).
//! With `-d` or any runtime option (`--name`, `-v`, `--restart`, `-p`, …) the container runs
//! under kiln's runtime instead (`container_run.rs`).

use std::io::{Read, Write};

use anyhow::{bail, Context};
use clap::Args;
use kiln_cache::Store;
use kiln_executor::{
    ContainerSpec, Executor, ExecutorConfig, NetworkMode, OutputLine, Rootfs, RunOptions, Stdin,
    Stream,
};

use kiln_runtime::config::{command_line, merge_env};
use kiln_runtime::network::foreground::Foreground;

use crate::cli::GlobalArgs;
use crate::exit::KILN_ERROR;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Remove the container when it exits (the plain foreground path never keeps one)
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable: NAME=value, or NAME to pass the host's value
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// User: name, uid, name:group or uid:gid
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Override the image's entrypoint ("" clears it)
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Pass stdin to the container (streamed while it runs)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Give the container a pseudo-terminal (runs under kiln's runtime: raw mode, window
    /// size, detach with ctrl-p ctrl-q)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Network: bridge (the default), none, host, container:<name|id>, or a network's name
    #[arg(long)]
    pub network: Option<String>,
    /// Run in the background under kiln's runtime and print the container id
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Runtime options (name, volumes, restart policy, limits, ...): with any of them, or
    /// -d, the container runs under kiln's runtime (`kiln ps`, `logs`, ...)
    #[command(flatten)]
    pub container: Box<super::container_opts::ContainerFlags>,
    /// --pull, --platform and the registry options for pulling a missing image
    #[command(flatten)]
    pub source: super::image_source::ImageSourceArgs,
    /// The image to run
    pub image: String,
    /// Command and arguments (replace the image's Cmd)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

pub fn run(global: &GlobalArgs, args: RunArgs) -> anyhow::Result<i32> {
    super::container_opts::check_env_and_workdir(&args.env, args.workdir.as_deref())?;
    // User networks, container:<id> and published ports live in the runtime (a monitor
    // holds the namespace, names and the port proxy); the default bridge, host and none
    // are served here.
    let runtime_network = !matches!(
        args.network.as_deref(),
        None | Some("bridge" | "default" | "host" | "none")
    );
    if args.detach
        || args.tty
        || runtime_network
        || *args.container != super::container_opts::ContainerFlags::default()
    {
        let basics = super::container_opts::Basics {
            env: &args.env,
            workdir: args.workdir.as_deref(),
            user: args.user.as_deref(),
            entrypoint: args.entrypoint.as_deref(),
            interactive: args.interactive,
            tty: args.tty,
            network: args.network.as_deref().unwrap_or("bridge"),
            rm: args.rm,
            image: &args.image,
            command: &args.command,
        };
        return super::container_run::run(
            global,
            basics,
            &args.container,
            &args.source,
            args.detach,
        );
    }
    let store = std::sync::Arc::new(super::build::open_store_absolute(global)?);
    let image = super::image_source::ensure_image(&store, &args.image, &args.source)?;
    let config = store.read_config(&image.config_digest)?;
    let cc = config.config.clone().unwrap_or_default();
    let argv = command_line(
        cc.entrypoint.as_deref(),
        cc.cmd.as_deref(),
        args.entrypoint.as_deref(),
        &args.command,
    );
    if argv.is_empty() {
        bail!("no command specified: the image has no Entrypoint or Cmd; give one after the image name");
    }
    let network = match args.network.as_deref() {
        Some("host") => Network::Host,
        Some("none") => Network::None,
        None | Some("bridge" | "default") => Network::Bridge,
        Some(other) => bail!("--network {other}: not served by the foreground path"),
    };
    let lower: Vec<_> = store.image_lowerdirs(&image)?.into_iter().rev().collect();
    // Docker's kind of id: the hostname is its first 12 characters.
    let id = kiln_runtime::ids::new_id()?;
    let holder = format!("container:{id}");
    let top = kiln_cache::image::spec::chain_ids(&config.rootfs.diff_ids).pop();
    if let Some(t) = &top {
        store.hold_snapshot(&t.to_string(), &holder)?;
    }
    let exec_cfg = super::executor_config::executor_config(global, store.root().join("exec"))?;
    let result = run_container(&store, &args, &id, lower, argv, network, &cc, exec_cfg);
    if let Some(t) = &top {
        if let Err(e) = store.release_snapshot(&t.to_string(), &holder) {
            tracing::warn!("releasing the image snapshot: {e}");
        }
    }
    result
}

/// The foreground path's networks.
enum Network {
    Host,
    None,
    Bridge,
}

#[allow(clippy::too_many_arguments)]
fn run_container(
    store: &Store,
    args: &RunArgs,
    id: &str,
    lower: Vec<std::path::PathBuf>,
    argv: Vec<String>,
    network: Network,
    cc: &kiln_cache::image::spec::ContainerConfig,
    exec_cfg: ExecutorConfig,
) -> anyhow::Result<i32> {
    let parent = store.root().join("containers");
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    // Removed on drop, whatever happens: containers are not kept yet.
    let dir = tempfile::Builder::new()
        .prefix(&format!("{id}-"))
        .tempdir_in(&parent)
        .context("creating the container directory")?;
    let (upper, work, empty) = (
        dir.path().join("upper"),
        dir.path().join("work"),
        dir.path().join("empty"),
    );
    for d in [&upper, &work, &empty] {
        std::fs::create_dir(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let lower = if lower.is_empty() { vec![empty] } else { lower };
    let mut spec = ContainerSpec::new(id, Rootfs::Overlay { lower, upper, work }, argv);
    spec.process.env = merge_env(cc.env.as_deref().unwrap_or_default(), &args.env);
    spec.process.cwd = args
        .workdir
        .clone()
        .or_else(|| cc.working_dir.clone().filter(|w| !w.is_empty()));
    spec.process.user = args
        .user
        .clone()
        .or_else(|| cc.user.clone().filter(|u| !u.is_empty()));
    // Held until the container is done; dropping it removes the veth and namespace.
    let _bridge = match network {
        Network::Host => {
            spec.network = NetworkMode::Host;
            None
        }
        Network::None => {
            spec.network = NetworkMode::None;
            None
        }
        Network::Bridge => {
            let fg = Foreground::start(store.root(), id, dir.path())
                .context("connecting the container to the default bridge network")?;
            fg.apply(&mut spec);
            Some(fg)
        }
    };
    let stdin = if args.interactive {
        // Streamed as it comes (a pipe or a terminal's lines), EOF closes the container's.
        let (handle, stdin) = kiln_executor::stdin_stream();
        std::thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                match std::io::stdin().lock().read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if !handle.write(buf[..n].to_vec()) {
                            return;
                        }
                    }
                }
            }
            handle.close();
        });
        stdin
    } else {
        Stdin::Null
    };
    let exec = Executor::new(exec_cfg);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let outcome = rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<OutputLine>();
        let printer = tokio::spawn(async move {
            while let Some(l) = rx.recv().await {
                let nl: &[u8] = if l.partial { b"" } else { b"\n" };
                let _ = match l.stream {
                    Stream::Stdout => {
                        let mut o = std::io::stdout().lock();
                        o.write_all(&l.line)
                            .and_then(|_| o.write_all(nl))
                            .and_then(|_| o.flush())
                    }
                    Stream::Stderr => {
                        let mut o = std::io::stderr().lock();
                        o.write_all(&l.line).and_then(|_| o.write_all(nl))
                    }
                };
            }
        });
        let stop = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        let r = exec
            .run_until(
                &spec,
                RunOptions {
                    output: Some(tx),
                    stdin,
                },
                stop,
            )
            .await;
        let _ = printer.await;
        r
    });
    match outcome {
        Ok(o) => Ok(o.exit_code()),
        Err(e) => {
            eprintln!("kiln: error running container: {e}");
            let code = e.exit_code();
            Ok(if code == 0 { KILN_ERROR } else { code })
        }
    }
}
