//! `fip.jobs.v1.JobService`: thin adapters over [`crate::service::Jobs`].

use std::pin::Pin;
use std::sync::Arc;

use fip_kit::Violations;
use fip_kit::auth::{self, AuthError, Role, UserPrincipal};
use fip_kit::db::millis;
use fip_kit::sessions::Sessions;
use fip_proto::jobs::v1 as pb;
use fip_proto::jobs::v1::job_service_server::JobService;
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;
use tonic::{Request, Response, Status};

use crate::convert::*;
use crate::error::JobError;
use crate::events::Change;
use crate::model::{Job, LogSource, Mode, Status as JobStatus};
use crate::service::{Jobs, Submission, Target};
use crate::store::{JobFilter, LogFilter};
use fip_kit::paging::{self, Listing};

#[derive(Clone)]
pub struct JobApi {
    pub jobs: Arc<Jobs>,
    /// Ends a watch whose session ends.
    pub sessions: Arc<Sessions>,
}

fn invalid(v: Violations) -> Result<(), Status> {
    v.finish().map_err(Status::from)
}

fn target_of(v: &mut Violations, prefix: &str, t: pb::JobTarget) -> Target {
    let pb::JobTarget {
        service_id,
        reference_panel_id,
        build,
        phasing,
        population,
    } = t;
    let build = build_from_wire(build).unwrap_or_else(|UnknownValue| {
        v.add(format!("{prefix}build"), "is not a known genome build");
        None
    });
    let phasing = phasing_from_wire(phasing).unwrap_or_else(|UnknownValue| {
        v.add(format!("{prefix}phasing"), "is not a known phasing method");
        None
    });
    Target {
        service_id,
        reference_panel_id,
        build,
        phasing,
        population: population.trim().to_string(),
    }
}

fn mode_of(v: &mut Violations, mode: i32) -> Mode {
    mode_from_wire(mode).unwrap_or_else(|UnknownValue| {
        v.add("mode", "is not a known mode");
        Mode::Imputation
    })
}

impl JobApi {
    /// The job as clients see it, a parent with its children's ids. A
    /// parent's status is the stored one, which the worker derives from the
    /// children before it announces any child's change.
    async fn view(&self, job: Job) -> Result<pb::Job, JobError> {
        let children = self.jobs.children(&job).await?;
        Ok(job_to_wire(
            job,
            children.into_iter().map(|c| c.id).collect(),
        ))
    }

