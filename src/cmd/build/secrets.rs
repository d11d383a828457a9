//! `kiln build --secret` and `--ssh`: what the client hands the build for
//! `RUN --mount=type=secret|ssh`, read once at the start of the build.
//!
//! `--secret id=ID[,src=FILE|,env=VAR][,type=file|env]` (buildx's syntax; `source=` is
//! `src=`; an `id` alone reads the environment variable of that name).
//! `--ssh default` forwards `$SSH_AUTH_SOCK`; `--ssh ID=SOCKET[,SOCKET…]` a given agent
//! socket (the first one).

use std::os::unix::fs::FileTypeExt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use kiln_solver::local::secrets::{BuildSecrets, SecretValue};

/// Read every `--secret` and `--ssh` argument.
pub fn read(secrets: &[String], ssh: &[String]) -> anyhow::Result<BuildSecrets> {
    let mut out = BuildSecrets::default();
    for arg in secrets {
        let (id, value) = read_secret(arg)?;
        out.add_secret(id, value);
    }
    for arg in ssh {
        let (id, socket) = parse_ssh(arg)?;
        out.add_ssh(id, socket);
    }
    Ok(out)
}

pub(crate) fn read_secret(arg: &str) -> anyhow::Result<(String, SecretValue)> {
    let (mut id, mut src, mut env, mut ty) = (None, None, None, None);
    for field in arg.split(',').filter(|f| !f.is_empty()) {
        let (k, v) = field.split_once('=').unwrap_or((field, ""));
        match k.trim() {
            "id" => id = Some(v.to_string()),
            "src" | "source" => src = Some(v.to_string()),
            "env" => env = Some(v.to_string()),
            "type" => ty = Some(v.to_string()),
            other => {
                bail!("--secret {arg:?}: unknown key {other:?}; known: id, src (source), env, type")
            }
        }
    }
    let Some(id) = id.filter(|i| !i.is_empty()) else {
        bail!("--secret {arg:?}: no id=; use --secret id=NAME,src=FILE or id=NAME,env=VAR");
    };
    // `type=env,src=VAR` names a variable, as buildx reads it.
    match ty.as_deref() {
        None | Some("file") => {}
        Some("env") => {
            if env.is_none() {
                env = src.take();
            }
        }
        Some(other) => bail!("--secret {arg:?}: type={other} is neither file nor env"),
    }
    if let Some(path) = src {
        let path = PathBuf::from(path);
        let bytes = std::fs::read(&path)
            .with_context(|| format!("--secret {arg:?}: reading {}", path.display()))?;
        return Ok((id, SecretValue::new(bytes)));
    }
    let var = env.unwrap_or_else(|| id.clone());
    match std::env::var_os(&var) {
        Some(v) => Ok((id, SecretValue::new(v.into_encoded_bytes()))),
        None => bail!("--secret {arg:?}: environment variable {var} is not set"),
    }
}

fn parse_ssh(arg: &str) -> anyhow::Result<(String, PathBuf)> {
    let (id, paths) = arg.split_once('=').unwrap_or((arg, ""));
    let id = id.trim().to_string();
    let path = match paths.split(',').find(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .context("--ssh default: SSH_AUTH_SOCK is not set; start an agent (eval $(ssh-agent); ssh-add) or give a socket: --ssh default=/path/to/agent.sock")?,
    };
    let not_socket = |reason: String| {
        anyhow::anyhow!(
            "--ssh {id}: {} is not a unix socket ({reason}); kiln forwards SSH agent sockets only: load the key into an agent (ssh-add {0}) and pass its socket",
            path.display()
        )
    };
    let meta = std::fs::metadata(&path).map_err(|e| not_socket(e.to_string()))?;
    if !meta.file_type().is_socket() {
        return Err(not_socket("a regular file or directory".into()));
    }
    Ok((id, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_from_file_env_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("tok");
        std::fs::write(&f, "s3cr3t").unwrap();
        let (id, v) = read_secret(&format!("id=tok,src={}", f.display())).unwrap();
        assert_eq!((id.as_str(), v.bytes()), ("tok", &b"s3cr3t"[..]));
        std::env::set_var("KILN_TEST_SECRET_ENV", "from-env");
        let (_, v) = read_secret("id=e,env=KILN_TEST_SECRET_ENV").unwrap();
        assert_eq!(v.bytes(), b"from-env");
        let (_, v) = read_secret("id=e,type=env,src=KILN_TEST_SECRET_ENV").unwrap();
        assert_eq!(v.bytes(), b"from-env");
        assert!(read_secret("src=/x")
            .unwrap_err()
            .to_string()
            .contains("no id="));
        assert!(read_secret("id=x,env=KILN_TEST_NO_SUCH_VAR")
            .unwrap_err()
            .to_string()
            .contains("KILN_TEST_NO_SUCH_VAR is not set"));
        assert!(read_secret("id=x,src=/no/such/file")
            .unwrap_err()
            .to_string()
            .contains("/no/such/file"));
    }

    #[test]
    fn ssh_wants_a_socket() {
        let d = tempfile::tempdir().unwrap();
        let sock = d.path().join("a.sock");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let (id, p) = parse_ssh(&format!("key={}", sock.display())).unwrap();
        assert_eq!((id.as_str(), p), ("key", sock));
        let file = d.path().join("id_ed25519");
        std::fs::write(&file, "k").unwrap();
        let e = parse_ssh(&format!("k={}", file.display())).unwrap_err();
        assert!(e.to_string().contains("ssh-add"), "{e}");
    }
}
