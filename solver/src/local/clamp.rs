//! Rewriting a layer tar stream with every timestamp clamped to SOURCE_DATE_EPOCH, header
//! by header, without unpacking anything: names, modes, owners, xattrs and data pass
//! through byte for byte. Only the ustar `mtime` field (and its checksum) and PAX
//! `mtime`/`atime`/`ctime` records change, so a layer already clamped comes out identical.
//!
//! API (crate-internal): [`clamp_tar`], [`ClampError`].

use std::io::{self, Read, Write};

const BLOCK: usize = 512;
const MTIME: std::ops::Range<usize> = 136..148;
const CHKSUM: std::ops::Range<usize> = 148..156;
const SIZE: std::ops::Range<usize> = 124..136;
const TYPEFLAG: usize = 156;

#[derive(Debug, thiserror::Error)]
pub enum ClampError {
    #[error("reading the layer tar: {0}")]
    Read(#[source] io::Error),
    #[error("writing the rewritten layer tar: {0}")]
    Write(#[source] io::Error),
    #[error("layer tar header at byte {offset} is malformed ({reason}); the layer is corrupt")]
    Header { offset: u64, reason: String },
}

/// Copy the tar stream `input` to `out` with timestamps later than `epoch` set to it.
pub fn clamp_tar(input: &mut dyn Read, out: &mut dyn Write, epoch: i64) -> Result<(), ClampError> {
    let mut offset = 0u64;
    let mut header = [0u8; BLOCK];
    loop {
        if !read_block(input, &mut header)? {
            // A stream without the end-of-archive blocks: pass on what there was.
            return Ok(());
        }
        if header.iter().all(|&b| b == 0) {
            out.write_all(&header).map_err(ClampError::Write)?;
            // End of archive: the rest (the second zero block, padding) is copied as is.
            io::copy(input, out).map_err(ClampError::Write)?;
            return Ok(());
        }
        let size = parse_size(&header[SIZE]).ok_or_else(|| ClampError::Header {
            offset,
            reason: "bad size field".into(),
        })?;
        let kind = header[TYPEFLAG];
        let padded = size.div_ceil(BLOCK as u64) * BLOCK as u64;
        if kind == b'x' || kind == b'g' {
            // PAX records: small, rewritten in memory; the header's size follows them.
            // Records are names, xattrs and times: bounded, so a corrupt size cannot make
            // this allocate without limit.
            let len = usize::try_from(size)
                .ok()
                .filter(|&l| l <= 16 << 20)
                .ok_or_else(|| ClampError::Header {
                    offset,
                    reason: format!("PAX header of {size} bytes is too large"),
                })?;
            let mut data = vec![0u8; padded as usize];
            input.read_exact(&mut data).map_err(ClampError::Read)?;
            data.truncate(len);
            let records = clamp_pax(&data, epoch).ok_or_else(|| ClampError::Header {
                offset,
                reason: "malformed PAX records".into(),
            })?;
            if records.len() as u64 != size {
                set_octal(&mut header[SIZE], records.len() as u64);
                set_checksum(&mut header);
            }
            clamp_mtime(&mut header, epoch);
            out.write_all(&header).map_err(ClampError::Write)?;
            out.write_all(&records).map_err(ClampError::Write)?;
            let pad = (BLOCK - records.len() % BLOCK) % BLOCK;
            out.write_all(&[0u8; BLOCK][..pad])
                .map_err(ClampError::Write)?;
        } else {
            clamp_mtime(&mut header, epoch);
            out.write_all(&header).map_err(ClampError::Write)?;
            let copied = io::copy(&mut input.take(padded), out).map_err(ClampError::Write)?;
            if copied != padded {
                return Err(ClampError::Header {
                    offset,
                    reason: format!("entry data ends after {copied} of {padded} bytes"),
                });
            }
        }
        offset += BLOCK as u64 + padded;
    }
}

/// Fill `buf`; false at a clean end of stream.
fn read_block(input: &mut dyn Read, buf: &mut [u8; BLOCK]) -> Result<bool, ClampError> {
    let mut n = 0;
    while n < BLOCK {
        match input.read(&mut buf[n..]) {
            Ok(0) if n == 0 => return Ok(false),
            Ok(0) => {
                return Err(ClampError::Read(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar stream ends inside a header",
                )))
            }
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(ClampError::Read(e)),
        }
    }
    Ok(true)
}

/// Octal (NUL/space terminated) or GNU base-256 numbers.
fn parse_size(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut v: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            v = v.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(v);
    }
    let text: String = field
        .iter()
        .take_while(|&&b| b != 0)
        .map(|&b| b as char)
        .collect();
    let t = text.trim();
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(t, 8).ok()
}

