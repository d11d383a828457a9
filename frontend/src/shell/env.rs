//! Where the lexer looks variables up.
//!
//! Names are case-sensitive (Linux semantics). Slices and vectors of pairs behave like
//! BuildKit's env slices: when a name occurs more than once, the LAST entry wins, so a
//! later `ENV` overrides an earlier one without anybody having to dedupe the list.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// A source of variable values. `None` means unset, which differs from set-but-empty
/// (`Some("")`) for `${V-d}`, `${V+a}` and `${V?m}`.
pub trait Env {
    /// The value of `name`, or `None` when it is unset.
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }
}

impl Env for &[(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(*self, name)
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// Any `Fn(&str) -> Option<String>` is an environment, e.g. to layer ENV over ARG
/// without building a merged list.
impl<F: Fn(&str) -> Option<String>> Env for F {
    fn get(&self, name: &str) -> Option<String> {
        self(name)
    }
}
