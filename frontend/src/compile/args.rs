//! Build arguments: the global scope that FROM lines see (predefined platform ARGs, then
//! the ARGs before the first FROM, each overridden by `--build-arg`), and the proxy
//! variables BuildKit passes to every RUN without them being declared.
//!
//! API: [`GlobalArgs`] (`build`), [`is_proxy_arg`], [`proxy_env`].

use std::collections::{BTreeMap, BTreeSet};

use super::env::EnvList;
use crate::instructions::{Command, Instruction};
use crate::shell::{Lexer, ShellError};

/// Proxy variables: usable in RUN without `ARG`, never in history or cache keys.
const PROXY_ARGS: [&str; 5] = [
    "http_proxy",
    "https_proxy",
    "ftp_proxy",
    "no_proxy",
    "all_proxy",
];

pub fn is_proxy_arg(name: &str) -> bool {
    PROXY_ARGS.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// `KEY=value` for every proxy `--build-arg`, in name order.
pub fn proxy_env(build_args: &BTreeMap<String, String>) -> Vec<String> {
    build_args
        .iter()
        .filter(|(k, _)| is_proxy_arg(k))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// The global ARG scope.
#[derive(Debug, Clone, Default)]
pub struct GlobalArgs {
    /// Names with values: predefined ARGs and meta ARGs that got a value.
    pub values: EnvList,
    /// Every meta ARG name declared before the first FROM (with or without a value).
    pub declared: BTreeSet<String>,
}

impl GlobalArgs {
    /// Evaluates the meta ARGs in order over `predefined` (already overridden by build
    /// args). With `build_args` `None` only defaults are used (the InvalidDefaultArgInFrom
    /// check). On failure returns the failing ARG command and the expansion error.
    pub fn build<'c>(
        predefined: &[(String, String)],
        meta_args: &'c [Command],
        build_args: Option<&BTreeMap<String, String>>,
        lexer: &Lexer,
    ) -> Result<GlobalArgs, (&'c Command, ShellError)> {
        let mut values = EnvList::new();
        for (k, v) in predefined {
            let v = build_args.and_then(|b| b.get(k)).unwrap_or(v);
            values.set(k, v);
        }
        let mut declared = BTreeSet::new();
        for cmd in meta_args {
            let Instruction::Arg(defs) = &cmd.instruction else {
                continue;
            };
            for def in defs {
                declared.insert(def.name.clone());
                let value = match (build_args.and_then(|b| b.get(&def.name)), &def.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(default)) => {
                        Some(lexer.process_word(default, &values).map_err(|e| (cmd, e))?)
                    }
                    (None, None) => None,
                };
                if let Some(v) = value {
                    values.set(&def.name, &v);
                }
            }
        }
        Ok(GlobalArgs { values, declared })
    }

    /// Names the UndefinedArgInFrom check accepts: declared meta ARGs and every global.
    pub fn known_names(&self) -> BTreeSet<String> {
        let mut out = self.declared.clone();
        out.extend(self.values.keys().map(str::to_string));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_are_recognised_in_any_case() {
        assert!(is_proxy_arg("HTTP_PROXY"));
        assert!(is_proxy_arg("no_proxy"));
        assert!(!is_proxy_arg("PROXY"));
        let mut b = BTreeMap::new();
        b.insert("HTTPS_PROXY".to_string(), "http://p:3128".to_string());
        b.insert("OTHER".to_string(), "x".to_string());
        assert_eq!(proxy_env(&b), ["HTTPS_PROXY=http://p:3128"]);
    }
}
