//! The wire types of the daemon's API, version [`API_VERSION`]. Every route lives under
//! `/v1/`; docs/API.md describes the routes and these bodies. Build progress lines are the
//! solver's [`Event`] serialised exactly as `--progress rawjson` prints them, interleaved
//! with [`Control`] lines whose `type` values do not clash with the event types.

use std::collections::BTreeMap;

use kiln_solver::Event;
use serde::{Deserialize, Serialize};

/// The API version the routes are prefixed with (`/v1/...`).
pub const API_VERSION: &str = "v1";

/// `GET /v1/_ping`: who answers, and which store it owns (the CLI compares it with its
/// `--root` before it picks the default socket's daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub api_version: String,
    pub version: String,
    pub root: String,
    pub pid: u32,
}

/// `GET /v1/info`: the daemon's state for `kiln system info`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Info {
    pub version: String,
    pub api_version: String,
    pub root: String,
    pub pid: u32,
    pub uptime_seconds: u64,
    pub builds_running: u64,
    pub builds_total: u64,
    pub steps_executed: u64,
    pub steps_cached: u64,
    pub steps_shared: u64,
    pub store_size_bytes: u64,
    pub images: u64,
    pub cache_records: u64,
    pub gc: GcPolicyInfo,
}

/// The GC policy in force, as the config gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GcPolicyInfo {
    /// Build cache.
    pub keep_storage_bytes: Option<u64>,
    /// Build cache.
    pub keep_duration_seconds: Option<u64>,
    /// Dangling images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images_keep_duration_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_mounts_keep_storage_bytes: Option<u64>,
    pub interval_seconds: u64,
}

/// `POST /v1/builds`: everything the daemon needs to compile the Dockerfile. Nothing of
/// the context yet: the answer says which files to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct BuildRequest {
    /// Name for messages (`Dockerfile`, the `-f` path, or `-`).
    pub dockerfile_name: String,
    pub dockerfile: String,
    /// `.dockerignore` patterns (comments and blanks already dropped).
    pub ignore: Vec<String>,
    /// Resolved on the client (a bare `--build-arg NAME` reads the client's environment).
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub platform: Option<String>,
    /// `--secret` values, read on the client. Held in memory for this build only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    #[serde(default)]
    pub squash: bool,
    /// `--pull`: resolve base image tags against their registries.
    #[serde(default)]
    pub pull: bool,
    /// SOURCE_DATE_EPOCH as the client resolved it (its `--build-arg` or environment).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_date_epoch: Option<i64>,
    /// `--output` specs as given; `dest=` names a path on the client, which writes what
    /// `GET /v1/builds/{id}/outputs/{n}` streams.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<String>,
    /// `--explain`: stream the cache-miss report as stderr lines.
    #[serde(default)]
    pub explain: bool,
    /// "The same build" for explanations (context, Dockerfile and target on the client).
    #[serde(default)]
    pub identity: String,
    /// `--build-context NAME=…`. The files of local ones are uploaded with the main
    /// context's, each source in its own directory (see [`BuildRequest::upload_dir`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub named_contexts: BTreeMap<String, NamedContextSpec>,
    /// `--network` for every RUN: default, host or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// `--add-host NAME:IP`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_hosts: Vec<String>,
    /// `--ulimit NAME=SOFT[:HARD]`, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<String>,
    /// `--shm-size`, as given (`64m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<String>,
    /// `--annotation KEY=VALUE` for the manifest, as given.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<String>,
    /// `--load`: name the image in the store even when other outputs are asked for.
    #[serde(default)]
    pub load: bool,
}

/// One `--build-context` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum NamedContextSpec {
    /// A directory on the client: its selected files are uploaded. `exclude`: the
    /// patterns of its `.dockerignore`, read on the client.
    Local {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        exclude: Vec<String>,
    },
    /// `docker-image://REF`.
    Image { reference: String },
}

impl BuildRequest {
    /// Whether the upload holds each local source in its own directory
    /// ([`BuildRequest::upload_dir`]): when a local named context is sent besides the
    /// main context. Otherwise the tar holds the main context's files at its root, as
    /// clients before named contexts send it.
    pub fn uploads_by_source(&self) -> bool {
        self.named_contexts
            .values()
            .any(|c| matches!(c, NamedContextSpec::Local { .. }))
    }

    /// The directory of the upload that holds the local source `name` (`context`,
    /// `context:NAME`): its bytes in hex, so no name can escape or nest in another's.
    pub fn upload_dir(name: &str) -> String {
        name.bytes().map(|b| format!("{b:02x}")).collect()
    }
}

/// One `--secret`: its id and value. The value's `Debug` is redacted, so a logged request
/// never shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    pub id: String,
    #[serde(with = "base64_bytes")]
    pub value: Vec<u8>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({}, <{} bytes>)", self.id, self.value.len())
    }
}

/// Secret bytes travel as base64 text (JSON has no byte strings).
mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}

/// A local source the build reads: send the files that these patterns select.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalSource {
    pub name: String,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

/// The answer to `POST /v1/builds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Prepared {
    /// Compiled: upload the selected files to `POST /v1/builds/{id}/solve`.
    Ready {
        id: String,
        warnings: Vec<String>,
        sources: Vec<LocalSource>,
    },
    /// The Dockerfile cannot be built; print `stderr`, exit with `exit_code`.
    Failed { stderr: String, exit_code: i32 },
}

