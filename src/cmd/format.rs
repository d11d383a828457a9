//! Output helpers for the image commands: aligned tables, Docker-style sizes and ages,
//! parsing of `--keep-storage` sizes and `until=` durations, and Go-template-like `--format`
//! strings (`{{.Config.Env}}`, `{{json .RootFS}}`).

use anyhow::{bail, Context};
use serde_json::Value;

/// Print rows under a header, columns separated by at least three spaces like Docker's.
pub fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let n = cells.len();
        let mut s = String::new();
        for (i, c) in cells.into_iter().enumerate() {
            s.push_str(c);
            if i + 1 < n {
                let pad = widths
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count())
                    + 3;
                s.push_str(&" ".repeat(pad));
            }
        }
        println!("{}", s.trim_end());
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}

/// Docker's decimal sizes: `4.26MB`, `512B`, `1.2GB`.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        return format!("{bytes}B");
    }
    // Three significant digits, trailing zeros dropped (Go's `%.3g`, as go-units prints).
    let s = match v {
        v if v >= 100.0 => format!("{v:.0}"),
        v if v >= 10.0 => format!("{v:.1}"),
        v => format!("{v:.2}"),
    };
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{}", UNITS[u])
}

/// `10GB`, `500m`, `1.5g`, `1024` (bytes) — decimal and binary suffixes as Docker accepts.
pub fn parse_size(s: &str) -> anyhow::Result<u64> {
    let t = s.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().with_context(|| {
        format!("invalid size {s:?}: expected a number with an optional unit like 10GB")
    })?;
    let mult: f64 = match unit.trim() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => bail!(
            "invalid size {s:?}: unknown unit {other:?} (use B, kB, MB, GB, TB, KiB, MiB, GiB)"
        ),
    };
    Ok((n * mult) as u64)
}

/// Go-style durations: `24h`, `1h30m`, `90s`, `7d` (days accepted for convenience).
pub fn parse_duration(s: &str) -> anyhow::Result<std::time::Duration> {
    let mut total = 0f64;
    let mut num = String::new();
    let mut any = false;
    let mut chars = s.trim().chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push('s');
            chars.next();
        }
        let n: f64 = num
            .parse()
            .with_context(|| format!("invalid duration {s:?}"))?;
        num.clear();
        total += n * match unit.as_str() {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            other => bail!("invalid duration {s:?}: unknown unit {other:?} (use s, m, h, d)"),
        };
        any = true;
    }
    if !num.is_empty() || !any {
        bail!("invalid duration {s:?}: expected e.g. 24h, 90m or 1h30m");
    }
    Ok(std::time::Duration::from_secs_f64(total))
}

/// `inspect` as Docker prints it: the JSON array of what `lookup` finds for each name (a
/// name not found is reported on stderr and makes the exit code 1), or with `--format`,
/// the template rendered once per found object.
pub fn print_inspect(
    names: &[String],
    mut lookup: impl FnMut(&str) -> anyhow::Result<Value>,
    format: Option<&str>,
) -> anyhow::Result<i32> {
    let mut values = Vec::new();
    let mut code = 0;
    for n in names {
        match lookup(n) {
            Ok(v) => values.push(v),
            Err(e) => {
                eprintln!("error: {e}");
                code = 1;
            }
        }
    }
    match format {
        Some(f) => {
            for v in &values {
                println!("{}", render_template(f, v)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(&values)?),
    }
    Ok(code)
}

/// Render a `--format` template (see `template.rs`) with `v` as dot.
pub fn render_template(tpl: &str, v: &Value) -> anyhow::Result<String> {
    super::template::render(tpl, v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations() {
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(1_000_000_000), "1GB");
        assert_eq!(human_size(142_500_000), "142MB");
        assert_eq!(human_size(1_035_897), "1.04MB");
        assert_eq!(parse_size("10GB").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("1.5m").unwrap(), 1_500_000);
        assert!(parse_size("ten").is_err());
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("24h").unwrap().as_secs(), 86400);
        assert!(parse_duration("5").is_err());
    }
}
