//! Layer compression: gzip (block-parallel, deterministic), zstd and none; detection by
//! magic bytes for reading.

use std::io::{self, BufRead, BufReader, Read};

use flate2::{Compress, FlushCompress, Status};

use crate::image::spec::media;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    /// The OCI media type of a layer with this compression.
    pub fn oci_media_type(self) -> &'static str {
        match self {
            Compression::None => media::OCI_LAYER_TAR,
            Compression::Gzip => media::OCI_LAYER_GZIP,
            Compression::Zstd => media::OCI_LAYER_ZSTD,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" | "uncompressed" => Some(Compression::None),
            "gzip" => Some(Compression::Gzip),
            "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }

    /// Sniff the first bytes of a stream.
    pub fn detect(head: &[u8]) -> Self {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// A reader yielding the uncompressed bytes of a gzip, zstd or plain stream.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut br = BufReader::with_capacity(256 * 1024, reader);
    let head = br.fill_buf()?;
    Ok(match Compression::detect(head) {
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(br)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::with_buffer(br)?),
        Compression::None => Box::new(br),
    })
}

/// Fixed block size for parallel gzip: output depends on it, never on the number of cores,
/// so the same layer has the same digest on any machine.
pub const GZIP_BLOCK: usize = 1 << 20;

/// zlib-rs level 2 (its `deflate_fast`): level 1 (`deflate_quick`) is faster still but gives
/// layers about 30% larger than `gzip -1`, which costs more in pushes than it saves here.
pub const GZIP_LEVEL: u32 = 2;

/// gzip member header: no name, mtime 0, "fastest" flag, OS unknown — fixed bytes.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255];

/// Raw-deflate one block independently. Non-final blocks end with a sync flush (byte-aligned,
/// not final), so blocks concatenate into one valid deflate stream.
pub fn deflate_block(data: &[u8], last: bool, level: u32) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(flate2::Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 4096);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    loop {
        if out.capacity() - out.len() < 4096 {
            out.reserve(out.capacity().max(64 * 1024));
        }
        let consumed = c.total_in() as usize;
        let before = out.len();
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => return Ok(out),
            // Room left over after the call means the flush completed.
            Status::Ok | Status::BufError if !last && all_in && out.len() < out.capacity() => {
                return Ok(out)
            }
            Status::BufError if out.len() == before && all_in && out.len() < out.capacity() => {
                return Err(io::Error::other("deflate made no progress"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_blocks_form_one_gzip_stream() {
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| ((i / 7) % 256) as u8 ^ (i % 13) as u8)
            .collect();
        let mut gz = GZIP_HEADER.to_vec();
        let chunks: Vec<_> = data.chunks(GZIP_BLOCK).collect();
        for (i, c) in chunks.iter().enumerate() {
            gz.extend(deflate_block(c, i + 1 == chunks.len(), 1).unwrap());
        }
        gz.extend(crc32fast::hash(&data).to_le_bytes());
        gz.extend((data.len() as u32).to_le_bytes());
        let mut back = Vec::new();
        decompress(&gz[..]).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        // And gzip(1) agrees it is valid.
        let mut child = std::process::Command::new("gzip")
            .arg("-t")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), &gz).unwrap();
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn empty_final_block_is_valid() {
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend(deflate_block(b"", true, 1).unwrap());
        gz.extend(0u32.to_le_bytes());
        gz.extend(0u32.to_le_bytes());
        let mut back = Vec::new();
        decompress(&gz[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back.is_empty());
    }

    #[test]
    fn detects_by_magic() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"ustar"), Compression::None);
        let z = zstd::encode_all(&b"hello"[..], 3).unwrap();
        let mut back = String::new();
        decompress(&z[..])
            .unwrap()
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "hello");
    }
}
