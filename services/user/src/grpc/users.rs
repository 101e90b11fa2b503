//! `fip.user.v1.UserService`.

use fip_kit::ApiError;
use fip_kit::Violations;
use fip_kit::auth::{self, Role};
use fip_proto::user::v1 as pb;
use fip_proto::user::v1::user_service_server::UserService;
use tonic::{Request, Response, Status};

use super::{UserApi, caller, role_from_wire, user_to_wire};
use crate::accounts::Registration;
use crate::store::{ProfileChanges, UserFilter};
use fip_kit::paging;

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
        let session = self.accounts.login(&caller, &username, &password).await?;
        Ok(Response::new(pb::LoginResponse {
            access_token: session.access_token,
            token_type: "bearer".into(),
            expires_in: session.expires_in as i64,
            user: Some(user_to_wire(session.user)),
        }))
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
            id: _,
            username: _,
            email,
            first_name,
            last_name,
            is_active: _,
            roles: _,
            date_joined: _,
            last_login: _,
            institution,
            department,
        } = user;
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
        if page_size < 0 {
            v.add("page_size", "must not be negative");
        }
        let after_id = paging::decode("users", &page_token).unwrap_or_else(|_| {
            v.add("page_token", "is not a token from this listing");
            None
        });
        if role != 0 && role_from_wire(role).is_none() {
            v.add("role", "is not a known role");
        }
        v.max_len("query", &query, 200);
        v.finish()?;
        let limit = paging::page_size(page_size);
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
            paging::next_page_token(&mut users, limit, |u| paging::encode("users", u.id));
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
