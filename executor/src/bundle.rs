//! Writing a [`ContainerSpec`] as an OCI runtime bundle (`config.json` via oci-spec) that
//! `runc` runs with the same isolation as the native helper: namespaces, Docker's mounts,
//! masked/read-only paths, capabilities, the default seccomp profile, limits and rlimits.

use crate::seccomp::DENIED;
use crate::spec::{
    ContainerSpec, MountKind, NetworkMode, SeccompMode, DEFAULT_CAPABILITIES, DEFAULT_PATH,
    MASKED_PATHS, READONLY_PATHS,
};
use crate::user::{ResolvedUser, UserError};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(transparent)]
    User(#[from] UserError),
    #[error("building the OCI runtime config: {0}")]
    Spec(String),
    #[error("writing {path}: {message}")]
    Write { path: PathBuf, message: String },
}

/// Host-side facts the bundle needs besides the spec.
pub struct BundleInputs<'a> {
    /// The rootfs as the runtime should see it (a mounted overlay or the plain dir).
    pub rootfs: &'a Path,
    /// (container path, host file) bound read-write (`/etc/hosts`, ...).
    pub etc_files: &'a [(String, PathBuf)],
    /// `linux.cgroupsPath`.
    pub cgroups_path: Option<String>,
}

/// Resolves USER against the rootfs' own passwd/group files (symlinks kept inside).
pub fn resolve_user(spec: &ContainerSpec, rootfs: &Path) -> Result<ResolvedUser, UserError> {
    let read = |p: &str| {
        crate::securejoin::resolve_in_root(rootfs, p)
            .ok()
            .and_then(|rel| std::fs::read_to_string(rootfs.join(rel)).ok())
    };
    crate::user::resolve(
        spec.process.user.as_deref().unwrap_or(""),
        read("/etc/passwd").as_deref(),
        read("/etc/group").as_deref(),
    )
}

