//! The job API's domain: submit (one target or several), read, list, cancel,
//! history, logs, results and dashboard counts — with ownership checked on
//! every read.

use std::sync::Arc;

use fip_kit::Violations;
use fip_kit::auth::UserPrincipal;
use fip_kit::db::now_millis;

use crate::error::JobError;
use crate::events::{Change, Events, JobEvent};
use crate::model::{ErrorAction, GenomeBuild, Job, Mode, Phase, Phasing, Status};
use crate::peers::{Mesh, PanelInfo, ServiceInfo};
use crate::queue::JobQueue;
use crate::store::{Counts, JobFilter, Store, StoreError};

/// Accepted r² filters (the Cloudgene app's values).
pub const R2_FILTERS: [f64; 5] = [0.0, 0.001, 0.1, 0.2, 0.3];

/// One (service, panel) target as submitted.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub service_id: i64,
    pub reference_panel_id: i64,
    /// None when not given (refused).
    pub build: Option<GenomeBuild>,
    /// None: the server's default.
    pub phasing: Option<Phasing>,
    pub population: String,
}

/// A submission.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub name: String,
    pub input_file_id: String,
    pub targets: Vec<Target>,
    pub mode: Mode,
    pub r2_filter: Option<f64>,
    pub validate_only: bool,
    pub request_id: Option<String>,
}

/// What a submission created: the parent (multi-service) and the jobs the
/// worker drives.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub parent: Option<Job>,
    pub jobs: Vec<Job>,
}

pub struct Jobs {
    pub store: Arc<dyn Store>,
    pub mesh: Mesh,
    pub events: Events,
    pub queue: Arc<dyn JobQueue>,
}

fn mismatch(message: String, field: String, target: &Target) -> JobError {
    JobError::TargetMismatch {
        message,
        field,
        service_id: target.service_id,
        panel_id: target.reference_panel_id,
    }
}

impl Jobs {
    fn check(submission: &Submission, multi: bool) -> Result<(), JobError> {
        let mut v = Violations::new();
        v.text("name", &submission.name, 200);
        if uuid::Uuid::parse_str(&submission.input_file_id).is_err() {
            v.add("input_file_id", "must be the id of an uploaded file");
        }
        if submission.targets.is_empty() {
            v.add("targets", "must name at least one service and panel");
        }
        if multi && submission.targets.len() > 10 {
            v.add("targets", "at most 10 targets per submission");
        }
        for (i, t) in submission.targets.iter().enumerate() {
            let prefix = if multi {
                format!("targets[{i}].")
            } else {
                String::new()
            };
            v.id(&format!("{prefix}service_id"), t.service_id);
            v.id(&format!("{prefix}reference_panel_id"), t.reference_panel_id);
            if t.build.is_none() {
                v.add(format!("{prefix}build"), "is required (hg19 or hg38)");
            }
            v.max_len(&format!("{prefix}population"), &t.population, 100);
        }
        if let Some(r2) = submission.r2_filter
            && !R2_FILTERS.iter().any(|x| (x - r2).abs() < 1e-9)
        {
            v.add("r2_filter", "must be one of 0, 0.001, 0.1, 0.2, 0.3");
        }
        if let Some(id) = &submission.request_id {
            v.max_len("request_id", id, 100);
        }
        v.finish().map_err(|e| JobError::Validation(e.violations))
    }

    /// Checks that a target's service, panel, build and population fit.
    async fn resolve(&self, t: &Target, field: &str) -> Result<(ServiceInfo, PanelInfo), JobError> {
        let service = self
            .mesh
            .service(t.service_id)
            .await?
            .ok_or(JobError::NotFound {
                resource_type: "imputation_service",
                id: t.service_id.to_string(),
            })?;
        if !service.is_active {
            return Err(JobError::ServiceInactive {
                message: format!("{} does not take new jobs", service.name),
                service_id: service.id,
            });
        }
        let panel = self
            .mesh
            .panel(t.reference_panel_id)
            .await?
            .ok_or(JobError::NotFound {
                resource_type: "reference_panel",
                id: t.reference_panel_id.to_string(),
            })?;
        if panel.service_id != service.id {
            return Err(mismatch(
                format!("panel {} is not offered by {}", panel.name, service.name),
                format!("{field}reference_panel_id"),
                t,
            ));
        }
        if !panel.is_active {
            return Err(JobError::ServiceInactive {
                message: format!("the panel {} is not available for new jobs", panel.name),
                service_id: service.id,
            });
        }
        let Some(build) = t.build else {
            return Err(JobError::Validation(vec![(
                format!("{field}build"),
                "is required (hg19 or hg38)".into(),
            )]));
        };
        if !service.builds.is_empty() && !service.builds.contains(&build) {
            return Err(mismatch(
                format!("{} does not support build {build}", service.name),
                format!("{field}build"),
                t,
            ));
        }
        if !t.population.is_empty()
            && !panel.populations.is_empty()
            && !panel.populations.iter().any(|p| p == &t.population)
        {
            return Err(mismatch(
                format!(
                    "population {} is not offered by {} (choose one of: {})",
                    t.population,
                    panel.name,
                    panel.populations.join(", ")
                ),
                format!("{field}population"),
                t,
            ));
        }
        Ok((service, panel))
    }

