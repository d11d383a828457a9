//! COPY and ADD: one File vertex copying from the build context (a Local source reading
//! only the named paths), another stage, an image, heredoc files, URLs (ADD) or git
//! repositories (ADD) into the stage's filesystem; `--link` copies onto scratch and
//! merges the result over the previous filesystem, as BuildKit does.
//!
//! API (crate-internal): [`dispatch_copy`].

use super::dispatch::{expand, expand_with, parse_owner};
use super::mounts::context_source;
use super::refs::PlanView;
use super::state::{add, StageState};
use super::{CompileError, Ctx};
use crate::graph::{Copy, FileAction, FileOp, Op, Owner, Source};
use crate::instructions::{parse_chmod, Command, CopyArgs};
use crate::paths::{clean, dest_path};
use crate::shell::Lexer;

fn is_git(src: &str) -> bool {
    if src.starts_with("git@") || src.starts_with("git://") || src.starts_with("ssh://") {
        return true;
    }
    let http = src.starts_with("http://") || src.starts_with("https://");
    let base = src.split(['#', '?']).next().unwrap_or(src);
    http && base.ends_with(".git")
}

fn is_http(src: &str) -> bool {
    (src.starts_with("http://") || src.starts_with("https://")) && !is_git(src)
}

/// `remote#ref:subdir` split into its parts.
fn git_source(src: &str, keep_git_dir: bool, checksum: Option<String>) -> Source {
    let (remote, fragment) = src.split_once('#').unwrap_or((src, ""));
    let (reference, subdir) = fragment.split_once(':').unwrap_or((fragment, ""));
    Source::Git {
        remote: remote.to_string(),
        reference: (!reference.is_empty()).then(|| reference.to_string()),
        subdir: (!subdir.is_empty()).then(|| subdir.to_string()),
        keep_git_dir,
        checksum,
    }
}

/// The file name a URL is saved as (BuildKit's `__unnamed__` when it has none).
fn url_filename(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split(['?', '#']).next().unwrap_or("");
    let path = path.split_once('/').map_or("", |(_, p)| p);
    match path.rsplit('/').next() {
        Some(name) if !name.is_empty() && name != "." => name.to_string(),
        _ => "__unnamed__".to_string(),
    }
}

/// A source path inside its filesystem; `--parents` keeps a `/./` pivot.
fn source_path(src: &str, parents: bool) -> String {
    if parents {
        if let Some((parent, pattern)) = src.split_once("/./") {
            return format!(
                "{}/./{}",
                clean(&format!("/{parent}")).trim_end_matches('/'),
                clean(pattern)
            );
        }
    }
    clean(&format!("/{src}"))
}

