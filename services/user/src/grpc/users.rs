//! `fip.user.v1.UserService`.

use fip_kit::ApiError;
use fip_kit::Violations;
use fip_kit::auth::{self, Role};
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::user_service_server::UserService;
use tonic::{Request, Response, Status};

use super::{UserApi, caller, role_from_wire, session_to_wire, user_to_wire};
use crate::accounts::{Registration, Session};
use crate::sessions::Tokens;
use crate::store::{ProfileChanges, UserFilter};
use fip_kit::paging::{self, Listing};

const PROFILE_FIELDS: [&str; 5] = [
    "email",
    "first_name",
    "last_name",
    "institution",
    "department",
];

#[tonic::async_trait]
impl UserService for UserApi {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let caller = caller(&request);
        let pb::RegisterRequest {
            username,
            email,
            password,
            first_name,
            last_name,
            institution,
            department,
        } = request.into_inner();
        let user = self
            .accounts
            .register(
                &caller,
                Registration {
                    username,
                    email,
                    password,
                    first_name,
                    last_name,
                    institution,
                    department,
                },
            )
            .await?;
        Ok(Response::new(pb::RegisterResponse {
            user: Some(user_to_wire(user)),
        }))
    }

    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        let caller = caller(&request);
        let pb::LoginRequest { username, password } = request.into_inner();
        let Session { tokens, user } = self.accounts.login(&caller, &username, &password).await?;
        let Tokens {
            access_token,
            expires_in,
            refresh_token,
            refresh_expires_in,
            session_id: _,
        } = tokens;
        Ok(Response::new(pb::LoginResponse {
            access_token,
            token_type: "bearer".into(),
            expires_in: expires_in as i64,
            user: Some(user_to_wire(user)),
            refresh_token,
            refresh_expires_in: refresh_expires_in as i64,
        }))
    }

    async fn refresh_session(
        &self,
        request: Request<pb::RefreshSessionRequest>,
    ) -> Result<Response<pb::RefreshSessionResponse>, Status> {
        let caller = caller(&request);
        let pb::RefreshSessionRequest { refresh_token } = request.into_inner();
        let (tokens, user) = self
            .accounts
            .sessions()
            .refresh(&caller, &refresh_token)
            .await?;
        let Tokens {
            access_token,
            expires_in,
            refresh_token,
            refresh_expires_in,
            session_id: _,
        } = tokens;
        Ok(Response::new(pb::RefreshSessionResponse {
            access_token,
            token_type: "bearer".into(),
            expires_in: expires_in as i64,
            user: Some(user_to_wire(user)),
            refresh_token,
            refresh_expires_in: refresh_expires_in as i64,
        }))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::LogoutRequest { all_sessions } = request.into_inner();
        let ended = self
            .accounts
            .sessions()
            .logout(&caller, &principal, all_sessions)
            .await?;
        Ok(Response::new(pb::LogoutResponse {
            ended_sessions: i32::try_from(ended).unwrap_or(i32::MAX),
        }))
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let pb::ListSessionsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        let listing = Listing::new("sessions");
        let before = paging::decode::<String>(&mut v, &page_token, &listing);
        v.finish()?;
        let mut sessions = self
            .accounts
            .sessions()
            .list(&principal, before.as_deref(), limit + 1)
            .await?;
        let next_page_token =
            paging::next_page_token(&mut sessions, limit, |s| paging::encode(&listing, &s.id));
        Ok(Response::new(pb::ListSessionsResponse {
            sessions: sessions
                .into_iter()
                .map(|s| session_to_wire(s, &principal.session_id))
                .collect(),
            next_page_token,
        }))
    }

    async fn revoke_session(
        &self,
        request: Request<pb::RevokeSessionRequest>,
    ) -> Result<Response<pb::RevokeSessionResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::RevokeSessionRequest { id } = request.into_inner();
        let mut v = Violations::new();
        v.text("id", &id, 64);
        v.finish()?;
        self.accounts
            .sessions()
            .revoke(&caller, &principal, &id)
            .await?;
        Ok(Response::new(pb::RevokeSessionResponse {}))
    }

    async fn get_current_user(
        &self,
        request: Request<pb::GetCurrentUserRequest>,
    ) -> Result<Response<pb::GetCurrentUserResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let pb::GetCurrentUserRequest {} = request.into_inner();
        let user = self.accounts.current(&principal).await?;
        Ok(Response::new(pb::GetCurrentUserResponse {
            user: Some(user_to_wire(user)),
        }))
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::ChangePasswordRequest {
            current_password,
            new_password,
        } = request.into_inner();
        self.accounts
            .change_password(&caller, &principal, &current_password, &new_password)
            .await?;
        Ok(Response::new(pb::ChangePasswordResponse {}))
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::UpdateProfileResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let caller = caller(&request);
        let pb::UpdateProfileRequest { user, update_mask } = request.into_inner();
        let Some(user) = user else {
            return Err(ApiError::invalid_field("user", "is required").into());
        };
        let pb::User {
            id,
            username,
            email,
            first_name,
            last_name,
            is_active,
            roles,
            date_joined,
            last_login,
            institution,
            department,
        } = user;
        // What this call cannot change is refused, not ignored: a client
        // that sends `roles` or `is_active` here must learn it had no
        // effect. (`is_active: false` is indistinguishable from its absence
        // on the wire; the mask, when sent, is checked below.)
        let mut v = Violations::new();
        for (field, present) in [
            ("user.id", id != 0),
            ("user.username", !username.is_empty()),
            ("user.is_active", is_active),
            ("user.roles", !roles.is_empty()),
            ("user.date_joined", date_joined.is_some()),
            ("user.last_login", last_login.is_some()),
        ] {
            if present {
                v.add(
                    field,
                    format!(
                        "cannot be changed here (allowed: {})",
                        PROFILE_FIELDS.join(", ")
                    ),
                );
            }
        }
        v.finish()?;
        let paths: Vec<String> = match update_mask {
            Some(mask) => {
                let mut v = Violations::new();
                for path in &mask.paths {
                    if !PROFILE_FIELDS.contains(&path.as_str()) {
                        v.add(
                            "update_mask",
                            format!(
                                "{path} cannot be changed here (allowed: {})",
                                PROFILE_FIELDS.join(", ")
                            ),
                        );
                    }
                }
                v.finish()?;
                mask.paths
            }
            None => [
                ("email", &email),
                ("first_name", &first_name),
                ("last_name", &last_name),
                ("institution", &institution),
                ("department", &department),
            ]
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, _)| name.to_string())
            .collect(),
        };
        let pick = |name: &str, value: String| paths.iter().any(|p| p == name).then_some(value);
        let changes = ProfileChanges {
            email: pick("email", email),
            first_name: pick("first_name", first_name),
            last_name: pick("last_name", last_name),
            institution: pick("institution", institution),
            department: pick("department", department),
        };
        let user = self
            .accounts
            .update_profile(&caller, &principal, changes)
            .await?;
        Ok(Response::new(pb::UpdateProfileResponse {
            user: Some(user_to_wire(user)),
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        let principal = auth::require_user(&request)?.clone();
        let pb::GetUserRequest { id } = request.into_inner();
        let user = self.accounts.get(&principal, id).await?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(user_to_wire(user)),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        auth::require_role(&request, Role::Admin)?;
        let pb::ListUsersRequest {
            page_size,
            page_token,
            role,
            is_active,
            query,
        } = request.into_inner();
        let mut v = Violations::new();
        let limit = paging::checked_page_size(&mut v, page_size);
        let listing = Listing::new("users")
            .filter("role", role)
            .filter("is_active", is_active)
            .filter("query", query.trim());
        let after_id = paging::decode::<i64>(&mut v, &page_token, &listing);
        if role != 0 && role_from_wire(role).is_none() {
            v.add("role", "is not a known role");
        }
        v.max_len("query", &query, 200);
        v.finish()?;
        let (mut users, total) = self
            .accounts
            .list(UserFilter {
                role: role_from_wire(role),
                is_active,
                query: Some(query.trim().to_string()).filter(|q| !q.is_empty()),
                after_id: after_id.unwrap_or(0),
                limit: limit + 1,
            })
            .await?;
        let next_page_token =
            paging::next_page_token(&mut users, limit, |u| paging::encode(&listing, u.id));
        Ok(Response::new(pb::ListUsersResponse {
            users: users.into_iter().map(user_to_wire).collect(),
            next_page_token,
            total_size: total,
        }))
    }

    async fn set_user_roles(
        &self,
        request: Request<pb::SetUserRolesRequest>,
    ) -> Result<Response<pb::SetUserRolesResponse>, Status> {
        auth::require_role(&request, Role::Admin)?;
        let caller = caller(&request);
        let pb::SetUserRolesRequest { id, roles } = request.into_inner();
        let mut v = Violations::new();
        v.id("id", id);
        let parsed: Vec<Role> = roles.iter().filter_map(|r| role_from_wire(*r)).collect();
        if parsed.len() != roles.len() {
            v.add("roles", "contains an unknown role");
        }
        if parsed.is_empty() {
            v.add("roles", "must name at least one role");
        }
        v.finish()?;
        let user = self.accounts.set_roles(&caller, id, parsed).await?;
        Ok(Response::new(pb::SetUserRolesResponse {
            user: Some(user_to_wire(user)),
        }))
    }

    async fn set_user_active(
        &self,
        request: Request<pb::SetUserActiveRequest>,
    ) -> Result<Response<pb::SetUserActiveResponse>, Status> {
        auth::require_role(&request, Role::Admin)?;
        let caller = caller(&request);
        let pb::SetUserActiveRequest { id, is_active } = request.into_inner();
        let mut v = Violations::new();
        v.id("id", id);
        v.finish()?;
        let user = self.accounts.set_active(&caller, id, is_active).await?;
        Ok(Response::new(pb::SetUserActiveResponse {
            user: Some(user_to_wire(user)),
        }))
    }
}
