//! `kiln system info`: the store and, through a daemon, the service's state (builds,
//! step outcomes and cache hit ratio, GC policy). In-process it reports the store alone.

use kiln_cache::Store;
use kiln_daemon::api::{GcPolicyInfo, Info, API_VERSION};

use crate::cmd::format::human_size;

#[derive(Debug, clap::Args)]
pub struct InfoArgs {
    /// Output format: json for the whole document
    #[arg(long, value_parser = ["json"])]
    pub format: Option<String>,
}

/// The store's part of [`Info`], for in-process use (no daemon figures).
pub fn local(store: &Store) -> anyhow::Result<Info> {
    let size = store.disk_usage()?.iter().map(|r| r.size).sum();
    Ok(Info {
        version: env!("CARGO_PKG_VERSION").into(),
        api_version: API_VERSION.into(),
        root: store.root().display().to_string(),
        pid: 0,
        uptime_seconds: 0,
        builds_running: 0,
        builds_total: 0,
        steps_executed: 0,
        steps_cached: 0,
        steps_shared: 0,
        store_size_bytes: size,
        images: store.list_images()?.len() as u64,
        cache_records: store.list_cache_records()?.len() as u64,
        gc: GcPolicyInfo::default(),
    })
}

fn policy(gc: &GcPolicyInfo) -> String {
    let mut parts = Vec::new();
    if let Some(n) = gc.keep_storage_bytes {
        parts.push(format!("keep-storage {}", human_size(n)));
    }
    if let Some(d) = gc.keep_duration_seconds {
        parts.push(format!("keep-duration {d}s"));
    }
    if let Some(d) = gc.images_keep_duration_seconds {
        parts.push(format!("dangling images keep-duration {d}s"));
    }
    if let Some(n) = gc.cache_mounts_keep_storage_bytes {
        parts.push(format!("cache mounts keep-storage {}", human_size(n)));
    }
    if parts.is_empty() {
        return "none".into();
    }
    format!("{}, every {}s", parts.join(", "), gc.interval_seconds)
}

/// Print `info`; `daemon` says whether it came from a daemon.
pub fn print(info: &Info, daemon: bool, format: Option<&str>) -> anyhow::Result<i32> {
    if format == Some("json") {
        let mut v = serde_json::to_value(info)?;
        v["daemon"] = serde_json::Value::Bool(daemon);
        println!("{v}");
        return Ok(0);
    }
    println!("Version: {}", info.version);
    println!("Root: {}", info.root);
    println!("Images: {}", info.images);
    println!("Build cache records: {}", info.cache_records);
    println!("Store size: {}", human_size(info.store_size_bytes));
    if !daemon {
        println!("Daemon: none (in-process)");
        return Ok(0);
    }
    let hits = info.steps_cached + info.steps_shared;
    let all = hits + info.steps_executed;
    println!(
        "Daemon: pid {}, API {}, up {}s",
        info.pid, info.api_version, info.uptime_seconds
    );
    println!(
        " Builds: {} finished, {} running",
        info.builds_total, info.builds_running
    );
    println!(
        " Steps: {} executed, {} cached, {} shared (hit ratio {}%)",
        info.steps_executed,
        info.steps_cached,
        info.steps_shared,
        (hits * 100).checked_div(all).unwrap_or(0)
    );
    println!(" GC policy: {}", policy(&info.gc));
    Ok(0)
}
