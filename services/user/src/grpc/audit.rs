//! `fip.user.v1.AuditService`.

use fip_kit::Violations;
use fip_kit::auth::{self, Role};
use fip_kit::db::millis;
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::audit_service_server::AuditService;
use tonic::{Request, Response, Status};

use super::{UserApi, action_from_wire, audit_to_wire};
use crate::store::AuditQuery;
use fip_kit::paging::{self, Listing};

/// Checks the page size and the action filter shared by both listings.
fn common(v: &mut Violations, page_size: i32, actions: &[i32]) -> Vec<String> {
    paging::checked_page_size(v, page_size);
    let mut names = Vec::new();
    for action in actions {
        match action_from_wire(*action) {
            Some(name) => names.push(name),
            None => v.add("actions", "contains an unknown action"),
        }
    }
    names
}

/// The listing a page token of `query` belongs to: every filter of it.
fn listing(query: &AuditQuery) -> Listing {
    let AuditQuery {
        user_id,
        actions,
        outcome,
        created_after,
        created_before,
        client_address,
        before_id: _,
        limit: _,
    } = query;
    Listing::new("audit")
        .filter("user_id", user_id)
        .filter("actions", actions)
        .filter("outcome", outcome)
        .filter("created_after", created_after)
        .filter("created_before", created_before)
        .filter("client_address", client_address)
}

impl UserApi {
    /// One page of `query` from `page_token` (checked against the query's
    /// filters); `v` holds the request's other violations so far.
    async fn audit_page(
        &self,
        mut v: Violations,
        mut query: AuditQuery,
        page_token: &str,
        page_size: i32,
    ) -> Result<(Vec<pb::AuditEvent>, String), Status> {
        let listing = listing(&query);
        query.before_id = paging::decode(&mut v, page_token, &listing);
        v.finish()?;
        let (events, next) =
            crate::audit::list(self.accounts.store().as_ref(), query, page_size).await?;
        Ok((
            events.into_iter().map(audit_to_wire).collect(),
            next.map(|id| paging::encode(&listing, id))
                .unwrap_or_default(),
        ))
    }
}

#[tonic::async_trait]
impl AuditService for UserApi {
    async fn list_my_audit_events(
        &self,
        request: Request<pb::ListMyAuditEventsRequest>,
    ) -> Result<Response<pb::ListMyAuditEventsResponse>, Status> {
        let user = auth::require_user(&request)?.clone();
        let pb::ListMyAuditEventsRequest {
            page_size,
            page_token,
            actions,
            created_after,
            created_before,
        } = request.into_inner();
        let mut v = Violations::new();
        let actions = common(&mut v, page_size, &actions);
        let (audit_events, next_page_token) = self
            .audit_page(
                v,
                AuditQuery {
                    user_id: Some(user.id),
                    actions,
                    created_after: created_after.as_ref().map(millis),
                    created_before: created_before.as_ref().map(millis),
                    ..Default::default()
                },
                &page_token,
                page_size,
            )
            .await?;
        Ok(Response::new(pb::ListMyAuditEventsResponse {
            audit_events,
            next_page_token,
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Result<Response<pb::ListAuditEventsResponse>, Status> {
        auth::require_role(&request, Role::Admin)?;
        let pb::ListAuditEventsRequest {
            page_size,
            page_token,
            user_id,
            actions,
            outcome,
            created_after,
            created_before,
            client_address,
        } = request.into_inner();
        let mut v = Violations::new();
        let actions = common(&mut v, page_size, &actions);
        let outcome = match pb::AuditOutcome::try_from(outcome) {
            Ok(pb::AuditOutcome::Unspecified) => None,
            Ok(o) => o
                .as_str_name()
                .strip_prefix("AUDIT_OUTCOME_")
                .map(str::to_lowercase),
            Err(_) => {
                v.add("outcome", "is not a known outcome");
                None
            }
        };
        v.max_len("client_address", &client_address, 64);
        let (audit_events, next_page_token) = self
            .audit_page(
                v,
                AuditQuery {
                    user_id: (user_id > 0).then_some(user_id),
                    actions,
                    outcome,
                    created_after: created_after.as_ref().map(millis),
                    created_before: created_before.as_ref().map(millis),
                    client_address: Some(client_address).filter(|a| !a.is_empty()),
                    before_id: None,
                    limit: 0,
                },
                &page_token,
                page_size,
            )
            .await?;
        Ok(Response::new(pb::ListAuditEventsResponse {
            audit_events,
            next_page_token,
        }))
    }
}
