//! Deterministic tar output: ustar headers with PAX records only where needed (long names,
//! xattrs, big ids or sizes), in a fixed key order, no atime/ctime, no user/group names, and
//! mtimes clamped to SOURCE_DATE_EPOCH when one is given.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::entry::{Entry, EntryKind};

#[derive(Debug, thiserror::Error)]
pub enum TarWriteError {
    #[error("{path}: file changed size while being archived (expected {expected} bytes); retry when it is not being written to")]
    Changed { path: PathBuf, expected: u64 },
    #[error("reading {path} for the layer: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("writing the layer stream: {0}")]
    Write(#[source] io::Error),
    #[error("{path}: {reason}")]
    Header { path: PathBuf, reason: String },
}

const BLOCK: usize = 512;
const MAX_OCTAL_7: u64 = 0o7777777;
const MAX_OCTAL_11: u64 = 0o77777777777;

#[derive(Debug, Clone, Copy, Default)]
pub struct TarOptions {
    /// Clamp every mtime to this (seconds since the epoch), for reproducible layers.
    pub source_date_epoch: Option<i64>,
}

impl TarOptions {
    /// Read `SOURCE_DATE_EPOCH` from the environment, as reproducible-builds tooling expects.
    pub fn from_env() -> Self {
        let sde = std::env::var("SOURCE_DATE_EPOCH")
            .ok()
            .and_then(|v| v.trim().parse().ok());
        TarOptions {
            source_date_epoch: sde,
        }
    }
}

/// Archive name of an entry: directories end in `/`, whiteouts get their `.wh.` names.
pub fn archive_name(e: &Entry) -> Vec<u8> {
    let join = |dir: Option<&Path>, leaf: &[u8]| -> Vec<u8> {
        let mut v = Vec::new();
        if let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            v.extend_from_slice(d.as_os_str().as_bytes());
            v.push(b'/');
        }
        v.extend_from_slice(leaf);
        v
    };
    match e.kind {
        EntryKind::Whiteout => {
            let mut leaf = b".wh.".to_vec();
            leaf.extend_from_slice(e.path.file_name().map(|n| n.as_bytes()).unwrap_or_default());
            join(e.path.parent(), &leaf)
        }
        EntryKind::Opaque => join(Some(&e.path), b".wh..wh..opq"),
        EntryKind::Dir => join(None, &[e.path.as_os_str().as_bytes(), b"/"].concat()),
        _ => e.path.as_os_str().as_bytes().to_vec(),
    }
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let base = 1 + key.len() + 1 + value.len() + 1; // " key=value\n"
    let mut len = base + base.to_string().len();
    if len.to_string().len() != (len - base) {
        len += 1;
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// Put `name` into the ustar name/prefix fields; false when it does not fit.
fn set_ustar_name(h: &mut tar::Header, name: &[u8]) -> bool {
    let Some(u) = h.as_ustar_mut() else {
        return false;
    };
    if name.len() <= 100 {
        u.name[..name.len()].copy_from_slice(name);
        return true;
    }
    // Split at a slash so that prefix <= 155 and name <= 100 bytes.
    for (i, &b) in name.iter().enumerate().rev() {
        if b == b'/' && i <= 155 && name.len() - i - 1 <= 100 && name.len() - i > 1 {
            u.prefix[..i].copy_from_slice(&name[..i]);
            u.name[..name.len() - i - 1].copy_from_slice(&name[i + 1..]);
            return true;
        }
    }
    false
}

fn write_padded<W: Write + ?Sized>(out: &mut W, data: &[u8]) -> io::Result<()> {
    out.write_all(data)?;
    let rem = data.len() % BLOCK;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
    }
    Ok(())
}

pub fn write_entry<W: Write + ?Sized>(
    out: &mut W,
    e: &Entry,
    opts: &TarOptions,
) -> Result<(), TarWriteError> {
    let name = archive_name(e);
    let mut h = tar::Header::new_ustar();
    let mut pax = Vec::new();
    let (ty, link): (tar::EntryType, Option<&Path>) = match &e.kind {
        EntryKind::File | EntryKind::Whiteout | EntryKind::Opaque => {
            (tar::EntryType::Regular, None)
        }
        EntryKind::Dir => (tar::EntryType::Directory, None),
        EntryKind::Symlink(t) => (tar::EntryType::Symlink, Some(t)),
        EntryKind::Hardlink(t) => (tar::EntryType::Link, Some(t)),
        EntryKind::CharDevice { .. } => (tar::EntryType::Char, None),
        EntryKind::BlockDevice { .. } => (tar::EntryType::Block, None),
        EntryKind::Fifo => (tar::EntryType::Fifo, None),
    };
    let marker = matches!(e.kind, EntryKind::Whiteout | EntryKind::Opaque);
    let size = if e.kind == EntryKind::File { e.size } else { 0 };
    h.set_entry_type(ty);
    h.set_mode(if marker { 0 } else { e.mode & 0o7777 });
    let mtime = match opts.source_date_epoch {
        Some(sde) => e.mtime.min(sde),
        None => e.mtime,
    }
    .max(0) as u64;
    h.set_mtime(mtime);
    // PAX keys in a fixed order so identical input gives identical bytes.
    let (uid, gid) = if marker { (0, 0) } else { (e.uid, e.gid) };
    if gid > MAX_OCTAL_7 {
        pax_record(&mut pax, "gid", gid.to_string().as_bytes());
    } else {
        h.set_gid(gid);
    }
    if let Some(l) = link {
        let lb = l.as_os_str().as_bytes();
        if lb.len() <= 100 {
            if let Some(u) = h.as_ustar_mut() {
                u.linkname[..lb.len()].copy_from_slice(lb);
            }
        } else {
            pax_record(&mut pax, "linkpath", lb);
        }
    }
    if !set_ustar_name(&mut h, &name) {
        pax_record(&mut pax, "path", &name);
        let cut = name.len().min(100);
        set_ustar_name(&mut h, &name[..cut]);
    }
    if size > MAX_OCTAL_11 {
        pax_record(&mut pax, "size", size.to_string().as_bytes());
    } else {
        h.set_size(size);
    }
    if uid > MAX_OCTAL_7 {
        pax_record(&mut pax, "uid", uid.to_string().as_bytes());
    } else {
        h.set_uid(uid);
    }
    if !marker {
        for (k, v) in &e.xattrs {
            pax_record(&mut pax, &format!("SCHILY.xattr.{k}"), v);
        }
    }
    if let EntryKind::CharDevice { major, minor } | EntryKind::BlockDevice { major, minor } = e.kind
    {
        let herr = |err: io::Error| TarWriteError::Header {
            path: e.path.clone(),
            reason: err.to_string(),
        };
        h.set_device_major(major).map_err(herr)?;
        h.set_device_minor(minor).map_err(herr)?;
    }
    h.set_cksum();
    if !pax.is_empty() {
        let mut ph = tar::Header::new_ustar();
        set_ustar_name(&mut ph, b"././@PaxHeader");
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_mode(0o644);
        ph.set_mtime(0);
        ph.set_uid(0);
        ph.set_gid(0);
        ph.set_size(pax.len() as u64);
        ph.set_cksum();
        out.write_all(ph.as_bytes()).map_err(TarWriteError::Write)?;
        write_padded(out, &pax).map_err(TarWriteError::Write)?;
    }
    out.write_all(h.as_bytes()).map_err(TarWriteError::Write)?;
    if size > 0 {
        let src = e.source.as_ref().ok_or_else(|| TarWriteError::Header {
            path: e.path.clone(),
            reason: "regular file entry without a source".into(),
        })?;
        copy_file(out, src, size)?;
    }
    Ok(())
}

/// Copy exactly `size` bytes and the padding; a file that grew or shrank is an error, since
/// the header already promised its size.
fn copy_file<W: Write + ?Sized>(out: &mut W, src: &Path, size: u64) -> Result<(), TarWriteError> {
    let rerr = |source| TarWriteError::Read {
        path: src.to_path_buf(),
        source,
    };
    let f = File::open(src).map_err(rerr)?;
    let mut limited = f.take(size);
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = limited.read(&mut buf).map_err(rerr)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(TarWriteError::Write)?;
        copied += n as u64;
    }
    let mut f = limited.into_inner();
    let mut probe = [0u8; 1];
    if copied != size || f.read(&mut probe).map_err(rerr)? != 0 {
        return Err(TarWriteError::Changed {
            path: src.to_path_buf(),
            expected: size,
        });
    }
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        out.write_all(&[0u8; BLOCK][..BLOCK - rem])
            .map_err(TarWriteError::Write)?;
    }
    Ok(())
}

