//! The container's root filesystem: overlayfs (or a bind of a plain dir), /proc, /dev, /sys,
//! the per-container /etc files and the caller's mounts, then pivot_root, Docker's masked
//! and read-only paths, and an optional read-only root.

use super::mounts::{self, Created};
use super::{devices, Context, SetupError};
use crate::protocol::HelperConfig;
use crate::spec::{Mount, MountKind, Rootfs, MASKED_PATHS, READONLY_PATHS};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use std::path::{Path, PathBuf};

/// The kernel's limit on mount option data (one page).
const MAX_MOUNT_DATA: usize = 4095;

/// Builds the rootfs and pivots into it; returns the mountpoints it had to create.
pub(super) fn setup(cfg: &HelperConfig) -> Result<Vec<String>, SetupError> {
    // Nothing mounted from here on may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .ctx(|| "making / a recursive slave mount".into())?;
    let root = &cfg.rootfs_mountpoint;
    mount_rootfs(&cfg.spec.rootfs, root)?;

    let mut created = Created::default();
    let proc_dir = created.ensure_dir(root, &mounts::resolve_dest(root, "/proc")?)?;
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .ctx(|| "mounting /proc".into())?;
    devices::setup(root, &cfg.spec, &mut created)?;
    let sys_dir = created.ensure_dir(root, &mounts::resolve_dest(root, "/sys")?)?;
    let mut sys_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    // A privileged container may write /sys, as Docker's.
    if !cfg.spec.privileged {
        sys_flags |= MsFlags::MS_RDONLY;
    }
    mount(
        Some("sysfs"),
        &sys_dir,
        Some("sysfs"),
        sys_flags,
        None::<&str>,
    )
    .ctx(|| "mounting /sys".into())?;

    for (dest, source) in &cfg.etc_files {
        let m = Mount {
            destination: dest.clone(),
            kind: MountKind::Bind {
                source: source.clone(),
            },
            readonly: false,
        };
        mounts::apply(root, &m, &mut created)?;
    }
    for m in &cfg.spec.mounts {
        mounts::apply(root, m, &mut created)?;
    }

    pivot(root)?;
    if !cfg.spec.privileged {
        mask_paths()?;
    }
    if cfg.spec.readonly_rootfs {
        mounts::remount_readonly(Path::new("/"))?;
    }
    Ok(created.0)
}

fn mount_rootfs(rootfs: &Rootfs, target: &Path) -> Result<(), SetupError> {
    match rootfs {
        Rootfs::Dir(dir) => mounts::bind(dir, target, false),
        Rootfs::Overlay { lower, upper, work } => {
            let data = overlay_options(lower, upper, work, target)?;
            mount(
                Some("overlay"),
                target,
                Some("overlay"),
                MsFlags::empty(),
                Some(data.as_str()),
            )
            .ctx(|| format!("mounting overlay ({data}) on {}", target.display()))
        }
    }
}

/// `lowerdir=top:…:bottom,upperdir=…,workdir=…`; an empty lower list uses the (empty)
/// mountpoint itself, so `FROM scratch` needs no special case.
pub(crate) fn overlay_options(
    lower: &[PathBuf],
    upper: &Path,
    work: &Path,
    empty_dir: &Path,
) -> Result<String, SetupError> {
    let mut lowers: Vec<String> = Vec::with_capacity(lower.len().max(1));
    for dir in lower.iter().rev() {
        lowers.push(escape_overlay_path(dir)?);
    }
    if lowers.is_empty() {
        lowers.push(escape_overlay_path(empty_dir)?);
    }
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lowers.join(":"),
        escape_overlay_path(upper)?,
        escape_overlay_path(work)?
    );
    if data.len() > MAX_MOUNT_DATA {
        return Err(SetupError::Invalid(format!(
            "overlay mount options are {} bytes, over the kernel's {MAX_MOUNT_DATA}: too many or too long lower dirs ({} layers); use shorter snapshot paths",
            data.len(),
            lower.len()
        )));
    }
    Ok(data)
}

fn escape_overlay_path(path: &Path) -> Result<String, SetupError> {
    let s = path.to_str().ok_or_else(|| {
        SetupError::Invalid(format!("overlay dir {} is not UTF-8", path.display()))
    })?;
    if s.contains(',') {
        return Err(SetupError::Invalid(format!(
            "overlay dir {s:?} contains a comma, which mount options cannot carry; rename it"
        )));
    }
    Ok(s.replace('\\', "\\\\").replace(':', "\\:"))
}

fn pivot(root: &Path) -> Result<(), SetupError> {
    nix::unistd::chdir(root).ctx(|| format!("chdir {}", root.display()))?;
    // pivot_root(".", "."): the old root ends up stacked on "/", then is detached.
    nix::unistd::pivot_root(".", ".").ctx(|| format!("pivot_root into {}", root.display()))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .ctx(|| "making the old root a slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "detaching the old root".into())?;
    nix::unistd::chdir("/").ctx(|| "chdir /".into())
}

/// Docker's masked and read-only paths (after pivot_root; paths are the container's).
fn mask_paths() -> Result<(), SetupError> {
    for path in MASKED_PATHS {
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(_) => continue,
        };
        if meta.is_dir() {
            mount(
                Some("tmpfs"),
                *path,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                None::<&str>,
            )
            .ctx(|| format!("masking {path}"))?;
        } else {
            mounts::bind(Path::new("/dev/null"), Path::new(path), false)?;
        }
    }
    for path in READONLY_PATHS {
        if std::fs::symlink_metadata(path).is_err() {
            continue;
        }
        mounts::bind(Path::new(path), Path::new(path), true)?;
    }
    Ok(())
}
