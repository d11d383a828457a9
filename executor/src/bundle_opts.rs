//! The isolation options beyond the defaults in an OCI runtime config: IPC/PID/UTS
//! namespace modes, a shared `/dev/shm`, host devices, capabilities, privileged mode and
//! the cpuset, applied to the JSON `bundle::oci_spec` builds.

use crate::spec::{ContainerSpec, NamespaceMode};
use serde_json::{json, Value};
use std::os::unix::fs::{FileTypeExt, MetadataExt};

/// Edits `config` (OCI runtime config JSON) for the spec's options.
pub(crate) fn apply(spec: &ContainerSpec, config: &mut Value) -> Result<(), String> {
    namespaces(spec, config);
    if let (Some(size), Some(mounts)) = (spec.shm_size, config["mounts"].as_array_mut()) {
        for m in mounts.iter_mut().filter(|m| m["destination"] == "/dev/shm") {
            m["options"] = json!([
                "nosuid",
                "noexec",
                "nodev",
                "mode=1777",
                format!("size={size}")
            ]);
        }
    }
    if let Some(source) = &spec.shm_source {
        if let Some(mounts) = config["mounts"].as_array_mut() {
            mounts.retain(|m| m["destination"] != "/dev/shm");
            mounts.push(json!({"destination": "/dev/shm", "type": "bind", "source": source, "options": ["rbind", "rw"]}));
        }
    }
    let caps: Vec<String> = if spec.privileged {
        crate::spec::all_capabilities()
    } else if let Some(list) = &spec.capabilities {
        list.clone()
    } else {
        crate::spec::DEFAULT_CAPABILITIES
            .iter()
            .map(|c| c.to_string())
            .collect()
    };
    config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    if let Some(cpus) = &spec.limits.cpuset_cpus {
        config["linux"]["resources"]["cpu"]["cpus"] = json!(cpus);
    }
    for d in &spec.devices {
        let meta = std::fs::metadata(&d.host_path)
            .map_err(|e| format!("--device {}: {e}", d.host_path.display()))?;
        let kind = if meta.file_type().is_block_device() {
            "b"
        } else {
            "c"
        };
        let (major, minor) = (libc::major(meta.rdev()), libc::minor(meta.rdev()));
        push(
            config,
            &["linux", "devices"],
            json!({"path": d.container_path, "type": kind, "major": major, "minor": minor,
                   "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid()}),
        );
        push(
            config,
            &["linux", "resources", "devices"],
            json!({"allow": true, "type": kind, "major": major, "minor": minor, "access": d.access}),
        );
    }
    if spec.privileged {
        let linux = &mut config["linux"];
        if let Some(obj) = linux.as_object_mut() {
            obj.remove("maskedPaths");
            obj.remove("readonlyPaths");
            obj.remove("seccomp");
        }
        linux["resources"]["devices"] = json!([{"allow": true, "access": "rwm"}]);
        // Docker hands a privileged container every host device; runc creates them.
        for node in host_devices(std::path::Path::new("/dev"), 0) {
            push(config, &["linux", "devices"], node);
        }
        if let Some(mounts) = config["mounts"].as_array_mut() {
            for m in mounts.iter_mut().filter(|m| m["destination"] == "/sys") {
                m["options"] = json!(["nosuid", "noexec", "nodev", "rw"]);
            }
        }
    }
    Ok(())
}

fn namespaces(spec: &ContainerSpec, config: &mut Value) {
    let Some(list) = config["linux"]["namespaces"].as_array_mut() else {
        return;
    };
    for (mode, kind) in [
        (&spec.namespaces.ipc, "ipc"),
        (&spec.namespaces.pid, "pid"),
        (&spec.namespaces.uts, "uts"),
    ] {
        list.retain(|n| n["type"] != kind);
        match mode {
            NamespaceMode::Private => list.push(json!({"type": kind})),
            NamespaceMode::Host => {}
            NamespaceMode::Join(path) => list.push(json!({"type": kind, "path": path})),
        }
    }
    // runc refuses a hostname without a UTS namespace of the container's own.
    if spec.namespaces.uts != NamespaceMode::Private {
        if let Some(obj) = config.as_object_mut() {
            obj.remove("hostname");
        }
    }
}

/// Nodes runc creates itself in every container, and `/dev` parts that are mounts of
/// the container's own.
const RUNC_OWN: &[&str] = &[
    "null", "zero", "full", "random", "urandom", "tty", "console", "ptmx", "pts", "shm", "mqueue",
    "fd", "core",
];

/// The character and block devices below the host's `/dev`, as OCI device entries.
fn host_devices(dir: &std::path::Path, depth: usize) -> Vec<Value> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if depth == 0 && RUNC_OWN.iter().any(|n| name == *n) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() && depth < 3 {
            out.extend(host_devices(&entry.path(), depth + 1));
            continue;
        }
        let kind = if ft.is_char_device() {
            "c"
        } else if ft.is_block_device() {
            "b"
        } else {
            continue;
        };
        out.push(json!({
            "path": entry.path(), "type": kind,
            "major": libc::major(meta.rdev()), "minor": libc::minor(meta.rdev()),
            "fileMode": meta.mode() & 0o7777, "uid": meta.uid(), "gid": meta.gid(),
        }));
    }
    out
}

fn push(config: &mut Value, path: &[&str], item: Value) {
    let mut at = config;
    for key in path {
        at = &mut at[*key];
    }
    if !at.is_array() {
        *at = json!([]);
    }
    if let Some(a) = at.as_array_mut() {
        a.push(item);
    }
}
