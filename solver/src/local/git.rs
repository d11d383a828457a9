//! `ADD <git repository>#ref:subdir`: a shallow fetch of one commit with the system `git`,
//! its tree (or a subdirectory of it) as a one-layer chain. The cache key is the commit the
//! ref resolves to (`git ls-remote`), so a moved branch re-fetches and an unchanged one
//! never downloads anything.
//!
//! Reproducible by construction: every file and directory gets the commit's time as mtime,
//! root ownership, and 0644/0755 modes (git stores only the executable bit). `.git` is left
//! out unless `--keep-git-dir`.
//!
//! API (crate-internal): [`key`], [`run`], [`GitError`].

use std::path::{Component, Path, PathBuf};
use std::process::Command;

use kiln_cache::layer::diff::tree_entries;
use kiln_cache::layer::EntryKind;
use kiln_frontend::graph::{Source, Vertex};
use serde::Serialize;

use super::chain::Chain;
use super::fetched::single_layer;
use super::step_dir::step_dir;
use super::{blocking, LocalWorker};
use crate::progress::Stream;
use crate::worker::StepContext;

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("ADD {remote}: running `git {args}`: {source}; install git (apt-get install git)")]
    Spawn {
        remote: String,
        args: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ADD {remote}: `git {args}` failed ({status}): {stderr}")]
    Failed {
        remote: String,
        args: String,
        status: String,
        stderr: String,
    },
    #[error("ADD {remote}: the repository has no ref {reference:?}; use a branch, tag or full commit id")]
    NoRef { remote: String, reference: String },
    #[error("ADD {remote}#{reference}: checksum mismatch: --checksum={expected} but the ref resolves to commit {actual}")]
    Checksum {
        remote: String,
        reference: String,
        expected: String,
        actual: String,
    },
    #[error("ADD {remote}: subdirectory {subdir:?} {reason}")]
    Subdir {
        remote: String,
        subdir: String,
        reason: String,
    },
    #[error("ADD {remote}: {message}")]
    Other { remote: String, message: String },
}

/// What a Git op asks for, borrowed from the graph.
pub struct GitSpec<'a> {
    pub remote: &'a str,
    pub reference: Option<&'a str>,
    pub subdir: Option<&'a str>,
    pub keep_git_dir: bool,
    /// `ADD --checksum`: the resolved commit id must start with this.
    pub checksum: Option<&'a str>,
}

impl<'a> GitSpec<'a> {
    /// The spec of a `Git` source; `None` for any other kind of source. Cache key and run
    /// both build it here, so they can never read the op differently.
    pub(super) fn of(source: &'a Source) -> Option<Self> {
        let Source::Git {
            remote,
            reference,
            subdir,
            keep_git_dir,
            checksum,
        } = source
        else {
            return None;
        };
        Some(GitSpec {
            remote,
            reference: reference.as_deref(),
            subdir: subdir.as_deref(),
            keep_git_dir: *keep_git_dir,
            checksum: checksum.as_deref(),
        })
    }
}

#[derive(Serialize)]
struct KeyDoc<'a> {
    commit: &'a str,
    subdir: &'a str,
    keep_git_dir: bool,
}

