//! `kiln load`: Docker archives (current and legacy layouts), OCI archives and OCI layout
//! directories, gzip'd or zstd'd or plain, into the store.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

use tracing::{debug, warn};

use super::{DockerArchiveEntry, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::image::records::{ImageRecord, MAX_DOCUMENT};
use crate::image::spec::{host_platform, media, Descriptor, ImageConfig, Index, Manifest};
use crate::layer::compress::{decompress, Compression};
use crate::reference::Reference;
use crate::store::{io_err, Store, StoreError};

/// One image loaded, with the names it was given.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub image: ImageRecord,
    pub names: Vec<Reference>,
}

/// Files seen in the archive: small metadata documents kept in memory, everything else
/// ingested into the content store as it streams past.
#[derive(Default)]
struct Collected {
    docs: BTreeMap<String, Vec<u8>>,
    files: BTreeMap<String, Digest>,
    symlinks: BTreeMap<String, String>,
}

const DOC_NAMES: [&str; 4] = ["manifest.json", "index.json", "repositories", "oci-layout"];

fn clean(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?.to_string()),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

impl Collected {
    fn file(&mut self, store: &Store, path: &str, r: impl Read) -> Result<(), StoreError> {
        if DOC_NAMES.contains(&path) {
            let mut buf = Vec::new();
            r.take(MAX_DOCUMENT + 1)
                .read_to_end(&mut buf)
                .map_err(|e| StoreError::Archive(format!("reading {path}: {e}")))?;
            if buf.len() as u64 > MAX_DOCUMENT {
                return Err(StoreError::Archive(format!(
                    "{path} is larger than {MAX_DOCUMENT} bytes"
                )));
            }
            self.docs.insert(path.to_string(), buf);
            return Ok(());
        }
        let expected = path
            .strip_prefix("blobs/sha256/")
            .and_then(|h| Digest::from_hex(h).ok());
        let info = store.content().ingest(r, expected.as_ref())?;
        debug!(path, digest = %info.digest, "archive file stored");
        self.files.insert(path.to_string(), info.digest);
        Ok(())
    }

    /// Resolve a path named by manifest.json to a stored digest (following legacy symlinks).
    fn digest_of(&self, path: &str) -> Result<Digest, StoreError> {
        let mut p = clean(Path::new(path)).unwrap_or_default();
        for _ in 0..16 {
            if let Some(d) = self.files.get(&p) {
                return Ok(d.clone());
            }
            let Some(target) = self.symlinks.get(&p) else {
                break;
            };
            let base = Path::new(&p).parent().unwrap_or(Path::new(""));
            p = normalise_join(base, target);
        }
        Err(StoreError::Archive(format!(
            "manifest.json names {path}, which is not in the archive"
        )))
    }
}

fn normalise_join(base: &Path, target: &str) -> String {
    let mut parts: Vec<String> = base
        .components()
        .filter_map(|c| c.as_os_str().to_str().map(String::from))
        .collect();
    for c in Path::new(target).components() {
        match c {
            Component::ParentDir => {
                parts.pop();
            }
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    parts.join("/")
}

fn from_tar(store: &Store, reader: impl Read) -> Result<Collected, StoreError> {
    let mut col = Collected::default();
    let mut ar = tar::Archive::new(reader);
    let entries = ar
        .entries()
        .map_err(|e| StoreError::Archive(format!("not a tar archive: {e}")))?;
    for ent in entries {
        let ent = ent.map_err(|e| StoreError::Archive(format!("reading archive: {e}")))?;
        let raw = ent
            .path()
            .map_err(|e| StoreError::Archive(format!("bad entry name: {e}")))?
            .into_owned();
        let Some(path) = clean(&raw) else {
            warn!(path = %raw.display(), "skipping archive entry with an unsafe name");
            continue;
        };
        match ent.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => col.file(store, &path, ent)?,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                if let Ok(Some(t)) = ent.link_name() {
                    let t = t.to_string_lossy().into_owned();
                    // Hardlink names are archive-relative; symlinks are relative to their dir.
                    let target = if ent.header().entry_type() == tar::EntryType::Link {
                        format!("/{t}")
                    } else {
                        t
                    };
                    let resolved = if let Some(abs) = target.strip_prefix('/') {
                        abs.to_string()
                    } else {
                        normalise_join(Path::new(&path).parent().unwrap_or(Path::new("")), &target)
                    };
                    col.symlinks.insert(path, resolved);
                }
            }
            _ => {}
        }
    }
    Ok(col)
}

fn from_dir(store: &Store, root: &Path) -> Result<Collected, StoreError> {
    let mut col = Collected::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for e in std::fs::read_dir(&dir).map_err(io_err("read", &dir))? {
            let e = e.map_err(io_err("read", &dir))?;
            let r = rel.join(e.file_name());
            let ft = e.file_type().map_err(io_err("stat", &e.path()))?;
            if ft.is_dir() {
                stack.push(r);
            } else if ft.is_file() {
                let f = std::fs::File::open(e.path()).map_err(io_err("open", &e.path()))?;
                if let Some(p) = clean(&r) {
                    col.file(store, &p, f)?;
                }
            }
        }
    }
    Ok(col)
}

/// Load from a file or directory path.
pub fn load_path(store: &Store, path: &Path) -> Result<Vec<Loaded>, StoreError> {
    if path.is_dir() {
        let _w = store.write_guard()?;
        let col = from_dir(store, path)?;
        return register(store, col);
    }
    let f = std::fs::File::open(path).map_err(io_err("open", path))?;
    load_stream(store, f)
}