    fn new_job(user: i64, submission: &Submission, now: i64) -> Job {
        Job {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: user,
            parent_job_id: None,
            request_id: submission.request_id.clone(),
            name: submission.name.trim().to_string(),
            service_id: 0,
            service_name: String::new(),
            api_type: None,
            base_url: String::new(),
            reference_panel_id: 0,
            panel_name: String::new(),
            panel_slug: String::new(),
            build: None,
            phasing: None,
            population: String::new(),
            mode: submission.mode,
            r2_filter: submission.r2_filter,
            status: Status::Pending,
            progress: 0,
            phase: Phase::New,
            external_job_id: String::new(),
            remote_code: None,
            remote_state: String::new(),
            remote_position: None,
            current_step: String::new(),
            remote_observed_at: None,
            error_message: String::new(),
            error_reason: None,
            error_action: ErrorAction::None,
            error_action_url: String::new(),
            input_file_id: submission.input_file_id.clone(),
            input_summary: None,
            secret: None,
            submit_started_at: None,
            attempts: 0,
            next_poll_at: 0,
            poll_failures: 0,
            log_cursor: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            completed_at: None,
            cancel_requested_at: None,
            cancel_sent_at: None,
            cancel_polls: 0,
            results_expire_at: None,
        }
    }

    /// Accepts a submission: every target checked (service, panel, build,
    /// population, the user's credential) and the input file the user's;
    /// jobs created `pending`, then queued. Returns at once.
    pub async fn submit(
        &self,
        user: &UserPrincipal,
        submission: Submission,
        multi: bool,
    ) -> Result<Submitted, JobError> {
        Self::check(&submission, multi)?;
        if let Some(request) = &submission.request_id
            && let Some(existing) = self.store.job_by_request(user.id, request).await?
        {
            return self.submitted(existing).await;
        }
        let mut resolved = Vec::new();
        for (i, target) in submission.targets.iter().enumerate() {
            let field = if multi {
                format!("targets[{i}].")
            } else {
                String::new()
            };
            let (service, panel) = self.resolve(target, &field).await?;
            // Refused early when the user has no usable credential: the
            // user service's CREDENTIALS_MISSING travels back as it is.
            self.mesh.credential(user.id, service.id, "").await?;
            resolved.push((target, service, panel));
        }
        if self
            .mesh
            .file(&submission.input_file_id, user.id)
            .await?
            .is_none()
        {
            return Err(JobError::NotFound {
                resource_type: "file",
                id: submission.input_file_id.clone(),
            });
        }
        let now = now_millis();
        let base = Self::new_job(user.id, &submission, now);
        let parent = multi.then(|| base.clone());
        let mut jobs = Vec::new();
        for (target, service, panel) in resolved {
            let mut job = Self::new_job(user.id, &submission, now);
            if let Some(parent) = &parent {
                job.parent_job_id = Some(parent.id.clone());
                job.request_id = None;
                job.name = format!("{} ({})", parent.name, service.name);
            }
            job.service_id = service.id;
            job.service_name = service.name.clone();
            job.api_type = Some(service.api_type);
            job.base_url = service.base_url.clone();
            job.reference_panel_id = panel.id;
            job.panel_name = panel.name.clone();
            job.panel_slug = panel.slug.clone();
            job.build = target.build;
            job.phasing = target.phasing;
            job.population = target.population.clone();
            jobs.push(job);
        }
        if submission.validate_only {
            return Ok(Submitted { parent, jobs });
        }
        let mut all: Vec<Job> = parent.iter().cloned().collect();
        all.extend(jobs.iter().cloned());
        match self.store.create_jobs(&all, "job accepted").await {
            Ok(()) => {}
            Err(StoreError::DuplicateRequest) => {
                // A concurrent submission with the same request id won.
                let request = submission.request_id.clone().unwrap_or_default();
                if let Some(existing) = self.store.job_by_request(user.id, &request).await? {
                    return self.submitted(existing).await;
                }
            }
            Err(e) => return Err(e.into()),
        }
        for job in &mut all {
            job.status = Status::Queued;
            job.updated_at = now_millis();
            self.save(job, Some("queued for processing")).await?;
        }
        for job in &jobs {
            self.queue.enqueue(&job.id).await?;
        }
        let parent = parent.map(|_| all.remove(0));
        Ok(Submitted { parent, jobs: all })
    }

