//! ENV, ARG and LABEL: variables and labels in the stage, with the checks BuildKit runs
//! on them (SecretsUsedInArgOrEnv, LegacyKeyValueFormat, UndefinedVar via expansion).
//!
//! API (crate-internal): [`dispatch_env`], [`dispatch_label`], [`dispatch_arg`].

use super::args::{is_proxy_arg, GlobalArgs};
use super::dispatch::{expand, NON_ENV_ARGS};
use super::state::StageState;
use super::{CompileError, Ctx};
use crate::instructions::{ArgDef, Command, KeyValue};
use crate::lint::Rule;

pub fn dispatch_env(
    cx: &mut Ctx,
    st: &mut StageState,
    cmd: &Command,
    kvs: &[KeyValue],
) -> Result<(), CompileError> {
    let mut expanded = Vec::new();
    for kv in kvs {
        expanded.push((
            expand(cx, st, cmd, &kv.key)?,
            expand(cx, st, cmd, &kv.value)?,
            kv,
        ));
    }
    let mut msg = String::from("ENV");
    for (k, v, kv) in expanded {
        legacy(cx, kv, cmd);
        check_secret(cx, "ENV", &k, cmd);
        msg.push_str(&format!(" {k}={v}"));
        st.env.set(&k, &v);
        st.config.set_env(&k, &v);
    }
    st.commit(msg, false, false);
    Ok(())
}

pub fn dispatch_label(
    cx: &mut Ctx,
    st: &mut StageState,
    cmd: &Command,
    kvs: &[KeyValue],
) -> Result<(), CompileError> {
    let mut msg = String::from("LABEL");
    for kv in kvs {
        let (k, v) = (
            expand(cx, st, cmd, &kv.key)?,
            expand(cx, st, cmd, &kv.value)?,
        );
        legacy(cx, kv, cmd);
        msg.push_str(&format!(" {k}={v}"));
        st.config.labels.insert(k, v);
    }
    st.commit(msg, false, false);
    Ok(())
}

pub fn dispatch_arg(
    cx: &mut Ctx,
    st: &mut StageState,
    cmd: &Command,
    defs: &[ArgDef],
    globals: &GlobalArgs,
) -> Result<(), CompileError> {
    let mut parts = Vec::new();
    for def in defs {
        check_secret(cx, "ARG", &def.name, cmd);
        let from_build = cx.opts.build_args.get(&def.name).cloned();
        let value = match (from_build, &def.default) {
            (Some(v), _) => Some(v),
            (None, Some(default)) => Some(expand(cx, st, cmd, default)?),
            // Declared without a default: the global value, if there is one.
            (None, None) => globals.values.get(&def.name).map(str::to_string),
        };
        if let Some(v) = &value {
            if !NON_ENV_ARGS.contains(&def.name.as_str()) {
                st.env.set(&def.name, v);
            }
        }
        // Proxy values (credentials, often) never go into the history.
        parts.push(match &value {
            Some(v) if !is_proxy_arg(&def.name) => format!("{}={v}", def.name),
            _ => def.name.clone(),
        });
        st.build_args.push((def.name.clone(), value));
    }
    st.commit(format!("ARG {}", parts.join(" ")), false, false);
    Ok(())
}

fn secret_like(key: &str) -> bool {
    const DENY: [&str; 10] = [
        "apikey",
        "auth",
        "credential",
        "credentials",
        "key",
        "password",
        "pword",
        "passwd",
        "secret",
        "token",
    ];
    const ALLOW: [&str; 3] = ["public", "file", "version"];
    // BuildKit's regexp `(?:_|^)(?:word)(?:_|$)`: the word is a whole `_`-separated part.
    let has = |words: &[&str]| {
        key.split('_')
            .any(|part| words.iter().any(|w| part.eq_ignore_ascii_case(w)))
    };
    has(&DENY) && !has(&ALLOW)
}

fn check_secret(cx: &mut Ctx, instruction: &str, key: &str, cmd: &Command) {
    if secret_like(key) {
        cx.linter.report(
            Rule::SecretsUsedInArgOrEnv,
            format!(
                "Do not use ARG or ENV instructions for sensitive data ({instruction} {key:?})"
            ),
            (cmd.start_line, cmd.end_line),
            &cmd.comments,
        );
    }
}

fn legacy(cx: &mut Ctx, kv: &KeyValue, cmd: &Command) {
    if kv.legacy {
        let name = &cmd.keyword;
        cx.linter.report(
            Rule::LegacyKeyValueFormat,
            format!(
                "\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"
            ),
            (cmd.start_line, cmd.end_line),
            &cmd.comments,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_match_buildkit() {
        for k in [
            "AWS_SECRET_ACCESS_KEY",
            "api_key",
            "GITHUB_TOKEN",
            "password",
            "AUTH",
            "secret_MESSAGE",
        ] {
            assert!(secret_like(k), "{k}");
        }
        for k in [
            "PUBLIC_KEY",
            "KEY_FILE",
            "TOKEN_VERSION",
            "MONKEY",
            "tokens_x",
            "PATH",
        ] {
            assert!(!secret_like(k), "{k}");
        }
    }
}
