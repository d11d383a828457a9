//! Splitting the expansion of a word into fields, as BuildKit's `ProcessWords` does:
//! unquoted text and unquoted `$` expansions split on white space, quoted text and escaped
//! characters never do.

use super::chars::is_space;

/// The fields of the top-level word being expanded.
#[derive(Default)]
pub(super) struct Fields {
    done: Vec<String>,
    current: String,
    /// Set once anything (even an empty quoted string) started the current field; an
    /// empty field is still never emitted.
    in_field: bool,
}

impl Fields {
    /// Adds one unquoted character: white space ends the current field.
    pub(super) fn add_char(&mut self, ch: char) {
        if !is_space(ch) {
            self.add_raw_char(ch);
        } else if self.in_field && !self.current.is_empty() {
            self.done.push(std::mem::take(&mut self.current));
            self.in_field = false;
        }
    }

    /// Adds one quoted or escaped character, which never splits.
    pub(super) fn add_raw_char(&mut self, ch: char) {
        self.current.push(ch);
        self.in_field = true;
    }

    /// Adds the result of an unquoted `$` expansion, which splits.
    pub(super) fn add_str(&mut self, s: &str) {
        s.chars().for_each(|ch| self.add_char(ch));
    }

    /// Adds quoted text, which never splits.
    pub(super) fn add_raw_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.in_field = true;
    }

    /// BuildKit keeps the unfinished field in a buffer shared with the nested expansion of
    /// `${V:-word}`-style operands, which clears it: `abc${X:-def}` gives the single field
    /// `def`. We reproduce that so `kiln` splits words exactly as `docker build` does.
    pub(super) fn drop_unfinished(&mut self) {
        self.current.clear();
    }

    pub(super) fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.done.push(self.current);
        }
        self.done
    }
}