fn git(remote: &str, dir: Option<&Path>, args: &[&str]) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    // Local repositories are fetched over the file protocol, which newer git refuses
    // for submodules by default; never prompt for credentials in a build.
    cmd.args([
        "-c",
        "protocol.file.allow=always",
        "-c",
        "advice.detachedHead=false",
    ])
    .args(args)
    .env("GIT_TERMINAL_PROMPT", "0")
    .env("GIT_CONFIG_NOSYSTEM", "1")
    .env("LC_ALL", "C");
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let shown = args.join(" ");
    let out = cmd.output().map_err(|source| GitError::Spawn {
        remote: remote.to_string(),
        args: shown.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(GitError::Failed {
            remote: remote.to_string(),
            args: shown,
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn is_commit_id(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `resolve`, then the `--checksum` pin checked against the commit it found.
fn resolve(spec: &GitSpec<'_>) -> Result<(String, String), GitError> {
    let (commit, fetch_ref) = resolve_ref(spec)?;
    if let Some(pin) = spec.checksum {
        let pin = pin.trim().to_ascii_lowercase();
        // A commit id or an unambiguous prefix of one (git's own minimum is 4; ask for 7).
        if pin.len() < 7 || !commit.starts_with(&pin) {
            return Err(GitError::Checksum {
                remote: spec.remote.to_string(),
                reference: spec.reference.unwrap_or("HEAD").to_string(),
                expected: pin,
                actual: commit,
            });
        }
    }
    Ok((commit, fetch_ref))
}

/// The commit `reference` (default HEAD) names in `remote`, and the ref to fetch it by.
fn resolve_ref(spec: &GitSpec<'_>) -> Result<(String, String), GitError> {
    let wanted = spec.reference.unwrap_or("HEAD");
    if is_commit_id(wanted) {
        return Ok((wanted.to_ascii_lowercase(), wanted.to_ascii_lowercase()));
    }
    let listing = git(spec.remote, None, &["ls-remote", "--", spec.remote])?;
    let refs: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once('\t')).collect();
    // A tag's peeled entry (`^{}`) names the commit; prefer it over the tag object.
    let candidates = [
        wanted.to_string(),
        format!("refs/heads/{wanted}"),
        format!("refs/tags/{wanted}"),
    ];
    for name in &candidates {
        let peeled = format!("{name}^{{}}");
        if let Some((id, _)) = refs.iter().find(|(_, r)| *r == peeled) {
            return Ok((id.to_string(), name.clone()));
        }
        if let Some((id, _)) = refs.iter().find(|(_, r)| r == name) {
            return Ok((id.to_string(), name.clone()));
        }
    }
    Err(GitError::NoRef {
        remote: spec.remote.to_string(),
        reference: wanted.to_string(),
    })
}

/// A relative subdirectory that stays inside the checkout.
fn clean_subdir(spec: &GitSpec<'_>) -> Result<PathBuf, GitError> {
    let raw = spec.subdir.unwrap_or("");
    let mut out = PathBuf::new();
    for c in Path::new(raw).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir | Component::Prefix(_) => {
                return Err(GitError::Subdir {
                    remote: spec.remote.to_string(),
                    subdir: raw.to_string(),
                    reason: "leaves the repository; use a path inside it".into(),
                })
            }
        }
    }
    Ok(out)
}

/// The content part of the cache key: the resolved commit, subdir and `.git` choice.
pub async fn key(spec: &GitSpec<'_>) -> Result<String, GitError> {
    let (commit, _) = blocking(|| resolve(spec))?;
    let subdir = clean_subdir(spec)?;
    serde_json::to_string(&KeyDoc {
        commit: &commit,
        subdir: &subdir.to_string_lossy(),
        keep_git_dir: spec.keep_git_dir,
    })
    .map_err(|e| GitError::Other {
        remote: spec.remote.to_string(),
        message: e.to_string(),
    })
}

/// Fetch the commit and return its tree (or subdirectory) as a one-layer chain.
pub async fn run(
    w: &LocalWorker,
    _vertex: &Vertex,
    spec: &GitSpec<'_>,
    ctx: &StepContext,
) -> Result<Chain, GitError> {
    blocking(|| checkout_chain(w, spec, ctx))
}

fn checkout_chain(
    w: &LocalWorker,
    spec: &GitSpec<'_>,
    ctx: &StepContext,
) -> Result<Chain, GitError> {
    let other = |message: String| GitError::Other {
        remote: spec.remote.to_string(),
        message,
    };
    let (commit, fetch_ref) = resolve(spec)?;
    let subdir = clean_subdir(spec)?;
    let tmp = step_dir(w.store.root()).map_err(|e| other(e.to_string()))?;
    let repo = tmp.path().join("checkout");
    std::fs::create_dir(&repo).map_err(|e| other(format!("creating {}: {e}", repo.display())))?;
    let remote = spec.remote;
    git(remote, Some(&repo), &["init", "-q"])?;
    git(remote, Some(&repo), &["remote", "add", "origin", remote])?;
    let fetched = git(
        remote,
        Some(&repo),
        &[
            "fetch",
            "-q",
            "--depth=1",
            "--no-tags",
            "origin",
            &fetch_ref,
        ],
    );
    if let Err(e) = fetched {
        // Servers that refuse fetching a bare commit id still serve it in a full fetch.
        if !is_commit_id(&fetch_ref) {
            return Err(e);
        }
        git(remote, Some(&repo), &["fetch", "-q", "origin"])?;
    }
    git(remote, Some(&repo), &["checkout", "-q", &commit])?;
    let time: i64 = git(remote, Some(&repo), &["log", "-1", "--format=%ct", &commit])?
        .trim()
        .parse()
        .map_err(|e| other(format!("reading the commit time of {commit}: {e}")))?;
    if !spec.keep_git_dir {
        let dotgit = repo.join(".git");
        std::fs::remove_dir_all(&dotgit)
            .map_err(|e| other(format!("removing {}: {e}", dotgit.display())))?;
    }
    let root = repo.join(&subdir);
    let meta = std::fs::symlink_metadata(&root);
    if !meta.as_ref().is_ok_and(|m| m.is_dir()) {
        return Err(GitError::Subdir {
            remote: remote.to_string(),
            subdir: subdir.to_string_lossy().into_owned(),
            reason: format!("is not a directory at commit {commit}"),
        });
    }
    let mut entries = tree_entries(&root).map_err(|e| other(e.to_string()))?;
    for e in &mut entries {
        e.mtime = time;
        e.uid = 0;
        e.gid = 0;
        e.mode = match e.kind {
            EntryKind::Dir => 0o755,
            EntryKind::File | EntryKind::Hardlink(_) if e.mode & 0o111 != 0 => 0o755,
            EntryKind::Symlink(_) => 0o777,
            _ => 0o644,
        };
    }
    tracing::debug!(remote, %commit, files = entries.len(), "git checkout");
    ctx.log(
        Stream::Stdout,
        format!(
            "{remote} {}: commit {commit}, {} entries\n",
            spec.reference.unwrap_or("HEAD"),
            entries.len()
        )
        .as_bytes(),
    );
    single_layer(&w.store, w.lease.as_ref(), &entries).map_err(|e| other(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdirs_stay_inside() {
        let spec = |s: &'static str| GitSpec {
            remote: "git://h/r.git",
            reference: None,
            subdir: Some(s),
            keep_git_dir: false,
            checksum: None,
        };
        assert_eq!(
            clean_subdir(&spec("/a/./b/")).unwrap(),
            PathBuf::from("a/b")
        );
        assert!(matches!(
            clean_subdir(&spec("a/../../x")),
            Err(GitError::Subdir { .. })
        ));
        assert!(is_commit_id("0123456789abcdef0123456789abcdef01234567"));
        assert!(!is_commit_id("main"));
    }

    #[test]
    fn spec_reads_every_field_of_a_git_source() {
        let source = Source::Git {
            remote: "git://h/r.git".into(),
            reference: Some("v1".into()),
            subdir: Some("docs".into()),
            keep_git_dir: true,
            checksum: Some("0123abc".into()),
        };
        let spec = GitSpec::of(&source).unwrap();
        assert_eq!(
            (spec.remote, spec.reference, spec.subdir),
            ("git://h/r.git", Some("v1"), Some("docs"))
        );
        assert!(spec.keep_git_dir);
        assert_eq!(spec.checksum, Some("0123abc"));
        assert!(GitSpec::of(&Source::Scratch).is_none());
    }
}