pub fn dispatch_copy(
    cx: &mut Ctx,
    st: &mut StageState,
    cmd: &Command,
    c: &CopyArgs,
    is_add: bool,
    view: &PlanView<'_>,
) -> Result<(), CompileError> {
    let name = if is_add { "ADD" } else { "COPY" };
    let chown = match &c.chown {
        Some(v) => expand(cx, st, cmd, v)?,
        None => String::new(),
    };
    let chmod = match &c.chmod {
        Some(v) => expand(cx, st, cmd, v)?,
        None => String::new(),
    };
    let checksum = match &c.checksum {
        Some(v) => expand(cx, st, cmd, v)?,
        None => String::new(),
    };
    let mut sources = Vec::new();
    for s in &c.sources {
        sources.push(expand(cx, st, cmd, s)?);
    }
    let dest_raw = expand(cx, st, cmd, &c.dest)?;
    let mut raw = Lexer::new('\\');
    raw.skip_process_quotes = true;
    let mut docs = Vec::new();
    for doc in &c.heredocs {
        let data = if doc.expand {
            expand_with(cx, st, cmd, &doc.content, &raw)?
        } else {
            doc.content.clone()
        };
        docs.push((doc.name.clone(), data));
    }

    let mode = if chmod.is_empty() {
        None
    } else {
        Some(parse_chmod(&chmod).map_err(|_| {
            cx.error(cmd, "--chmod", format!("invalid chmod parameter: '{chmod}'. it should be octal string and between 0 and 07777"), "--chmod=<octal mode>, e.g. --chmod=644")
        })?)
    };
    if !checksum.is_empty() {
        if sources.len() != 1 {
            return Err(cx.error(
                cmd,
                "--checksum",
                "checksum can't be specified for multiple sources".into(),
                "one URL or git source with --checksum",
            ));
        }
        if !is_http(&sources[0]) && !is_git(&sources[0]) {
            return Err(cx.error(
                cmd,
                "--checksum",
                "checksum requires HTTP(S) or Git sources".into(),
                "ADD --checksum=sha256:<hex> https://…",
            ));
        }
    }
    let owner: Option<Owner> = (!chown.is_empty()).then(|| parse_owner(&chown));
    let dest = dest_path(&st.workdir, &dest_raw);
    // `--chmod` only sets the mode of the copied entries, so it fits a standalone layer too.
    let link = c.link;
    let base = if link {
        add(cx, Op::Source(Source::Scratch), vec![], st.origin(cmd))?
    } else {
        st.rootfs.clone()
    };
    let mut inputs = vec![base];
    let mut actions = Vec::new();
    let template = Copy {
        input: 0,
        src: String::new(),
        dest: dest.clone(),
        owner: owner.clone(),
        mode,
        follow_symlinks: false,
        dir_contents_only: false,
        allow_wildcard: false,
        allow_empty_wildcard: false,
        create_dest_path: true,
        unpack_archives: false,
        parents: false,
        exclude: c.exclude.clone(),
    };

    // The build context is one source reading exactly the paths this instruction names.
    let local: Vec<String> = sources
        .iter()
        .filter(|s| !is_git(s) && !is_http(s))
        .cloned()
        .collect();
    let from_input = match &c.from {
        Some(f) => Some(view.source(cx, &st.label, cmd, f, &local)?),
        None if !local.is_empty() => Some(context_source(cx, st, cmd, &local)?),
        None => None,
    };
    let from_index = from_input.map(|d| {
        inputs.push(d);
        inputs.len() - 1
    });

    for src in &sources {
        if is_git(src) {
            if !is_add {
                return Err(cx.error(
                    cmd,
                    src,
                    "source can't be a git ref for COPY".into(),
                    "ADD for git sources",
                ));
            }
            let pin = (!checksum.is_empty()).then(|| checksum.clone());
            let op = Op::Source(git_source(src, c.keep_git_dir.unwrap_or(false), pin));
            inputs.push(add(cx, op, vec![], st.origin(cmd))?);
            actions.push(FileAction::Copy(Copy {
                input: inputs.len() - 1,
                src: "/".into(),
                ..template.clone()
            }));
        } else if is_http(src) {
            if !is_add {
                return Err(cx.error(
                    cmd,
                    src,
                    "source can't be a URL for COPY".into(),
                    "ADD for URLs, or download in a RUN step",
                ));
            }
            let filename = url_filename(src);
            let op = Op::Source(Source::Http {
                url: src.clone(),
                checksum: (!checksum.is_empty()).then(|| checksum.clone()),
                filename: Some(filename.clone()),
                chmod: None,
                chown: None,
            });
            inputs.push(add(cx, op, vec![], st.origin(cmd))?);
            actions.push(FileAction::Copy(Copy {
                input: inputs.len() - 1,
                src: format!("/{filename}"),
                unpack_archives: c.unpack.unwrap_or(false),
                ..template.clone()
            }));
        } else {
            let Some(input) = from_index else {
                return Err(cx.error(
                    cmd,
                    src,
                    "internal error: no source for a local path".into(),
                    "this not to happen; please report it",
                ));
            };
            actions.push(FileAction::Copy(Copy {
                input,
                src: source_path(src, c.parents),
                follow_symlinks: true,
                dir_contents_only: true,
                allow_wildcard: true,
                allow_empty_wildcard: true,
                unpack_archives: is_add && c.unpack.unwrap_or(true),
                parents: c.parents,
                ..template.clone()
            }));
        }
    }
    for (doc_name, data) in &docs {
        let scratch = add(cx, Op::Source(Source::Scratch), vec![], st.origin(cmd))?;
        let file = Op::File(FileOp {
            actions: vec![FileAction::Mkfile {
                path: format!("/{doc_name}"),
                mode: 0o644,
                data: data.clone(),
                owner: None,
            }],
        });
        inputs.push(add(cx, file, vec![scratch], st.origin(cmd))?);
        actions.push(FileAction::Copy(Copy {
            input: inputs.len() - 1,
            src: format!("/{doc_name}"),
            exclude: Vec::new(),
            ..template.clone()
        }));
    }

    let copied = add(cx, Op::File(FileOp { actions }), inputs, st.origin(cmd))?;
    st.rootfs = if link {
        add(
            cx,
            Op::Merge,
            vec![st.rootfs.clone(), copied],
            st.origin(cmd),
        )?
    } else {
        copied
    };

    let mut msg = String::from(name);
    if c.parents {
        msg.push_str(" --parents");
    }
    if !chown.is_empty() {
        msg.push_str(&format!(" --chown={chown}"));
    }
    if !chmod.is_empty() {
        msg.push_str(&format!(" --chmod={chmod}"));
    }
    for s in &sources {
        msg.push(' ');
        msg.push_str(s);
    }
    for (doc_name, _) in &docs {
        msg.push_str(&format!(" <<{doc_name}"));
    }
    msg.push(' ');
    msg.push_str(&dest_raw);
    st.commit(msg, true, true);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        assert!(is_git("https://github.com/o/r.git#main:dir"));
        assert!(is_git("git@github.com:o/r.git"));
        assert!(is_http("https://example.com/a.tar.gz"));
        assert!(!is_http("src/"));
        assert_eq!(url_filename("https://e.com/dl/a.tgz?x=1"), "a.tgz");
        assert_eq!(url_filename("https://e.com/"), "__unnamed__");
        assert_eq!(
            git_source("https://h/r.git#v1:sub", false, Some("abc1234".into())),
            Source::Git {
                remote: "https://h/r.git".into(),
                reference: Some("v1".into()),
                subdir: Some("sub".into()),
                keep_git_dir: false,
                checksum: Some("abc1234".into()),
            }
        );
        assert_eq!(source_path("a/./b/c", true), "/a/./b/c");
        assert_eq!(source_path("./x/../y", false), "/y");
    }
}
