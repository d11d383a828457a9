//! `--runtime`: which engine runs containers for RUN steps and foreground `kiln run` —
//! kiln's own native runtime (default) or `runc` from an OCI bundle written from the same
//! container description.

use std::path::{Path, PathBuf};

use anyhow::bail;
use kiln_executor::ExecutorConfig;

use crate::cli::{GlobalArgs, RuntimeKind};

/// The executor configuration for `global.runtime`, keeping state under `state_dir`.
pub fn executor_config(global: &GlobalArgs, state_dir: PathBuf) -> anyhow::Result<ExecutorConfig> {
    match global.runtime {
        RuntimeKind::Native => {
            let exe = std::env::current_exe().map_err(|e| {
                anyhow::anyhow!("finding the kiln binary for the container helper: {e}")
            })?;
            Ok(ExecutorConfig::native(exe, state_dir))
        }
        RuntimeKind::Runc => match find_in_path("runc") {
            Some(runc) => Ok(ExecutorConfig::runc(runc, state_dir)),
            None => bail!(
                "--runtime runc: no runc found in PATH or /usr/sbin; install it \
                 (Debian: apt-get install runc) or use --runtime native"
            ),
        },
    }
}

fn find_in_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
