//! Container ids (64 random hex digits, as Docker's) and names (user-given and validated, or
//! a random `adjective_surname` pair).

use std::io::Read;

#[derive(Debug, thiserror::Error)]
pub enum IdError {
    #[error("reading /dev/urandom for a new id: {0}")]
    Random(#[source] std::io::Error),
    #[error(
        "invalid container name {0:?}: use [a-zA-Z0-9][a-zA-Z0-9_.-]* (at most 128 characters)"
    )]
    InvalidName(String),
}

fn random_bytes<const N: usize>() -> Result<[u8; N], IdError> {
    let mut buf = [0u8; N];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .map_err(IdError::Random)?;
    Ok(buf)
}

/// A new container id: 32 random bytes in hex. Never all digits, so a short prefix of it is
/// never mistaken for a number (Docker has the same rule).
pub fn new_id() -> Result<String, IdError> {
    loop {
        let id: String = random_bytes::<32>()?
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if !id.chars().take(12).all(|c| c.is_ascii_digit()) {
            return Ok(id);
        }
    }
}

/// The first 12 characters, as `ps` shows ids.
pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

pub fn validate_name(name: &str) -> Result<(), IdError> {
    let name_ok = name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if name_ok {
        Ok(())
    } else {
        Err(IdError::InvalidName(name.to_string()))
    }
}

const ADJECTIVES: &[&str] = &[
    "admiring",
    "bold",
    "brave",
    "busy",
    "calm",
    "clever",
    "cool",
    "dazzling",
    "eager",
    "elegant",
    "fervent",
    "focused",
    "gallant",
    "gifted",
    "happy",
    "hopeful",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "upbeat",
    "vigilant",
    "wizardly",
    "zealous",
];

const SURNAMES: &[&str] = &[
    "albattani",
    "babbage",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermat",
    "feynman",
    "galileo",
    "goldberg",
    "hamilton",
    "hopper",
    "hypatia",
    "kepler",
    "knuth",
    "lamport",
    "liskov",
    "lovelace",
    "mccarthy",
    "meitner",
    "noether",
    "pascal",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
    "yonath",
];

/// A random `adjective_surname` name; the caller retries on a clash (with a digit appended
/// after a few tries, as Docker does).
pub fn random_name(attempt: u32) -> Result<String, IdError> {
    let [a, b, c, d] = random_bytes::<4>()?;
    let adj = ADJECTIVES[usize::from(u16::from_le_bytes([a, b])) % ADJECTIVES.len()];
    let sur = SURNAMES[usize::from(u16::from_le_bytes([c, d])) % SURNAMES.len()];
    Ok(if attempt < 3 {
        format!("{adj}_{sur}")
    } else {
        format!("{adj}_{sur}{}", attempt)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_64_hex_and_distinct() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(short(&a).len(), 12);
    }

    #[test]
    fn names() {
        validate_name("web-1.a_b").unwrap();
        assert!(validate_name("").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        let n = random_name(0).unwrap();
        validate_name(&n).unwrap();
        assert!(n.contains('_'));
        assert!(random_name(5).unwrap().ends_with('5'));
    }
}
