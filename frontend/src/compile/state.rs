//! The state of a stage while its instructions are compiled: the current root filesystem
//! vertex, the variables in scope, working directory, user, the image config and history
//! being built, and what the checks need to remember. A stage starts from its base:
//! another stage's final state, scratch, or an image (whose config the resolver supplied).
//!
//! API (crate-internal): [`StageState`] (`init`, `commit`, `origin`, `exec_env`).

use super::args::is_proxy_arg;
use super::env::EnvList;
use super::history::HISTORY_COMMENT;
use super::stages::{BaseRef, StagePlan};
use super::{CompileError, Ctx};
use crate::graph::{Digest, HistoryEntry, ImageConfig, Op, Origin, Platform, Source};
use crate::instructions::Command;
use crate::paths::normalize_workdir;

/// PATH every Linux stage gets when its image sets none (BuildKit's default).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

#[derive(Debug, Clone)]
pub struct StageState {
    pub label: String,
    pub platform: Platform,
    pub rootfs: Digest,
    /// ENV and ARG values in scope (what RUN sees and words expand against).
    pub env: EnvList,
    /// The working directory of RUN/COPY (absolute, `/` by default).
    pub workdir: String,
    pub user: String,
    pub config: ImageConfig,
    pub history: Vec<HistoryEntry>,
    /// ARGs declared in this stage or its base stages, with their values.
    pub build_args: Vec<(String, Option<String>)>,
    /// A WORKDIR was set in this Dockerfile (WorkdirRelativePath).
    pub workdir_set: bool,
    /// Where CMD / ENTRYPOINT / HEALTHCHECK were last set in this stage.
    pub cmd_at: Option<(usize, usize)>,
    pub entrypoint_at: Option<(usize, usize)>,
    pub healthcheck_at: Option<(usize, usize)>,
    /// How this stage's steps are numbered in progress output.
    pub steps: StepNumbers,
}

/// BuildKit's progress names: `[build 2/4] RUN make` — the stage's name (none when the
/// build has one stage), then the step's position among the FROM and the instructions that
/// make a filesystem (RUN, COPY, ADD, WORKDIR).
#[derive(Debug, Clone, Default)]
pub struct StepNumbers {
    prefix: String,
    /// First line and text of the numbered instructions after FROM, in order (ONBUILD
    /// triggers all sit on their FROM's line, so the line alone is not enough).
    lines: Vec<(usize, String)>,
}

impl StepNumbers {
    pub fn new(stage_name: &str, single_stage: bool, commands: &[&Command]) -> StepNumbers {
        use crate::instructions::Instruction as I;
        let prefix = if single_stage {
            String::new()
        } else {
            format!("{stage_name} ")
        };
        let lines = commands
            .iter()
            .filter(|c| {
                matches!(
                    c.instruction,
                    I::Run(_) | I::Copy(_) | I::Add(_) | I::Workdir(_)
                )
            })
            .map(|c| (c.start_line, c.original.trim().to_string()))
            .collect();
        StepNumbers { prefix, lines }
    }

    /// `[prefix i/n] text` for the instruction starting at `line` (the FROM when `None`);
    /// the bare text for instructions that are not numbered.
    pub fn describe(&self, line: Option<usize>, text: &str) -> String {
        let total = self.lines.len() + 1;
        let index = match line {
            None => Some(1),
            Some(l) => self
                .lines
                .iter()
                .position(|(x, t)| *x == l && t == text)
                .map(|i| i + 2),
        };
        match index {
            Some(i) => format!("[{}{i}/{total}] {text}", self.prefix),
            None => text.to_string(),
        }
    }
}

fn empty_config() -> ImageConfig {
    ImageConfig {
        working_dir: "/".into(),
        env: vec![format!("PATH={DEFAULT_PATH}")],
        ..ImageConfig::default()
    }
}

