//! Docker's USER semantics against the image's `/etc/passwd` and `/etc/group`: `name`,
//! `uid`, `name:group`, `uid:gid` (and mixes), supplementary groups from `/etc/group`.
//! Pure text processing, so it is tested without a container.

/// The ids and home directory the process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    pub home: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("unable to find user {user:?}: no matching entries in the image's /etc/passwd; use a numeric uid or add the user in an earlier step")]
    NoSuchUser { user: String },
    #[error("unable to find group {group:?}: no matching entries in the image's /etc/group; use a numeric gid or add the group in an earlier step")]
    NoSuchGroup { group: String },
    #[error("invalid USER {spec:?}: expected name, uid, name:group or uid:gid")]
    Invalid { spec: String },
}

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct GroupEntry<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn parse_passwd(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 || line.starts_with('#') {
            return None;
        }
        Some(PasswdEntry {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

fn parse_group(text: &str) -> impl Iterator<Item = GroupEntry<'_>> {
    text.lines().filter_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 4 || line.starts_with('#') {
            return None;
        }
        Some(GroupEntry {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f[3].split(',').filter(|m| !m.is_empty()).collect(),
        })
    })
}

/// Resolves `spec` (empty = root). `passwd`/`group` are the files' contents when present.
pub fn resolve(
    spec: &str,
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if group_part.is_some_and(|g| g.is_empty() || g.contains(':')) {
        return Err(UserError::Invalid {
            spec: spec.to_string(),
        });
    }
    let mut out = ResolvedUser {
        uid: 0,
        gid: 0,
        additional_gids: Vec::new(),
        home: "/".to_string(),
    };
    let mut user_name: Option<String> = None;
    // No user means root, looked up like any other (HOME=/root, root's groups).
    let numeric_uid = if user_part.is_empty() {
        Some(0)
    } else {
        user_part.parse::<u32>().ok()
    };
    let entry = passwd.and_then(|p| {
        parse_passwd(p).find(|e| match numeric_uid {
            Some(uid) => e.uid == uid,
            None => e.name == user_part,
        })
    });
    match (entry, numeric_uid) {
        (Some(e), _) => {
            out.uid = e.uid;
            out.gid = e.gid;
            out.home = if e.home.is_empty() {
                "/".into()
            } else {
                e.home.into()
            };
            user_name = Some(e.name.to_string());
        }
        (None, Some(uid)) => out.uid = uid,
        (None, None) => {
            return Err(UserError::NoSuchUser {
                user: user_part.to_string(),
            })
        }
    }
    if let Some(g) = group_part {
        out.gid = match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => group
                .and_then(|text| parse_group(text).find(|e| e.name == g).map(|e| e.gid))
                .ok_or_else(|| UserError::NoSuchGroup {
                    group: g.to_string(),
                })?,
        };
    }
    if let (Some(name), Some(text)) = (user_name, group) {
        for e in parse_group(text) {
            if e.members.contains(&name.as_str())
                && e.gid != out.gid
                && !out.additional_gids.contains(&e.gid)
            {
                out.additional_gids.push(e.gid);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33:www:/var/www:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str =
        "root:x:0:\nwheel:x:10:root,alice\nwww-data:x:33:\nalice:x:1000:\ndocker:x:999:alice\n";

    fn r(spec: &str) -> Result<ResolvedUser, UserError> {
        resolve(spec, Some(PASSWD), Some(GROUP))
    }

    #[test]
    fn default_is_root() {
        let u = r("").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.additional_gids, vec![10]);
        let u = resolve("", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/"));
    }

    #[test]
    fn names_and_supplementary_groups() {
        let u = r("alice").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/alice"));
        assert_eq!(u.additional_gids, vec![10, 999]);
        let root = r("root").unwrap();
        assert_eq!((root.uid, root.home.as_str()), (0, "/root"));
        assert_eq!(root.additional_gids, vec![10]);
    }

    #[test]
    fn explicit_groups() {
        let u = r("alice:www-data").unwrap();
        assert_eq!((u.uid, u.gid), (1000, 33));
        let u = r("33:999").unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (33, 999, "/var/www"));
    }

    #[test]
    fn numeric_ids_work_without_files() {
        let u = resolve("4242:4343", None, None).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 4343, "/"));
        let u = resolve("4242", Some(PASSWD), Some(GROUP)).unwrap();
        assert_eq!((u.uid, u.gid), (4242, 0));
    }

    #[test]
    fn missing_user_or_group_is_a_clear_error() {
        assert_eq!(
            r("bob").unwrap_err(),
            UserError::NoSuchUser { user: "bob".into() }
        );
        assert_eq!(
            r("alice:nope").unwrap_err(),
            UserError::NoSuchGroup {
                group: "nope".into()
            }
        );
        assert!(resolve("bob", None, None).is_err());
        assert!(matches!(r("a:b:c"), Err(UserError::Invalid { .. })));
    }
}
