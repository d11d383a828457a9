//! Build secrets (`--secret id=…`) and SSH agents (`--ssh id=socket`) a build may mount,
//! and how a RUN step gets them without leaving a trace: secret files live on a private
//! tmpfs that is unmounted when the step ends (never on the store's disk, never in the
//! upper dir that becomes the layer), secret values never enter an op, a cache key or an
//! error message, and the step's output lines have every secret value masked.
//!
//! API: [`BuildSecrets`], [`SecretFiles`], [`Masker`].

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Secret values shorter than this are not masked in output: masking every `a` or `1`
/// would garble logs and would tell more about the secret than it hides.
const MIN_MASKED_LEN: usize = 4;

const MASK: &[u8] = b"****";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret {id:?} is required by this step but was not given; pass --secret id={id},src=FILE (or env=VAR) to kiln build, or mark the mount required=false")]
    MissingSecret { id: String },
    #[error("ssh agent {id:?} is required by this step but was not given; pass --ssh {id}=SOCKET (or --ssh default with SSH_AUTH_SOCK set), or mark the mount required=false")]
    MissingSsh { id: String },
    #[error("preparing secret {id:?} at {path}: {source}")]
    Io {
        id: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("mounting a tmpfs for secrets at {path}: {source}")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// A secret's bytes; `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(bytes)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretValue(<{} bytes>)", self.0.len())
    }
}

/// What the client gave the build: secrets by id, and SSH agent sockets by id.
#[derive(Debug, Clone, Default)]
pub struct BuildSecrets {
    secrets: BTreeMap<String, SecretValue>,
    ssh: BTreeMap<String, PathBuf>,
}

impl BuildSecrets {
    pub fn add_secret(&mut self, id: impl Into<String>, value: SecretValue) {
        self.secrets.insert(id.into(), value);
    }

    pub fn add_ssh(&mut self, id: impl Into<String>, socket: impl Into<PathBuf>) {
        self.ssh.insert(id.into(), socket.into());
    }

    pub fn secret(&self, id: &str) -> Option<&SecretValue> {
        self.secrets.get(id)
    }

    pub fn ssh(&self, id: &str) -> Option<&Path> {
        self.ssh.get(id).map(PathBuf::as_path)
    }

    /// A masker for every secret of the build (what a log or an error could leak).
    pub fn masker(&self) -> Masker {
        Masker::new(self.secrets.values())
    }
}

/// Replaces secret values in output with `****`.
#[derive(Debug, Clone, Default)]
pub struct Masker {
    needles: Vec<Vec<u8>>,
}

impl Masker {
    pub fn new<'a>(values: impl IntoIterator<Item = &'a SecretValue>) -> Masker {
        let mut needles: Vec<Vec<u8>> = Vec::new();
        for v in values {
            // Output arrives line by line, so each line of a secret is masked on its own.
            for line in v.bytes().split(|b| *b == b'\n') {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                if line.len() >= MIN_MASKED_LEN && !needles.iter().any(|n| n == line) {
                    needles.push(line.to_vec());
                }
            }
        }
        // Longest first, so a secret containing another is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        Masker { needles }
    }

    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    pub fn mask(&self, data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        for n in &self.needles {
            out = replace_all(&out, n);
        }
        out
    }

    pub fn mask_str(&self, s: &str) -> String {
        if self.needles.is_empty() {
            return s.to_string();
        }
        String::from_utf8_lossy(&self.mask(s.as_bytes())).into_owned()
    }
}

fn replace_all(hay: &[u8], needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(MASK);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// A private tmpfs holding one step's secret files, unmounted on drop.
#[derive(Debug)]
pub struct SecretFiles {
    dir: PathBuf,
    mounted: bool,
    next: usize,
}

impl SecretFiles {
    /// A tmpfs at `dir` (created), readable by root only.
    pub fn new(dir: &Path) -> Result<SecretFiles, SecretError> {
        std::fs::create_dir_all(dir).map_err(|source| SecretError::Io {
            id: String::new(),
            path: dir.to_path_buf(),
            source,
        })?;
        mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            Some("mode=0700,size=16m"),
        )
        .map_err(|source| SecretError::Mount {
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(SecretFiles {
            dir: dir.to_path_buf(),
            mounted: true,
            next: 0,
        })
    }

    /// Write a secret as a file with the mount's mode and owner; its host path.
    pub fn write(
        &mut self,
        id: &str,
        value: &SecretValue,
        mode: u32,
        uid: u32,
        gid: u32,
    ) -> Result<PathBuf, SecretError> {
        let path = self.dir.join(format!("secret-{}", self.next));
        self.next += 1;
        let io = |source| SecretError::Io {
            id: id.to_string(),
            path: path.clone(),
            source,
        };
        std::fs::write(&path, value.bytes()).map_err(io)?;
        std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(io)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7777))
            .map_err(io)?;
        Ok(path)
    }
}

impl Drop for SecretFiles {
    fn drop(&mut self) {
        if self.mounted {
            if let Err(e) = umount2(&self.dir, MntFlags::MNT_DETACH) {
                tracing::warn!("unmounting the secrets tmpfs {}: {e}", self.dir.display());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_each_line_of_each_secret_and_never_debug_prints_values() {
        let v = SecretValue::new(b"hunter22\nsecond-line\n".to_vec());
        let short = SecretValue::new(b"ab".to_vec());
        let m = Masker::new([&v, &short]);
        assert_eq!(
            m.mask(b"pw=hunter22 and second-line, ab"),
            b"pw=**** and ****, ab".to_vec()
        );
        assert!(!format!("{v:?}").contains("hunter"));
    }

    #[test]
    fn secret_files_live_on_a_tmpfs_that_goes_away() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("s");
        let path;
        {
            let mut f = SecretFiles::new(&dir).unwrap();
            path = f
                .write("tok", &SecretValue::new(b"value".to_vec()), 0o440, 12, 34)
                .unwrap();
            use std::os::unix::fs::MetadataExt;
            let m = std::fs::metadata(&path).unwrap();
            assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o440, 12, 34));
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
            assert!(mounts.contains(dir.to_str().unwrap()));
        }
        // Unmounted: the file was only ever in memory.
        assert!(!path.exists());
    }
}
