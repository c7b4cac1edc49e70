//! The admin API: keys, clients and the audit log of the tenant the
//! caller's credential belongs to (it needs the admin scope).

use serde_json::json;

use super::{
    HttpRequest, HttpResponse, api_key_error_response,
    auth::{HttpAuth, bad_request, json_body},
    client_error_response,
};
use crate::{
    AuditQuery, AuthMethod, ScopeSet,
    api_key::{ApiKeyError, KeyId, NewApiKey, RotateOptions},
    audit::Actor,
    oauth::{NewClient, Params},
};

/// An admin operation.
#[derive(Debug, Clone, Copy)]
pub(super) enum Admin<'a> {
    ListKeys,
    CreateKey,
    GetKey(&'a str),
    RotateKey(&'a str),
    RevokeKey(&'a str),
    Audit,
    ListClients,
    CreateClient,
}

impl HttpAuth {
    /// The authorization server, or the 404 of a service without OAuth.
    fn oauth_server(&self) -> Result<&crate::oauth::AuthorizationServer, HttpResponse> {
        self.oauth().ok_or_else(super::auth::not_found)
    }

    /// Runs an admin operation for a caller holding the admin scope.
    pub(super) async fn admin(&self, req: &HttpRequest, op: Admin<'_>) -> HttpResponse {
        let required =
            ScopeSet::from_scopes([self.inner.config.admin_scope.clone()]).unwrap_or_default();
        let principal = match self.authenticate(req, req.peer, &required).await {
            Ok(p) => p,
            Err(r) => return r,
        };
        let tenant = principal.tenant().clone();
        let actor = match &principal.method() {
            AuthMethod::ApiKey { key_id } => Actor::ApiKey {
                key_id: key_id.clone(),
            },
            _ => Actor::User {
                subject: principal.subject().to_string(),
            },
        };
        let keys = self.inner.authenticator.api_keys();
        let key_id =
            |id: &str| KeyId::parse(id).map_err(|_| api_key_error_response(&ApiKeyError::NotFound));
        let result: Result<HttpResponse, HttpResponse> = async {
            Ok(match op {
                Admin::ListKeys => {
                    let list = keys
                        .list(&tenant)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "api_keys": list }))
                }
                Admin::CreateKey => {
                    let new: NewApiKey = json_body(req)?;
                    let created = keys
                        .create(&tenant, new, &actor)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(
                        201,
                        &json!({ "key": created.key.expose_secret(), "api_key": created.info }),
                    )
                }
                Admin::GetKey(id) => {
                    let id = key_id(id)?;
                    let info = keys
                        .get(&tenant, &id)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    let traffic = keys
                        .rotation_traffic(&tenant, &id)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "api_key": info, "traffic": traffic }))
                }
                Admin::RotateKey(id) => {
                    let id = key_id(id)?;
                    let options: RotateOptions = if req.body.is_empty() {
                        RotateOptions::default()
                    } else {
                        json_body(req)?
                    };
                    let created = keys
                        .rotate(&tenant, &id, options, &actor)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(
                        201,
                        &json!({ "key": created.key.expose_secret(), "api_key": created.info }),
                    )
                }
                Admin::RevokeKey(id) => {
                    let id = key_id(id)?;
                    let info = keys
                        .revoke(&tenant, &id, &actor)
                        .await
                        .map_err(|e| api_key_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "api_key": info }))
                }
                Admin::Audit => {
                    let params =
                        Params::parse(&req.query).map_err(|e| bad_request(&e.description))?;
                    let get = |n: &str| params.get(n).map_err(|e| bad_request(&e.description));
                    let mut query = AuditQuery::tenant(tenant.clone());
                    if let Some(id) = get("key_id")? {
                        query = query.key(key_id(id)?);
                    }
                    if let Some(limit) = get("limit")? {
                        let limit = limit
                            .parse::<usize>()
                            .map_err(|_| bad_request("limit must be a number"))?;
                        query = query.limit(limit.min(1000));
                    }
                    let Some(log) = &self.inner.admin else {
                        return Err(super::auth::not_found());
                    };
                    let events = log
                        .query(&query)
                        .await
                        .map_err(|e| api_key_error_response(&e.into()))?;
                    HttpResponse::json(200, &json!({ "events": events }))
                }
                Admin::ListClients => {
                    let list = self
                        .oauth_server()?
                        .list_clients(&tenant)
                        .await
                        .map_err(|e| client_error_response(&e))?;
                    HttpResponse::json(200, &json!({ "clients": list }))
                }
                Admin::CreateClient => {
                    let new: NewClient = json_body(req)?;
                    let r = self
                        .oauth_server()?
                        .register_client(&tenant, new, &actor)
                        .await
                        .map_err(|e| client_error_response(&e))?;
                    let secret = r.secret.as_ref().map(|s| s.expose_secret());
                    HttpResponse::json(201, &json!({ "client": r.client, "client_secret": secret }))
                }
            })
        }
        .await;
        result.unwrap_or_else(|r| r)
    }
}
