//! Apply a layer tar onto a directory. `Merge` gives the plain filesystem (whiteouts delete,
//! opaque dirs clear); `Overlay` keeps the layer as an overlayfs lower dir (whiteouts become
//! 0:0 char devices, opaque dirs get `trusted.overlay.opaque=y`). Hostile archives cannot write
//! outside `dest`: `..` and absolute names, writes through symlinks, hardlinks leaving the
//! tree and (unless allowed) device nodes are rejected.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::AtFlags;
use nix::sys::stat::{makedev, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};
use tracing::warn;

pub use super::tarread::clean_name;
use super::tarread::{read_meta, Meta};
use super::unpack::read_full;

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("hostile layer: entry {name:?} has an absolute path; layer paths must be relative")]
    Absolute { name: String },
    #[error("hostile layer: entry {name:?} climbs out of the layer with `..`")]
    ParentDir { name: String },
    #[error("hostile layer: entry {name:?} would write through the symlink {symlink}, which could point outside the snapshot")]
    ThroughSymlink { name: String, symlink: PathBuf },
    #[error("hostile layer: hardlink {name:?} points at {target:?}, outside the layer")]
    LinkOutside { name: String, target: String },
    #[error("layer entry {name:?} is a device node; device nodes are not allowed in this layer")]
    DeviceNotAllowed { name: String },
    #[error("layer entry {name:?}: hardlink target {target:?} does not exist in the snapshot (or is a directory)")]
    LinkTargetMissing { name: String, target: String },
    #[error("layer entry {name:?}: {parent} is not a directory")]
    NotADirectory { name: String, parent: PathBuf },
    #[error("layer entry {name:?}: unsupported tar entry type {kind:?}")]
    Unsupported { name: String, kind: u8 },
    #[error("reading layer tar: {0}")]
    Read(#[source] io::Error),
    #[error("the thread applying the layer panicked; see the log above")]
    Panicked,
    #[error("layer entry {name:?}: {op} {path}: {source}")]
    Fs {
        name: String,
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyMode {
    /// The plain merged filesystem (export, flattening, local output).
    Merge,
    /// One overlayfs layer directory, stacked with others as lowerdirs.
    Overlay,
}

#[derive(Debug, Clone, Copy)]
pub struct ApplyOptions {
    pub mode: ApplyMode,
    /// Create char/block device nodes (trusted images only).
    pub allow_devices: bool,
}

struct Applier<'a> {
    dest: &'a Path,
    opts: ApplyOptions,
    /// Paths this layer wrote: whiteouts and opaque markers only hide lower content.
    written: HashSet<PathBuf>,
    /// Directory mtimes are set last, since writing children changes them.
    dir_times: Vec<(PathBuf, i64)>,
    /// Large copy buffer: file data dominates apply time, and 8 KiB writes cost syscalls.
    buf: Vec<u8>,
}

fn fs_err(name: &str, op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ApplyError {
    let (name, path) = (name.to_string(), path.to_path_buf());
    move |source| ApplyError::Fs {
        name,
        op,
        path,
        source,
    }
}

fn nix_err(
    name: &str,
    op: &'static str,
    path: &Path,
) -> impl FnOnce(nix::errno::Errno) -> ApplyError {
    let f = fs_err(name, op, path);
    move |e| f(io::Error::from(e))
}

impl Applier<'_> {
    /// Check every existing ancestor of `rel` is a real directory (never a symlink), creating
    /// missing ones.
    fn ensure_parents(&self, name: &str, rel: &Path, create: bool) -> Result<(), ApplyError> {
        let mut cur = self.dest.to_path_buf();
        let comps: Vec<_> = rel.components().collect();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(ApplyError::ThroughSymlink {
                        name: name.into(),
                        symlink: cur,
                    });
                }
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ApplyError::NotADirectory {
                        name: name.into(),
                        parent: cur,
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound && create => {
                    fs::create_dir(&cur).map_err(fs_err(name, "create directory", &cur))?;
                    fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                        .map_err(fs_err(name, "chmod", &cur))?;
                }
                Err(e) => return Err(fs_err(name, "stat", &cur)(e)),
            }
        }
        Ok(())
    }

    /// Remove whatever is at `path` (without following symlinks), unless `keep_dir` and it is
    /// a directory.
    fn clear(&self, name: &str, path: &Path, keep_dir: bool) -> Result<(), ApplyError> {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => {
                if !keep_dir {
                    fs::remove_dir_all(path).map_err(fs_err(name, "remove", path))?;
                }
            }
            Ok(_) => fs::remove_file(path).map_err(fs_err(name, "remove", path))?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(fs_err(name, "stat", path)(e)),
        }
        Ok(())
    }

    fn set_meta(
        &mut self,
        name: &str,
        path: &Path,
        m: &Meta,
        is_symlink: bool,
        is_dir: bool,
    ) -> Result<(), ApplyError> {
        nix::unistd::fchownat(
            None,
            path,
            Some(Uid::from_raw(m.uid as u32)),
            Some(Gid::from_raw(m.gid as u32)),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(nix_err(name, "chown", path))?;
        if !is_symlink {
            // After chown, which clears setuid/setgid.
            fs::set_permissions(path, fs::Permissions::from_mode(m.mode & 0o7777))
                .map_err(fs_err(name, "chmod", path))?;
        }
        for (k, v) in &m.xattrs {
            if k.starts_with("trusted.overlay.") || k.starts_with("user.overlay.") {
                // Would let a layer forge overlayfs metadata (redirects, opaque flags).
                warn!(entry = name, xattr = %k, "ignoring overlay-private xattr in layer");
                continue;
            }
            match xattr::set(path, k, v) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => {
                    warn!(entry = name, xattr = %k, "filesystem does not support this xattr; skipped")
                }
                Err(e) => return Err(fs_err(name, "set xattr on", path)(e)),
            }
        }
        if is_dir {
            self.dir_times.push((path.to_path_buf(), m.mtime));
        } else {
            set_mtime(name, path, m.mtime)?;
        }
        Ok(())
    }

    fn whiteout(&mut self, name: &str, rel: &Path) -> Result<(), ApplyError> {
        let Some(leaf) = rel.file_name().map(|l| l.as_bytes()) else {
            return Ok(());
        };
        let parent = rel.parent().unwrap_or(Path::new(""));
        self.ensure_parents(name, rel, true)?;
        if leaf == b".wh..wh..opq" {
            let dir = self.dest.join(parent);
            match self.opts.mode {
                ApplyMode::Merge => {
                    if dir.is_dir() {
                        for e in fs::read_dir(&dir).map_err(fs_err(name, "list", &dir))? {
                            let e = e.map_err(fs_err(name, "list", &dir))?;
                            if !self.written.contains(&parent.join(e.file_name())) {
                                self.clear(name, &e.path(), false)?;
                            }
                        }
                    }
                }
                ApplyMode::Overlay => {
                    if !dir.is_dir() {
                        fs::create_dir(&dir).map_err(fs_err(name, "create directory", &dir))?;
                    }
                    xattr::set(&dir, "trusted.overlay.opaque", b"y").map_err(fs_err(
                        name,
                        "mark opaque",
                        &dir,
                    ))?;
                }
            }
            return Ok(());
        }
        if leaf.starts_with(b".wh..wh.") {
            return Ok(()); // aufs bookkeeping (hardlink dirs), meaningless here
        }
        let hidden = &leaf[4..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." || hidden.contains(&b'/') {
            return Err(ApplyError::ParentDir { name: name.into() });
        }
        let target_rel = parent.join(std::ffi::OsStr::from_bytes(hidden));
        if self.written.contains(&target_rel) {
            return Ok(());
        }
        let target = self.dest.join(&target_rel);
        self.clear(name, &target, false)?;
        if self.opts.mode == ApplyMode::Overlay {
            nix::sys::stat::mknod(&target, SFlag::S_IFCHR, Mode::empty(), 0).map_err(nix_err(
                name,
                "create whiteout",
                &target,
            ))?;
        }
        Ok(())
    }

    fn entry<R: Read>(&mut self, ent: &mut tar::Entry<'_, R>) -> Result<(), ApplyError> {
        let raw = ent.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let ty = ent.header().entry_type();
        if matches!(
            ty,
            tar::EntryType::XGlobalHeader
                | tar::EntryType::XHeader
                | tar::EntryType::GNULongName
                | tar::EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let Some(rel) = clean_name(&raw)? else {
            return Ok(());
        };
        if rel
            .file_name()
            .is_some_and(|l| l.as_bytes().starts_with(b".wh."))
        {
            return self.whiteout(&name, &rel);
        }
        let meta = read_meta(ent).map_err(ApplyError::Read)?;
        self.ensure_parents(&name, &rel, true)?;
        let path = self.dest.join(&rel);
        let is_dir = ty == tar::EntryType::Directory;
        self.clear(&name, &path, is_dir)?;
        match ty {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let mut f = OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .custom_flags(nix::libc::O_NOFOLLOW)
                    .open(&path)
                    .map_err(fs_err(&name, "create", &path))?;
                copy_data(ent, &mut f, &mut self.buf).map_err(fs_err(&name, "write", &path))?;
            }
            tar::EntryType::Directory => {
                if !path.is_dir() {
                    fs::create_dir(&path).map_err(fs_err(&name, "create directory", &path))?;
                }
            }
            tar::EntryType::Symlink => {
                let target = ent
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&target), &path)
                    .map_err(fs_err(&name, "symlink", &path))?;
            }
            tar::EntryType::Link => return self.hardlink(ent, &name, &rel),
            tar::EntryType::Char | tar::EntryType::Block => {
                if !self.opts.allow_devices {
                    return Err(ApplyError::DeviceNotAllowed { name });
                }
                let h = ent.header();
                let major = h.device_major().ok().flatten().unwrap_or(0) as u64;
                let minor = h.device_minor().ok().flatten().unwrap_or(0) as u64;
                let kind = if ty == tar::EntryType::Char {
                    SFlag::S_IFCHR
                } else {
                    SFlag::S_IFBLK
                };
                nix::sys::stat::mknod(
                    &path,
                    kind,
                    Mode::from_bits_truncate(0o600),
                    makedev(major, minor),
                )
                .map_err(nix_err(&name, "mknod", &path))?;
            }
            tar::EntryType::Fifo => {
                nix::unistd::mkfifo(&path, Mode::from_bits_truncate(0o600))
                    .map_err(nix_err(&name, "mkfifo", &path))?;
            }
            other => {
                return Err(ApplyError::Unsupported {
                    name,
                    kind: other.as_byte(),
                })
            }
        }
        self.set_meta(&name, &path, &meta, ty == tar::EntryType::Symlink, is_dir)?;
        self.written.insert(rel);
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        ent: &tar::Entry<'_, R>,
        name: &str,
        rel: &Path,
    ) -> Result<(), ApplyError> {
        let raw = ent
            .link_name_bytes()
            .map(|c| c.into_owned())
            .unwrap_or_default();
        let target = String::from_utf8_lossy(&raw).into_owned();
        let outside = || ApplyError::LinkOutside {
            name: name.into(),
            target: target.clone(),
        };
        let target_rel = match clean_name(&raw) {
            Ok(Some(t)) => t,
            Ok(None) | Err(ApplyError::Absolute { .. }) | Err(ApplyError::ParentDir { .. }) => {
                return Err(outside())
            }
            Err(e) => return Err(e),
        };
        self.ensure_parents(name, &target_rel, false)?;
        let tpath = self.dest.join(&target_rel);
        match fs::symlink_metadata(&tpath) {
            Ok(m) if !m.is_dir() => {}
            _ => {
                return Err(ApplyError::LinkTargetMissing {
                    name: name.into(),
                    target,
                })
            }
        }
        let path = self.dest.join(rel);
        // linkat without AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself.
        fs::hard_link(&tpath, &path).map_err(fs_err(name, "hardlink", &path))?;
        self.written.insert(rel.to_path_buf());
        Ok(())
    }
}

