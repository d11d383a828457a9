//! Naming why a step ran: comparing its [`StepRecord`] with the previous build's, the op
//! first (text, ARG/ENV values, other settings), then each input (an earlier step that
//! re-ran, a base image digest, the selected context files).

use std::collections::{BTreeMap, BTreeSet};

use kiln_frontend::graph::{Op, Source};

use super::{BuildRecord, FileSum, InputRecord, StepRecord, MAX_FILES};

/// The per-file lists behind context checksums, of this build or an earlier one.
pub type FileLists<'a> = &'a dyn Fn(&str) -> Option<BTreeMap<String, FileSum>>;

/// One reason a step ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    NoCache,
    NoEarlierBuild,
    CacheGone,
    /// Same key as a step of the last build that failed: it has no cached result.
    FailedBefore,
    Text {
        old: String,
        new: String,
    },
    Var {
        kind: &'static str,
        name: String,
        old: Option<String>,
        new: Option<String>,
    },
    Definition(String),
    BaseImage {
        reference: String,
        old: String,
        new: String,
    },
    File {
        path: String,
        how: &'static str,
    },
    MoreFiles(usize),
    PreviousStep(String),
    InputChanged,
}

fn short(d: &str) -> String {
    let hex = d.strip_prefix("sha256:").unwrap_or(d);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".into());
        match self {
            Cause::NoCache => write!(f, "--no-cache"),
            Cause::NoEarlierBuild => write!(f, "no earlier build of this step to compare with"),
            Cause::CacheGone => write!(
                f,
                "same inputs as the last build, but its cached result is gone (pruned?)"
            ),
            Cause::FailedBefore => write!(
                f,
                "same inputs as the last build, where this step failed (nothing to reuse)"
            ),
            Cause::Text { old, new } => write!(f, "step text changed: {old} → {new}"),
            Cause::Var {
                kind,
                name,
                old,
                new,
            } => write!(f, "{kind} {name} {} → {}", opt(old), opt(new)),
            Cause::Definition(what) => write!(f, "step definition changed ({what})"),
            Cause::BaseImage {
                reference,
                old,
                new,
            } => write!(
                f,
                "base image {reference} digest changed ({} → {})",
                short(old),
                short(new)
            ),
            Cause::File { path, how } => write!(f, "file {path} {how}"),
            Cause::MoreFiles(n) => write!(f, "and {n} more files changed"),
            Cause::PreviousStep(name) => write!(f, "previous step re-ran ({name})"),
            Cause::InputChanged => write!(f, "an input changed"),
        }
    }
}

/// Why `cur` ran, against the previous build's record of the same step. `arg_names` are
/// the build's ARGs (other variables are reported as ENV); `prev_build` resolves input
/// steps of the previous build; `files` gives the file lists of context checksums.
pub fn explain(
    prev_build: &BuildRecord,
    cur_build: &BuildRecord,
    id: &str,
    arg_names: &BTreeSet<String>,
    files: FileLists<'_>,
) -> Vec<Cause> {
    let Some(cur) = cur_build.steps.get(id) else {
        return vec![Cause::InputChanged];
    };
    let Some(prev) = prev_build.steps.get(id) else {
        return vec![Cause::NoEarlierBuild];
    };
    if prev.key == cur.key && prev_build.failed.contains(id) {
        return vec![Cause::FailedBefore];
    }
    if prev.key == cur.key {
        return vec![Cause::CacheGone];
    }
    let mut causes = op_causes(prev, cur, arg_names);
    if !causes.is_empty() {
        return causes;
    }
    for (p, c) in prev.inputs.iter().zip(&cur.inputs) {
        causes.extend(input_causes(prev_build, cur_build, p, c, files));
    }
    if prev.inputs.len() != cur.inputs.len() {
        causes.push(Cause::Definition("its inputs differ".into()));
    }
    if causes.is_empty() {
        causes.push(Cause::InputChanged);
    }
    causes
}

fn op_causes(prev: &StepRecord, cur: &StepRecord, arg_names: &BTreeSet<String>) -> Vec<Cause> {
    if prev.op == cur.op {
        if prev.content != cur.content {
            if let (Op::Source(Source::Image { reference, .. }), Some(o), Some(n)) =
                (&cur.op, &prev.content, &cur.content)
            {
                return vec![Cause::BaseImage {
                    reference: reference.clone(),
                    old: o.clone(),
                    new: n.clone(),
                }];
            }
        }
        return Vec::new();
    }
    match (&prev.op, &cur.op) {
        (Op::Exec(p), Op::Exec(c)) => {
            let mut out = Vec::new();
            if p.args != c.args {
                out.push(Cause::Text {
                    old: prev.name.clone(),
                    new: cur.name.clone(),
                });
            }
            out.extend(env_causes(&p.env, &c.env, arg_names));
            for (what, differs) in [
                ("WORKDIR", p.cwd != c.cwd),
                ("USER", p.user != c.user),
                ("--network", p.network != c.network),
                ("--security", p.security != c.security),
                ("--mount", p.mounts != c.mounts),
            ] {
                if differs {
                    out.push(Cause::Definition(what.into()));
                }
            }
            if out.is_empty() {
                out.push(Cause::Text {
                    old: prev.name.clone(),
                    new: cur.name.clone(),
                });
            }
            out
        }
        _ => vec![Cause::Text {
            old: prev.name.clone(),
            new: cur.name.clone(),
        }],
    }
}

