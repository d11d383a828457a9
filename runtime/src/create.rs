//! `create`: a container record from an image and the command line: the image's defaults
//! merged with the flags, a fresh id and unique name, its directories, volumes and a hold
//! on the image's snapshot so `rmi` and GC leave it alone.

use crate::config::{
    command_line, merge_env, parse_signal, ContainerConfig, ContainerPaths, MountConfig,
    MountSource,
};
use crate::ids;
use crate::record::{self, ContainerRecord, RecordError, State};
use crate::timefmt::format_nanos;
use crate::volume;
use kiln_cache::Store;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("unable to find image {image:?} in the store ({source}); build, load or pull it")]
    Image {
        image: String,
        #[source]
        source: kiln_cache::StoreError,
    },
    #[error(transparent)]
    Store(#[from] kiln_cache::StoreError),
    #[error(
        "no command specified: image {0} has no Entrypoint or Cmd; give one after the image name"
    )]
    NoCommand(String),
    #[error(transparent)]
    Id(#[from] ids::IdError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Volume(#[from] volume::VolumeError),
    #[error("invalid volume spec {spec:?}: {why} (use /host:/ctr[:ro], name:/ctr[:ro] or /ctr)")]
    VolumeSpec { spec: String, why: &'static str },
    #[error("invalid --mount {spec:?}: {why} (use type=bind|volume|tmpfs,source=…,target=/path[,readonly])")]
    MountSpec { spec: String, why: String },
    #[error("--volumes-from {0}: {1}")]
    VolumesFrom(String, #[source] RecordError),
    #[error("image {image}: invalid stop signal {signal:?}")]
    StopSignal { image: String, signal: String },
    #[error("creating {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What the command line asks for. `config` carries the plain flags (tty, limits, labels,
/// restart policy, ...); argv, env, workdir, user and mounts are filled in from the image and
/// the fields below.
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub image: String,
    pub name: Option<String>,
    pub entrypoint: Option<String>,
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
    /// `-v` values.
    pub volumes: Vec<String>,
    /// `--mount` values (`type=bind|volume|tmpfs,source=…,target=…[,readonly]`).
    pub mounts: Vec<String>,
    /// `--tmpfs /path[:size=…]` values.
    pub tmpfs: Vec<String>,
    /// `--volumes-from CONTAINER[:ro|:rw]` values.
    pub volumes_from: Vec<String>,
    /// `--health-*` flags (zero/empty fields keep the image's values).
    pub health: crate::health::HealthConfig,
    /// `--no-healthcheck`.
    pub no_healthcheck: bool,
    /// `--stop-signal`; default the image's, else SIGTERM.
    pub stop_signal: Option<i32>,
    pub config: ContainerConfig,
}

pub fn create(store: &Store, req: CreateRequest) -> Result<ContainerRecord, CreateError> {
    let image = store
        .resolve_image(&req.image)
        .map_err(|source| CreateError::Image {
            image: req.image.clone(),
            source,
        })?;
    let image_cfg = store.read_config(&image.config_digest)?;
    let cc = image_cfg.config.clone().unwrap_or_default();
    let mut config = req.config.clone();
    config.args = command_line(
        cc.entrypoint.as_deref(),
        cc.cmd.as_deref(),
        req.entrypoint.as_deref(),
        &req.command,
    );
    if config.args.is_empty() {
        return Err(CreateError::NoCommand(req.image.clone()));
    }
    config.env = merge_env(cc.env.as_deref().unwrap_or_default(), &req.env);
    config.workdir = req
        .workdir
        .clone()
        .or_else(|| cc.working_dir.clone().filter(|w| !w.is_empty()));
    config.user = req
        .user
        .clone()
        .or_else(|| cc.user.clone().filter(|u| !u.is_empty()));
    config.stop_signal = match (req.stop_signal, &cc.stop_signal) {
        (Some(s), _) => s,
        (None, Some(s)) => parse_signal(s).ok_or_else(|| CreateError::StopSignal {
            image: req.image.clone(),
            signal: s.clone(),
        })?,
        (None, None) => libc::SIGTERM,
    };
    if config.stop_timeout == 0 {
        config.stop_timeout = 10;
    }
    if !req.no_healthcheck {
        let image_health = cc
            .extra
            .get("Healthcheck")
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let h = crate::health::HealthConfig::merge(image_health, &req.health);
        config.health = h.argv().is_some().then_some(h);
    }
    let mut labels = cc.labels.clone().unwrap_or_default();
    labels.extend(config.labels.clone());
    config.labels = labels;
    // The image's EXPOSE joins --expose: `-P` publishes them, links advertise them.
    for key in cc.exposed_ports.clone().unwrap_or_default().keys() {
        for p in kiln_network::ports::parse_expose(key).unwrap_or_default() {
            if !config.net.exposed.contains(&p) {
                config.net.exposed.push(p);
            }
        }
    }

    let id = ids::new_id()?;
    config
        .mounts
        .extend(crate::mounts::from_request(store, &req)?);
    // The image's VOLUMEs not covered by a -v get anonymous volumes.
    for path in cc.volumes.clone().unwrap_or_default().keys() {
        let covered = config
            .mounts
            .iter()
            .any(|m| m.destination.trim_end_matches('/') == path.trim_end_matches('/'));
        if !covered && path.starts_with('/') {
            config.mounts.push(MountConfig {
                destination: path.clone(),
                source: MountSource::Volume {
                    name: ids::new_id()?,
                    anonymous: true,
                },
                readonly: false,
            });
        }
    }

    let paths = ContainerPaths::new(store.root(), &id);
    for d in [
        paths.dir.clone(),
        paths.upper(),
        paths.work(),
        paths.empty(),
    ] {
        std::fs::create_dir_all(&d).map_err(|source| CreateError::Io { path: d, source })?;
    }
    let snapshot_id = kiln_cache::image::spec::chain_ids(&image_cfg.rootfs.diff_ids)
        .pop()
        .map(|d| d.to_string());
    let result = register(store, &req, &id, &image, snapshot_id, config, &paths);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&paths.dir);
    }
    result
}