fn copy_data(r: &mut impl Read, w: &mut impl io::Write, buf: &mut [u8]) -> io::Result<()> {
    loop {
        // Fill the buffer (the tar reader hands out small pieces) before each write.
        let n = read_full(r, buf)?;
        if n == 0 {
            return Ok(());
        }
        w.write_all(&buf[..n])?;
    }
}

fn set_mtime(name: &str, path: &Path, mtime: i64) -> Result<(), ApplyError> {
    let t = TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(None, path, &t, &t, UtimensatFlags::NoFollowSymlink).map_err(nix_err(
        name,
        "set mtime of",
        path,
    ))
}

/// Apply an uncompressed layer tar stream onto `dest` (which must exist).
pub fn apply_tar<R: Read>(
    reader: R,
    dest: &Path,
    opts: ApplyOptions,
) -> Result<tar::Archive<R>, ApplyError> {
    let mut ar = tar::Archive::new(reader);
    let mut ap = Applier {
        dest,
        opts,
        written: HashSet::new(),
        dir_times: Vec::new(),
        buf: vec![0u8; 1 << 20],
    };
    for ent in ar.entries().map_err(ApplyError::Read)? {
        let mut ent = ent.map_err(ApplyError::Read)?;
        ap.entry(&mut ent)?;
    }
    // Deepest first, so setting a child's time does not disturb its parent's.
    ap.dir_times
        .sort_by_key(|(p, _)| std::cmp::Reverse(p.components().count()));
    for (p, t) in &ap.dir_times {
        // A later entry may have replaced or removed the directory.
        if fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()) {
            set_mtime(&p.display().to_string(), p, *t)?;
        }
    }
    Ok(ar)
}
