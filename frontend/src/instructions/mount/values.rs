//! Value syntaxes inside a `--mount` spec: the CSV record (Go's `encoding/csv`),
//! booleans (`strconv.ParseBool`), numbers, and tmpfs sizes (go-units `RAMInBytes`).
//!
//! API: [`parse_ram_bytes`]; crate-internal [`csv_fields`], [`parse_bool`], [`parse_u32`].

use super::MountError;

/// One CSV record as Go's `encoding/csv` reads it (quotes, `""` inside quotes).
pub(super) fn csv_fields(s: &str) -> Result<Vec<String>, MountError> {
    let mut fields = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => {
                        return Err(MountError::Csv(
                            "extraneous or missing \" in quoted-field".into(),
                        ))
                    }
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => {
                    return Err(MountError::Csv(
                        "extraneous or missing \" in quoted-field".into(),
                    ))
                }
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err(MountError::Csv("bare \" in non-quoted-field".into())),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// Go's `strconv.ParseBool`.
pub(super) fn parse_bool(key: &str, value: &str) -> Result<bool, MountError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(MountError::InvalidValue {
            key: key.into(),
            value: value.into(),
        }),
    }
}

pub(super) fn parse_u32(key: &str, value: &str, radix: u32) -> Result<u32, MountError> {
    u32::from_str_radix(value, radix).map_err(|_| MountError::InvalidValue {
        key: key.into(),
        value: value.into(),
    })
}

/// docker/go-units `RAMInBytes`: `512`, `64k`, `1.5g`, `10MiB` (binary multiples).
pub fn parse_ram_bytes(s: &str) -> Option<i64> {
    let num_len = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(num_len);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    let suffix = suffix
        .strip_prefix(' ')
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let mut rest = suffix.as_str();
    let mut mult: f64 = 1.0;
    if let Some(c) = rest.chars().next() {
        let exp = match c {
            'k' => 1,
            'm' => 2,
            'g' => 3,
            't' => 4,
            'p' => 5,
            _ => 0,
        };
        if exp > 0 {
            mult = 1024f64.powi(exp);
            rest = &rest[1..];
        }
    }
    let rest = rest.strip_prefix('i').unwrap_or(rest);
    let rest = rest.strip_prefix('b').unwrap_or(rest);
    if !rest.is_empty() {
        return None;
    }
    let bytes = value * mult;
    (bytes.is_finite() && bytes < i64::MAX as f64).then_some(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_sizes() {
        assert_eq!(parse_ram_bytes("512"), Some(512));
        assert_eq!(parse_ram_bytes("1k"), Some(1024));
        assert_eq!(parse_ram_bytes("1.5GiB"), Some(1_610_612_736));
        assert_eq!(parse_ram_bytes("10 mb"), Some(10 << 20));
        assert_eq!(parse_ram_bytes("x"), None);
        assert_eq!(parse_ram_bytes("1q"), None);
    }

    #[test]
    fn csv_records() {
        assert_eq!(csv_fields("a,b=c").unwrap(), ["a", "b=c"]);
        assert_eq!(csv_fields("\"x,\"\"y\"\"\",z").unwrap(), ["x,\"y\"", "z"]);
        assert_eq!(csv_fields("").unwrap(), [""]);
        assert!(csv_fields("\"open").is_err());
        assert!(csv_fields("\"a\"b").is_err());
    }
}