/// Write all entries and the end-of-archive marker.
pub fn write_tar<W: Write + ?Sized>(
    out: &mut W,
    entries: &[Entry],
    opts: &TarOptions,
) -> Result<(), TarWriteError> {
    for e in entries {
        write_entry(out, e, opts)?;
    }
    out.write_all(&[0u8; 2 * BLOCK])
        .map_err(TarWriteError::Write)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        for vlen in [
            0usize, 1, 5, 90, 91, 92, 93, 94, 95, 990, 995, 996, 997, 998,
        ] {
            let mut out = Vec::new();
            let v = vec![b'x'; vlen];
            pax_record(&mut out, "path", &v);
            let sp = out.iter().position(|&b| b == b' ').unwrap();
            let declared: usize = std::str::from_utf8(&out[..sp]).unwrap().parse().unwrap();
            assert_eq!(declared, out.len(), "value length {vlen}");
        }
    }

    #[test]
    fn long_names_and_xattrs_read_back_with_tar_crate() {
        let long = "d/".repeat(80) + "file";
        let e = Entry {
            path: PathBuf::from(&long),
            kind: EntryKind::Symlink(PathBuf::from("t/".repeat(70))),
            mode: 0o777,
            uid: 5_000_000,
            gid: 7,
            mtime: 1_700_000_000,
            size: 0,
            xattrs: vec![("user.k".into(), b"v\0bin".to_vec())],
            source: None,
        };
        let mut buf = Vec::new();
        write_tar(
            &mut buf,
            &[e],
            &TarOptions {
                source_date_epoch: Some(100),
            },
        )
        .unwrap();
        let mut ar = tar::Archive::new(&buf[..]);
        let mut ents = ar.entries().unwrap();
        let mut ent = ents.next().unwrap().unwrap();
        assert_eq!(ent.path().unwrap().to_str().unwrap(), long);
        assert_eq!(
            ent.link_name().unwrap().unwrap().to_str().unwrap(),
            "t/".repeat(70)
        );
        assert_eq!(ent.header().mtime().unwrap(), 100);
        let pax: Vec<_> = ent
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| r.unwrap().key().unwrap().to_string())
            .collect();
        assert!(pax.contains(&"SCHILY.xattr.user.k".to_string()), "{pax:?}");
        assert!(pax.contains(&"uid".to_string()), "{pax:?}");
        assert!(ents.next().is_none());
    }
}
