#![allow(dead_code)]
//! Helpers shared by the integration tests: building trees and comparing them.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// Everything observable about a tree: name -> (type, mode, uid, gid, size, link target,
/// rdev, content hash, xattrs, hardlink group).
pub fn snapshot_tree(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<u64, String> = BTreeMap::new();
    walk(root, root, &mut out, &mut inodes);
    out
}

fn walk(
    root: &Path,
    dir: &Path,
    out: &mut BTreeMap<String, String>,
    inodes: &mut BTreeMap<u64, String>,
) {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for p in names {
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let md = fs::symlink_metadata(&p).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            "dir".to_string()
        } else if ft.is_symlink() {
            format!("symlink->{}", fs::read_link(&p).unwrap().display())
        } else if ft.is_file() {
            format!("file:{}", sha(&fs::read(&p).unwrap()))
        } else if ft.is_char_device() {
            format!("char:{}", md.rdev())
        } else if ft.is_block_device() {
            format!("block:{}", md.rdev())
        } else if ft.is_fifo() {
            "fifo".into()
        } else {
            "other".into()
        };
        let mut xattrs: Vec<String> = xattr::list(&p)
            .unwrap()
            .filter_map(|n| {
                let n = n.to_str()?.to_string();
                let v = xattr::get(&p, &n).ok()??;
                Some(format!("{n}={}", String::from_utf8_lossy(&v)))
            })
            .collect();
        xattrs.sort();
        let link_group = if !ft.is_dir() && md.nlink() > 1 {
            inodes
                .entry(md.ino())
                .or_insert_with(|| rel.clone())
                .clone()
        } else {
            String::new()
        };
        let mtime = if ft.is_symlink() { 0 } else { md.mtime() };
        out.insert(
            rel,
            format!(
                "{kind} mode={:o} {}:{} mtime={} xattrs={:?} links={}",
                md.mode() & 0o7777,
                md.uid(),
                md.gid(),
                mtime,
                xattrs,
                link_group
            ),
        );
        if ft.is_dir() {
            walk(root, &p, out, inodes);
        }
    }
}

fn sha(b: &[u8]) -> String {
    kiln_cache::Digest::of_bytes(b).short().to_string()
}

use kiln_cache::image::spec::{media, Descriptor, ImageConfig, Manifest, RootFs};
use kiln_cache::layer::{self, diff, Compression, TarOptions};
use kiln_cache::{ImageRecord, Reference, Store};

/// Build an image whose layers are the given directory trees (each a full layer), register it
/// under `name`, and return its record.
#[allow(dead_code)]
pub fn make_image(store: &Store, layers: &[&Path], name: Option<&str>) -> ImageRecord {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for dir in layers {
        let entries = diff::tree_entries(dir).unwrap();
        let blob = layer::write_layer(
            store.content(),
            &entries,
            TarOptions::default(),
            Compression::Gzip,
        )
        .unwrap();
        descs.push(Descriptor::new(
            &blob.media_type,
            blob.digest.clone(),
            blob.size,
        ));
        diff_ids.push(blob.diff_id);
    }
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        created: Some("2024-01-01T00:00:00Z".into()),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..Default::default()
    };
    let cfg = store
        .content()
        .put_bytes(&serde_json::to_vec(&config).unwrap())
        .unwrap();
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: Descriptor::new(media::OCI_CONFIG, cfg.digest, cfg.size),
        layers: descs,
        annotations: Default::default(),
        extra: Default::default(),
    };
    let md = store
        .content()
        .put_bytes(&serde_json::to_vec(&m).unwrap())
        .unwrap();
    let names: Vec<Reference> = name
        .map(|n| Reference::parse(n).unwrap())
        .into_iter()
        .collect();
    store.register_image(&md.digest, &names).unwrap()
}

/// Unmounts on drop, so a failing test does not leave a mount behind.
#[allow(dead_code)]
pub struct Mounted(pub std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

#[allow(dead_code)]
pub fn mount_overlay_ro(lowerdirs: &[std::path::PathBuf], target: &Path) -> Mounted {
    let lower: Vec<String> = lowerdirs.iter().map(|p| p.display().to_string()).collect();
    let opts = format!("lowerdir={}", lower.join(":"));
    // A single lowerdir needs a second one for a read-only overlay; use an empty dir.
    let opts = if lowerdirs.len() == 1 {
        let empty = target.with_extension("empty");
        fs::create_dir_all(&empty).unwrap();
        format!("{opts}:{}", empty.display())
    } else {
        opts
    };
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::MS_RDONLY,
        Some(opts.as_str()),
    )
    .unwrap();
    Mounted(target.to_path_buf())
}

/// A writable overlay of `lowerdirs` (uppermost first) at `target`, as the executor mounts a
/// container's rootfs: changes land in `upper`.
#[allow(dead_code)]
pub fn mount_overlay_rw(
    lowerdirs: &[std::path::PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Mounted {
    let lower: Vec<String> = lowerdirs.iter().map(|p| p.display().to_string()).collect();
    let opts = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    nix::mount::mount(
        Some("overlay"),
        target,
        Some("overlay"),
        nix::mount::MsFlags::empty(),
        Some(opts.as_str()),
    )
    .unwrap();
    Mounted(target.to_path_buf())
}
