//! "Did you mean ...?" suggestions by edit distance, as BuildKit's `suggest` package.
//!
//! API: [`nearest`]`(input, candidates) -> Option<String>`.

/// The candidate closest to `input` (case-insensitively), if it is close enough: at
/// most a third of the input's length (and at least 1) edits away, a swap of two
/// neighbouring letters counting as one edit.
pub fn nearest(input: &str, candidates: &[&str]) -> Option<String> {
    let lower = input.to_lowercase();
    let max = (lower.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(&lower, &c.to_lowercase()), *c))
        .filter(|(d, _)| *d <= max)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_words_only() {
        assert_eq!(nearest("FORM", &["FROM", "RUN"]).as_deref(), Some("FROM"));
        assert_eq!(nearest("rnu", &["FROM", "RUN"]).as_deref(), Some("RUN"));
        assert_eq!(nearest("xyzzy", &["FROM", "RUN"]), None);
    }
}
