//! `cp` both ways and `export`. Container paths are resolved inside the container's root
//! (symlinks cannot lead out of it); trees are walked without following symlinks, which are
//! copied as links. A running container is reached through its live root (volumes
//! included); a stopped one through a temporary overlay mount.

use crate::record::{ContainerRecord, State};
use crate::rootfs::{RootfsError, RootfsView, ViewMode};
use kiln_cache::Store;
use kiln_executor::securejoin::{resolve_in_root, ResolveError};
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Rootfs(#[from] RootfsError),
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not find the file {path} in container {id}")]
    NotFound { id: String, path: String },
    #[error("destination directory {0} does not exist in the container")]
    NoParent(String),
    #[error(
        "destination {0} must be a directory in the container when copying a tar stream from stdin"
    )]
    NotADirectory(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn view(store: &Store, rec: &ContainerRecord, writable: bool) -> Result<RootfsView, CopyError> {
    let running = matches!(rec.state, State::Running | State::Paused)
        && rec.pid > 0
        && crate::procs::is_init_of(rec.pid, &rec.id);
    if running {
        return Ok(RootfsView::live(rec.pid));
    }
    let mode = if writable {
        ViewMode::Writable
    } else {
        ViewMode::ReadOnly
    };
    Ok(RootfsView::mount(store, rec, mode)?)
}

/// `cp CONTAINER:SRC HOST_DEST`.
pub fn copy_from(
    store: &Store,
    rec: &ContainerRecord,
    src: &str,
    dest: &Path,
) -> Result<(), CopyError> {
    let v = view(store, rec, false)?;
    let (abs, md) = locate(v.path(), rec, src)?;
    let target = match (dest.is_dir(), Path::new(src).file_name()) {
        (true, Some(n)) => dest.join(n),
        _ => dest.to_path_buf(),
    };
    copy_tree(&abs, &md, &target, &mut |_| Ok(None))
}

/// The host path and metadata of container path `src` under `root`. The directory part
/// is resolved inside the root; the last component is taken as it is (a symlink is
/// copied as a link, as Docker does without -L).
fn locate(
    root: &Path,
    rec: &ContainerRecord,
    src: &str,
) -> Result<(PathBuf, std::fs::Metadata), CopyError> {
    let src_path = Path::new(src);
    let parent = src_path
        .parent()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|| "/".into());
    let mut abs = root.join(resolve_in_root(root, &parent)?);
    if let Some(n) = src_path.file_name() {
        abs.push(n);
    }
    let md = std::fs::symlink_metadata(&abs).map_err(|_| CopyError::NotFound {
        id: crate::ids::short(&rec.id).to_string(),
        path: src.to_string(),
    })?;
    Ok((abs, md))
}

/// `cp CONTAINER:SRC -`: SRC as a tar stream on `out`, named by its last component.
pub fn copy_from_as_tar(
    store: &Store,
    rec: &ContainerRecord,
    src: &str,
    out: impl io::Write,
) -> Result<(), CopyError> {
    let v = view(store, rec, false)?;
    let (abs, md) = locate(v.path(), rec, src)?;
    let name = Path::new(src)
        .file_name()
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    if md.is_dir() {
        tar.append_dir_all(&name, &abs)
    } else {
        tar.append_path_with_name(&abs, &name)
    }
    .map_err(io_err(&abs))?;
    tar.finish().map_err(io_err(&abs))
}

/// `cp - CONTAINER:DEST`: unpacks the tar stream `input` into directory DEST. The stream
/// is staged in the store first, then copied in as `cp DIR/ENTRY CONTAINER:DEST` would,
/// so every path is resolved inside the container's root.
pub fn copy_to_from_tar(
    store: &Store,
    rec: &ContainerRecord,
    input: impl io::Read,
    dest: &str,
) -> Result<(), CopyError> {
    {
        let v = view(store, rec, false)?;
        let resolved = v.path().join(resolve_in_root(v.path(), dest)?);
        if !resolved.is_dir() {
            return Err(CopyError::NotADirectory(dest.to_string()));
        }
    }
    let staging = tempfile::Builder::new()
        .prefix("cp-stdin-")
        .tempdir_in(store.root())
        .map_err(io_err(store.root()))?;
    tar::Archive::new(input)
        .unpack(staging.path())
        .map_err(io_err(staging.path()))?;
    for e in std::fs::read_dir(staging.path()).map_err(io_err(staging.path()))? {
        let e = e.map_err(io_err(staging.path()))?;
        copy_to(store, rec, &e.path(), dest)?;
    }
    Ok(())
}

