//! The `created_by` strings of history entries, formatted exactly as BuildKit's Go code
//! prints them (`%q` and `%v` of string slices, `time.Duration` strings).
//!
//! API: [`go_list`], [`go_quoted_list`], [`go_duration`], [`HISTORY_COMMENT`].

use crate::parser::goquote::quote_list;

/// The comment BuildKit puts on every history entry it writes.
pub const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// Go's `%v` of a `[]string`: `[a b c]`.
pub fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub fn go_quoted_list(items: &[String]) -> String {
    quote_list(items)
}

/// Go's `time.Duration.String()`: `0s`, `1.5s`, `2m30s`, `1h0m0s`, `500ms`, `1µs`.
pub fn go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let mut out = String::new();
    if u < 1_000_000_000 {
        // Sub-second: the largest unit that keeps the integer part non-zero.
        let (unit, scale) = if u < 1_000 {
            ("ns", 1)
        } else if u < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        out.push_str(&fraction(u, scale));
        out.push_str(unit);
    } else {
        let h = u / 3_600_000_000_000;
        let m = (u / 60_000_000_000) % 60;
        let s_ns = u % 60_000_000_000;
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if h > 0 || m > 0 {
            out.push_str(&format!("{m}m"));
        }
        out.push_str(&fraction(s_ns, 1_000_000_000));
        out.push('s');
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// `value / scale` with the fraction's trailing zeros dropped.
fn fraction(value: u64, scale: u64) -> String {
    let whole = value / scale;
    let rem = value % scale;
    if rem == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let frac = format!("{rem:0width$}");
    format!("{whole}.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_print_like_go() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500), "1.5µs");
        assert_eq!(go_duration(7), "7ns");
    }

    #[test]
    fn lists_print_like_go() {
        let v = vec![
            "/bin/sh".to_string(),
            "-c".to_string(),
            "echo \"hi\"".to_string(),
        ];
        assert_eq!(go_list(&v), "[/bin/sh -c echo \"hi\"]");
        assert_eq!(go_quoted_list(&v), r#"["/bin/sh" "-c" "echo \"hi\""]"#);
    }
}
