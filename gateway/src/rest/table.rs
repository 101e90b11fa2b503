//! The REST route table, derived from the `google.api.http` annotations of
//! the public services in the descriptor pool. No route is written by hand.

use std::sync::Arc;

use fip_kit::mesh::ServiceName;
use http::Method;
use prost_reflect::{DescriptorPool, FieldDescriptor, Kind, MessageDescriptor, MethodDescriptor};

use super::http_rule::{bindings, http_rule};
use super::template::{PathTemplate, split_path};
use crate::descriptors::{is_internal, is_public_method};

/// How the HTTP body maps onto the request message.
#[derive(Debug, Clone)]
pub enum BodyRule {
    /// No body; every field not bound by the path is a query parameter.
    None,
    /// `body: "*"`: the body is the request message (less path fields).
    All,
    /// `body: "<field>"`: the body is that field; the rest from the query.
    Field(FieldDescriptor),
}

/// Which sides of the call stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Streaming {
    Unary,
    Server,
    Client,
    Bidi,
}

/// One REST binding of one RPC.
#[derive(Debug, Clone)]
pub struct Route {
    pub http_method: Method,
    pub template: PathTemplate,
    pub rpc: MethodDescriptor,
    /// The service that owns the RPC.
    pub owner: ServiceName,
    pub body: BodyRule,
    /// `response_body`: the field of the response that is the HTTP body.
    pub response_body: Option<FieldDescriptor>,
    pub streaming: Streaming,
    /// Callable without an access token.
    pub public: bool,
    /// Unique per binding: `Service_Method`, `_1`... for additional bindings.
    pub operation_id: String,
}

impl Route {
    /// `/fip.user.v1.UserService/Login`.
    pub fn grpc_path(&self) -> String {
        format!(
            "/{}/{}",
            self.rpc.parent_service().full_name(),
            self.rpc.name()
        )
    }

    /// Field paths bound by the path template.
    pub fn path_fields(&self) -> &[String] {
        self.template.variables()
    }
}

/// Path variables and their values.
type Bindings = Vec<(String, String)>;

/// The outcome of looking a request up.
#[derive(Debug)]
pub enum Lookup<'a> {
    Found(&'a Arc<Route>, Vec<(String, String)>),
    /// The path matches routes of other methods only.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

/// Every REST route of the public services.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Arc<Route>>,
}

impl RouteTable {
    /// Builds the table; an annotation that names a missing field, a bad
    /// template or two identical bindings is an error (a contract bug).
    pub fn from_pool(pool: &DescriptorPool) -> anyhow::Result<Self> {
        let mut routes: Vec<Arc<Route>> = Vec::new();
        for service in pool.services() {
            let name = service.full_name();
            if !name.starts_with("fip.") || is_internal(name) {
                continue;
            }
            let Some(owner) = ServiceName::owning(name) else {
                continue;
            };
            for rpc in service.methods() {
                let Some(rule) = http_rule(pool, &rpc) else {
                    continue;
                };
                for (index, binding) in bindings(&rule).into_iter().enumerate() {
                    let route = build_route(&rpc, owner, &binding, index)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", rpc.full_name()))?;
                    if let Some(clash) = routes.iter().find(|r| {
                        r.http_method == route.http_method && r.template == route.template
                    }) {
                        anyhow::bail!(
                            "{} and {} both bind {} {}",
                            clash.rpc.full_name(),
                            rpc.full_name(),
                            route.http_method,
                            route.template
                        );
                    }
                    routes.push(Arc::new(route));
                }
            }
        }
        anyhow::ensure!(
            !routes.is_empty(),
            "the descriptor set carries no google.api.http annotations"
        );
        Ok(Self { routes })
    }

    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }

    /// Finds the most specific route for `method` and `path`.
    pub fn lookup(&self, method: &Method, path: &str) -> Lookup<'_> {
        let Some(segments) = split_path(path) else {
            return Lookup::NotFound;
        };
        // HEAD is answered like GET (axum drops the body).
        let wanted = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        let mut best: Option<(&Arc<Route>, Bindings, _)> = None;
        let mut others: Vec<Method> = Vec::new();
        for route in &self.routes {
            let Some((bindings, rank)) = route.template.matches(&segments) else {
                continue;
            };
            if route.http_method != *wanted {
                if !others.contains(&route.http_method) {
                    others.push(route.http_method.clone());
                }
                continue;
            }
            if best.as_ref().is_none_or(|(_, _, r)| rank > *r) {
                best = Some((route, bindings, rank));
            }
        }
        match best {
            Some((route, bindings, _)) => Lookup::Found(route, bindings),
            None if !others.is_empty() => Lookup::MethodNotAllowed(others),
            None => Lookup::NotFound,
        }
    }
}

