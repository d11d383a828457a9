//! `.dockerignore` patterns with moby's semantics: Go `filepath.Match` syntax per path
//! element (`*`, `?`, `[...]`, `\` escapes), `**` for any number of directories, `!` to
//! re-include, the last matching pattern wins, and a pattern that matches a directory
//! matches everything below it.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("invalid pattern {pattern:?} in {source_name} line {line}: {reason}")]
    Invalid {
        pattern: String,
        source_name: String,
        line: usize,
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    /// Path elements of the cleaned pattern.
    elements: Vec<String>,
    exclusion: bool,
}

/// An ordered list of patterns, as read from a `.dockerignore` file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matcher {
    patterns: Vec<Pattern>,
}

impl Matcher {
    /// Parse a `.dockerignore` file's text. `source_name` names it in errors.
    pub fn from_dockerignore(text: &str, source_name: &str) -> Result<Matcher, PatternError> {
        let lines: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .filter(|(_, l)| !l.starts_with('#'))
            .collect();
        let mut patterns = Vec::new();
        for (line, raw) in lines {
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let (exclusion, body) = match trimmed.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, trimmed),
            };
            let cleaned = clean(body);
            if cleaned.is_empty() || cleaned == "." {
                // moby ignores a pattern that cleans to the context root.
                continue;
            }
            let elements: Vec<String> = cleaned.split('/').map(str::to_string).collect();
            for e in &elements {
                validate(e).map_err(|reason| PatternError::Invalid {
                    pattern: raw.to_string(),
                    source_name: source_name.to_string(),
                    line,
                    reason,
                })?;
            }
            patterns.push(Pattern {
                elements,
                exclusion,
            });
        }
        Ok(Matcher { patterns })
    }

    /// Patterns given directly (`COPY --exclude=…`), none of them re-including.
    pub fn from_patterns<S: AsRef<str>>(pats: &[S]) -> Result<Matcher, PatternError> {
        let text: Vec<&str> = pats.iter().map(AsRef::as_ref).collect();
        Matcher::from_dockerignore(&text.join("\n"), "--exclude")
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern re-includes (`!`): then an excluded directory must still be
    /// walked, because something below it may come back.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Is `path` (relative to the context root, `/`-separated) excluded?
    pub fn excludes(&self, path: &str) -> bool {
        let elements: Vec<&str> = path
            .split('/')
            .filter(|e| !e.is_empty() && *e != ".")
            .collect();
        let mut excluded = false;
        for p in &self.patterns {
            // Only a pattern that could flip the state needs evaluating.
            if p.exclusion != excluded {
                continue;
            }
            if matches_path_or_parent(&p.elements, &elements) {
                excluded = !p.exclusion;
            }
        }
        excluded
    }
}

/// The pattern matches `path` or one of its parent directories.
fn matches_path_or_parent(pattern: &[String], path: &[&str]) -> bool {
    (1..=path.len()).any(|n| match_elements(pattern, &path[..n]))
}

fn match_elements(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            // `**` eats zero or more whole elements.
            (0..=path.len()).any(|skip| match_elements(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => glob_match(first, p) && match_elements(rest, prest),
            None => false,
        },
    }
}

/// Go's `filepath.Match` on one path element (no `/` inside either side).
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_from(&p, &n)
}

fn glob_from(p: &[char], n: &[char]) -> bool {
    // Iterative with one backtrack point for `*`: linear-ish, never exponential.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() {
            match p[pi] {
                '*' => {
                    star = Some((pi, ni));
                    pi += 1;
                    continue;
                }
                '?' => {
                    pi += 1;
                    ni += 1;
                    continue;
                }
                '[' => {
                    if let Some((matched, len)) = class_match(&p[pi..], n[ni]) {
                        if matched {
                            pi += len;
                            ni += 1;
                            continue;
                        }
                    }
                }
                '\\' if pi + 1 < p.len() => {
                    if p[pi + 1] == n[ni] {
                        pi += 2;
                        ni += 1;
                        continue;
                    }
                }
                c => {
                    if c == n[ni] {
                        pi += 1;
                        ni += 1;
                        continue;
                    }
                }
            }
        }
        match star {
            Some((sp, sn)) => {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Match `c` against the class starting at `p[0] == '['`; returns (matched, class length).
fn class_match(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('^') | Some('!'));
    if negate {
        i += 1;
    }
    let mut matched = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            i += 1;
            break;
        }
        first = false;
        let lo = if lo == '\\' {
            i += 1;
            *p.get(i)?
        } else {
            lo
        };
        i += 1;
        let mut hi = lo;
        if p.get(i) == Some(&'-') && p.get(i + 1).is_some_and(|h| *h != ']') {
            i += 1;
            hi = *p.get(i)?;
            if hi == '\\' {
                i += 1;
                hi = *p.get(i)?;
            }
            i += 1;
        }
        if lo <= c && c <= hi {
            matched = true;
        }
    }
    Some((matched != negate, i))
}

