//! How a job moves: one step per status poll, never by the clock.
//!
//! WAITING for `polls.waiting` polls, then each step RUNNING for
//! `polls.per_step` polls (its message RUNNING, then OK or ERROR), then
//! EXPORTING for `polls.exporting` polls, then the script's outcome.

use sha2::{Digest, Sha256};

use super::config::{Outcome, Step};
use super::results::{self, Recipe};
use super::state::{Download, Job, LogMessage, OutputParam, Phase, State, job_state, message_type};

/// Advances the job at `index` by one poll.
pub(crate) fn poll(state: &mut State, index: usize, now: i64) {
    let job = &mut state.jobs[index];
    job.polls += 1;
    match job.phase {
        Phase::Finished => {}
        Phase::Waiting(left) if left > 0 => job.phase = Phase::Waiting(left - 1),
        Phase::Waiting(_) => {
            job.state = job_state::RUNNING;
            job.start_time = now;
            enter_step(job, 0, now);
        }
        Phase::Running { step, left } if left > 1 => {
            job.phase = Phase::Running {
                step,
                left: left - 1,
            };
        }
        Phase::Running { step, .. } => complete_step(state, index, step, now),
        Phase::Exporting(left) if left > 1 => job.phase = Phase::Exporting(left - 1),
        Phase::Exporting(_) => finish(state, index, now),
    }
}

/// Runs the job to its end, as many polls as it takes.
pub(crate) fn run_to_end(state: &mut State, index: usize, now: i64) {
    while state.jobs[index].phase != Phase::Finished {
        poll(state, index, now);
    }
}

fn running_text(job: &Job, step: Step) -> String {
    match step {
        Step::InputValidation => "<b>Input Validation</b>".to_owned(),
        Step::QualityControl => "<b>Quality Control</b>".to_owned(),
        Step::Imputation => {
            let chromosomes = match &job.validation {
                Ok(validated) => validated
                    .files
                    .iter()
                    .map(|file| format!("chr{}", file.chromosome))
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(_) => String::new(),
            };
            format!("<b>Imputation</b><br><small>{chromosomes}...</small>")
        }
        Step::Summary => "<b>Compression and Encryption</b>".to_owned(),
    }
}

fn enter_step(job: &mut Job, index: usize, now: i64) {
    let step = Step::ALL[index];
    if step == Step::Imputation && job.params.mode != "imputation" {
        // qc_only: no phasing or imputation.
        return enter_step(job, index + 1, now);
    }
    let text = running_text(job, step);
    job.steps[index].messages.push(LogMessage {
        kind: message_type::RUNNING,
        text,
        time: now,
    });
    if job.script.outcome == (Outcome::Dead { step }) {
        job.state = job_state::DEAD;
        job.phase = Phase::Finished;
        return;
    }
    job.phase = Phase::Running {
        step: index,
        left: job.script.polls.per_step.max(1),
    };
}

fn set_last_message(job: &mut Job, index: usize, kind: i32, text: String, now: i64) {
    let messages = &mut job.steps[index].messages;
    match messages.last_mut() {
        Some(message) => {
            message.kind = kind;
            message.text = text;
            message.time = now;
        }
        None => messages.push(LogMessage {
            kind,
            text,
            time: now,
        }),
    }
}