fn build_route(
    rpc: &MethodDescriptor,
    owner: ServiceName,
    rule: &super::http_rule::HttpRule,
    index: usize,
) -> Result<Route, String> {
    let pattern = rule.pattern.as_ref().ok_or("http rule without a pattern")?;
    let (http_method, path) = pattern.method_and_path()?;
    let template = PathTemplate::parse(path).map_err(|e| e.to_string())?;
    let input = rpc.input();
    for variable in template.variables() {
        let field = resolve_field(&input, variable)
            .ok_or_else(|| format!("path variable `{variable}` names no field"))?;
        if field.is_list() || field.is_map() || matches!(field.kind(), Kind::Message(_)) {
            return Err(format!("path variable `{variable}` is not a scalar field"));
        }
    }
    let body = match rule.body.as_str() {
        "" => BodyRule::None,
        "*" => BodyRule::All,
        name => BodyRule::Field(
            input
                .get_field_by_name(name)
                .ok_or_else(|| format!("body field `{name}` does not exist"))?,
        ),
    };
    let response_body = match rule.response_body.as_str() {
        "" => None,
        name => Some(
            rpc.output()
                .get_field_by_name(name)
                .ok_or_else(|| format!("response_body field `{name}` does not exist"))?,
        ),
    };
    let streaming = match (rpc.is_client_streaming(), rpc.is_server_streaming()) {
        (false, false) => Streaming::Unary,
        (false, true) => Streaming::Server,
        (true, false) => Streaming::Client,
        (true, true) => Streaming::Bidi,
    };
    let service = rpc.parent_service();
    let base = format!("{}_{}", service.name(), rpc.name());
    Ok(Route {
        http_method,
        template,
        rpc: rpc.clone(),
        owner,
        body,
        response_body,
        streaming,
        public: is_public_method(service.full_name(), rpc.name()),
        operation_id: if index == 0 {
            base
        } else {
            format!("{base}_{index}")
        },
    })
}

/// Resolves a dotted field path (`user.id`) in `message`.
pub fn resolve_field(message: &MessageDescriptor, path: &str) -> Option<FieldDescriptor> {
    let mut current = message.clone();
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let field = current
            .get_field_by_name(part)
            .or_else(|| current.get_field_by_json_name(part))?;
        if parts.peek().is_none() {
            return Some(field);
        }
        match field.kind() {
            Kind::Message(inner) if !field.is_list() && !field.is_map() => current = inner,
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::descriptors::pool;

    fn table() -> RouteTable {
        RouteTable::from_pool(pool()).expect("the contracts' annotations are valid")
    }

    fn found(t: &RouteTable, method: Method, path: &str) -> (String, Vec<(String, String)>) {
        match t.lookup(&method, path) {
            Lookup::Found(route, params) => (route.rpc.full_name().to_string(), params),
            other => panic!("{method} {path}: {other:?}"),
        }
    }

    #[test]
    fn every_public_service_has_routes_and_internal_ones_none() {
        let t = table();
        assert!(t.routes().len() > 40, "{}", t.routes().len());
        assert!(
            t.routes()
                .iter()
                .all(|r| !is_internal(r.rpc.parent_service().full_name()))
        );
        let ids: std::collections::HashSet<_> =
            t.routes().iter().map(|r| &r.operation_id).collect();
        assert_eq!(ids.len(), t.routes().len(), "operation ids are unique");
    }

    #[test]
    fn literal_paths_win_over_variables() {
        let t = table();
        assert_eq!(
            found(&t, Method::GET, "/api/users/me").0,
            "fip.user.v1.UserService.GetCurrentUser"
        );
        let (rpc, params) = found(&t, Method::GET, "/api/users/7");
        assert_eq!(rpc, "fip.user.v1.UserService.GetUser");
        assert_eq!(params, [("id".to_string(), "7".to_string())]);
        assert_eq!(
            found(&t, Method::PATCH, "/api/users/me/").0,
            "fip.user.v1.UserService.UpdateProfile"
        );
    }

    #[test]
    fn shared_prefixes_with_different_variables() {
        let t = table();
        let (rpc, params) = found(&t, Method::GET, "/api/services/3/reference-panels");
        assert_eq!(rpc, "fip.registry.v1.RegistryService.ListReferencePanels");
        assert_eq!(params, [("service_id".to_string(), "3".to_string())]);
        let (rpc, params) = found(&t, Method::GET, "/api/services/3");
        assert_eq!(rpc, "fip.registry.v1.RegistryService.GetService");
        assert_eq!(params, [("id".to_string(), "3".to_string())]);
        assert_eq!(
            found(&t, Method::GET, "/api/reference-panels").0,
            "fip.registry.v1.RegistryService.ListReferencePanels"
        );
    }

    #[test]
    fn wrong_method_and_unknown_paths() {
        let t = table();
        match t.lookup(&Method::DELETE, "/api/auth/login") {
            Lookup::MethodNotAllowed(allowed) => assert_eq!(allowed, [Method::POST]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            t.lookup(&Method::GET, "/api/nothing/here"),
            Lookup::NotFound
        ));
    }

    #[test]
    fn public_routes_are_the_documented_ones() {
        let t = table();
        let mut public: Vec<_> = t
            .routes()
            .iter()
            .filter(|r| r.public)
            .map(|r| r.rpc.name().to_string())
            .collect();
        public.sort();
        public.dedup();
        assert_eq!(
            public,
            [
                "DownloadFileByLink",
                "GetHealth",
                "Login",
                "RefreshSession",
                "Register"
            ]
        );
    }
}
