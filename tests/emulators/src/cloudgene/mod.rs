//! An emulated Cloudgene 3 imputation server (the "Michigan" API v2 of the
//! Michigan, TOPMed and H3Africa/AfriGen-D servers), running the
//! imputationserver2 app, for black-box tests of the hub's `michigan`
//! backend and of the whole mesh.
//!
//! It answers as the real server does, from its sources (`JobController`,
//! `DownloadController`, `ApiTokenController`, `ServerController`,
//! `AppController`, `JobResponse` and friends, imputationserver-utils input
//! validation): same paths, methods, status codes, JSON fields and messages.
//! Jobs advance one step per status poll, never with the clock, so tests
//! need no sleeps.
//!
//! # Quick start
//!
//! ```no_run
//! # async fn demo() {
//! use fip_emulators::cloudgene::{Config, Emulator};
//! use fip_emulators::fixtures::VcfSpec;
//!
//! let server = Emulator::start(Config::default()).await;
//! let token = server.issue_token("alice");            // X-Auth-Token value
//! let vcf = VcfSpec::new(25, 50).chromosomes(["20", "21"]).build();
//! // POST {base}/api/v2/jobs/submit/imputationserver2 with one `files` part
//! // per chromosome (vcf.split_by_chromosome(), each `.bgzf()`), `refpanel`
//! // = `apps@1000g-phase-3-v5@2.0.0`, `password`, `job-name`…
//! // then poll GET {base}/api/v2/jobs/{id}/status until state 4 and fetch
//! // each `outputParams[0].files[]` at {base}/share/results/{hash}/{name}.
//! assert_eq!(server.accepted_submissions(), 0);
//! # let _ = (token, vcf, server.base_url());
//! # }
//! ```
//!
//! # What it does
//!
//! | call | behaviour |
//! |---|---|
//! | `POST /api/v2/tokens/verify` (form `token`) | 200 always; `{valid, message, username, name, mail, expire}` |
//! | `GET /api/v2/server` | anonymous: `loggedIn: false`, `apps: []`; with a token: `user`, `apps: [{id, name}]`; `maintenace` flag (sic) |
//! | `GET /api/v2/server/apps/{app}` | the imputationserver2 parameters: `refpanel` (`app_list`, keys `apps@{id}@{version}`), `population` (`binded_list` per panel), …; 404 anonymous or unknown app |
//! | `POST /api/v2/jobs/submit/{app}` | multipart; only the app's fields (else 400 `Parameter 'x' not found.`); repeated `files` parts; 200 `{success, message, id}` even for a job that will fail |
//! | `GET /api/v2/jobs?page=N` | `{count, page, pageSize, prev, next, pages, data}`, 15 a page, newest first; finished jobs without steps and outputs |
//! | `GET /api/v2/jobs/{id}`, `/status` | the Job JSON; **each call is one poll that advances the job** |
//! | `GET /api/v2/jobs/{id}/cancel` | cancels (state 6), returns the Job |
//! | `GET /api/v2/jobs/{id}/restart` | only a DEAD job; 400 `Job X is not pending.` otherwise |
//! | `DELETE /api/v2/jobs/{id}` | 403 (empty body) with an API token; a web token ([`Emulator::issue_web_token`]) sets state 10 |
//! | `GET /share/results/{hash}/{name}` | anonymous; `count` downloads per file, then 400 `number of max downloads exceeded.`; 404 `download not found.` |
//!
//! Job JSON: `application, applicationId, deletedOn, endTime, id, name, logs,
//! state, positionInQueue, userAgent, startTime, submittedOn, username,
//! currentTime, steps[{id, name, logMessages[{success, message, type, time}]}],
//! outputParams[{id, name, description, download, hash, jobId, tree,
//! files[{name, path, hash, size, count, parameterId, user}]}]`. Times are
//! epoch ms, -1 when unset; message types OK=0, ERROR=1, WARNING=2,
//! RUNNING=3; `positionInQueue` ≥ 1 while waiting, 0 running, -1 finished;
//! `size` is a display string (`12 KB`), `count` the downloads left.
//!
//! # Lifecycle
//!
//! A job is WAITING (1) for [`Polls::waiting`] polls, then runs the steps
//! `Input Validation`, `Quality Control`, `Phasing and Imputation`,
//! `Summary`, each RUNNING (2) for [`Polls::per_step`] polls with a RUNNING
//! message that turns OK (or ERROR), then EXPORTING (3) for
//! [`Polls::exporting`] polls, then SUCCESS (4) with its results. Defaults:
//! 1 poll each, so a job succeeds on its 7th poll
//! ([`Emulator::polls_to_finish`]).
//!
//! - Input validation runs the real server's checks on the uploaded files
//!   (BGZF, one chromosome per file, at least [`Config::min_samples`]
//!   samples, equal sample counts, `chr` prefix matching the build, phased
//!   data or a phasing engine, population of the panel); a failure ends the
//!   job FAILED (5) at that step with the server's ERROR message.
//! - An unknown `refpanel` fails the job at once (state 5, no messages).
//! - [`Script`]s ([`Emulator::script_next_job`], or [`Config::outcome`])
//!   fail a step with a given message, leave the job DEAD (-1) or RETIRED
//!   (7, downloads then 404).
//! - [`Emulator::kill`], [`Emulator::cancel`], [`Emulator::run_to_end`],
//!   [`Emulator::poll`] act on a job directly.
//!
//! # Results
//!
//! For each input file a `chr_N.zip` (N without `chr`) holding
//! `chrN.dose.vcf.gz` (BGZF VCF: the input's sites and samples, `GT:DS`
//! phased genotypes, `AF`/`MAF`/`R2` in INFO) and `chrN.info.gz` (a BGZF
//! sites-VCF with `AF`, `MAF`, `R2` in INFO, or with
//! [`InfoFormat::Tabular`] the older tab file with an `Rsq` column),
//! encrypted with the job's `password` (ZipCrypto; AES-256 when
//! `aesEncryption` is sent). Then `qc_report.txt`, `quality-control.html`
//! and `statistics/{chunks-excluded,snps-excluded,typed-only}.txt`. R2 of a
//! variant is [`r2`]`(position)`; with `r2Filter` the variants below it are
//! left out. `mode=qc_only` gives no zips.
//!
//! Faithful details a client must cope with: values are HTML-escaped (a
//! password `a&b` opens the zips as `a&amp;b`); a checkbox field is true
//! when sent at all (`aesEncryption=false` means AES); a repeated field keeps
//! its first value; without a `password` the server picks one and "mails"
//! it ([`JobSnapshot::password`] shows it to tests only).
//!
//! # Auth
//!
//! `X-Auth-Token` only. [`Emulator::issue_token`] gives a user's API token
//! (one per user: a new one replaces the old). Missing, unknown or expired
//! ([`Emulator::expire_token`]) tokens get 401 on secured calls and count as
//! anonymous on `/api/v2/server`; a revoked or replaced API token
//! ([`Emulator::revoke_token`]) is still a well-signed JWT, which Cloudgene
//! refuses with 403 everywhere. 401/403 from the security layer have an
//! empty body; Cloudgene's own refusals are `{"success":false,"message":…}`:
//! 403 `Access denied.` (another user's job), 404 `Job X not found.`, 400
//! `Only N jobs per user can be executed simultaneously.`, 503 `This
//! functionality is currently under maintenance.`
//! ([`Emulator::set_maintenance`]; jobs and app calls only, as the real
//! server: `/api/v2/server` shows the flag, verify and downloads still work).
//!
//! # Faults
//!
//! [`Emulator::inject`] a [`Fault`]: the next N (or every k-th) matching
//! requests answer a status (500 JSON, 502–504 an nginx page), hang until the
//! client gives up, or are handled and then lose their answer (a submit that
//! created its job but whose reply never came). Every request is recorded
//! ([`Emulator::requests`]) and every submit ([`Emulator::submissions`]), so
//! tests can assert "submitted exactly once".

