//! The name a file downloaded by `ADD <url>` gets, by BuildKit's rules: the op's filename;
//! else the response's Content-Disposition `filename`; else the URL path's last segment;
//! else `__unnamed__` — always one safe path component.
//!
//! API (crate-internal): [`file_name`].

/// The name a downloaded file gets (BuildKit's rules): the op's filename; else the
/// Content-Disposition `filename`; else the URL path's last segment; else `__unnamed__`.
pub fn file_name(url: &str, manual: Option<&str>, disposition: Option<&str>) -> String {
    if let Some(m) = manual.filter(|m| !m.is_empty()) {
        return safe_name(m);
    }
    if let Some(name) = disposition.and_then(disposition_filename) {
        if !name.ends_with('/') {
            let base = name.rsplit('/').next().unwrap_or("");
            if !base.is_empty() {
                return safe_name(base);
            }
        }
    }
    let path = reqwest::Url::parse(url)
        .map(|u| percent_decode(u.path()))
        .unwrap_or_default();
    let base = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    safe_name(base)
}

/// One path component that cannot escape the layer root.
fn safe_name(name: &str) -> String {
    let base = name
        .split('/')
        .rfind(|c| !c.is_empty() && *c != "." && *c != "..")
        .unwrap_or("");
    if base.is_empty() {
        "__unnamed__".to_string()
    } else {
        base.to_string()
    }
}

/// `filename` of a Content-Disposition header (`filename*=UTF-8''…` preferred, as RFC 6266
/// says), `None` without one.
fn disposition_filename(header: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for param in header.split(';').skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        let v = v.trim();
        match k.trim().to_ascii_lowercase().as_str() {
            "filename" => {
                let unquoted = v
                    .strip_prefix('"')
                    .and_then(|s| s.strip_suffix('"'))
                    .map(|s| s.replace("\\\"", "\"").replace("\\\\", "\\"))
                    .unwrap_or_else(|| v.to_string());
                plain = Some(unquoted);
            }
            "filename*" => {
                // charset'language'percent-encoded
                let mut parts = v.splitn(3, '\'');
                let charset = parts.next().unwrap_or("");
                let _lang = parts.next();
                if let Some(enc) = parts.next() {
                    if charset.eq_ignore_ascii_case("utf-8") {
                        extended = Some(percent_decode(enc));
                    }
                }
            }
            _ => {}
        }
    }
    extended.or(plain).filter(|s| !s.is_empty())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_buildkit_rules() {
        assert_eq!(file_name("http://h/a/b.tgz?x=1", None, None), "b.tgz");
        assert_eq!(file_name("http://h/a/b.tgz", Some("c"), None), "c");
        assert_eq!(
            file_name(
                "http://h/dl",
                None,
                Some("attachment; filename=\"real.tar\"")
            ),
            "real.tar"
        );
        assert_eq!(
            file_name(
                "http://h/dl",
                None,
                Some("attachment; filename=x; filename*=UTF-8''caf%C3%A9.txt")
            ),
            "café.txt"
        );
        assert_eq!(
            file_name(
                "http://h/dl",
                None,
                Some("attachment; filename=\"../../etc/passwd\"")
            ),
            "passwd"
        );
        assert_eq!(
            file_name("http://h/dir/", None, Some("attachment; filename=\"d/\"")),
            "dir"
        );
        assert_eq!(file_name("http://h/", None, None), "__unnamed__");
        assert_eq!(file_name("http://h/a%20b", None, None), "a b");
    }
}
