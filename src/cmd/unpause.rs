//! `kiln unpause`: thaw paused containers (shares its arguments with `pause`).

pub use super::pause::PauseArgs as UnpauseArgs;

pub fn run(global: &crate::cli::GlobalArgs, args: UnpauseArgs) -> anyhow::Result<i32> {
    super::pause::run_unpause(global, args)
}
