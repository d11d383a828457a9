//! Layer compression: gzip (block-parallel, deterministic), zstd and none; detection by
//! magic bytes for reading.

use std::io::{self, BufRead, BufReader, Read};

use zlib_rs::{Deflate, DeflateConfig, DeflateFlush, Status, Strategy};

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

/// Bytes of a block compressed first to choose how to compress the whole block.
const PROBE: usize = 64 * 1024;

/// How one block is deflated, chosen from a sample of it. Deterministic: depends only on
/// the bytes, never on timing or cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    /// Random or already compressed data (tarballs, images, packed binaries): stored
    /// blocks at memcpy speed instead of a full match search for nothing.
    Stored,
    /// Data whose redundancy is in its symbol frequencies, not in repeats (hex and base64
    /// text, digests): Huffman coding alone gets deflate's ratio at many times its speed.
    HuffmanOnly,
    /// Everything else: LZ77 matching and Huffman coding.
    Full,
}

fn choose(data: &[u8], level: u32) -> Method {
    if level == 0 {
        return Method::Stored;
    }
    if data.len() < 2 * PROBE {
        return Method::Full;
    }
    let sample = &data[..PROBE];
    let size =
        |strategy| raw_deflate(sample, false, level, strategy).map_or(usize::MAX, |v| v.len());
    let (full, huffman) = (size(Strategy::Default), size(Strategy::HuffmanOnly));
    if full.min(huffman) * 100 > PROBE * 97 {
        Method::Stored
    } else if huffman * 100 <= full * 110 {
        // Matching saves under a tenth of what Huffman coding alone gives.
        Method::HuffmanOnly
    } else {
        Method::Full
    }
}

/// One raw deflate run over `data`, ending in a sync flush (or the final block).
fn raw_deflate(data: &[u8], last: bool, level: u32, strategy: Strategy) -> io::Result<Vec<u8>> {
    let config = DeflateConfig {
        level: level as i32,
        method: zlib_rs::Method::Deflated,
        // Negative: raw deflate, no zlib header (the gzip framing is ours).
        window_bits: -15,
        mem_level: 8,
        strategy,
    };
    let mut d = Deflate::new_with_config(config);
    // Room for the worst case, so one call always finishes the block.
    let mut out = vec![0u8; zlib_rs::compress_bound(data.len()) + 64];
    let flush = if last {
        DeflateFlush::Finish
    } else {
        DeflateFlush::SyncFlush
    };
    let status = d
        .compress(data, &mut out, flush)
        .map_err(|e| io::Error::other(format!("deflate failed: {e:?}")))?;
    if d.total_in() as usize != data.len() || (last && status != Status::StreamEnd) {
        return Err(io::Error::other(
            "deflate did not finish a block with room to spare",
        ));
    }
    out.truncate(d.total_out() as usize);
    Ok(out)
}

/// Raw-deflate one block independently. Non-final blocks end with a sync flush (byte-aligned,
/// not final), so blocks concatenate into one valid deflate stream.
pub fn deflate_block(data: &[u8], last: bool, level: u32) -> io::Result<Vec<u8>> {
    match choose(data, level) {
        Method::Stored => raw_deflate(data, last, 0, Strategy::Default),
        Method::HuffmanOnly => raw_deflate(data, last, level, Strategy::HuffmanOnly),
        Method::Full => raw_deflate(data, last, level, Strategy::Default),
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
    fn each_block_gets_the_method_its_sample_calls_for() {
        // xorshift bytes: deflate finds nothing in them.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let random: Vec<u8> = (0..GZIP_BLOCK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let text = b"a line of build output that repeats\n".repeat(GZIP_BLOCK / 36);
        assert_eq!(choose(&random, GZIP_LEVEL), Method::Stored);
        assert_eq!(choose(&text, GZIP_LEVEL), Method::Full);
        // Hex digits: 4 bits of entropy per byte, no repeats to find.
        let hex: Vec<u8> = random
            .iter()
            .map(|b| b"0123456789abcdef"[(b & 15) as usize])
            .collect();
        assert_eq!(choose(&hex, GZIP_LEVEL), Method::HuffmanOnly);
        let packed_hex = deflate_block(&hex, false, GZIP_LEVEL).unwrap();
        assert!(
            packed_hex.len() < hex.len() * 53 / 100,
            "{}",
            packed_hex.len()
        );
        let stored = deflate_block(&random, false, GZIP_LEVEL).unwrap();
        // Stored blocks: the data plus 5 bytes per 64 KiB block and the sync marker.
        assert!(
            stored.len() < random.len() + random.len() / 1000,
            "{}",
            stored.len()
        );
        let packed = deflate_block(&text, true, GZIP_LEVEL).unwrap();
        assert!(packed.len() < text.len() / 20, "{}", packed.len());
        let mut data = random.clone();
        data.extend_from_slice(&hex);
        data.extend_from_slice(&text);
        let mut gz = GZIP_HEADER.to_vec();
        gz.extend(stored);
        gz.extend(packed_hex);
        gz.extend(packed);
        gz.extend(crc32fast::hash(&data).to_le_bytes());
        gz.extend((data.len() as u32).to_le_bytes());
        let mut back = Vec::new();
        decompress(&gz[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data, "round trip differs");
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
