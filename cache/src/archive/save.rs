//! `kiln save`: images to one archive readable by `docker load` and by OCI tools.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use super::{DockerArchiveEntry, ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME};
use crate::digest::Digest;
use crate::image::records::ImageRecord;
use crate::image::spec::{media, Descriptor, Index};
use crate::reference::Reference;
use crate::store::{io_err, Store, StoreError};

/// What to save: an image and the names to record for it (empty: saved untagged).
pub struct SaveItem {
    pub image: ImageRecord,
    pub names: Vec<Reference>,
}

fn header(path: &str, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    // Paths here are short ASCII; set_path cannot fail for them, but report it if it does.
    let _ = h.set_path(path);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_cksum();
    h
}

fn add_bytes<W: Write>(
    b: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> Result<(), StoreError> {
    b.append(&header(path, bytes.len() as u64), bytes)
        .map_err(|e| StoreError::Archive(format!("writing {path}: {e}")))
}

fn add_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> Result<(), StoreError> {
    let mut h = header(path, 0);
    h.set_entry_type(tar::EntryType::Directory);
    h.set_mode(0o755);
    h.set_cksum();
    b.append(&h, std::io::empty())
        .map_err(|e| StoreError::Archive(format!("writing {path}: {e}")))
}

/// Write the archive. Blobs are streamed from the store, each once, in digest order.
pub fn save<W: Write>(store: &Store, items: &[SaveItem], out: W) -> Result<W, StoreError> {
    let mut blobs = BTreeSet::new();
    let mut docker = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut index = Index {
        schema_version: 2,
        media_type: Some(media::OCI_INDEX.into()),
        manifests: Vec::new(),
        annotations: Default::default(),
        extra: Default::default(),
    };
    for item in items {
        let img = &item.image;
        let m = store.read_manifest(&img.manifest_digest)?;
        blobs.insert(img.manifest_digest.clone());
        blobs.insert(m.config.digest.clone());
        blobs.extend(m.layers.iter().map(|l| l.digest.clone()));
        let layers: Vec<String> = m
            .layers
            .iter()
            .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
            .collect();
        let tags: Vec<&Reference> = item.names.iter().filter(|n| n.tag.is_some()).collect();
        docker.push(DockerArchiveEntry {
            config: format!("blobs/sha256/{}", m.config.digest.hex()),
            repo_tags: Some(tags.iter().map(|n| n.familiar()).collect()),
            layers,
        });
        if let Some(top) = m.layers.last() {
            for n in &tags {
                repositories.entry(n.familiar_name()).or_default().insert(
                    n.tag.clone().unwrap_or_default(),
                    top.digest.hex().to_string(),
                );
            }
        }
        let size = store.content().size(&img.manifest_digest)?;
        let mt = m
            .media_type
            .clone()
            .unwrap_or_else(|| media::OCI_MANIFEST.into());
        if tags.is_empty() {
            index
                .manifests
                .push(Descriptor::new(&mt, img.manifest_digest.clone(), size));
        }
        for n in tags {
            let mut d = Descriptor::new(&mt, img.manifest_digest.clone(), size);
            d.annotations
                .insert(ANNOTATION_IMAGE_NAME.into(), n.to_string());
            d.annotations.insert(
                ANNOTATION_REF_NAME.into(),
                n.tag.clone().unwrap_or_default(),
            );
            index.manifests.push(d);
        }
    }
    let mut b = tar::Builder::new(out);
    add_dir(&mut b, "blobs/")?;
    add_dir(&mut b, "blobs/sha256/")?;
    for d in &blobs {
        write_blob(store, &mut b, d)?;
    }
    let json = |v: &dyn erased::Json| v.to_json();
    add_bytes(&mut b, "index.json", &json(&index)?)?;
    add_bytes(&mut b, "manifest.json", &json(&docker)?)?;
    add_bytes(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    add_bytes(&mut b, "repositories", &json(&repositories)?)?;
    b.into_inner()
        .map_err(|e| StoreError::Archive(format!("finishing archive: {e}")))
}

fn write_blob<W: Write>(
    store: &Store,
    b: &mut tar::Builder<W>,
    d: &Digest,
) -> Result<(), StoreError> {
    let path = format!("blobs/sha256/{}", d.hex());
    let size = store.content().size(d)?;
    let f = store.content().open_blob(d)?;
    b.append(&header(&path, size), f)
        .map_err(io_err("archive blob", &store.content().path(d)))
}

mod erased {
    use crate::store::StoreError;

    /// Serialise heterogeneous documents through one helper.
    pub trait Json {
        fn to_json(&self) -> Result<Vec<u8>, StoreError>;
    }

    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> Result<Vec<u8>, StoreError> {
            serde_json::to_vec(self).map_err(|e| StoreError::Archive(format!("encoding JSON: {e}")))
        }
    }
}
