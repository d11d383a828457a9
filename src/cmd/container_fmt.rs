//! How containers are shown: Docker's status strings ("Up 3 seconds", "Exited (0) 2
//! minutes ago"), human durations, and the JSON objects `ps --format` renders.

use kiln_runtime::{ids, ContainerRecord, State};
use serde_json::{json, Value};
use std::time::{Duration, SystemTime};

/// Docker's units.HumanDuration.
pub fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => "Less than a second".into(),
        1 => "1 second".into(),
        2..=59 => format!("{s} seconds"),
        60..=119 => "About a minute".into(),
        120..=2699 => format!("{} minutes", s / 60),
        2700..=5399 => "About an hour".into(),
        5400..=172_799 => format!("{} hours", (s + 1800) / 3600),
        172_800..=1_209_599 => format!("{} days", s / 86_400),
        1_209_600..=5_183_999 => format!("{} weeks", s / 604_800),
        5_184_000..=31_535_999 => format!("{} months", s / 2_592_000),
        _ => format!("{} years", s / 31_536_000),
    }
}

fn since(ts: &str) -> Duration {
    kiln_runtime::timefmt::parse_rfc3339(ts)
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

pub fn status(rec: &ContainerRecord) -> String {
    match rec.state {
        State::Created => "Created".into(),
        State::Running => {
            let health = match rec.health.as_ref().map(|h| h.status.as_str()) {
                Some("starting") => " (health: starting)".to_string(),
                Some(s) if !s.is_empty() => format!(" ({s})"),
                _ => String::new(),
            };
            format!("Up {}{health}", human_duration(since(&rec.started_at)))
        }
        State::Paused => format!("Up {} (Paused)", human_duration(since(&rec.started_at))),
        State::Restarting => format!(
            "Restarting ({}) {} ago",
            rec.exit_code,
            human_duration(since(&rec.finished_at))
        ),
        State::Exited => format!(
            "Exited ({}) {} ago",
            rec.exit_code,
            human_duration(since(&rec.finished_at))
        ),
    }
}

pub fn command(rec: &ContainerRecord, no_trunc: bool) -> String {
    let c = rec.config.args.join(" ");
    if no_trunc || c.chars().count() <= 20 {
        format!("\"{c}\"")
    } else {
        format!("\"{}…\"", c.chars().take(19).collect::<String>())
    }
}

/// The header line of a `ps` `table …` format: each `{{.Field}}` becomes Docker's column name.
pub fn table_header(tpl: &str) -> String {
    table_header_with(tpl, column_name)
}

/// The header line of a `table …` format, with `column` naming each field.
pub fn table_header_with(tpl: &str, column: fn(&str) -> &'static str) -> String {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out.replace("\\t", "\t");
        };
        let field = after[..end].trim().trim_start_matches('.');
        out.push_str(column(field));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out.replace("\\t", "\t")
}

/// Docker's column title for a `ps` template field.
fn column_name(field: &str) -> &'static str {
    match field {
        "ID" => "CONTAINER ID",
        "RunningFor" => "CREATED",
        "CreatedAt" => "CREATED AT",
        "Image" => "IMAGE",
        "Command" => "COMMAND",
        "Status" => "STATUS",
        "State" => "STATE",
        "Names" => "NAMES",
        "Labels" => "LABELS",
        "Ports" => "PORTS",
        _ => "",
    }
}

/// The object `ps --format` templates see (Docker's field names).
pub fn ps_value(rec: &ContainerRecord, no_trunc: bool) -> Value {
    let labels: Vec<String> = rec
        .config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    json!({
        "ID": if no_trunc { rec.id.as_str() } else { ids::short(&rec.id) },
        "Image": rec.image,
        "Command": command(rec, no_trunc),
        "CreatedAt": rec.created,
        "RunningFor": format!("{} ago", human_duration(since(&rec.created))),
        "Status": status(rec),
        "State": rec.state.as_str(),
        "Names": rec.name,
        "Labels": labels.join(","),
        "Ports": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_headers() {
        assert_eq!(
            table_header("{{.ID}}\\t{{.Names}}\\t{{.Status}}"),
            "CONTAINER ID\tNAMES\tSTATUS"
        );
    }

    #[test]
    fn durations_as_docker() {
        assert_eq!(human_duration(Duration::from_secs(0)), "Less than a second");
        assert_eq!(human_duration(Duration::from_secs(5)), "5 seconds");
        assert_eq!(human_duration(Duration::from_secs(90)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(7200)), "2 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400)), "3 days");
    }
}
