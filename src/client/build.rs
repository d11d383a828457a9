//! `kiln build` through the daemon: send the Dockerfile, learn which context files the
//! compiled build reads, send exactly those (as BuildKit's filesync does: no whole-context
//! tarball), and print the streamed progress with the in-process printers. Output, files
//! written and exit codes are the in-process build's.

use std::path::Path;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::CommandFactory;
use http_body_util::{BodyExt, StreamBody};
use kiln_daemon::api::{
    BuildRequest, BuildResult, Control, NamedContextSpec, Prepared, Secret, StreamLine,
};
use kiln_daemon::client::{Client, ClientError};
use kiln_frontend::compile::NamedContext;

use super::build_upload::{selection, write_tar, ChannelWriter};
use crate::cmd::build::{build_args, compat, finish, input, logs, secrets, BuildArgs};
use crate::progress::{printer, ProgressMode};

/// `docker build`'s exit code for a failed build.
const BUILD_FAILED: i32 = 1;

const LOST: &str = "the daemon ended the build stream without a result: it stopped or crashed during the build; run the build again (the steps that finished are cached)";

/// Build flags the typed API carries; a build given any other (--ssh, cache import/export,
/// --push, --on-error, --keep-intermediate, --runtime, ...) is forwarded whole to the
/// daemon as a command instead (docs/API.md says why for each).
const TYPED_FLAGS: &[&str] = &[
    "secrets",
    "outputs",
    "squash",
    "pull",
    "explain",
    "logs",
    "context",
    "tags",
    "file",
    "target",
    "build_args",
    "no_cache",
    "no_cache_filter",
    "progress",
    "labels",
    "iidfile",
    "metadata_file",
    "quiet",
    "platform",
    "jobs",
    "root",
    "log_level",
    "host",
    "build_contexts",
    "network",
    "add_hosts",
    "ulimits",
    "shm_size",
    "annotations",
    "load",
    "rm",
    "force_rm",
    "compress",
    "provenance",
    "sbom",
    "attest",
    "allow",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
];

/// Whether this build can use the typed build API.
pub fn typed(args: &BuildArgs) -> bool {
    // An image output that names or pushes goes to registries with the client's
    // credentials: forwarded.
    let registry_output = args.outputs.iter().any(|o| {
        o.split(',')
            .any(|f| f.starts_with("name=") || f.starts_with("push=") || f == "type=registry")
    });
    if registry_output {
        return false;
    }
    let Ok(matches) = crate::cli::Cli::command().try_get_matches_from(std::env::args_os()) else {
        return false;
    };
    let Some(m) = matches.subcommand_matches("build") else {
        return false;
    };
    m.ids().all(|id| {
        TYPED_FLAGS.contains(&id.as_str())
            || m.value_source(id.as_str()) != Some(clap::parser::ValueSource::CommandLine)
    })
}

