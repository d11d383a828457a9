//! Reading layer tar entries safely: archive names to checked relative paths, and entry
//! metadata (mode, owner, mtime, xattrs) from ustar headers and PAX records.

use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::apply::ApplyError;

/// Turn an archive name into a safe relative path; `None` for the root itself.
pub fn clean_name(raw: &[u8]) -> Result<Option<PathBuf>, ApplyError> {
    let name = || String::from_utf8_lossy(raw).into_owned();
    if raw.first() == Some(&b'/') {
        return Err(ApplyError::Absolute { name: name() });
    }
    let mut out = PathBuf::new();
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(ApplyError::ParentDir { name: name() }),
            c => out.push(std::ffi::OsStr::from_bytes(c)),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

pub struct Meta {
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: i64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

pub fn read_meta<R: Read>(ent: &mut tar::Entry<'_, R>) -> io::Result<Meta> {
    let h = ent.header();
    let mut m = Meta {
        mode: h.mode().unwrap_or(0o644),
        uid: h.uid().unwrap_or(0),
        gid: h.gid().unwrap_or(0),
        mtime: h.mtime().unwrap_or(0) as i64,
        xattrs: Vec::new(),
    };
    if let Some(pax) = ent.pax_extensions()? {
        for rec in pax {
            let rec = rec?;
            let Ok(key) = rec.key() else { continue };
            let num = || {
                std::str::from_utf8(rec.value_bytes())
                    .ok()
                    .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
            };
            match key {
                "uid" => m.uid = num().unwrap_or(m.uid as i64) as u64,
                "gid" => m.gid = num().unwrap_or(m.gid as i64) as u64,
                "mtime" => m.mtime = num().unwrap_or(m.mtime),
                k => {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        m.xattrs.push((x.to_string(), rec.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok(m)
}