fn validate(element: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = element.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' if i + 1 >= chars.len() => return Err("trailing backslash"),
            '\\' => i += 2,
            '[' => {
                let mut j = i + 1;
                if matches!(chars.get(j), Some('^') | Some('!')) {
                    j += 1;
                }
                if chars.get(j) == Some(&']') {
                    j += 1;
                }
                while j < chars.len() && chars[j] != ']' {
                    if chars[j] == '\\' {
                        j += 1;
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err("unterminated character class '['");
                }
                i = j + 1;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Go's `filepath.Clean` for relative, `/`-separated patterns, with a leading `/` dropped
/// (moby treats patterns as relative to the context root).
pub fn clean(path: &str) -> String {
    let cleaned = kiln_frontend::paths::clean(path);
    match cleaned.trim_start_matches('/') {
        "" => ".".to_string(),
        rel => rel.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Matcher {
        Matcher::from_dockerignore(text, ".dockerignore").unwrap()
    }

    #[test]
    fn plain_names_match_files_and_everything_below_dirs() {
        let m = m("node_modules\n*.log\n");
        assert!(m.excludes("node_modules"));
        assert!(m.excludes("node_modules/a/b.js"));
        assert!(m.excludes("x.log"));
        assert!(!m.excludes("sub/x.log"), "* does not cross directories");
        assert!(!m.excludes("src/main.rs"));
    }

    #[test]
    fn double_star_matches_any_depth() {
        let m = m("**/*.tmp\nbuild/**/cache");
        assert!(m.excludes("a.tmp"));
        assert!(m.excludes("a/b/c.tmp"));
        assert!(m.excludes("build/cache"));
        assert!(m.excludes("build/x/y/cache/file"));
        assert!(!m.excludes("build/x/y/cachex"));
    }

    #[test]
    fn last_match_wins_and_bang_reincludes() {
        let m1 = m("*.md\n!README.md\nREADME*.md");
        assert!(m1.excludes("CHANGES.md"));
        assert!(
            m1.excludes("README.md"),
            "the last pattern excludes it again"
        );
        let m2 = m("*.md\n!README.md");
        assert!(!m2.excludes("README.md"));
        assert!(m2.has_exclusions());
    }

    #[test]
    fn comments_blank_lines_and_cleaning() {
        let m = m("# comment\n\n  /dist/  \n./tmp/../out\n");
        assert!(m.excludes("dist/app.js"));
        assert!(m.excludes("out"));
        assert!(!m.excludes("tmp"));
    }

    #[test]
    fn character_classes_and_escapes() {
        let m = m("file[0-9].txt\n[!a]x\n\\*literal");
        assert!(m.excludes("file7.txt"));
        assert!(!m.excludes("filex.txt"));
        assert!(m.excludes("bx"));
        assert!(!m.excludes("ax"));
        assert!(m.excludes("*literal"));
        assert!(!m.excludes("xliteral"));
    }

    #[test]
    fn invalid_pattern_names_file_and_line() {
        let err = Matcher::from_dockerignore("ok\nbad[", "ctx/.dockerignore").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid pattern \"bad[\" in ctx/.dockerignore line 2: unterminated character class '['"
        );
    }

    #[test]
    fn glob_is_not_exponential() {
        let name = "a".repeat(200);
        assert!(!glob_match("*a*a*a*a*a*a*a*a*a*a*b", &name));
        assert!(glob_match("*a*a*a*", &name));
    }

    #[test]
    fn clean_behaves_like_go() {
        assert_eq!(clean("/a/./b/../c/"), "a/c");
        assert_eq!(clean("../x"), "../x");
        assert_eq!(clean("/../x"), "x");
        assert_eq!(clean(""), ".");
    }
}
