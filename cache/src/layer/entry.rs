//! One filesystem object of a layer, as read from disk by the diff walkers and written to tar.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// What an entry is. Whiteouts are OCI's `.wh.` markers; the tar writer names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(PathBuf),
    /// A further name of a file already written earlier in this layer (archive-relative).
    Hardlink(PathBuf),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
    /// `.wh.<name>`: the path was deleted relative to lower layers.
    Whiteout,
    /// `<dir>/.wh..wh..opq`: hide everything lower layers have in this directory.
    Opaque,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative path inside the layer, never empty, no `.`/`..` components.
    pub path: PathBuf,
    pub kind: EntryKind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub size: u64,
    /// Sorted by name so the tar bytes are deterministic.
    pub xattrs: Vec<(String, Vec<u8>)>,
    /// Where to read a regular file's bytes from.
    pub source: Option<PathBuf>,
}

/// Xattrs that describe the overlay filesystem itself, not the file; never put in a layer.
fn is_overlay_private(name: &str) -> bool {
    name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.")
}

pub fn read_xattrs(path: &Path) -> io::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    let names = match xattr::list(path) {
        Ok(n) => n,
        // Filesystems without xattr support simply have none.
        Err(e) if e.raw_os_error() == Some(nix::libc::ENOTSUP) => return Ok(out),
        Err(e) => return Err(e),
    };
    for name in names {
        let Some(name) = name.to_str().map(str::to_string) else {
            continue;
        };
        if is_overlay_private(&name) {
            continue;
        }
        if let Some(v) = xattr::get(path, &name)? {
            out.push((name, v));
        }
    }
    out.sort();
    Ok(out)
}

pub fn dev_major(rdev: u64) -> u32 {
    nix::sys::stat::major(rdev) as u32
}

pub fn dev_minor(rdev: u64) -> u32 {
    nix::sys::stat::minor(rdev) as u32
}

/// Build an entry from a file's metadata (hardlinks are resolved by the walker, not here).
pub fn entry_from_fs(rel: &Path, abs: &Path, md: &Metadata) -> io::Result<Entry> {
    let ft = md.file_type();
    let kind = if ft.is_dir() {
        EntryKind::Dir
    } else if ft.is_file() {
        EntryKind::File
    } else if ft.is_symlink() {
        EntryKind::Symlink(std::fs::read_link(abs)?)
    } else if ft.is_char_device() {
        EntryKind::CharDevice {
            major: dev_major(md.rdev()),
            minor: dev_minor(md.rdev()),
        }
    } else if ft.is_block_device() {
        EntryKind::BlockDevice {
            major: dev_major(md.rdev()),
            minor: dev_minor(md.rdev()),
        }
    } else if ft.is_fifo() {
        EntryKind::Fifo
    } else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{}: sockets cannot be stored in a layer", abs.display()),
        ));
    };
    let is_file = kind == EntryKind::File;
    Ok(Entry {
        path: rel.to_path_buf(),
        mode: md.mode() & 0o7777,
        uid: md.uid() as u64,
        gid: md.gid() as u64,
        mtime: md.mtime(),
        size: if is_file { md.len() } else { 0 },
        xattrs: read_xattrs(abs)?,
        source: is_file.then(|| abs.to_path_buf()),
        kind,
    })
}
