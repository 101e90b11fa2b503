//! What an emulated WES server offers and how its runs behave.

use std::path::PathBuf;

/// Settings of an [`Emulator`](super::Emulator); `Config::default()` is a
/// cwltool-backed server (like the `wes-service` reference server) that
/// serves its outputs over HTTP from its own port.
#[derive(Clone, Debug)]
pub struct Config {
    /// How many polls each state of a run lasts.
    pub polls: Polls,
    /// How runs end unless a [`Script`] queued with
    /// [`Emulator::script_next_run`](super::Emulator::script_next_run) says otherwise.
    pub outcome: Script,
    /// The `workflow_params` key holding the input VCFs (`target`).
    pub input_key: String,
    /// Where a finished run's outputs live.
    pub output_locations: OutputLocations,
    /// Serve `/files/…` without a bearer token.
    pub anonymous_files: bool,
    /// DRS: put `access_url` in each access method instead of making the
    /// client call `/access/{access_id}`.
    pub drs_inline_access_url: bool,
    /// `GET /service-info` answers 401 without a token too (by default it
    /// answers anyone, as many real servers do).
    pub service_info_requires_auth: bool,
    /// Quirk: `service-info` holds only `supported_wes_versions`.
    pub minimal_service_info: bool,
    /// Quirk: the first `n` GETs of a run after its submit answer 404, 400,
    /// 404, … (alternately) as if the run were not there yet; they do not
    /// count as polls.
    pub not_found_polls: u32,
    /// Quirk: `GET /runs` lists under `"workflows"` instead of `"runs"`.
    pub list_key_workflows: bool,
    /// Quirk: `GET /runs` ignores `page_size`/`page_token` and lists all.
    pub ignore_paging: bool,
    /// Quirk: cancel answers `{run_id}` and does nothing.
    pub cancel_is_noop: bool,
    /// `GET /runs` page size when the client gives none.
    pub default_page_size: usize,
    /// Offered `workflow_type_version`s of CWL (`["v1.0"]`).
    pub cwl_versions: Vec<String>,
    /// `supported_wes_versions` (`["1.0.0"]`).
    pub wes_versions: Vec<String>,
    /// Engine name and version (`cwltool`, `3.1.20240508115724`).
    pub engine: (String, String),
}

impl Default for Config {
    fn default() -> Self {
        Self {
            polls: Polls::default(),
            outcome: Script::Succeed,
            input_key: "target".to_owned(),
            output_locations: OutputLocations::Http,
            anonymous_files: false,
            drs_inline_access_url: false,
            service_info_requires_auth: false,
            minimal_service_info: false,
            not_found_polls: 0,
            list_key_workflows: false,
            ignore_paging: false,
            cancel_is_noop: false,
            default_page_size: 10,
            cwl_versions: vec!["v1.0".to_owned()],
            wes_versions: vec!["1.0.0".to_owned()],
            engine: ("cwltool".to_owned(), "3.1.20240508115724".to_owned()),
        }
    }
}

/// How many polls (`GET /runs/{id}` or `/status`) each state lasts; a state
/// with 0 polls is skipped. Defaults: 1 each, so a run shows QUEUED,
/// INITIALIZING, RUNNING and then its final state on the 4th poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polls {
    /// QUEUED.
    pub queued: u32,
    /// INITIALIZING.
    pub initializing: u32,
    /// RUNNING.
    pub running: u32,
    /// Polls that still show CANCELING after a cancel (default 0: the
    /// cancel makes the run CANCELING and the next poll shows CANCELED).
    pub canceling: u32,
}

impl Default for Polls {
    fn default() -> Self {
        Self {
            queued: 1,
            initializing: 1,
            running: 1,
            canceling: 0,
        }
    }
}

impl Polls {
    /// The poll (1-based) that first shows a run's final state.
    pub fn to_finish(&self) -> u32 {
        self.queued + self.initializing + self.running + 1
    }
}

/// Where outputs are and what their `location` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OutputLocations {
    /// `http://127.0.0.1:<port>/files/<run_id>/<name>`, served by the
    /// emulator (bearer token of the run's owner, unless
    /// [`Config::anonymous_files`]).
    Http,
    /// `drs://127.0.0.1:<port>/<object_id>`, resolved by the DRS API on the
    /// same port.
    Drs,
    /// Files written under `dir/<run_id>/`, located as `file:///abs/path`.
    File(PathBuf),
}

/// How a run ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Script {
    /// COMPLETE with the imputed outputs.
    Succeed,
    /// EXECUTOR_ERROR: `run_log.exit_code` 1 and this `stderr`, also in a task log.
    ExecutorError {
        /// The workflow's stderr.
        stderr: String,
    },
    /// SYSTEM_ERROR (`stderr` "node lost").
    SystemError,
    /// Stays RUNNING until cancelled.
    RunningForever,
}