/// What a finished build produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildResult {
    pub image_id: String,
    pub manifest_digest: String,
    pub tags: Vec<String>,
    pub steps_ran: usize,
    pub steps_cached: usize,
    pub seconds: f64,
    /// Indexes into the request's `outputs` whose file the client fetches from
    /// `GET /v1/builds/{id}/outputs/{n}` (local, tar, oci and docker outputs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<usize>,
}

/// Stream lines that are not solver events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Text the in-process command would have written to stderr.
    Stderr { text: String },
    /// Where the daemon keeps this build's full step logs (a path on the daemon's machine).
    Logs { dir: String },
    /// The build succeeded; the last line of the stream.
    Result { result: BuildResult },
    /// The build ended without an image; the last line of the stream.
    Exit {
        exit_code: i32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorBody>,
    },
}

/// One line of a build stream: a progress event (as rawjson prints it) or a control line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StreamLine {
    Event(Event),
    Control(Control),
}

/// The body of every error answer (4xx/5xx), and of a build's internal failure: the
/// message and its chain of causes, printed as the CLI prints its own errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub message: String,
    #[serde(default)]
    pub causes: Vec<String>,
}

impl ErrorBody {
    pub fn new(message: impl Into<String>) -> ErrorBody {
        ErrorBody {
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// From an error and its `source()` chain.
    pub fn from_error(err: &(dyn std::error::Error + 'static)) -> ErrorBody {
        let mut causes = Vec::new();
        let mut next = err.source();
        while let Some(e) = next {
            causes.push(e.to_string());
            next = e.source();
        }
        ErrorBody {
            message: err.to_string(),
            causes,
        }
    }
}

/// The first frame of a `POST /v1/commands` session: run this kiln command line on the
/// daemon's store, as the client would have run it in-process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRequest {
    /// The arguments after `kiln`.
    pub args: Vec<String>,
    /// The client's working directory (relative paths in `args` are relative to it).
    pub cwd: String,
    /// The client's environment, minus what selects a daemon or a store.
    pub env: Vec<(String, String)>,
    /// Run on a terminal of this size (the client's stdin is one): stdout and stderr
    /// arrive merged as stdout frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<crate::pty::TtySize>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use kiln_solver::Event;

    #[test]
    fn event_lines_are_rawjson_and_control_lines_are_distinct() {
        let ev = Event::Cached {
            vertex: kiln_frontend::graph::Digest::of_bytes(b"x"),
            name: "RUN true".into(),
        };
        let raw = serde_json::to_string(&ev).unwrap();
        let line = serde_json::to_string(&StreamLine::Event(ev.clone())).unwrap();
        assert_eq!(raw, line, "an event line must be byte-identical to rawjson");
        assert_eq!(
            serde_json::from_str::<StreamLine>(&line).unwrap(),
            StreamLine::Event(ev)
        );
        let ctl = StreamLine::Control(Control::Exit {
            exit_code: 1,
            error: None,
        });
        let text = serde_json::to_string(&ctl).unwrap();
        assert_eq!(serde_json::from_str::<StreamLine>(&text).unwrap(), ctl);
    }

    #[test]
    fn secrets_travel_as_base64_and_never_show_in_debug() {
        let req = BuildRequest {
            secrets: vec![Secret {
                id: "tok".into(),
                value: b"hunter2\n\x00".to_vec(),
            }],
            ..Default::default()
        };
        let json = serde_json::to_string(&req).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert_eq!(serde_json::from_str::<BuildRequest>(&json).unwrap(), req);
        let debug = format!("{req:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("tok"), "{debug}");
        // An old client's request (no new fields) still parses.
        let old: BuildRequest = serde_json::from_str(
            r#"{"dockerfile_name":"Dockerfile","dockerfile":"FROM x","ignore":[],"build_args":{},"target":null,"tags":[],"labels":[],"no_cache":false,"no_cache_filter":[],"platform":null}"#,
        )
        .unwrap();
        assert!(old.secrets.is_empty() && old.outputs.is_empty());
        assert!(!old.uploads_by_source());
    }

    #[test]
    fn named_contexts_round_trip_and_upload_dirs_cannot_escape() {
        let mut req = BuildRequest {
            add_hosts: vec!["db:10.0.0.2".into()],
            ..Default::default()
        };
        req.named_contexts.insert(
            "base".into(),
            NamedContextSpec::Image {
                reference: "busybox:1.36".into(),
            },
        );
        assert!(!req.uploads_by_source());
        req.named_contexts.insert(
            "docs".into(),
            NamedContextSpec::Local {
                exclude: vec!["*.log".into()],
            },
        );
        assert!(req.uploads_by_source());
        let json = serde_json::to_string(&req).unwrap();
        assert_eq!(serde_json::from_str::<BuildRequest>(&json).unwrap(), req);
        assert_eq!(BuildRequest::upload_dir("context"), "636f6e74657874");
        let odd = BuildRequest::upload_dir("context:../a/b");
        assert!(odd.bytes().all(|b| b.is_ascii_hexdigit()), "{odd}");
        assert_ne!(odd, BuildRequest::upload_dir("context:../a"));
    }
}
