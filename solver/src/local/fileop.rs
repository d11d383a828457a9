//! The actions of a File op (copy, mkdir, mkfile, rm) applied to a mounted root, with
//! owners (`--chown=name:group`) resolved in that root's `/etc/passwd` and `/etc/group`.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kiln_executor::securejoin::resolve_in_root;
use kiln_executor::user::{resolve, UserError};
use kiln_frontend::graph::{FileAction, Owner};

use super::copy::{copy, ensure_dir, io, CopyError, CopySource, Ids};
use crate::context::pattern::glob_match;

#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    #[error(transparent)]
    Copy(#[from] CopyError),
    #[error("--chown: {0}")]
    Owner(#[from] UserError),
    #[error("{0} does not exist; nothing to remove")]
    RmNotFound(String),
    #[error("file action refers to input {0}, which the step does not have")]
    MissingInput(usize),
}

/// Numeric ids of `owner` in the root's user database. A user without a group gets its uid
/// as gid too (Docker's documented COPY --chown rule).
pub fn resolve_owner(root: &Path, owner: &Owner) -> Result<Ids, FileOpError> {
    let read = |p: &str| -> Option<String> {
        let rel = resolve_in_root(root, p).ok()?;
        fs::read_to_string(root.join(rel)).ok()
    };
    let passwd = read("/etc/passwd");
    let group = read("/etc/group");
    let spec = match &owner.group {
        Some(g) => format!("{}:{g}", owner.user),
        None => owner.user.clone(),
    };
    let r = resolve(&spec, passwd.as_deref(), group.as_deref())?;
    let gid = if owner.group.is_some() { r.gid } else { r.uid };
    Ok((r.uid, gid))
}

/// Apply `actions` to `root`; `source(i)` gives the copy source of input `i`.
pub fn apply<'a>(
    root: &Path,
    actions: &[FileAction],
    source: &dyn Fn(usize, &[String]) -> Option<CopySource<'a>>,
) -> Result<(), FileOpError> {
    for action in actions {
        match action {
            FileAction::Copy(c) => {
                let src = source(c.input, &c.exclude).ok_or(FileOpError::MissingInput(c.input))?;
                let owner = c
                    .owner
                    .as_ref()
                    .map(|o| resolve_owner(root, o))
                    .transpose()?;
                copy(c, &src, root, owner)?;
            }
            FileAction::Mkdir {
                path,
                mode,
                make_parents,
                owner,
            } => {
                let ids = owner.as_ref().map(|o| resolve_owner(root, o)).transpose()?;
                let full = ensure_dir(root, path, ids, *make_parents)?;
                fs::set_permissions(&full, fs::Permissions::from_mode(*mode))
                    .map_err(|e| io("chmod", &full)(e))?;
            }
            FileAction::Mkfile {
                path,
                mode,
                data,
                owner,
            } => {
                let ids = owner.as_ref().map(|o| resolve_owner(root, o)).transpose()?;
                let full = root.join(resolve_in_root(root, path).map_err(CopyError::from)?);
                if let Some(parent) = Path::new(path).parent() {
                    ensure_dir(root, &parent.to_string_lossy(), ids, true)?;
                }
                let mut f = fs::File::create(&full).map_err(|e| io("create", &full)(e))?;
                f.write_all(data.as_bytes())
                    .map_err(|e| io("write", &full)(e))?;
                fs::set_permissions(&full, fs::Permissions::from_mode(*mode))
                    .map_err(|e| io("chmod", &full)(e))?;
                if let Some((u, g)) = ids {
                    nix::unistd::chown(&full, Some(u.into()), Some(g.into())).map_err(
                        |source| CopyError::Meta {
                            path: full.clone(),
                            source,
                        },
                    )?;
                }
            }
            FileAction::Rm {
                path,
                allow_not_found,
                allow_wildcard,
            } => rm(root, path, *allow_not_found, *allow_wildcard)?,
        }
    }
    Ok(())
}

fn rm(
    root: &Path,
    path: &str,
    allow_not_found: bool,
    allow_wildcard: bool,
) -> Result<(), FileOpError> {
    let p = Path::new(path);
    let leaf = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parent = p
        .parent()
        .map(|x| x.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let dir = root.join(resolve_in_root(root, &parent).map_err(CopyError::from)?);
    let names: Vec<String> = if allow_wildcard && leaf.contains(['*', '?', '[']) {
        fs::read_dir(&dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| glob_match(&leaf, n))
                    .collect()
            })
            .unwrap_or_default()
    } else {
        vec![leaf]
    };
    let mut removed = false;
    for n in names {
        let full = dir.join(&n);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&full).map_err(|e| io("remove", &full)(e))?,
            Ok(_) => fs::remove_file(&full).map_err(|e| io("remove", &full)(e))?,
            Err(_) => continue,
        }
        removed = true;
    }
    if !removed && !allow_not_found {
        return Err(FileOpError::RmNotFound(path.to_string()));
    }
    Ok(())
}