/// The OCI runtime config for `spec`.
pub fn oci_spec(
    spec: &ContainerSpec,
    inputs: &BundleInputs<'_>,
) -> Result<oci_spec::runtime::Spec, BundleError> {
    let user = resolve_user(spec, inputs.rootfs)?;
    let mut env = spec.process.env.clone();
    for (key, value) in [
        ("PATH", DEFAULT_PATH.to_string()),
        ("HOSTNAME", spec.effective_hostname()),
        ("HOME", user.home.clone()),
    ] {
        if !env
            .iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
        {
            env.push(format!("{key}={value}"));
        }
    }
    let caps: Vec<&str> = DEFAULT_CAPABILITIES.to_vec();
    let rlimits: Vec<Value> = spec
        .limits
        .rlimits
        .iter()
        .map(|r| json!({"type": r.kind.oci_name(), "soft": r.soft, "hard": r.hard}))
        .collect();
    let mut mounts = vec![
        json!({"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}),
        json!({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]}),
        json!({"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]}),
        json!({"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]}),
        json!({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}),
    ];
    for (dest, source) in inputs.etc_files {
        mounts.push(json!({"destination": dest, "type": "bind", "source": source, "options": ["rbind", "rw"]}));
    }
    for m in &spec.mounts {
        let rw = if m.readonly { "ro" } else { "rw" };
        mounts.push(match &m.kind {
            MountKind::Bind { source } => {
                json!({"destination": m.destination, "type": "bind", "source": source, "options": ["rbind", rw]})
            }
            MountKind::Tmpfs { size } => {
                let mut opts = vec!["nosuid".to_string(), "nodev".into(), "mode=1777".into(), rw.into()];
                if let Some(size) = size {
                    opts.push(format!("size={size}"));
                }
                json!({"destination": m.destination, "type": "tmpfs", "source": "tmpfs", "options": opts})
            }
        });
    }
    let mut namespaces = vec![
        json!({"type": "pid"}),
        json!({"type": "ipc"}),
        json!({"type": "uts"}),
        json!({"type": "mount"}),
        json!({"type": "cgroup"}),
    ];
    match &spec.network {
        NetworkMode::None => namespaces.push(json!({"type": "network"})),
        NetworkMode::Join(path) => namespaces.push(json!({"type": "network", "path": path})),
        NetworkMode::Host => {}
    }
    let mut resources = json!({
        "devices": [
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
            {"allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
            {"allow": true, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
            {"allow": true, "type": "c", "major": 136, "access": "rwm"}
        ]
    });
    if let Some(m) = spec.limits.memory {
        resources["memory"] = json!({"limit": m, "swap": m});
    }
    let mut cpu = serde_json::Map::new();
    if let Some(s) = spec.limits.cpu_shares {
        cpu.insert("shares".into(), json!(s));
    }
    if let Some(q) = spec.limits.cpu_quota {
        cpu.insert("quota".into(), json!(q.quota_us));
        cpu.insert("period".into(), json!(q.period_us));
    }
    if !cpu.is_empty() {
        resources["cpu"] = Value::Object(cpu);
    }
    if let Some(p) = spec.limits.pids {
        resources["pids"] = json!({"limit": p});
    }
    let mut linux = json!({
        "namespaces": namespaces,
        "maskedPaths": MASKED_PATHS,
        "readonlyPaths": READONLY_PATHS,
        "resources": resources,
    });
    if let Some(path) = &inputs.cgroups_path {
        linux["cgroupsPath"] = json!(path);
    }
    if spec.seccomp == SeccompMode::Default {
        linux["seccomp"] = seccomp_json();
    }
    let mut config = json!({
        "ociVersion": "1.0.2",
        "root": {"path": inputs.rootfs, "readonly": spec.readonly_rootfs},
        "hostname": spec.effective_hostname(),
        "process": {
            "terminal": spec.process.tty,
            "user": {"uid": user.uid, "gid": user.gid, "additionalGids": user.additional_gids},
            "args": spec.process.args,
            "env": env,
            "cwd": spec.process.cwd.as_deref().unwrap_or("/"),
            "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
            "rlimits": rlimits,
            "noNewPrivileges": spec.no_new_privileges,
        },
        "mounts": mounts,
        "linux": linux,
    });
    crate::bundle_opts::apply(spec, &mut config).map_err(BundleError::Spec)?;
    serde_json::from_value(config).map_err(|e| BundleError::Spec(e.to_string()))
}

/// The default profile (see `seccomp.rs`) in OCI form.
fn seccomp_json() -> Value {
    let ns_flags: [u64; 8] = [
        libc::CLONE_NEWNS as u64,
        libc::CLONE_NEWUTS as u64,
        libc::CLONE_NEWIPC as u64,
        libc::CLONE_NEWUSER as u64,
        libc::CLONE_NEWPID as u64,
        libc::CLONE_NEWNET as u64,
        libc::CLONE_NEWCGROUP as u64,
        0x80,
    ];
    let mut syscalls =
        vec![json!({"names": DENIED, "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM})];
    for name in ["clone", "unshare"] {
        for flag in ns_flags {
            syscalls.push(json!({
                "names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::EPERM,
                "args": [{"index": 0, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}]
            }));
        }
    }
    syscalls
        .push(json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": libc::ENOSYS}));
    json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": syscalls})
}

/// Writes `dir/config.json`.
pub fn write_bundle(
    spec: &ContainerSpec,
    dir: &Path,
    inputs: &BundleInputs<'_>,
) -> Result<PathBuf, BundleError> {
    let config = oci_spec(spec, inputs)?;
    let path = dir.join("config.json");
    config.save(&path).map_err(|e| BundleError::Write {
        path: path.clone(),
        message: e.to_string(),
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Mount, Rootfs};

    #[test]
    fn bundle_carries_docker_defaults_and_the_spec() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::fs::write(
            root.path().join("etc/passwd"),
            "app:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        let mut spec =
            ContainerSpec::new("b1", Rootfs::Dir(root.path().into()), vec!["true".into()]);
        spec.process.user = Some("app".into());
        spec.limits.pids = Some(7);
        spec.mounts.push(Mount {
            destination: "/t".into(),
            kind: MountKind::Tmpfs { size: Some(4096) },
            readonly: true,
        });
        let etc = vec![("/etc/hosts".to_string(), PathBuf::from("/x/hosts"))];
        let inputs = BundleInputs {
            rootfs: root.path(),
            etc_files: &etc,
            cgroups_path: Some("kiln-b1/ctr".into()),
        };
        let oci = oci_spec(&spec, &inputs).unwrap();
        let json = serde_json::to_value(&oci).unwrap();
        assert_eq!(json["process"]["user"]["uid"], 1000);
        assert_eq!(json["process"]["user"]["gid"], 1001);
        let env = json["process"]["env"].as_array().unwrap();
        assert!(env.iter().any(|e| e == "HOME=/home/app"));
        assert_eq!(json["linux"]["resources"]["pids"]["limit"], 7);
        assert_eq!(json["linux"]["cgroupsPath"], "kiln-b1/ctr");
        assert_eq!(json["linux"]["namespaces"].as_array().unwrap().len(), 6);
        assert_eq!(json["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ALLOW");
        assert!(json["linux"]["maskedPaths"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "/proc/kcore"));
        let caps = json["process"]["capabilities"]["bounding"]
            .as_array()
            .unwrap();
        assert_eq!(caps.len(), DEFAULT_CAPABILITIES.len());
        let mounts = json["mounts"].as_array().unwrap();
        let t = mounts.iter().find(|m| m["destination"] == "/t").unwrap();
        assert!(t["options"].as_array().unwrap().iter().any(|o| o == "ro"));
        // Unknown users are an error here too.
        spec.process.user = Some("ghost".into());
        assert!(matches!(
            oci_spec(&spec, &inputs),
            Err(BundleError::User(_))
        ));
    }
}
