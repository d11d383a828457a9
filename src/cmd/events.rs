//! `kiln events [--since] [--until] [--filter] [--format]`: container events, followed live
//! until interrupted unless `--until` is given.

use anyhow::{bail, Context};
use clap::Args;
use kiln_runtime::events::{read_from, Event};
use kiln_runtime::timefmt;
use std::io::Write;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::container_opts::open_store;
use super::format::render_template;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Show events since a time (RFC 3339, unix seconds, or a duration such as 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stop at this time (same forms); without it, follow new events
    #[arg(long)]
    pub until: Option<String>,
    /// Filter: type=container, event=ACTION, container=NAME|ID, label=key[=value]
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// `json`, or a Go-template-like format ({{.Action}}, {{.Actor.ID}}, ...)
    #[arg(long)]
    pub format: Option<String>,
}

fn nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos() as i64
}

fn matches(filters: &[(String, String)], e: &Event) -> bool {
    // Docker: values of one key are ORed, different keys ANDed.
    let keys: std::collections::BTreeSet<&str> = filters.iter().map(|(k, _)| k.as_str()).collect();
    keys.into_iter().all(|key| {
        filters
            .iter()
            .filter(|(k, _)| k == key)
            .any(|(_, v)| match key {
                "type" => e.kind == *v,
                "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                "container" => {
                    e.actor.id.starts_with(v.as_str()) || e.actor.attributes.get("name") == Some(v)
                }
                "image" => {
                    let name = e.actor.attributes.get("name");
                    let full = kiln_cache::Reference::parse(v).map(|r| r.to_string()).ok();
                    e.actor.id.starts_with(v.as_str())
                        || name == Some(v)
                        || (full.is_some() && name == full.as_ref())
                        || e.actor.attributes.get("image") == Some(v)
                }
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => e.actor.attributes.get(lk).map(String::as_str) == Some(lv),
                    None => e.actor.attributes.contains_key(v),
                },
                _ => false,
            })
    })
}

fn print(e: &Event, format: &Option<String>) -> anyhow::Result<bool> {
    let line = match format.as_deref() {
        Some("json") | Some("{{json .}}") => docker_json(e)?.to_string(),
        Some(f) => render_template(f, &template_value(e)?)?,
        None => {
            let secs = e.time_nano / 1_000_000_000;
            let ns = (e.time_nano % 1_000_000_000) as u32;
            let t = UNIX_EPOCH + Duration::new(secs.max(0) as u64, ns);
            let attrs: Vec<String> = e
                .actor
                .attributes
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            format!(
                "{} {} {} {} ({})",
                timefmt::format_nanos(t),
                e.kind,
                e.action,
                e.actor.id,
                attrs.join(", ")
            )
        }
    };
    let mut out = std::io::stdout().lock();
    Ok(writeln!(out, "{line}").and_then(|_| out.flush()).is_ok())
}

pub fn run(global: &GlobalArgs, args: EventsArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let now = SystemTime::now();
    let time = |flag: &str, v: &Option<String>| -> anyhow::Result<Option<SystemTime>> {
        v.as_deref()
            .map(|s| {
                timefmt::parse_time_arg(s, now).with_context(|| format!("invalid --{flag} {s:?}"))
            })
            .transpose()
    };
    let since = time("since", &args.since)?;
    let until = time("until", &args.until)?;
    let mut filters = Vec::new();
    for f in &args.filter {
        let Some((k, v)) = f.split_once('=') else {
            bail!("invalid filter {f:?}: use key=value");
        };
        if !["type", "event", "container", "image", "label"].contains(&k) {
            bail!("invalid filter key {k:?}: supported are type, event, container, image, label");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    // Without --since, only events from now on (Docker's behaviour).
    let from = nanos(since.unwrap_or(now));
    let mut offset = 0;
    loop {
        let (events, end) = read_from(store.root(), offset);
        offset = end;
        for e in events {
            if e.time_nano < from {
                continue;
            }
            if until.is_some_and(|u| e.time_nano > nanos(u)) {
                return Ok(0);
            }
            if matches(&filters, &e) && !print(&e, &args.format)? {
                return Ok(0);
            }
        }
        if until.is_some_and(|u| SystemTime::now() > u) {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The event as Docker's API prints it: container events also carry the older
/// `status`, `id` and `from` keys that scripts still read.
fn docker_json(e: &Event) -> anyhow::Result<serde_json::Value> {
    let mut v = serde_json::to_value(e)?;
    if let (Some(m), "container") = (v.as_object_mut(), e.kind.as_str()) {
        m.insert("status".into(), e.action.clone().into());
        m.insert("id".into(), e.actor.id.clone().into());
        if let Some(image) = e.actor.attributes.get("image") {
            m.insert("from".into(), image.clone().into());
        }
    }
    Ok(v)
}

/// What `--format` templates see: Docker's Go field names (`.Status`, `.ID`, `.From`,
/// `.Time`, …) besides the JSON keys.
fn template_value(e: &Event) -> anyhow::Result<serde_json::Value> {
    let mut v = docker_json(e)?;
    if let Some(m) = v.as_object_mut() {
        for (json_key, go_name) in [
            ("status", "Status"),
            ("id", "ID"),
            ("from", "From"),
            ("scope", "Scope"),
            ("time", "Time"),
            ("timeNano", "TimeNano"),
        ] {
            if let Some(x) = m.get(json_key).cloned() {
                m.insert(go_name.into(), x);
            }
        }
    }
    Ok(v)
}