pub fn run(rt: &tokio::runtime::Runtime, client: &Client, args: &BuildArgs) -> anyhow::Result<i32> {
    compat::check_attestations(&args.compat)?;
    compat::check_entitlements(&args.compat)?;
    let named = compat::named_contexts(&args.compat.build_contexts)?;
    let outputs = super::outputs::parse(&args.outputs)?;
    // A context or Dockerfile on stdin is read here, like any other, and its selected
    // files uploaded.
    let input = input::read_input(&args.context, args.file.as_deref(), &std::env::temp_dir())?;
    let dockerfile = String::from_utf8(input.dockerfile.clone())
        .map_err(|_| anyhow!("the Dockerfile {} is not UTF-8 text", input.dockerfile_name))?;
    let resolved_args = build_args(&args.build_args);
    let mut wire_secrets = Vec::new();
    for s in &args.secrets {
        let (id, value) = secrets::read_secret(s)?;
        wire_secrets.push(Secret {
            id,
            value: value.bytes().to_vec(),
        });
    }
    let req = BuildRequest {
        dockerfile_name: input.dockerfile_name.clone(),
        dockerfile,
        ignore: input.ignore.clone(),
        source_date_epoch: finish::source_date_epoch(&resolved_args)?,
        build_args: resolved_args,
        target: args.target.clone(),
        tags: args.tags.clone(),
        labels: args.labels.clone(),
        no_cache: args.no_cache,
        no_cache_filter: args.no_cache_filter.clone(),
        platform: args.platform.clone(),
        secrets: wire_secrets,
        squash: args.squash,
        pull: args.pull,
        outputs: args.outputs.clone(),
        explain: args.explain,
        identity: logs::identity(args),
        named_contexts: named
            .compile
            .iter()
            .map(|(name, c)| {
                let spec = match c {
                    NamedContext::Local { exclude } => NamedContextSpec::Local {
                        exclude: exclude.clone(),
                    },
                    NamedContext::Image(r) => NamedContextSpec::Image {
                        reference: r.clone(),
                    },
                };
                (name.clone(), spec)
            })
            .collect(),
        network: args.compat.network.clone(),
        add_hosts: args.compat.add_hosts.clone(),
        ulimits: args.compat.ulimits.clone(),
        shm_size: args.compat.shm_size.clone(),
        annotations: args.compat.annotations.clone(),
        load: args.compat.load,
    };
    let by_source = req.uploads_by_source();
    let prepared: Prepared = rt
        .block_on(client.post_json("/v1/builds", &req))
        .map_err(super::api_error)?;
    let (id, warnings, sources) = match prepared {
        Prepared::Failed { stderr, exit_code } => {
            eprintln!("{stderr}");
            return Ok(exit_code);
        }
        Prepared::Ready {
            id,
            warnings,
            sources,
        } => (id, warnings, sources),
    };
    let quiet = args.quiet || args.progress == ProgressMode::Quiet;
    if !quiet {
        for w in &warnings {
            eprintln!("WARNING: {w}");
        }
    }
    let mut dirs = named.dirs.clone();
    dirs.insert("context".to_string(), input.context.clone());
    let files = selection(&dirs, &sources, by_source)?;
    tracing::debug!(
        files = files.iter().map(|f| f.entries.len()).sum::<usize>(),
        "sending the selected context files"
    );
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let uploader = std::thread::spawn(move || {
        write_tar(
            &files,
            ChannelWriter {
                tx,
                buf: Vec::new(),
            },
        )
    });
    let frames = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|item: Result<Bytes, std::io::Error>| (item.map(hyper::body::Frame::data), rx))
    });
    let body = BodyExt::boxed(StreamBody::new(frames));
    let mode = if quiet {
        ProgressMode::Quiet
    } else {
        args.progress
    };
    // `--logs DIR` is a directory on the client: written here from the streamed events.
    let mut own_logs = match &args.logs {
        Some(d) => Some(logs::StepLogs::new(Path::new("."), Some(d))?),
        None => None,
    };
    let mut logs_dir = own_logs.as_ref().map(|l| l.dir().display().to_string());
    let last = rt.block_on(async {
        let mut lines = client
            .post_stream(&format!("/v1/builds/{id}/solve"), body)
            .await
            .map_err(super::api_error)?;
        let mut print = printer(mode);
        let last = loop {
            let line = tokio::select! {
                l = lines.next() => match l {
                    Err(ClientError::Stream(e)) => bail!("{LOST}: {e}"),
                    other => other?,
                },
                _ = tokio::signal::ctrl_c() => {
                    // Hanging up cancels the build in the daemon, as Ctrl-C does in-process.
                    print.finish();
                    eprintln!("ERROR: failed to solve: build cancelled");
                    return Ok(Control::Exit { exit_code: BUILD_FAILED, error: None });
                }
            };
            match line {
                Some(StreamLine::Event(ev)) => {
                    if let Some(l) = own_logs.as_mut() {
                        l.event(&ev);
                    }
                    print.event(&ev)
                }
                Some(StreamLine::Control(Control::Stderr { text })) => eprintln!("{text}"),
                Some(StreamLine::Control(Control::Logs { dir })) => {
                    logs_dir.get_or_insert(dir);
                }
                Some(StreamLine::Control(last)) => break last,
                None => bail!("{LOST}"),
            }
        };
        print.finish();
        Ok::<_, anyhow::Error>(last)
    })?;
    match uploader.join() {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("internal error: the context upload thread panicked"),
    }
    drop(own_logs);
    match last {
        Control::Result { result } => {
            for &n in &result.outputs {
                let spec = outputs.get(n).with_context(|| {
                    format!("internal error: the daemon wrote output {n}, which was not asked for")
                })?;
                super::outputs::fetch(rt, client, &id, n, spec)?;
            }
            report_result(args, quiet, &result, logs_dir.as_deref())
        }
        Control::Exit { exit_code, error } => {
            if let Some(e) = error {
                return Err(super::api_error(kiln_daemon::client::ClientError::Api {
                    status: hyper::StatusCode::INTERNAL_SERVER_ERROR,
                    body: e,
                }))
                .map(|()| exit_code);
            }
            if let Some(dir) = logs_dir.filter(|_| !quiet) {
                eprintln!("full step logs: {dir}");
            }
            Ok(exit_code)
        }
        Control::Stderr { .. } | Control::Logs { .. } => {
            bail!("internal error: a stderr or logs line ended the build stream")
        }
    }
}

/// What the in-process build does after writing the image: id files and the summary.
fn report_result(
    args: &BuildArgs,
    quiet: bool,
    r: &BuildResult,
    logs_dir: Option<&str>,
) -> anyhow::Result<i32> {
    if let Some(f) = &args.iidfile {
        std::fs::write(f, &r.image_id)
            .with_context(|| format!("writing --iidfile {}", f.display()))?;
    }
    if let Some(f) = &args.metadata_file {
        let mut meta = serde_json::json!({
            "containerimage.digest": r.manifest_digest,
            "containerimage.config.digest": r.image_id,
        });
        if !r.tags.is_empty() {
            meta["image.name"] = serde_json::Value::String(r.tags.join(","));
        }
        std::fs::write(f, serde_json::to_vec_pretty(&meta)?)
            .with_context(|| format!("writing --metadata-file {}", f.display()))?;
    }
    if quiet {
        println!("{}", r.image_id);
    } else if args.progress != ProgressMode::Rawjson {
        eprintln!(
            "writing image {} done ({} steps ran, {} cached, {:.1}s)",
            r.image_id, r.steps_ran, r.steps_cached, r.seconds
        );
        for n in &r.tags {
            eprintln!("naming to {n} done");
        }
        // A fully cached build wrote no step log: there is nothing to point at.
        if let Some(dir) = logs_dir.filter(|_| r.steps_ran > 0) {
            eprintln!("full step logs: {dir}");
        }
    }
    Ok(0)
}