mod auth;
mod config;
mod emulator;
mod faults;
mod lifecycle;
mod render;
mod reply;
mod results;
mod routes;
mod state;
mod validation;

#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use time::OffsetDateTime;
use tokio::sync::watch;

pub use config::{App, Config, InfoFormat, Outcome, Panel, Polls, Script, Step};
pub use emulator::{Emulator, JobSnapshot};
pub use faults::{Effect, Fault, Schedule};
pub use results::r2;
pub use state::{
    LogMessage, RequestRecord, Submission, SubmittedFile, TokenKind, job_state, message_type,
};

use state::State;

/// State shared by the handlers.
pub(crate) struct Shared {
    state: Mutex<State>,
    shutdown: watch::Receiver<bool>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking handler must not take the other tests' server down.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Milliseconds since the epoch.
pub(crate) fn now_millis() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn datetime(millis: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A `java.util.Date` as Jackson writes it: `2025-12-16T22:40:29.866+00:00`.
pub(crate) fn format_date(millis: i64) -> String {
    let at = datetime(millis);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

/// `JobService.createId`: `job-20251016-224029-866`.
pub(crate) fn format_job_id(millis: i64) -> String {
    let at = datetime(millis);
    format!(
        "job-{:04}{:02}{:02}-{:02}{:02}{:02}-{:03}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/api/v2/tokens/verify", post(routes::tokens::verify))
        .route("/api/v2/server", get(routes::server::server))
        .route("/api/v2/server/", get(routes::server::server))
        .route("/api/v2/server/apps/{app}", get(routes::server::app))
        .route("/api/v2/jobs/submit/{app}", post(routes::submit::submit))
        .route("/api/v2/jobs", get(routes::jobs::list))
        .route("/api/v2/jobs/", get(routes::jobs::list))
        .route(
            "/api/v2/jobs/{id}",
            get(routes::jobs::get).delete(routes::jobs::delete),
        )
        .route("/api/v2/jobs/{id}/status", get(routes::jobs::get))
        .route("/api/v2/jobs/{id}/cancel", get(routes::jobs::cancel))
        .route("/api/v2/jobs/{id}/restart", get(routes::jobs::restart))
        .route(
            "/share/results/{hash}/{*filename}",
            get(routes::downloads::share),
        )
        .route(
            "/downloads/{job}/{hash}/{*filename}",
            get(routes::downloads::job_download),
        )
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            faults::middleware,
        ))
        .with_state(shared)
}