fn complete_step(state: &mut State, index: usize, step_index: usize, now: i64) {
    let mail = {
        let username = state.jobs[index].username.clone();
        state.user_mut(&username).mail.clone()
    };
    let job = &mut state.jobs[index];
    let step = Step::ALL[step_index];
    let failure = match (&job.validation, &job.script.outcome) {
        (Err(message), _) if step == Step::InputValidation => Some(message.clone()),
        (_, Outcome::Fail { step: at, message }) if *at == step => Some(message.clone()),
        _ => None,
    };
    if let Some(message) = failure {
        set_last_message(job, step_index, message_type::ERROR, message, now);
        job.state = job_state::FAILED;
        job.end_time = now;
        job.phase = Phase::Finished;
        return;
    }
    let text = match (step, &job.validation) {
        (Step::InputValidation, Ok(validated)) => validated.summary.clone(),
        (Step::QualityControl, Ok(validated)) => {
            let sites: usize = validated.files.iter().map(|f| f.sites.len()).sum();
            format!(
                "Calculating QC Statistics\n\n<b>Statistics:</b>\nAlternative allele frequency > 0.5 sites: 0\n\
                 Reference Overlap: 100.00 %\nMatch: {sites}\nAllele switch: 0\nStrand flip: 0\n\
                 Strand flip and allele switch: 0\nA/T, C/G genotypes: 0\n\n<b>Filtered sites:</b>\n\
                 Filter flag set: 0\nInvalid alleles: 0\nMultiallelic sites: 0\nDuplicated sites: 0\n\
                 NonSNP sites: 0\nMonomorphic sites: 0\nAllele mismatch: 0\nSNPs call rate < 90%: 0"
            )
        }
        (Step::Imputation, Ok(validated)) => format!(
            "<b>Imputation</b><br><small>{} chromosome(s) imputed&nbsp;<i class=\"fas fa-check text-success\"></i></small>",
            validated.files.len()
        ),
        (Step::Summary, _) if job.password_mailed => format!(
            "Data have been exported successfully. We have sent a notification email to <b>{mail}</b>"
        ),
        (Step::Summary, _) => "Data have been exported successfully.".to_owned(),
        (_, Err(_)) => "<b>done</b>".to_owned(),
    };
    set_last_message(job, step_index, message_type::OK, text, now);
    if step_index + 1 < Step::ALL.len() {
        enter_step(job, step_index + 1, now);
        return;
    }
    job.state = job_state::EXPORTING;
    let exporting = job.script.polls.exporting;
    job.phase = Phase::Exporting(exporting);
    if exporting == 0 {
        finish(state, index, now);
    }
}

fn random_hash(seed: &str) -> String {
    let salt: u64 = rand::random();
    hex::encode(Sha256::digest(format!("{seed}{salt}").as_bytes()))
}

/// Writes the results and ends the job by its script's outcome.
fn finish(state: &mut State, index: usize, now: i64) {
    let param_id = state.next_id();
    let info_format = state.config.info_format;
    let max_downloads = state.config.max_downloads;
    let job = &mut state.jobs[index];
    if let Ok(validated) = &job.validation {
        let recipe = Recipe {
            job_id: &job.id,
            validated,
            password: &job.password,
            aes: job.params.aes_encryption,
            r2_filter: job.params.r2_filter.trim().parse().unwrap_or(0.0),
            imputation: job.params.mode == "imputation",
            meta: job.params.meta,
            info_format,
            panel: job.panel.as_ref().map_or("", |panel| panel.id.as_str()),
        };
        let files = results::build(&recipe)
            .into_iter()
            .map(|file| Download {
                hash: random_hash(&format!("{}{}", job.id, file.name)),
                path: format!("{}/output/{}", job.id, file.name),
                name: file.name,
                bytes: std::sync::Arc::new(file.bytes),
                count: max_downloads,
            })
            .collect::<Vec<_>>();
        job.output = Some(OutputParam {
            id: param_id,
            hash: random_hash(&format!("{}output", job.id)),
            files,
        });
    }
    job.state = if job.script.outcome == Outcome::Retired {
        job_state::RETIRED
    } else {
        job_state::SUCCESS
    };
    job.end_time = now;
    job.phase = Phase::Finished;
    let job_id = job.id.clone();
    let hashes: Vec<String> = job
        .output
        .iter()
        .flat_map(|output| output.files.iter().map(|file| file.hash.clone()))
        .collect();
    for hash in hashes {
        state.downloads.insert(hash, job_id.clone());
    }
}

/// `WorkflowEngine.cancel`: a waiting or running job becomes CANCELED.
pub(crate) fn cancel(job: &mut Job, now: i64) {
    if job.phase != Phase::Finished {
        job.state = job_state::CANCELED;
        job.end_time = now;
        job.phase = Phase::Finished;
    }
}

/// The server loses a waiting or running job: DEAD.
pub(crate) fn kill(job: &mut Job, now: i64) {
    if job.phase != Phase::Finished {
        job.state = job_state::DEAD;
        job.end_time = now;
        job.phase = Phase::Finished;
    }
}

/// `RestartJob`: a DEAD job is queued again (and does not die again).
pub(crate) fn restart(job: &mut Job) {
    job.state = job_state::WAITING;
    job.start_time = -1;
    job.end_time = -1;
    for step in &mut job.steps {
        step.messages.clear();
    }
    if matches!(job.script.outcome, Outcome::Dead { .. }) {
        job.script.outcome = Outcome::Success;
    }
    job.phase = Phase::Waiting(job.script.polls.waiting);
}