/// `cp HOST_SRC CONTAINER:DEST`.
pub fn copy_to(
    store: &Store,
    rec: &ContainerRecord,
    src: &Path,
    dest: &str,
) -> Result<(), CopyError> {
    let v = view(store, rec, true)?;
    let root = v.path().to_path_buf();
    let md = std::fs::symlink_metadata(src).map_err(io_err(src))?;
    let resolved = root.join(resolve_in_root(&root, dest)?);
    let ctr_target = if resolved.is_dir() {
        match src.file_name() {
            Some(n) => format!("{}/{}", dest.trim_end_matches('/'), n.to_string_lossy()),
            None => dest.to_string(),
        }
    } else {
        let parent = resolved.parent().unwrap_or(&root);
        if !parent.is_dir() {
            return Err(CopyError::NoParent(dest.to_string()));
        }
        dest.to_string()
    };
    // Every path written is resolved inside the root again, so a symlink in the container
    // at any depth of the copied tree stays inside the container.
    let mut resolve = |ctr: &Path| -> Result<Option<PathBuf>, CopyError> {
        let rel = ctr.strip_prefix(&root).unwrap_or(ctr);
        let ctr_path = format!("/{}", rel.display());
        Ok(Some(root.join(resolve_in_root(&root, &ctr_path)?)))
    };
    let first =
        resolve(&root.join(ctr_target.trim_start_matches('/')))?.unwrap_or_else(|| root.clone());
    copy_tree(src, &md, &first, &mut resolve)
}

type Resolver<'a> = dyn FnMut(&Path) -> Result<Option<PathBuf>, CopyError> + 'a;

/// Copies `src` (with metadata `md`) to `dst`; `resolve` may redirect each child target.
fn copy_tree(
    src: &Path,
    md: &std::fs::Metadata,
    dst: &Path,
    resolve: &mut Resolver<'_>,
) -> Result<(), CopyError> {
    let ft = md.file_type();
    if ft.is_dir() {
        match std::fs::symlink_metadata(dst) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                std::fs::remove_file(dst).map_err(io_err(dst))?;
                std::fs::create_dir(dst).map_err(io_err(dst))?;
            }
            Err(_) => std::fs::create_dir(dst).map_err(io_err(dst))?,
        }
        std::fs::set_permissions(dst, std::fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(io_err(dst))?;
        for e in std::fs::read_dir(src).map_err(io_err(src))? {
            let e = e.map_err(io_err(src))?;
            let child_src = e.path();
            let child_md = std::fs::symlink_metadata(&child_src).map_err(io_err(&child_src))?;
            let naive = dst.join(e.file_name());
            let child_dst = resolve(&naive)?.unwrap_or(naive);
            copy_tree(&child_src, &child_md, &child_dst, resolve)?;
        }
        return Ok(());
    }
    if std::fs::symlink_metadata(dst).is_ok_and(|m| !m.is_dir()) {
        std::fs::remove_file(dst).map_err(io_err(dst))?;
    }
    if ft.is_symlink() {
        let t = std::fs::read_link(src).map_err(io_err(src))?;
        std::os::unix::fs::symlink(&t, dst).map_err(io_err(dst))?;
    } else if ft.is_file() {
        std::fs::copy(src, dst).map_err(io_err(dst))?;
    } else {
        tracing::warn!("cp: skipping special file {}", src.display());
    }
    Ok(())
}

/// `export`: the container's merged filesystem (without volumes) as a tar stream.
pub fn export(store: &Store, rec: &ContainerRecord, out: impl io::Write) -> Result<(), CopyError> {
    let v = RootfsView::mount(store, rec, ViewMode::ReadOnly)?;
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Complete);
    tar.append_dir_all(".", v.path())
        .map_err(io_err(v.path()))?;
    tar.finish().map_err(io_err(v.path()))?;
    Ok(())
}