    async fn submitted(&self, existing: Job) -> Result<Submitted, JobError> {
        let children = self.store.children(&existing.id).await?;
        if children.is_empty() {
            Ok(Submitted {
                parent: None,
                jobs: vec![existing],
            })
        } else {
            Ok(Submitted {
                parent: Some(existing),
                jobs: children,
            })
        }
    }

    /// Saves a job, records the history entry and publishes the change.
    pub async fn save(&self, job: &Job, history: Option<&str>) -> Result<(), JobError> {
        let event = self.persist(job, history).await?;
        self.events.publish(event);
        Ok(())
    }

    /// Saves a job and its history entry; returns the change to publish.
    pub async fn persist(&self, job: &Job, history: Option<&str>) -> Result<JobEvent, JobError> {
        let id = self.store.save(job, history).await?;
        Ok(saved_event(job, id, history))
    }

    /// A job the user may see (admins see all); another user's is NOT_FOUND.
    pub async fn get(&self, user: &UserPrincipal, id: &str) -> Result<Job, JobError> {
        let not_found = || JobError::NotFound {
            resource_type: "job",
            id: id.to_string(),
        };
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(not_found());
        }
        match self.store.job(id).await? {
            Some(job) if job.user_id == user.id || user.is_admin() => Ok(job),
            _ => Err(not_found()),
        }
    }

    /// The job as stored now, without an ownership check (for a watch that
    /// has checked it already).
    pub async fn current(&self, id: &str) -> Result<Option<Job>, JobError> {
        Ok(self.store.job(id).await?)
    }

    /// A page of a job's status history, oldest first.
    pub async fn history(
        &self,
        job: &Job,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<crate::model::StatusUpdate>, JobError> {
        Ok(self.store.status_updates(&job.id, after_id, limit).await?)
    }

    /// A page of a job's log lines, oldest first.
    pub async fn logs(
        &self,
        job: &Job,
        filter: &crate::store::LogFilter,
    ) -> Result<Vec<crate::model::LogEntry>, JobError> {
        Ok(self.store.logs(&job.id, filter).await?)
    }

    /// A job's result files and QC figures.
    pub async fn results(
        &self,
        job: &Job,
    ) -> Result<
        (
            Vec<crate::model::ResultFile>,
            Vec<crate::model::ChromosomeQc>,
        ),
        JobError,
    > {
        Ok(self.store.results(&job.id).await?)
    }

    pub async fn children(&self, parent: &Job) -> Result<Vec<Job>, JobError> {
        Ok(self.store.children(&parent.id).await?)
    }

    pub async fn list(&self, filter: JobFilter) -> Result<(Vec<Job>, i64), JobError> {
        Ok(self.store.list_jobs(&filter).await?)
    }

    /// Asks for a job (and its children) to stop; the worker carries the
    /// cancel to the external server and ends the job `cancelled`.
    pub async fn cancel(&self, user: &UserPrincipal, id: &str) -> Result<Job, JobError> {
        let job = self.get(user, id).await?;
        if job.status.is_final() {
            return Err(JobError::NotCancellable {
                id: job.id,
                status: job.status.as_str(),
            });
        }
        let mut targets = self.store.children(&job.id).await?;
        targets.push(job);
        let now = now_millis();
        for j in targets {
            if j.status.is_final() || j.cancel_requested_at.is_some() {
                continue;
            }
            // Only the request is written: the worker driving the job may be
            // writing it now. A job nothing worked on yet ends here; the
            // worker carries any other to the server and then ends it.
            if self.store.request_cancel(&j.id, now).await?
                && let Some(ended) = self.store.job(&j.id).await?
            {
                self.events.publish(JobEvent {
                    job: ended,
                    change: Change::Saved(None),
                });
            }
        }
        let job = self.store.job(id).await?.ok_or(JobError::NotFound {
            resource_type: "job",
            id: id.to_string(),
        })?;
        Ok(job)
    }

    pub async fn counts(
        &self,
        user_id: Option<i64>,
        created_after: Option<i64>,
    ) -> Result<Counts, JobError> {
        Ok(self.store.counts(user_id, created_after).await?)
    }
}

