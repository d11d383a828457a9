//! `kiln images`: list images (REPOSITORY TAG IMAGE ID CREATED SIZE).

use anyhow::bail;
use clap::Args;
use kiln_cache::image::time::{format_rfc3339, human_age};
use kiln_cache::{ImageRecord, Reference};
use serde_json::json;

use super::format::{human_size, print_table, render_template};
use super::store_open::open_store;
use crate::cli::GlobalArgs;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Only images of this repository (and tag)
    pub repository: Option<String>,
    /// Show all images (kiln keeps no intermediate images, so this equals the default)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Do not truncate ids
    #[arg(long)]
    pub no_trunc: bool,
    /// Filter: dangling=true|false, reference=NAME
    #[arg(short, long)]
    pub filter: Vec<String>,
    /// Output format: table (default), json, or a Go-like template such as '{{.Repository}}:{{.Tag}}'
    #[arg(long)]
    pub format: Option<String>,
}

struct Row {
    repo: String,
    tag: String,
    image: ImageRecord,
}

fn rows(images: Vec<ImageRecord>) -> Vec<Row> {
    let mut out = Vec::new();
    for img in images {
        if img.names.is_empty() {
            out.push(Row {
                repo: "<none>".into(),
                tag: "<none>".into(),
                image: img,
            });
            continue;
        }
        for n in img.names.clone() {
            out.push(Row {
                repo: n.familiar_name(),
                tag: n.tag.clone().unwrap_or_else(|| "<none>".into()),
                image: img.clone(),
            });
        }
    }
    out
}

pub fn run(global: &GlobalArgs, args: ImagesArgs) -> anyhow::Result<i32> {
    let store = open_store(global)?;
    let mut images = store.list_images()?;
    // Docker ORs reference filters; the positional REPOSITORY is one more.
    let mut references: Vec<String> = args.repository.iter().cloned().collect();
    for f in &args.filter {
        match f.split_once('=') {
            Some(("dangling", v)) => {
                let want = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("--filter dangling={v}: use true or false"),
                };
                images.retain(|i| i.names.is_empty() == want);
            }
            Some(("reference", v)) => references.push(v.to_string()),
            _ => bail!(
                "unsupported --filter {f:?}; supported: dangling=true|false, reference=NAME[:TAG] (wildcards * and ? as Docker's)"
            ),
        }
    }
    let mut rows = rows(images);
    if !references.is_empty() {
        rows.retain(|r| references.iter().any(|p| reference_matches(p, r)));
    }
    let id = |img: &ImageRecord| {
        if args.no_trunc {
            img.config_digest.to_string()
        } else {
            img.config_digest.short().to_string()
        }
    };
    let now = kiln_cache::db::now();
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if seen.insert(r.image.config_digest.clone()) {
                println!("{}", id(&r.image));
            }
        }
        return Ok(0);
    }
    let as_json = |r: &Row| {
        json!({
            "Repository": r.repo,
            "Tag": r.tag,
            "ID": id(&r.image),
            "Digest": r.image.manifest_digest.to_string(),
            "CreatedAt": r.image.created.map(format_rfc3339).unwrap_or_default(),
            "CreatedSince": r.image.created.map(|c| human_age(c, now)).unwrap_or_else(|| "N/A".into()),
            "Size": human_size(r.image.size),
            "Containers": "N/A",
        })
    };
    match args.format.as_deref() {
        Some("json") => {
            for r in &rows {
                println!("{}", as_json(r));
            }
        }
        Some(tpl) if tpl != "table" => {
            for r in &rows {
                println!("{}", render_template(tpl, &as_json(r))?);
            }
        }
        _ => {
            let mut header = vec!["REPOSITORY", "TAG"];
            if args.digests {
                header.push("DIGEST");
            }
            header.extend(["IMAGE ID", "CREATED", "SIZE"]);
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    let mut v = vec![r.repo.clone(), r.tag.clone()];
                    if args.digests {
                        v.push(r.image.manifest_digest.to_string());
                    }
                    v.push(id(&r.image));
                    v.push(
                        r.image
                            .created
                            .map(|c| human_age(c, now))
                            .unwrap_or_else(|| "N/A".into()),
                    );
                    v.push(human_size(r.image.size));
                    v
                })
                .collect();
            print_table(&header, &table);
        }
    }
    Ok(0)
}

/// Docker's `reference=` filter: the pattern (path-glob: `*` and `?` stop at `/`) against
/// `name:tag` or `name` in familiar form, or a full reference naming this row exactly.
fn reference_matches(pattern: &str, r: &Row) -> bool {
    if r.repo == "<none>" {
        return false;
    }
    if path_glob(pattern, &format!("{}:{}", r.repo, r.tag)) || path_glob(pattern, &r.repo) {
        return true;
    }
    let Ok(want) = Reference::parse(pattern) else {
        return false;
    };
    let has_tag = pattern.rsplit('/').next().is_some_and(|l| l.contains(':'));
    r.image.names.iter().any(|n| {
        n.name() == want.name()
            && n.familiar_name() == r.repo
            && (!has_tag || (n.tag == want.tag && Some(&r.tag) == want.tag.as_ref()))
    })
}

/// Go's `path.Match` for `*`, `?`, `[...]` (with `^` negation and ranges) and `\` escapes.
fn path_glob(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    glob_from(&p, &n)
}

fn glob_from(p: &[char], n: &[char]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some(('*', rest)) => {
            // `*` may swallow any run of non-separators; try each length (patterns are short).
            let mut i = 0;
            loop {
                if glob_from(rest, &n[i..]) {
                    return true;
                }
                match n.get(i) {
                    Some(c) if *c != '/' => i += 1,
                    _ => return false,
                }
            }
        }
        Some(('?', rest)) => {
            matches!(n.split_first(), Some((c, tail)) if *c != '/' && glob_from(rest, tail))
        }
        Some(('[', rest)) => {
            let Some((c, tail)) = n.split_first() else {
                return false;
            };
            let Some(close) = rest.iter().skip(1).position(|x| *x == ']').map(|i| i + 1) else {
                return false; // Go reports a malformed pattern; it matches nothing.
            };
            let (negate, class) = match rest[..close].split_first() {
                Some(('^', cls)) => (true, cls),
                _ => (false, &rest[..close]),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if class.get(i + 1) == Some(&'-') && i + 2 < class.len() {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != negate && *c != '/' && glob_from(&rest[close + 1..], tail)
        }
        Some(('\\', rest)) if !rest.is_empty() => {
            matches!(n.split_first(), Some((c, tail)) if *c == rest[0] && glob_from(&rest[1..], tail))
        }
        Some((pc, rest)) => {
            matches!(n.split_first(), Some((c, tail)) if c == pc && glob_from(rest, tail))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::path_glob;

    #[test]
    fn path_glob_follows_go_path_match() {
        assert!(path_glob("qa/*", "qa/img"));
        assert!(!path_glob("qa/*", "qa/img/sub"));
        assert!(!path_glob("*", "qa/img"));
        assert!(path_glob("busy*:lat?st", "busybox:latest"));
        assert!(path_glob("b[a-u]sybox", "busybox"));
        assert!(!path_glob("b[^u]sybox", "busybox"));
        assert!(path_glob("a\\*", "a*"));
        assert!(!path_glob("a\\*", "ab"));
        assert!(!path_glob("busybox", "busybox:latest"));
        assert!(!path_glob("[", "["));
    }
}
