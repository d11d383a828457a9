//! Content digests (`sha256:<hex>`) of canonical serialisations.

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// A `sha256:<64 hex>` digest.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Digest(String);

impl Digest {
    /// sha256 of the compact JSON of `value`. The graph's types serialise
    /// deterministically, so equal values give equal digests everywhere.
    pub fn of_json<T: Serialize + ?Sized>(value: &T) -> Digest {
        let mut hasher = Sha256::new();
        // Writing into a hasher cannot fail, and our types have no maps with non-string
        // keys, so serialisation cannot fail either; fall back to hashing nothing extra.
        let _ = serde_json::to_writer(HashWriter(&mut hasher), value);
        Digest(format!("sha256:{}", hex::encode(hasher.finalize())))
    }

    /// sha256 of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The hex part, without `sha256:`.
    pub fn hex(&self) -> &str {
        self.0.strip_prefix("sha256:").unwrap_or(&self.0)
    }

    /// The first 12 hex digits, as Docker shows ids.
    pub fn short(&self) -> &str {
        let hex = self.hex();
        hex.get(..12).unwrap_or(hex)
    }
}

impl std::fmt::Display for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_digest_matches_known_value() {
        assert_eq!(
            Digest::of_bytes(b"").as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::of_bytes(b"").short(), "e3b0c44298fc");
    }
}
