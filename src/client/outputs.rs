//! A daemon build's `--output`s written on the client: the daemon streams each one
//! (`GET /v1/builds/{id}/outputs/{n}`) and the client writes it at its own `dest`, so a
//! relative or private path means what it means in-process even when the daemon runs on
//! another machine.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;
use std::pin::Pin;

use anyhow::Context;
use kiln_daemon::client::Client;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::cmd::build::output::{self, OutputSpec};

/// A daemon stream read synchronously (the client's calls run outside its runtime).
struct BlockingRead<'a> {
    rt: &'a tokio::runtime::Runtime,
    inner: Pin<Box<dyn AsyncRead + Send>>,
}

impl Read for BlockingRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.rt.block_on(self.inner.read(buf))
    }
}

/// Parse the `--output` specs as in-process does, so a bad one fails before the build.
pub fn parse(specs: &[String]) -> anyhow::Result<Vec<OutputSpec>> {
    specs.iter().map(|o| output::parse(o)).collect()
}

/// Fetch output `n` of build `id` and write it where `spec` says.
pub fn fetch(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    id: &str,
    n: usize,
    spec: &OutputSpec,
) -> anyhow::Result<()> {
    let reader = rt
        .block_on(client.get_reader(&format!("/v1/builds/{id}/outputs/{n}")))
        .map_err(super::api_error)?;
    let mut reader = BlockingRead { rt, inner: reader };
    match spec {
        OutputSpec::Image { .. } => Ok(()),
        OutputSpec::Local { dest } => unpack(&mut reader, dest),
        OutputSpec::Tar { dest } | OutputSpec::Archive { dest, .. } => copy(&mut reader, dest),
    }
}

/// The filesystem tar into `dest`: modes, owners, times and links as built.
fn unpack(reader: &mut dyn Read, dest: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    archive
        .unpack(dest)
        .with_context(|| format!("writing the build output into {}", dest.display()))
}

fn copy(reader: &mut dyn Read, dest: &Path) -> anyhow::Result<()> {
    let f = File::create(dest).with_context(|| format!("creating {}", dest.display()))?;
    let mut w = BufWriter::new(f);
    std::io::copy(reader, &mut w).with_context(|| format!("writing {}", dest.display()))?;
    w.flush()
        .with_context(|| format!("writing {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpacks_a_filesystem_tar_and_copies_files() {
        let d = tempfile::tempdir().unwrap();
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o750);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, "etc/x", &b"abc"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        let dest = d.path().join("out/nested");
        unpack(&mut &bytes[..], &dest).unwrap();
        assert_eq!(std::fs::read(dest.join("etc/x")).unwrap(), b"abc");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dest.join("etc/x"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o750);
        let mtime = std::fs::metadata(dest.join("etc/x"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            mtime
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs(),
            1_700_000_000
        );
        let file = d.path().join("o.tar");
        copy(&mut &bytes[..], &file).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), bytes);
        assert!(copy(&mut &bytes[..], &d.path().join("no/such/dir/o.tar")).is_err());
    }
}