/// A parent's status and progress from its children's: final when all are;
/// completed when all completed, cancelled when all cancelled, else failed.
pub fn derive_parent(parent: &mut Job, children: &[Job]) {
    if children.is_empty() {
        return;
    }
    let all_final = children.iter().all(|c| c.status.is_final());
    parent.progress = children.iter().map(|c| c.progress).sum::<i64>() / children.len() as i64;
    parent.status = if all_final {
        if children.iter().all(|c| c.status == Status::Completed) {
            Status::Completed
        } else if children.iter().all(|c| c.status == Status::Cancelled) {
            Status::Cancelled
        } else {
            Status::Failed
        }
    } else if children
        .iter()
        .any(|c| matches!(c.status, Status::Running | Status::Completed))
    {
        Status::Running
    } else if children.iter().any(|c| c.status == Status::Queued) {
        Status::Queued
    } else {
        Status::Pending
    };
    if all_final {
        let failed: Vec<&str> = children
            .iter()
            .filter(|c| c.status != Status::Completed)
            .map(|c| c.service_name.as_str())
            .collect();
        parent.error_message = if failed.is_empty() || parent.status == Status::Cancelled {
            String::new()
        } else {
            format!(
                "{} of {} targets did not complete: {}",
                failed.len(),
                children.len(),
                failed.join(", ")
            )
        };
        parent.completed_at = children.iter().filter_map(|c| c.completed_at).max();
        parent.phase = Phase::Done;
    }
    parent.started_at = children.iter().filter_map(|c| c.started_at).min();
}

impl Jobs {
    /// Re-derives and saves a parent after one of its children changed.
    pub async fn refresh_parent(&self, parent_id: &str) -> Result<(), JobError> {
        // Children that change at once refresh their parent at once: each
        // derivation is saved only over the parent it was derived from, and
        // one that finds the parent changed meanwhile derives again from
        // what is stored now, so the last word sees every child.
        for _ in 0..REFRESH_ATTEMPTS {
            let Some(read) = self.store.job(parent_id).await? else {
                return Ok(());
            };
            let children = self.store.children(parent_id).await?;
            let mut parent = read.clone();
            derive_parent(&mut parent, &children);
            if (parent.status, parent.progress) == (read.status, read.progress) {
                return Ok(());
            }
            parent.updated_at = now_millis();
            let history = (parent.status != read.status).then_some(match parent.status {
                Status::Completed => "every target completed",
                Status::Failed => "not every target completed",
                Status::Cancelled => "every target was cancelled",
                _ => "targets are running",
            });
            match self.store.save_unchanged(&parent, &read, history).await {
                Ok(id) => {
                    self.events.publish(saved_event(&parent, id, history));
                    return Ok(());
                }
                Err(StoreError::Changed(_)) => continue,
                // The parent was cancelled outright: its children follow.
                Err(StoreError::Ended(_)) => return Ok(()),
                Err(other) => return Err(other.into()),
            }
        }
        Err(JobError::Internal(anyhow::anyhow!(
            "job {parent_id} kept changing while its state was derived from its targets"
        )))
    }
}

/// Times a parent's state is derived again when its children keep changing
/// it meanwhile.
const REFRESH_ATTEMPTS: usize = 8;

/// The change a save of `job` publishes; `id` is its history entry's.
fn saved_event(job: &Job, id: Option<i64>, history: Option<&str>) -> JobEvent {
    let update = match (id, history) {
        (Some(id), Some(message)) => Some(crate::model::StatusUpdate {
            id,
            job_id: job.id.clone(),
            status: job.status,
            progress: job.progress,
            message: message.to_string(),
            created_at: job.updated_at,
        }),
        _ => None,
    };
    JobEvent {
        job: job.clone(),
        change: Change::Saved(update),
    }
}
