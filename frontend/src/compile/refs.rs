//! References from one stage to another: `COPY --from` and `RUN --mount=from=` name a
//! stage (by name or index), `scratch`, or an image. Recording them as dependencies, and
//! turning them into filesystems once the referenced stage is compiled.
//!
//! API (crate-internal): [`source_refs`], [`mount_from`], [`stage_ref`], [`unique_stage`],
//! [`add_deps`], [`PlanView`].

use super::reference::normalize;
use super::stages::{StagePlan, Step};
use super::{CompileError, Ctx};
use crate::graph::Platform;
use crate::instructions::{Command, Instruction};

/// The stage or image names a command reads from (COPY --from, RUN --mount from=).
pub fn source_refs(cmd: &Command) -> Vec<String> {
    match &cmd.instruction {
        Instruction::Copy(c) => c.from.iter().cloned().collect(),
        Instruction::Run(r) => r
            .mounts
            .iter()
            .filter_map(|spec| mount_from(spec))
            .collect(),
        _ => Vec::new(),
    }
}

/// The raw `from=` of a mount spec (BuildKit does not expand it).
pub fn mount_from(spec: &str) -> Option<String> {
    spec.split(',').find_map(|field| {
        let (k, v) = field.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("from")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Which stage `reference` names: an index, or a stage name; `None` means an image.
pub fn stage_ref(
    cx: &Ctx,
    plans: &[StagePlan],
    cmd: &Command,
    reference: &str,
) -> Result<Option<usize>, CompileError> {
    if let Ok(i) = reference.parse::<i64>() {
        if i < 0 || i as usize >= plans.len() {
            return Err(cx.error(
                cmd,
                reference,
                format!("invalid stage index {i}"),
                format!("an index between 0 and {}", plans.len().saturating_sub(1)),
            ));
        }
        return Ok(Some(i as usize));
    }
    unique_stage(cx, plans, cmd, &reference.to_lowercase())
}

/// The one stage named `name` among `plans`. BuildKit silently takes the last of several
/// stages with one name (and only warns, DuplicateStageName); using such a name is
/// ambiguous, so kiln makes it an error that names both lines.
pub fn unique_stage(
    cx: &Ctx,
    plans: &[StagePlan],
    cmd: &Command,
    name: &str,
) -> Result<Option<usize>, CompileError> {
    let mut found = plans.iter().filter(|p| p.name.as_deref() == Some(name));
    let Some(first) = found.next() else {
        return Ok(None);
    };
    if let Some(second) = found.next() {
        return Err(cx.error(
            cmd,
            name,
            format!(
                "stage name {name:?} is ambiguous: stages at lines {} and {} are both called {name:?}",
                first.from.start_line, second.from.start_line
            ),
            "unique stage names (rename one of the stages after AS)",
        ));
    }
    Ok(Some(first.index))
}

/// Records the stages `steps` of stage `i` read from.
pub fn add_deps(
    cx: &Ctx,
    plans: &mut [StagePlan],
    i: usize,
    steps: &[Step],
) -> Result<(), CompileError> {
    for step in steps {
        if let Instruction::Copy(c) = &step.cmd.instruction {
            if let Some(from) = &c.from {
                let empty: Vec<(String, String)> = Vec::new();
                if cx.lexer.process_word(from, &empty).ok().as_deref() != Some(from.as_str()) {
                    return Err(cx.error(&step.cmd, from, "variable expansion is not supported for --from".into(), "a literal stage name, index or image; define a new stage with FROM using an ARG from the global scope as a workaround"));
                }
            }
        }
        for r in source_refs(&step.cmd) {
            if let Some(dep) = stage_ref(cx, plans, &step.cmd, &r)? {
                plans[i].deps.entry(dep).or_insert(step.cmd.start_line);
            }
        }
    }
    Ok(())
}

/// The stages compiled so far, for COPY --from and RUN --mount=from=.
pub struct PlanView<'a> {
    pub plans: &'a [StagePlan],
    pub states: &'a [Option<super::state::StageState>],
    pub target_platform: &'a Platform,
}

impl PlanView<'_> {
    /// The filesystem `reference` names: a compiled stage's result, a named context
    /// (reading only `paths` of a local one), scratch, or an image.
    pub fn source(
        &self,
        cx: &mut Ctx,
        current: &str,
        cmd: &Command,
        reference: &str,
        paths: &[String],
    ) -> Result<crate::graph::Digest, CompileError> {
        use crate::graph::{Op, Source};
        if let Some(i) = stage_ref(cx, self.plans, cmd, reference)? {
            return match self.states.get(i).and_then(Option::as_ref) {
                Some(s) => Ok(s.rootfs.clone()),
                None => Err(cx.error(
                    cmd,
                    reference,
                    format!("cannot copy from stage {reference:?}, it needs to be defined before current stage {current:?}"),
                    "the stage copied or mounted from to come earlier in the Dockerfile",
                )),
            };
        }
        let origin = crate::graph::Origin {
            stage: current.to_string(),
            start_line: cmd.start_line,
            end_line: cmd.end_line,
            description: cmd.original.trim().to_string(),
        };
        if let Some((name, nc)) = super::named::lookup(cx, reference) {
            let (name, nc) = (name.to_string(), nc.clone());
            let platform = self.target_platform;
            return super::named::source(cx, cmd, origin, (&name, &nc), paths, platform);
        }
        if reference == "scratch" {
            return super::state::add(cx, Op::Source(Source::Scratch), vec![], origin);
        }
        let normalized = normalize(reference).map_err(|e| {
            cx.error(
                cmd,
                reference,
                format!("{reference:?} is neither a stage nor a valid image reference: {e}"),
                "a stage name, a stage index or an image reference",
            )
        })?;
        let op = Op::Source(Source::Image {
            reference: normalized,
            platform: self.target_platform.clone(),
        });
        super::state::add(cx, op, vec![], origin)
    }
}
