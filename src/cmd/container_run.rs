//! `kiln run` through the runtime: with `-d` (print the id, the container runs on under its
//! monitor) or with any runtime-only flag (`--name`, `-v`, `--restart`, …; attached: its
//! output streams here, signals are proxied, kiln exits with its code).

use kiln_runtime::logs::LogFilter;
use kiln_runtime::record::RecordError;
use kiln_runtime::{lifecycle, sigproxy, LifecycleError};
use std::time::SystemTime;

use super::container_opts::{kiln_binary, open_store, Basics, ContainerFlags};
use super::image_source::{ensure_image, ImageSourceArgs};
use crate::cli::GlobalArgs;

pub fn run(
    global: &GlobalArgs,
    basics: Basics<'_>,
    flags: &ContainerFlags,
    source: &ImageSourceArgs,
    detach: bool,
) -> anyhow::Result<i32> {
    let store = std::sync::Arc::new(open_store(global)?);
    let mut req = flags.to_request(basics)?;
    ensure_image(&store, basics.image, source)?;
    // Attached --rm: kiln removes the container after reading its exit code, so the
    // monitor must not remove it first.
    let remove_after = !detach && basics.rm;
    if remove_after {
        req.config.auto_remove = false;
    }
    let rec = super::create::create_with(&store, req, flags.cidfile.as_deref())?;
    let kiln = kiln_binary()?;
    if detach {
        return match lifecycle::start(&store, &kiln, &rec.id) {
            Ok(_) => {
                println!("{}", rec.id);
                Ok(0)
            }
            Err(e) => Ok(start_failed(&store, &rec.id, &e, basics.rm)),
        };
    }
    // Without a log (`--log-driver none`) the output comes through the monitor's attach
    // socket, as for `-i`/`-t`.
    if basics.interactive || basics.tty || !rec.config.log.driver.keeps_file() {
        return interactive(&store, &kiln, &rec.id, basics, flags, remove_after);
    }
    sigproxy::start(store.root().to_path_buf(), rec.id.clone())?;
    let from = LogFilter {
        since: Some(SystemTime::now()),
        ..Default::default()
    };
    if let Err(e) = lifecycle::start(&store, &kiln, &rec.id) {
        return Ok(start_failed(&store, &rec.id, &e, remove_after));
    }
    super::logs::stream(&store, &rec.id, &from, true, false)?;
    let code = lifecycle::wait(&store, &rec.id)?;
    if remove_after {
        lifecycle::remove(&store, &rec.id, true, true)?;
    }
    Ok(code)
}

/// `run -i`/`-t` in the foreground: start, attach through the monitor (replaying what the
/// container printed before we connected), exit with its code or 0 when detached.
fn interactive(
    store: &kiln_cache::Store,
    kiln: &std::path::Path,
    id: &str,
    basics: Basics<'_>,
    flags: &ContainerFlags,
    remove_after: bool,
) -> anyhow::Result<i32> {
    let since = SystemTime::now();
    // `-t` without `-i`: the terminal stays cooked (ctrl-c is a signal here, not a key), so
    // signals are forwarded as without `-t`. Before any thread starts: they inherit the mask.
    if basics.tty && !basics.interactive {
        sigproxy::start(store.root().to_path_buf(), id.to_string())?;
    }
    if let Err(e) = lifecycle::start(store, kiln, id) {
        return Ok(start_failed(store, id, &e, remove_after));
    }
    let session = super::attach::Session {
        stdin: basics.interactive,
        tty: basics.tty,
        replay: true,
        detach_keys: flags.detach_keys.clone(),
        sig_proxy: true,
        since,
    };
    let Some(code) = session.run(store, id)? else {
        // Detached: the container runs on; with --rm its monitor removes it when it ends.
        if remove_after {
            let mut rec = kiln_runtime::record::get(store.db(), id)?;
            rec.config.auto_remove = true;
            kiln_runtime::record::set_config(store.db(), id, &rec.config)?;
            // It may have ended before the monitor could see the change.
            if !lifecycle::monitor_alive(&lifecycle::find(store, id)?) {
                lifecycle::remove(store, id, true, true)?;
            }
        }
        return Ok(0);
    };
    if remove_after {
        lifecycle::remove(store, id, true, true)?;
    }
    Ok(code)
}

/// Reports a container that could not start and returns Docker's exit code for it;
/// `--rm` removes it.
fn start_failed(store: &kiln_cache::Store, id: &str, e: &LifecycleError, remove: bool) -> i32 {
    eprintln!("error: {e}");
    if remove {
        match lifecycle::remove(store, id, true, true) {
            // The monitor of a detached --rm container removes it itself.
            Ok(_) | Err(LifecycleError::Record(RecordError::NotFound(_))) => {}
            Err(e) => eprintln!("error: removing the container: {e}"),
        }
    }
    e.exit_code()
}
