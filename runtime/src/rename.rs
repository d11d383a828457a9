//! `kiln rename`: the container's record gets the new name, and so do its endpoints, so that
//! peers on its user networks resolve the new name (and no longer the old one) through their
//! managed hosts files, as they would through Docker's embedded DNS.

use crate::ids::{self, IdError};
use crate::network::{self, NetError};
use crate::record::{self, ContainerRecord, RecordError};
use kiln_cache::Store;

#[derive(Debug, thiserror::Error)]
pub enum RenameError {
    #[error(transparent)]
    Name(#[from] IdError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("container {name} is already named {name}; give a different new name")]
    SameName { name: String },
    #[error("renaming container {old} to {new} on its networks: {source}; the container keeps the name {old}")]
    Network {
        old: String,
        new: String,
        // Boxed: the network error is large and this path is rare.
        #[source]
        source: Box<NetError>,
    },
}

/// Renames `rec` to `new_name`: the record first (it owns the uniqueness check), then its
/// endpoints and the hosts files of its peers. When the networks cannot be updated the
/// record gets its old name back, so the two never disagree.
pub fn rename(store: &Store, rec: &ContainerRecord, new_name: &str) -> Result<(), RenameError> {
    ids::validate_name(new_name)?;
    if rec.name == new_name {
        return Err(RenameError::SameName {
            name: new_name.to_string(),
        });
    }
    record::rename(store.db(), &rec.id, new_name)?;
    if let Err(source) = rename_on_networks(store, &rec.id, new_name) {
        if let Err(e) = record::rename(store.db(), &rec.id, &rec.name) {
            tracing::warn!(id = %rec.id, "restoring the old name {} after a failed rename: {e}", rec.name);
        }
        return Err(RenameError::Network {
            old: rec.name.clone(),
            new: new_name.to_string(),
            source: Box::new(source),
        });
    }
    tracing::info!(id = %rec.id, old = %rec.name, new = new_name, "renamed container");
    Ok(())
}

fn rename_on_networks(store: &Store, id: &str, new_name: &str) -> Result<(), NetError> {
    let root = store.root();
    // A store that never networked has nothing to update (and gets no network directory).
    if !root.join("network").join("state.json").exists() {
        return Ok(());
    }
    network::manager(root)?.rename_container(id, new_name)?;
    Ok(())
}