/// Load from a stream (a file, or stdin), decompressing by magic bytes.
pub fn load_stream(store: &Store, reader: impl Read) -> Result<Vec<Loaded>, StoreError> {
    let _w = store.write_guard()?;
    let r = decompress(reader).map_err(|e| StoreError::Archive(format!("reading input: {e}")))?;
    let col = from_tar(store, r)?;
    register(store, col)
}

fn parse_doc<T: serde::de::DeserializeOwned>(
    col: &Collected,
    name: &str,
) -> Result<Option<T>, StoreError> {
    col.docs
        .get(name)
        .map(|b| {
            serde_json::from_slice(b)
                .map_err(|e| StoreError::Archive(format!("{name} is not valid: {e}")))
        })
        .transpose()
}

/// Pick the manifest for this host out of an index (recursively), or take a manifest as is.
fn resolve_manifest(
    store: &Store,
    d: &Descriptor,
    depth: usize,
) -> Result<Option<Digest>, StoreError> {
    if media::is_manifest(&d.media_type) {
        return Ok(Some(d.digest.clone()));
    }
    if !media::is_index(&d.media_type) || depth > 4 {
        return Ok(None);
    }
    let bytes = store.content().read_limited(&d.digest, MAX_DOCUMENT)?;
    let idx: Index = serde_json::from_slice(&bytes).map_err(|source| StoreError::BadDocument {
        what: "index",
        digest: d.digest.clone(),
        source,
    })?;
    let (os, arch) = host_platform();
    let chosen = idx
        .manifests
        .iter()
        .find(|m| {
            m.platform
                .as_ref()
                .is_some_and(|p| p.os == os && p.architecture == arch)
        })
        .or_else(|| {
            idx.manifests
                .iter()
                .find(|m| media::is_manifest(&m.media_type) && m.platform.is_none())
        })
        .or_else(|| idx.manifests.first());
    match chosen {
        Some(c) if store.content().exists(&c.digest) => resolve_manifest(store, c, depth + 1),
        _ => Ok(None),
    }
}

fn names_from_annotations(d: &Descriptor) -> Vec<Reference> {
    let full = d
        .annotations
        .get(ANNOTATION_IMAGE_NAME)
        .and_then(|n| Reference::parse(n).ok());
    // A bare tag like `latest` in ref.name does not name a repository; only a full ref does.
    let refname = d
        .annotations
        .get(ANNOTATION_REF_NAME)
        .filter(|n| n.contains(':') || n.contains('/'))
        .and_then(|n| Reference::parse(n).ok());
    full.or(refname).into_iter().collect()
}

fn register(store: &Store, col: Collected) -> Result<Vec<Loaded>, StoreError> {
    let index: Option<Index> = parse_doc(&col, "index.json")?;
    let docker: Option<Vec<DockerArchiveEntry>> = parse_doc(&col, "manifest.json")?;
    let mut out = Vec::new();
    // Manifests the OCI index offers, by config digest, so a Docker entry reuses them.
    let mut oci: Vec<(Digest, Manifest, Vec<Reference>)> = Vec::new();
    for d in index.iter().flat_map(|i| &i.manifests) {
        if let Some(md) = resolve_manifest(store, d, 0)? {
            let m = store.read_manifest(&md)?;
            oci.push((md, m, names_from_annotations(d)));
        }
    }
    if let Some(entries) = docker {
        for e in entries {
            let cfg = col.digest_of(&e.config)?;
            let layers = e
                .layers
                .iter()
                .map(|l| col.digest_of(l))
                .collect::<Result<Vec<_>, _>>()?;
            let names: Vec<Reference> = e
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Reference::parse(t))
                .collect::<Result<_, _>>()?;
            let existing = oci.iter().find(|(_, m, _)| {
                m.config.digest == cfg && m.layers.iter().map(|l| &l.digest).eq(layers.iter())
            });
            let md = match existing {
                Some((md, _, _)) => md.clone(),
                None => synthesise_manifest(store, &cfg, &layers)?,
            };
            out.push(Loaded {
                image: store.register_image(&md, &names)?,
                names,
            });
        }
        return Ok(out);
    }
    if index.is_none() {
        return Err(StoreError::Archive(
            "neither manifest.json nor index.json found: not a Docker or OCI image archive".into(),
        ));
    }
    for (md, _, names) in oci {
        out.push(Loaded {
            image: store.register_image(&md, &names)?,
            names,
        });
    }
    Ok(out)
}

/// Docker archives may carry no manifest (legacy layout): write an OCI one for them.
fn synthesise_manifest(
    store: &Store,
    cfg: &Digest,
    layers: &[Digest],
) -> Result<Digest, StoreError> {
    let config: ImageConfig = store.read_config(cfg)?;
    if config.rootfs.diff_ids.len() != layers.len() {
        return Err(StoreError::Archive(format!(
            "config {cfg} lists {} diff ids, manifest.json {} layers",
            config.rootfs.diff_ids.len(),
            layers.len()
        )));
    }
    let mut descs = Vec::new();
    for l in layers {
        let f = store.content().open_blob(l)?;
        let mut br = BufReader::new(f);
        let head = br
            .fill_buf()
            .map_err(io_err("read", &store.content().path(l)))?;
        let mt = Compression::detect(head).oci_media_type();
        descs.push(Descriptor::new(mt, l.clone(), store.content().size(l)?));
    }
    let m = Manifest {
        schema_version: 2,
        media_type: Some(media::OCI_MANIFEST.into()),
        config: Descriptor::new(media::OCI_CONFIG, cfg.clone(), store.content().size(cfg)?),
        layers: descs,
        annotations: Default::default(),
        extra: Default::default(),
    };
    let bytes = serde_json::to_vec(&m)
        .map_err(|e| StoreError::Archive(format!("encoding manifest: {e}")))?;
    Ok(store.content().put_bytes(&bytes)?.digest)
}
