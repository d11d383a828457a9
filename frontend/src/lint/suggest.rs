//! "Did you mean …?" for variable, ARG and stage names, as BuildKit's `suggest.Search`:
//! the closest option fewer than 3 edits away, nothing when the value matches exactly.
//!
//! API: [`suggest`].

/// The option closest to `value` (Levenshtein distance below 3), ties going to the first
/// in `options`' order.
pub fn suggest<'a>(
    value: &str,
    options: impl IntoIterator<Item = &'a str>,
    case_sensitive: bool,
) -> Option<String> {
    let norm = |s: &str| {
        if case_sensitive {
            s.to_string()
        } else {
            s.to_lowercase()
        }
    };
    let val = norm(value);
    let mut best: Option<(usize, String)> = None;
    for opt in options {
        let o = norm(opt);
        if o == val {
            return None;
        }
        let d = strsim::levenshtein(&val, &o);
        if d < 3 && best.as_ref().is_none_or(|(bd, _)| d < *bd) {
            best = Some((d, opt.to_string()));
        }
    }
    best.map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_names_only() {
        assert_eq!(
            suggest("PAHT", ["PATH", "HOME"], true).as_deref(),
            Some("PATH")
        );
        assert_eq!(suggest("PATH", ["PATH", "PATHS"], true), None);
        assert_eq!(suggest("XYZZY", ["PATH"], true), None);
        assert_eq!(suggest("path", ["PATH"], true), None);
    }
}
