//! The variables of a stage while it compiles: image ENV, ENV instructions and the values
//! of ARGs in scope, in order, a later setting replacing an earlier one in place (so
//! ENV after ARG of the same name wins, and an ARG after an ENV wins, as in BuildKit).
//!
//! API: [`EnvList`] (`set`, `get`, `keys`, `to_vec`, `from_kv_strings`), which is a
//! [`crate::shell::Env`] for the word lexer.

use crate::shell::Env;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvList(Vec<(String, String)>);

impl EnvList {
    pub fn new() -> EnvList {
        EnvList(Vec::new())
    }

    /// From `KEY=value` strings (an image config's `Env`).
    pub fn from_kv_strings(items: &[String]) -> EnvList {
        let mut env = EnvList::new();
        for kv in items {
            let (k, v) = kv.split_once('=').unwrap_or((kv.as_str(), ""));
            env.set(k, v);
        }
        env
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = value.to_string(),
            None => self.0.push((key.to_string(), value.to_string())),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

impl Env for EnvList {
    fn get(&self, name: &str) -> Option<String> {
        EnvList::get(self, name).map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_settings_replace_in_place() {
        let mut e = EnvList::from_kv_strings(&["PATH=/bin".into(), "A=1".into()]);
        e.set("PATH", "/usr/bin");
        e.set("B", "2");
        let all: Vec<_> = e.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(all, ["PATH=/usr/bin", "A=1", "B=2"]);
        assert_eq!(Env::get(&e, "A"), Some("1".to_string()));
        assert_eq!(Env::get(&e, "C"), None);
    }
}