impl StageState {
    /// The state a stage starts in.
    pub fn init(
        cx: &mut Ctx,
        plans: &[StagePlan],
        states: &[Option<StageState>],
        index: usize,
        target_platform: &Platform,
        steps: StepNumbers,
    ) -> Result<StageState, CompileError> {
        let plan = &plans[index];
        let platform = plan
            .platform
            .clone()
            .unwrap_or_else(|| target_platform.clone());
        let origin = Origin {
            stage: plan.label(),
            start_line: plan.from.start_line,
            end_line: plan.from.end_line,
            description: steps.describe(None, plan.from.original.trim()),
        };
        let mut st = match &plan.base {
            BaseRef::Stage(b) => {
                let Some(base) = states.get(*b).and_then(Option::as_ref) else {
                    return Err(cx.error(
                        &plan.from,
                        "",
                        format!(
                            "stage {} is needed before it was compiled",
                            plans[*b].label()
                        ),
                        "stages to be based on earlier stages",
                    ));
                };
                let mut st = base.clone();
                st.config.on_build.clear();
                st.cmd_at = None;
                st.entrypoint_at = None;
                st.healthcheck_at = None;
                st
            }
            BaseRef::Scratch => {
                let rootfs = add(cx, Op::Source(Source::Scratch), vec![], origin.clone())?;
                StageState::fresh(rootfs, platform.clone(), empty_config(), Vec::new())
            }
            BaseRef::Local(name) => {
                let rootfs = super::named::local_rootfs(cx, name, origin.clone())?;
                StageState::fresh(rootfs, platform.clone(), empty_config(), Vec::new())
            }
            BaseRef::Image(reference) => {
                let (config, history, pinned, empty) = match &plan.resolved {
                    Some(img) => {
                        let pinned = match &img.digest {
                            Some(d) => format!("{reference}@{d}"),
                            None => reference.clone(),
                        };
                        let mut config = img.config.clone();
                        config.on_build.clear();
                        (config, img.history.clone(), pinned, img.empty)
                    }
                    None => (ImageConfig::default(), Vec::new(), reference.clone(), false),
                };
                let op = if empty {
                    Op::Source(Source::Scratch)
                } else {
                    Op::Source(Source::Image {
                        reference: pinned,
                        platform: platform.clone(),
                    })
                };
                // Progress shows the image FROM resolved to, as BuildKit does.
                let origin = Origin {
                    description: steps.describe(None, &format!("FROM {reference}")),
                    ..origin.clone()
                };
                let rootfs = add(cx, op, vec![], origin)?;
                StageState::fresh(rootfs, platform.clone(), config, history)
            }
        };
        st.label = plan.label();
        st.steps = steps;
        if st.config.env_value("PATH").is_none() && st.platform.os != "windows" {
            st.config.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        for (k, v) in EnvList::from_kv_strings(&st.config.env).iter() {
            st.env.set(k, v);
        }
        if !st.config.working_dir.is_empty() {
            let wd = normalize_workdir(&st.config.working_dir, &st.config.working_dir);
            st.config.working_dir = wd.clone();
            st.workdir = wd;
        }
        st.user = st.config.user.clone();
        Ok(st)
    }

    fn fresh(
        rootfs: Digest,
        platform: Platform,
        config: ImageConfig,
        history: Vec<HistoryEntry>,
    ) -> StageState {
        StageState {
            label: String::new(),
            platform,
            rootfs,
            env: EnvList::new(),
            workdir: "/".into(),
            user: String::new(),
            config,
            history,
            build_args: Vec::new(),
            workdir_set: false,
            cmd_at: None,
            entrypoint_at: None,
            healthcheck_at: None,
            steps: StepNumbers::default(),
        }
    }

    /// Appends a history entry; `layer` for instructions that change the filesystem
    /// (those also get BuildKit's ` # buildkit` suffix when they ran in the build).
    pub fn commit(&mut self, created_by: String, layer: bool, buildkit_suffix: bool) {
        let created_by = if buildkit_suffix {
            format!("{created_by} # buildkit")
        } else {
            created_by
        };
        self.history.push(HistoryEntry {
            created_by,
            comment: HISTORY_COMMENT.into(),
            empty_layer: !layer,
        });
    }

    /// Where a vertex made for `cmd` came from.
    pub fn origin(&self, cmd: &Command) -> Origin {
        Origin {
            stage: self.label.clone(),
            start_line: cmd.start_line,
            end_line: cmd.end_line,
            description: self
                .steps
                .describe(Some(cmd.start_line), cmd.original.trim()),
        }
    }

    /// The environment of a RUN: everything in scope except proxy variables, which the
    /// executor adds from the build's options so they never reach a digest.
    pub fn exec_env(&self) -> Vec<String> {
        self.env
            .iter()
            .filter(|(k, _)| !is_proxy_arg(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

/// Adds a vertex; the inputs always exist, so a failure is an internal error.
pub fn add(
    cx: &mut Ctx,
    op: Op,
    inputs: Vec<Digest>,
    origin: Origin,
) -> Result<Digest, CompileError> {
    let line = origin.start_line;
    cx.graph
        .add(op, inputs, origin)
        .map_err(|e| CompileError::At {
            at: cx.src.at(line, 1),
            message: format!("internal error building the graph: {e}"),
            expected: "this not to happen; please report it".into(),
        })
}