    async fn owned(&self, user: &UserPrincipal, id: &str) -> Result<Job, Status> {
        Ok(self.jobs.get(user, id).await?)
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<pb::WatchJobResponse, Status>> + Send>>;

#[tonic::async_trait]
impl JobService for JobApi {
    type WatchJobStream = WatchStream;

    async fn submit_job(
        &self,
        request: Request<pb::SubmitJobRequest>,
    ) -> Result<Response<pb::SubmitJobResponse>, Status> {
        let user = auth::require_role(&request, Role::Researcher)?.clone();
        let pb::SubmitJobRequest {
            name,
            service_id,
            reference_panel_id,
            build,
            phasing,
            population,
            input_file_id,
            r2_filter,
            mode,
            validate_only,
            request_id,
        } = request.into_inner();
        let mut v = Violations::new();
        let target = target_of(
            &mut v,
            "",
            pb::JobTarget {
                service_id,
                reference_panel_id,
                build,
                phasing,
                population,
            },
        );
        let mode = mode_of(&mut v, mode);
        invalid(v)?;
        let submitted = self
            .jobs
            .submit(
                &user,
                Submission {
                    name,
                    input_file_id,
                    targets: vec![target],
                    mode,
                    r2_filter,
                    validate_only,
                    request_id: Some(request_id).filter(|r| !r.is_empty()),
                },
                false,
            )
            .await?;
        let job = submitted
            .jobs
            .into_iter()
            .next()
            .ok_or_else(|| Status::internal("no job was created"))?;
        Ok(Response::new(pb::SubmitJobResponse {
            job: Some(self.view(job).await?),
        }))
    }

    async fn submit_multi_service_job(
        &self,
        request: Request<pb::SubmitMultiServiceJobRequest>,
    ) -> Result<Response<pb::SubmitMultiServiceJobResponse>, Status> {
        let user = auth::require_role(&request, Role::Researcher)?.clone();
        let pb::SubmitMultiServiceJobRequest {
            name,
            input_file_id,
            targets,
            mode,
            r2_filter,
            validate_only,
            request_id,
        } = request.into_inner();
        let mut v = Violations::new();
        let targets = targets
            .into_iter()
            .enumerate()
            .map(|(i, t)| target_of(&mut v, &format!("targets[{i}]."), t))
            .collect();
        let mode = mode_of(&mut v, mode);
        invalid(v)?;
        let submitted = self
            .jobs
            .submit(
                &user,
                Submission {
                    name,
                    input_file_id,
                    targets,
                    mode,
                    r2_filter,
                    validate_only,
                    request_id: Some(request_id).filter(|r| !r.is_empty()),
                },
                true,
            )
            .await?;
        let children: Vec<pb::Job> = submitted
            .jobs
            .into_iter()
            .map(|j| job_to_wire(j, Vec::new()))
            .collect();
        let parent = submitted.parent.map(|p| {
            let ids = children.iter().map(|c| c.id.clone()).collect();
            job_to_wire(p, ids)
        });
        Ok(Response::new(pb::SubmitMultiServiceJobResponse {
            parent_job: parent,
            child_jobs: children,
        }))
    }

    async fn get_job(
        &self,
        request: Request<pb::GetJobRequest>,
    ) -> Result<Response<pb::GetJobResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::GetJobRequest { id } = request.into_inner();
        let job = self.owned(&user, &id).await?;
        Ok(Response::new(pb::GetJobResponse {
            job: Some(self.view(job).await?),
        }))
    }

    async fn list_jobs(
        &self,
        request: Request<pb::ListJobsRequest>,
    ) -> Result<Response<pb::ListJobsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListJobsRequest {
            page_size,
            page_token,
            status,
            service_id,
            created_after,
            created_before,
            parent_job_id,
            top_level_only,
            query,
            user_id,
            all_users,
        } = request.into_inner();
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        let listing = Listing::new("jobs")
            .filter("status", &status)
            .filter("service_id", service_id)
            .filter("created_after", created_after.as_ref().map(millis))
            .filter("created_before", created_before.as_ref().map(millis))
            .filter("parent_job_id", &parent_job_id)
            .filter("top_level_only", top_level_only)
            .filter("query", query.trim())
            .filter("user_id", user_id)
            .filter("all_users", all_users);
        let before = paging::decode::<(i64, String)>(&mut v, &page_token, &listing);
        let mut statuses = Vec::new();
        for s in status {
            match status_from_wire(s) {
                Some(s) => statuses.push(s),
                None => v.add("status", "contains an unknown status"),
            }
        }
        if (all_users || user_id > 0) && !user.is_admin() {
            v.finish()?;
            return Err(JobError::PermissionDenied("admin").into());
        }
        v.max_len("query", &query, 200);
        invalid(v)?;
        let (mut jobs, total) = self
            .jobs
            .list(JobFilter {
                user_id: if user_id > 0 {
                    Some(user_id)
                } else if all_users {
                    None
                } else {
                    Some(user.id)
                },
                statuses,
                service_id: (service_id > 0).then_some(service_id),
                created_after: created_after.as_ref().map(millis),
                created_before: created_before.as_ref().map(millis),
                parent_job_id: Some(parent_job_id).filter(|p| !p.is_empty()),
                top_level_only,
                query: Some(query.trim().to_string()).filter(|q| !q.is_empty()),
                before,
                limit: limit + 1,
            })
            .await?;
        let next_page_token = paging::next_page_token(&mut jobs, limit, |j| {
            paging::encode(&listing, (j.created_at, &j.id))
        });
        let mut out = Vec::with_capacity(jobs.len());
        for job in jobs {
            out.push(self.view(job).await?);
        }
        Ok(Response::new(pb::ListJobsResponse {
            jobs: out,
            next_page_token,
            total_size: total,
        }))
    }