/// `value` as zero-padded octal filling the field but its last byte (NUL).
fn set_octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let s = format!("{value:0width$o}");
    field[..width].copy_from_slice(&s.as_bytes()[s.len() - width..]);
    field[width] = 0;
}

fn clamp_mtime(header: &mut [u8; BLOCK], epoch: i64) {
    let Some(mtime) = parse_size(&header[MTIME]) else {
        return;
    };
    let epoch = epoch.max(0) as u64;
    if mtime <= epoch {
        return;
    }
    set_octal(&mut header[MTIME], epoch);
    set_checksum(header);
}

/// The header checksum: the byte sum with the checksum field counted as spaces.
fn set_checksum(header: &mut [u8; BLOCK]) {
    header[CHKSUM].fill(b' ');
    let sum: u64 = header.iter().map(|&b| u64::from(b)).sum();
    let s = format!("{sum:06o}");
    header[148..154].copy_from_slice(&s.as_bytes()[s.len() - 6..]);
    header[154] = 0;
    header[155] = b' ';
}

/// PAX records with time values clamped; `None` if they do not parse.
fn clamp_pax(data: &[u8], epoch: i64) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len());
    let mut rest = data;
    while !rest.is_empty() {
        let sp = rest.iter().position(|&b| b == b' ')?;
        let len: usize = std::str::from_utf8(&rest[..sp]).ok()?.parse().ok()?;
        if len <= sp + 1 || len > rest.len() {
            return None;
        }
        let record = &rest[sp + 1..len - 1];
        rest = &rest[len..];
        let eq = record.iter().position(|&b| b == b'=')?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let is_time = matches!(key, b"mtime" | b"atime" | b"ctime");
        let late = is_time
            && std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.split('.').next()?.parse::<i64>().ok())
                .is_some_and(|secs| secs >= epoch);
        let value: Vec<u8> = if late {
            epoch.to_string().into_bytes()
        } else {
            value.to_vec()
        };
        push_record(&mut out, key, &value);
    }
    Some(out)
}

fn push_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    // The length counts its own digits: iterate to the fixed point.
    let base = 1 + key.len() + 1 + value.len() + 1;
    let mut len = base + 1;
    while base + len.to_string().len() != len {
        len = base + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(mtime: u64, pax_mtime: Option<&str>) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        if let Some(t) = pax_mtime {
            b.append_pax_extensions([("mtime", t.as_bytes()), ("path", b"long/name".as_ref())])
                .unwrap();
        }
        let mut h = tar::Header::new_ustar();
        h.set_path("f.txt").unwrap();
        h.set_size(5);
        h.set_mode(0o640);
        h.set_mtime(mtime);
        h.set_cksum();
        b.append(&h, &b"hello"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn mtimes(data: &[u8]) -> Vec<(String, u64)> {
        let mut a = tar::Archive::new(data);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = e.path().unwrap().to_string_lossy().into_owned();
                (name, e.header().mtime().unwrap())
            })
            .collect()
    }

    #[test]
    fn later_times_are_clamped_and_earlier_kept() {
        let mut out = Vec::new();
        clamp_tar(&mut &archive(2_000_000_000, None)[..], &mut out, 1_000).unwrap();
        assert_eq!(mtimes(&out), vec![("f.txt".to_string(), 1_000)]);
        let mut same = Vec::new();
        let early = archive(500, None);
        clamp_tar(&mut &early[..], &mut same, 1_000).unwrap();
        assert_eq!(same, early, "an already clamped layer must not change");
    }

    #[test]
    fn pax_times_are_clamped_and_other_records_kept() {
        let mut out = Vec::new();
        let input = archive(2_000_000_000, Some("2000000000.5"));
        clamp_tar(&mut &input[..], &mut out, 1_000).unwrap();
        let mut a = tar::Archive::new(&out[..]);
        let mut entries = a.entries().unwrap();
        let mut e = entries.next().unwrap().unwrap();
        assert_eq!(e.path().unwrap().to_string_lossy(), "long/name");
        let pax: Vec<(String, String)> = e
            .pax_extensions()
            .unwrap()
            .unwrap()
            .map(|r| {
                let r = r.unwrap();
                (r.key().unwrap().to_string(), r.value().unwrap().to_string())
            })
            .collect();
        assert!(pax.contains(&("mtime".into(), "1000".into())), "{pax:?}");
        let mut body = String::new();
        e.read_to_string(&mut body).unwrap();
        assert_eq!(body, "hello");
    }

    #[test]
    fn truncated_streams_are_errors() {
        let input = archive(2_000_000_000, None);
        let mut out = Vec::new();
        let err = clamp_tar(&mut &input[..600], &mut out, 1).unwrap_err();
        assert!(err.to_string().contains("ends after"), "{err}");
    }
}