fn register(
    store: &Store,
    req: &CreateRequest,
    id: &str,
    image: &kiln_cache::ImageRecord,
    snapshot_id: Option<String>,
    config: ContainerConfig,
    paths: &ContainerPaths,
) -> Result<ContainerRecord, CreateError> {
    let holder = format!("container:{id}");
    if let Some(s) = &snapshot_id {
        store.hold_snapshot(s, &holder)?;
    }
    let mut rec = ContainerRecord {
        id: id.to_string(),
        name: String::new(),
        image: req.image.clone(),
        image_digest: image.manifest_digest.to_string(),
        snapshot_id: snapshot_id.clone(),
        config,
        state: State::Created,
        pid: 0,
        monitor_pid: 0,
        monitor_start: 0,
        exit_code: 0,
        oom_killed: false,
        error: String::new(),
        restart_count: 0,
        stop_requested: false,
        created: format_nanos(SystemTime::now()),
        started_at: String::new(),
        finished_at: String::new(),
        health: None,
    };
    let inserted = insert_with_name(store, &mut rec, req.name.as_deref());
    if let Err(e) = inserted {
        if let Some(s) = &snapshot_id {
            let _ = store.release_snapshot(s, &holder);
        }
        return Err(e);
    }
    let mounts = rec.config.mounts.clone();
    let attach = || -> Result<(), CreateError> {
        for m in &mounts {
            if let MountSource::Volume { name, anonymous } = &m.source {
                let v = volume::ensure(store, name, *anonymous, &Default::default())?;
                volume::attach(store, id, name)?;
                let empty = std::fs::read_dir(&v.mountpoint).is_ok_and(|mut d| d.next().is_none());
                // Docker seeds only a new, empty volume (not one shared via --volumes-from).
                if *anonymous && empty {
                    seed_from_image(store, &rec, &m.destination, &v.mountpoint);
                }
            }
        }
        Ok(())
    };
    if let Err(e) = attach() {
        let _ = crate::lifecycle::remove_container_files(store, &rec, true);
        return Err(e);
    }
    let _ = paths;
    crate::events::emit(store.root(), "create", &rec, &[]);
    Ok(rec)
}

fn insert_with_name(
    store: &Store,
    rec: &mut ContainerRecord,
    name: Option<&str>,
) -> Result<(), CreateError> {
    if let Some(n) = name {
        ids::validate_name(n.strip_prefix('/').unwrap_or(n))?;
        rec.name = n.strip_prefix('/').unwrap_or(n).to_string();
        return Ok(record::insert(store.db(), rec)?);
    }
    let mut attempt = 0;
    loop {
        rec.name = ids::random_name(attempt)?;
        match record::insert(store.db(), rec) {
            Err(RecordError::NameInUse { .. }) if attempt < 20 => attempt += 1,
            other => return Ok(other?),
        }
    }
}

/// Docker seeds a new anonymous volume with what the image has at the mount path.
fn seed_from_image(store: &Store, rec: &ContainerRecord, dest: &str, data: &Path) {
    let lower = match crate::monitor::lowerdirs(store, rec) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!("seeding volume at {dest}: {e}");
            return;
        }
    };
    if let Err(e) = crate::seed::copy_merged(&lower, dest, data) {
        tracing::warn!("seeding volume at {dest} from the image: {e}");
    }
}
