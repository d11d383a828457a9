//! The container's `/dev`: a tmpfs with only Docker's device set, a private devpts, shm and
//! mqueue, and the usual symlinks.

use super::mounts::Created;
use super::{Context, SetupError};
use crate::spec::ContainerSpec;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use std::os::unix::fs::symlink;
use std::path::Path;

/// (name, major, minor) of the character devices every container gets.
const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("/proc/kcore", "core"),
    ("pts/ptmx", "ptmx"),
];

/// Builds `/dev` under `root` (before pivot_root). With a tty, `/dev/console` is the pty.
/// A shared `/dev/shm` (joined or host IPC) is bound instead of a fresh tmpfs; host
/// devices (`--device`, all of them when privileged) come last.
pub(super) fn setup(
    root: &Path,
    spec: &ContainerSpec,
    created: &mut Created,
) -> Result<(), SetupError> {
    let tty = spec.process.tty;
    let dev = created.ensure_dir(root, Path::new("dev"))?;
    mount(
        Some("tmpfs"),
        &dev,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .ctx(|| "mounting tmpfs on /dev".into())?;
    for (name, major, minor) in DEVICES {
        let path = dev.join(name);
        mknod(
            &path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(0o666),
            makedev(*major, *minor),
        )
        .ctx(|| format!("mknod /dev/{name}"))?;
    }
    let shm_data = format!(
        "mode=1777,size={}",
        spec.shm_size.unwrap_or(64 << 20).max(4096)
    );
    for (dir, fstype, flags, data) in [
        (
            "pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            "newinstance,ptmxmode=0666,mode=0620,gid=5",
        ),
        (
            "shm",
            "tmpfs",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            shm_data.as_str(),
        ),
        (
            "mqueue",
            "mqueue",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            "",
        ),
    ] {
        let target = dev.join(dir);
        std::fs::create_dir(&target).ctx(|| format!("mkdir /dev/{dir}"))?;
        if let (Some(source), "shm") = (&spec.shm_source, dir) {
            super::mounts::bind(source, &target, false)?;
            continue;
        }
        let data = (!data.is_empty()).then_some(data);
        mount(Some(fstype), &target, Some(fstype), flags, data)
            .ctx(|| format!("mounting {fstype} on /dev/{dir}"))?;
    }
    for (target, name) in LINKS {
        // As runc: /dev/core only where the kernel has /proc/kcore.
        if *name == "core" && !Path::new("/proc/kcore").exists() {
            continue;
        }
        symlink(target, dev.join(name)).ctx(|| format!("symlink /dev/{name}"))?;
    }
    if tty {
        let console = dev.join("console");
        std::fs::File::create(&console).ctx(|| "creating /dev/console".into())?;
        // fd 0 is the pty slave. Its mount belongs to the caller's mount namespace, so
        // bind the same path in our copy of it rather than the fd's magic link.
        let slave =
            std::fs::read_link("/proc/self/fd/0").ctx(|| "reading the pty path of fd 0".into())?;
        super::mounts::bind(&slave, &console, false)?;
    }
    if spec.privileged {
        super::hostdev::add_all(&dev)?;
    }
    for d in &spec.devices {
        super::hostdev::add(root, d, created)?;
    }
    Ok(())
}