fn env_map(env: &[String]) -> BTreeMap<&str, &str> {
    env.iter()
        .map(|e| e.split_once('=').unwrap_or((e.as_str(), "")))
        .collect()
}

pub(super) fn env_causes(
    prev: &[String],
    cur: &[String],
    arg_names: &BTreeSet<String>,
) -> Vec<Cause> {
    let (p, c) = (env_map(prev), env_map(cur));
    let names: BTreeSet<&str> = p.keys().chain(c.keys()).copied().collect();
    names
        .into_iter()
        .filter(|n| p.get(n) != c.get(n))
        .map(|n| Cause::Var {
            kind: if arg_names.contains(n) { "ARG" } else { "ENV" },
            name: n.to_string(),
            old: p.get(n).map(|v| v.to_string()),
            new: c.get(n).map(|v| v.to_string()),
        })
        .collect()
}

fn input_causes(
    prev_build: &BuildRecord,
    cur_build: &BuildRecord,
    p: &InputRecord,
    c: &InputRecord,
    files: FileLists<'_>,
) -> Vec<Cause> {
    match (p, c) {
        (InputRecord::Step { id: pi, key: pk }, InputRecord::Step { id: ci, key: ck }) => {
            if pk == ck {
                return Vec::new();
            }
            let (prev_step, cur_step) = (prev_build.steps.get(pi), cur_build.steps.get(ci));
            // An image source is not a step that runs: say what changed in it.
            if let (Some(ps), Some(cs)) = (prev_step, cur_step) {
                if let (
                    Op::Source(Source::Image { reference: old, .. }),
                    Op::Source(Source::Image { reference, .. }),
                ) = (&ps.op, &cs.op)
                {
                    let (old_name, old_pin) = split_pin(old);
                    let (name, pin) = split_pin(reference);
                    if old_name != name {
                        return vec![Cause::Definition(format!("base image {old} → {reference}"))];
                    }
                    let digest = |content: &Option<String>, pin: Option<&str>| {
                        content
                            .clone()
                            .or(pin.map(str::to_string))
                            .unwrap_or_default()
                    };
                    return vec![Cause::BaseImage {
                        reference: name.to_string(),
                        old: digest(&ps.content, old_pin),
                        new: digest(&cs.content, pin),
                    }];
                }
            }
            let name = cur_step
                .map(|s| s.name.clone())
                .unwrap_or_else(|| ci.clone());
            vec![Cause::PreviousStep(name)]
        }
        (
            InputRecord::Image {
                reference,
                digest: pd,
            },
            InputRecord::Image { digest: cd, .. },
        ) if pd != cd => vec![Cause::BaseImage {
            reference: reference.clone(),
            old: pd.clone(),
            new: cd.clone(),
        }],
        (InputRecord::Context { checksum: pc }, InputRecord::Context { checksum: cc })
            if pc != cc =>
        {
            match (files(pc), files(cc)) {
                (Some(pf), Some(cf)) => file_causes(&pf, &cf),
                // The earlier list is gone: say what is known.
                _ => vec![Cause::Definition(
                    "the selected context files differ".into(),
                )],
            }
        }
        (InputRecord::Other { key: pk }, InputRecord::Other { key: ck }) if pk != ck => {
            vec![Cause::InputChanged]
        }
        (p, c) if std::mem::discriminant(p) != std::mem::discriminant(c) => {
            vec![Cause::Definition("its inputs differ".into())]
        }
        _ => Vec::new(),
    }
}

/// `name@sha256:…` → (`name`, the digest); the frontend pins tags it resolved.
fn split_pin(reference: &str) -> (&str, Option<&str>) {
    match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    }
}

pub(super) fn file_causes(
    prev: &BTreeMap<String, FileSum>,
    cur: &BTreeMap<String, FileSum>,
) -> Vec<Cause> {
    let names: BTreeSet<&String> = prev.keys().chain(cur.keys()).collect();
    let mut changed = Vec::new();
    for n in names {
        let how = match (prev.get(n), cur.get(n)) {
            (None, Some(_)) => "added",
            (Some(_), None) => "removed",
            (Some(p), Some(c)) if p.content != c.content => "changed (content)",
            (Some(p), Some(c)) if p.meta != c.meta => "changed (metadata)",
            _ => continue,
        };
        changed.push(Cause::File {
            path: n.clone(),
            how,
        });
    }
    if changed.len() > MAX_FILES {
        let more = changed.len() - MAX_FILES;
        changed.truncate(MAX_FILES);
        changed.push(Cause::MoreFiles(more));
    }
    changed
}