    async fn cancel_job(
        &self,
        request: Request<pb::CancelJobRequest>,
    ) -> Result<Response<pb::CancelJobResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::CancelJobRequest { id } = request.into_inner();
        let job = self.jobs.cancel(&user, &id).await?;
        Ok(Response::new(pb::CancelJobResponse {
            job: Some(self.view(job).await?),
        }))
    }

    async fn list_job_status_updates(
        &self,
        request: Request<pb::ListJobStatusUpdatesRequest>,
    ) -> Result<Response<pb::ListJobStatusUpdatesResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListJobStatusUpdatesRequest {
            job_id,
            page_size,
            page_token,
        } = request.into_inner();
        let job = self.owned(&user, &job_id).await?;
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        let listing = Listing::new("status_updates").filter("job_id", &job.id);
        let after = paging::decode::<i64>(&mut v, &page_token, &listing);
        invalid(v)?;
        let mut updates = self
            .jobs
            .history(&job, after.unwrap_or(0), limit + 1)
            .await?;
        let next_page_token =
            paging::next_page_token(&mut updates, limit, |u| paging::encode(&listing, u.id));
        Ok(Response::new(pb::ListJobStatusUpdatesResponse {
            status_updates: updates.into_iter().map(update_to_wire).collect(),
            next_page_token,
        }))
    }

    async fn list_job_logs(
        &self,
        request: Request<pb::ListJobLogsRequest>,
    ) -> Result<Response<pb::ListJobLogsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListJobLogsRequest {
            job_id,
            page_size,
            page_token,
            source,
            types,
            after_id,
        } = request.into_inner();
        let job = self.owned(&user, &job_id).await?;
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        let listing = Listing::new("logs")
            .filter("job_id", &job.id)
            .filter("source", source)
            .filter("types", &types)
            .filter("after_id", after_id);
        let cursor = paging::decode::<i64>(&mut v, &page_token, &listing);
        let source = match pb::JobLogSource::try_from(source) {
            Ok(pb::JobLogSource::Unspecified) => None,
            Ok(pb::JobLogSource::Remote) => Some(LogSource::Remote),
            Ok(pb::JobLogSource::Hub) => Some(LogSource::Hub),
            Err(_) => {
                v.add("source", "is not a known log source");
                None
            }
        };
        let mut kinds = Vec::new();
        for t in types {
            match type_from_wire(t) {
                Some(t) => kinds.push(t),
                None => v.add("types", "contains an unknown log type"),
            }
        }
        invalid(v)?;
        let mut logs = self
            .jobs
            .logs(
                &job,
                &LogFilter {
                    source,
                    types: kinds,
                    after_id: cursor.unwrap_or(after_id.max(0)),
                    limit: limit + 1,
                },
            )
            .await?;
        let next_page_token =
            paging::next_page_token(&mut logs, limit, |l| paging::encode(&listing, l.id));
        Ok(Response::new(pb::ListJobLogsResponse {
            logs: logs.into_iter().map(log_to_wire).collect(),
            next_page_token,
        }))
    }

    async fn list_job_results(
        &self,
        request: Request<pb::ListJobResultsRequest>,
    ) -> Result<Response<pb::ListJobResultsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListJobResultsRequest { job_id } = request.into_inner();
        let job = self.owned(&user, &job_id).await?;
        let (files, qc) = self.jobs.results(&job).await?;
        Ok(Response::new(pb::ListJobResultsResponse {
            files: files.into_iter().map(result_to_wire).collect(),
            qc_summary: qc_to_wire(qc),
            expires_at: job.results_expire_at.map(fip_kit::db::timestamp),
            complete: job.status == JobStatus::Completed,
        }))
    }

    async fn watch_job(
        &self,
        request: Request<pb::WatchJobRequest>,
    ) -> Result<Response<WatchStream>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::WatchJobRequest { id, include_logs } = request.into_inner();
        // Subscribe before reading the snapshot so no change falls between.
        let mut events = self.jobs.events.subscribe();
        let job = self.owned(&user, &id).await?;
        let api = self.clone();
        let stream = async_stream::try_stream! {
            let first = api.view(job.clone()).await?;
            let mut done = job.status.is_final();
            yield pb::WatchJobResponse { job: Some(first), event: None };
            let session_ended = api.sessions.ended(&user);
            tokio::pin!(session_ended);
            while !done {
                let received = tokio::select! {
                    biased;
                    () = &mut session_ended => None,
                    received = events.recv() => Some(received),
                };
                let Some(received) = received else {
                    Err::<(), Status>(AuthError::SessionEnded.into())?;
                    break;
                };
                let event = match received {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => {
                        // Fell behind: resynchronise from the store.
                        let current = api.jobs.current(&id).await?;
                        if let Some(current) = current {
                            done = current.status.is_final() && current.parent_job_id.is_none();
                            yield pb::WatchJobResponse { job: Some(api.view(current).await?), event: None };
                        }
                        continue;
                    }
                    Err(RecvError::Closed) => break,
                };
                let concerns = event.job.id == id || event.job.parent_job_id.as_deref() == Some(id.as_str());
                if !concerns {
                    continue;
                }
                let current = if event.job.id == id {
                    event.job.clone()
                } else {
                    match api.jobs.current(&id).await? {
                        Some(j) => j,
                        None => break,
                    }
                };
                let event_field = match event.change {
                    Change::Saved(Some(update)) if event.job.id == id => {
                        Some(pb::watch_job_response::Event::StatusUpdate(update_to_wire(update)))
                    }
                    Change::Logged(entries) if include_logs && event.job.id == id => {
                        for entry in entries {
                            yield pb::WatchJobResponse {
                                job: None,
                                event: Some(pb::watch_job_response::Event::LogEntry(log_to_wire(entry))),
                            };
                        }
                        None
                    }
                    _ => None,
                };
                done = current.status.is_final();
                let view = api.view(current).await?;
                yield pb::WatchJobResponse { job: Some(view), event: event_field };
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    async fn get_dashboard_stats(
        &self,
        request: Request<pb::GetDashboardStatsRequest>,
    ) -> Result<Response<pb::GetDashboardStatsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::GetDashboardStatsRequest {
            all_users,
            created_after,
        } = request.into_inner();
        if all_users && !user.is_admin() {
            return Err(JobError::PermissionDenied("admin").into());
        }
        let scope = (!all_users).then_some(user.id);
        let counts = self
            .jobs
            .counts(scope, created_after.as_ref().map(millis))
            .await?;
        let of = |s: JobStatus| {
            counts
                .by_status
                .iter()
                .filter(|(x, _)| *x == s)
                .map(|(_, n)| *n)
                .sum::<i64>()
        };
        let total: i64 = counts.by_status.iter().map(|(_, n)| n).sum();
        let completed = of(JobStatus::Completed);
        let failed = of(JobStatus::Failed);
        let mut by_service: Vec<pb::ServiceJobStats> = Vec::new();
        for (service_id, name, status, n) in &counts.by_service {
            let entry = match by_service.iter_mut().find(|s| s.service_id == *service_id) {
                Some(e) => e,
                None => {
                    by_service.push(pb::ServiceJobStats {
                        service_id: *service_id,
                        service_name: name.clone(),
                        ..Default::default()
                    });
                    by_service.last_mut().expect("just pushed")
                }
            };
            entry.total_jobs += n;
            match status {
                JobStatus::Completed => entry.completed_jobs += n,
                JobStatus::Running => entry.running_jobs += n,
                JobStatus::Failed => entry.failed_jobs += n,
                JobStatus::Queued | JobStatus::Pending => entry.queued_jobs += n,
                JobStatus::Cancelled | JobStatus::Expired => {}
            }
        }
        let (recent, _) = self
            .jobs
            .list(JobFilter {
                user_id: scope,
                top_level_only: true,
                limit: 5,
                ..Default::default()
            })
            .await?;
        let mut recent_jobs = Vec::new();
        for job in recent {
            recent_jobs.push(self.view(job).await?);
        }
        Ok(Response::new(pb::GetDashboardStatsResponse {
            total_jobs: total,
            completed_jobs: completed,
            running_jobs: of(JobStatus::Running),
            failed_jobs: failed,
            queued_jobs: of(JobStatus::Queued),
            cancelled_jobs: of(JobStatus::Cancelled),
            pending_jobs: of(JobStatus::Pending),
            expired_jobs: of(JobStatus::Expired),
            success_rate: if completed + failed > 0 {
                completed as f64 / (completed + failed) as f64
            } else {
                0.0
            },
            jobs_by_service: by_service,
            recent_jobs,
            average_duration_seconds: counts.average_duration_seconds,
        }))
    }
}
