//! A RUN step's upper dir becomes a layer through the store (kiln-cache): additions,
//! changes and deletions (overlay whiteouts -> OCI whiteouts), and nothing of the
//! executor's own mountpoints.

mod common;
use common::*;
use kiln_cache::layer::{self, Compression, EntryKind, TarOptions};
use std::path::Path;

#[tokio::test]
async fn upper_dir_becomes_a_layer() {
    let sb = Sandbox::new("layer");
    let mut spec = sb.sh("echo data > /newfile && mkdir /app && echo x > /app/x && rm /bin/true");
    spec.process.cwd = Some("/work".into());
    spec.mounts.push(kiln_executor::Mount {
        destination: "/cache".into(),
        kind: kiln_executor::MountKind::Tmpfs { size: None },
        readonly: false,
    });
    let (code, out) = run_ok(&sb.native(), &spec).await;
    assert_eq!(code, 0, "{out:?}");
    let entries = layer::diff::diff_overlay_upper(&sb.upper()).unwrap();
    let find = |p: &str| entries.iter().find(|e| e.path == Path::new(p));
    assert!(matches!(
        find("newfile").map(|e| &e.kind),
        Some(EntryKind::File)
    ));
    assert!(matches!(
        find("app/x").map(|e| &e.kind),
        Some(EntryKind::File)
    ));
    assert!(
        entries
            .iter()
            .any(|e| e.kind == EntryKind::Whiteout && e.path.ends_with("true")),
        "{entries:?}"
    );
    // Executor-made mountpoints are not part of the layer; the WORKDIR is (as in Docker).
    for p in [
        "etc",
        "etc/hosts",
        "etc/resolv.conf",
        "etc/hostname",
        "cache",
    ] {
        assert!(find(p).is_none(), "{p} in layer: {entries:?}");
    }
    assert!(find("work").is_some());

    let store_dir = sb.dir.path().join("store");
    std::fs::create_dir(&store_dir).unwrap();
    let store = kiln_cache::ContentStore::open(&store_dir).unwrap();
    let blob =
        layer::write_layer(&store, &entries, TarOptions::default(), Compression::Gzip).unwrap();
    assert!(blob.size > 0 && blob.uncompressed_size > 0);
    store.open_blob(&blob.digest).unwrap();
    sb.assert_clean();
}
