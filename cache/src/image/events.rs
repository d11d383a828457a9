//! Image events (`pull`, `push`, `tag`, `untag`, `delete`, `load`, `import`) in Docker's
//! event JSON, appended to the store's `events.jsonl` (the file `kiln events` reads, beside
//! the runtime's container events). Recording is best effort: an event is a view of what
//! happened.

use crate::digest::Digest;
use crate::store::Store;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The events file in a store.
pub const EVENTS_FILE: &str = "events.jsonl";

/// Appends one image event: `id` is the image id (config digest) or, for `pull`/`push`,
/// the reference; `name` goes to the actor's `name` attribute.
pub fn record(store_root: &Path, action: &str, id: &str, name: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let ev = json!({
        "Type": "image",
        "Action": action,
        "Actor": {"ID": id, "Attributes": {"name": name}},
        "scope": "local",
        "time": now.as_secs() as i64,
        "timeNano": now.as_nanos() as i64,
    });
    let mut line = serde_json::to_vec(&ev).unwrap_or_default();
    line.push(b'\n');
    let path = store_root.join(EVENTS_FILE);
    // O_APPEND with one write per event: writers in several processes never interleave.
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&line));
    if let Err(e) = written {
        tracing::warn!(
            "recording the image {action} event in {}: {e}",
            path.display()
        );
    }
}

impl Store {
    /// Records an image event for callers outside the store (`pull`, `push`).
    pub fn image_event(&self, action: &str, id: &str, name: &str) {
        record(self.root(), action, id, name);
    }

    /// The image id (config digest) of a stored manifest, or the manifest digest itself
    /// when its record is gone.
    pub(crate) fn image_id_of(&self, manifest: &Digest) -> String {
        match self.image_by_manifest(manifest) {
            Ok(Some(r)) => r.config_digest.to_string(),
            _ => manifest.to_string(),
        }
    }
}
