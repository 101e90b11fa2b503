//! How a run moves: one step per poll, never with the clock.

use std::collections::VecDeque;

use super::config::{OutputLocations, Polls, Script};
use super::now_rfc3339;
use super::state::{Run, RunState, State};

/// The first state of a new run and the states its next polls show.
pub(crate) fn timeline(polls: Polls, script: &Script) -> (RunState, VecDeque<RunState>) {
    let mut states = VecDeque::new();
    states.extend(std::iter::repeat_n(RunState::Queued, polls.queued as usize));
    states.extend(std::iter::repeat_n(
        RunState::Initializing,
        polls.initializing as usize,
    ));
    let running = if matches!(script, Script::RunningForever) {
        polls.running.max(1)
    } else {
        polls.running
    };
    states.extend(std::iter::repeat_n(RunState::Running, running as usize));
    match script {
        Script::Succeed => states.push_back(RunState::Complete),
        Script::ExecutorError { .. } => states.push_back(RunState::ExecutorError),
        Script::SystemError => states.push_back(RunState::SystemError),
        Script::RunningForever => {}
    }
    (RunState::Queued, states)
}

/// One poll: the run takes the next state of its timeline (or keeps its
/// state when the timeline is done); the state to show.
pub(crate) fn poll(state: &mut State, index: usize) -> RunState {
    let locations = state.config.output_locations.clone();
    let run = &mut state.runs[index];
    run.polls += 1;
    if let Some(next) = run.timeline.pop_front() {
        enter(run, next, &locations);
    }
    run.state
}

/// Cancels a run that has not finished: CANCELING, then CANCELED after
/// `polls.canceling` more polls. False when already finished.
pub(crate) fn cancel(run: &mut Run, polls: Polls) -> bool {
    if run.state.is_terminal() {
        return false;
    }
    run.state = RunState::Canceling;
    run.timeline = std::iter::repeat_n(RunState::Canceling, polls.canceling as usize)
        .chain([RunState::Canceled])
        .collect();
    true
}

fn enter(run: &mut Run, next: RunState, locations: &OutputLocations) {
    if matches!(next, RunState::Initializing | RunState::Running) && run.start_time.is_none() {
        run.start_time = Some(now_rfc3339());
    }
    if next.is_terminal() && run.end_time.is_none() {
        if run.start_time.is_none() {
            run.start_time = Some(now_rfc3339());
        }
        run.end_time = Some(now_rfc3339());
    }
    if next == RunState::Complete
        && run.state != RunState::Complete
        && let OutputLocations::File(dir) = locations
    {
        write_outputs(run, dir);
    }
    run.state = next;
}

/// Writes the outputs under `dir/<run_id>/`, as cwltool's `--outdir` would.
fn write_outputs(run: &mut Run, dir: &std::path::Path) {
    let target = dir.join(&run.id);
    let written = std::fs::create_dir_all(&target).and_then(|()| {
        let files = run
            .products
            .imputed
            .iter()
            .flat_map(|(vcf, tbi)| [vcf, tbi])
            .chain(run.products.info.iter());
        for file in files {
            std::fs::write(target.join(&file.name), file.bytes.as_slice())?;
        }
        std::fs::canonicalize(&target)
    });
    match written {
        Ok(path) => run.written = Some(path),
        Err(error) => {
            tracing::warn!(%error, dir = %target.display(), "WES emulator could not write outputs");
            run.written = Some(target);
        }
    }
}
