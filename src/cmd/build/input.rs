//! What a build reads before it compiles: the context directory (or a tar on stdin,
//! unpacked into a temp dir), the Dockerfile (`-f path`, `-f -`, or `CONTEXT/Dockerfile`) and
//! its ignore file (`<Dockerfile>.dockerignore` beside it, else `CONTEXT/.dockerignore`).

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use kiln_solver::context::Matcher;

/// The context, Dockerfile and ignore patterns of one build.
pub struct BuildInput {
    pub context: PathBuf,
    /// Name for messages (the path as given, or `-`).
    pub dockerfile_name: String,
    pub dockerfile: Vec<u8>,
    /// `.dockerignore` lines that are patterns (comments and blanks dropped).
    pub ignore: Vec<String>,
    /// A context unpacked from stdin lives here until the build ends.
    _tmp: Option<tempfile::TempDir>,
}

/// Read everything the build needs. `tmp_parent` holds a stdin context.
pub fn read_input(
    context: &str,
    file: Option<&str>,
    tmp_parent: &Path,
) -> anyhow::Result<BuildInput> {
    if context == "-" && file == Some("-") {
        bail!("the context and the Dockerfile cannot both come from stdin (-f - with context -)");
    }
    let mut tmp = None;
    let ctx_dir = if context == "-" {
        std::fs::create_dir_all(tmp_parent)
            .with_context(|| format!("creating {}", tmp_parent.display()))?;
        let dir = tempfile::Builder::new()
            .prefix("context-")
            .tempdir_in(tmp_parent)
            .context("creating a directory for the context from stdin")?;
        let mut archive = tar::Archive::new(std::io::stdin().lock());
        archive.set_preserve_permissions(true);
        archive
            .unpack(dir.path())
            .context("unpacking the build context tar from stdin")?;
        let p = dir.path().to_path_buf();
        tmp = Some(dir);
        p
    } else {
        let p = PathBuf::from(context);
        if !p.is_dir() {
            bail!("build context {context:?} is not a directory (give a directory, or - for a tar on stdin)");
        }
        // Absolute: bind mounts of the context are made from another working directory.
        std::path::absolute(&p).with_context(|| format!("resolving the context path {context}"))?
    };
    let (name, data, df_path) = match file {
        Some("-") => {
            let mut data = Vec::new();
            std::io::stdin()
                .read_to_end(&mut data)
                .context("reading the Dockerfile from stdin")?;
            ("-".to_string(), data, None)
        }
        Some(f) => {
            let data = std::fs::read(f).with_context(|| format!("reading the Dockerfile {f}"))?;
            (f.to_string(), data, Some(PathBuf::from(f)))
        }
        None => {
            let p = ctx_dir.join("Dockerfile");
            let data = std::fs::read(&p).with_context(|| {
                format!(
                    "reading the Dockerfile {} (name another with -f)",
                    p.display()
                )
            })?;
            ("Dockerfile".to_string(), data, Some(p))
        }
    };
    let own_ignore = df_path.map(|p| {
        let mut s = p.into_os_string();
        s.push(".dockerignore");
        PathBuf::from(s)
    });
    let ignore_file = match own_ignore {
        Some(p) if p.is_file() => Some(p),
        _ => Some(ctx_dir.join(".dockerignore")).filter(|p| p.is_file()),
    };
    let ignore = match ignore_file {
        Some(p) => read_ignore_file(&p)?,
        None => Vec::new(),
    };
    Ok(BuildInput {
        context: ctx_dir,
        dockerfile_name: name,
        dockerfile: data,
        ignore,
        _tmp: tmp,
    })
}

/// The patterns of a `.dockerignore` file (comments and blanks dropped), validated so a
/// bad pattern is reported with its file and line.
pub fn read_ignore_file(p: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
    Matcher::from_dockerignore(&text, &p.display().to_string())?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}
