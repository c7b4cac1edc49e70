//! The authorization-code grant's exchange (RFC 6749 §4.1.3, RFC 7636
//! §4.6): [`plan_exchange`] decides, the driver consumes the code and
//! mints the tokens, or revokes what a replayed code issued.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{
    AuthorizationCodeRecord, AuthorizationServer, ConsumeCode, OAuthClient, OAuthError,
    TokenResponse, params::Params, pkce::is_valid_verifier_syntax, plan_resources,
    requested_resources, server::Mint,
};
use crate::{AuditEventKind, PkceVerifier, StoreError, TenantId, audit::Actor};

/// What an exchange does with the code it presented.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExchangePlan {
    /// Consume the code and issue its tokens (the store decides, atomically,
    /// whether this request is the one that consumes it).
    Consume,
    /// The code was consumed before: a replay. Refuse, and revoke every
    /// token issued from it (RFC 6749 §4.1.2: the server "SHOULD revoke
    /// (when possible) all tokens previously issued based on that
    /// authorization code").
    Replay,
    /// Refuse, with no side effect.
    Refuse(OAuthError),
}

/// Decides an exchange of `code` (as stored, or `None` when unknown) by
/// `client` of `tenant`, sending `redirect_uri` and `verifier`, at `now`.
/// Pure.
///
/// In this order, the first that applies:
/// 1. unknown → refused as a guess (`invalid_grant`);
/// 2. another tenant's or client's code → refused, with no side effect on
///    its tokens (RFC 6749 §4.1.3: "ensure that the authorization code was
///    issued to the authenticated confidential client");
/// 3. consumed before → [`ExchangePlan::Replay`];
/// 4. expired (codes live 60 s by default, RFC 6749 §4.1.2);
/// 5. `redirect_uri` (RFC 6749 §4.1.3): required and identical if the
///    authorization request sent one; if it sent none, one sent now must be
///    the client's registered URI;
/// 6. PKCE: the verifier's S256 is the challenge (RFC 7636 §4.6). A wrong
///    verifier leaves the code unconsumed: burning it would let whoever
///    intercepted it deny the client its exchange.
pub fn plan_exchange(
    code: Option<&AuthorizationCodeRecord>,
    tenant: &TenantId,
    client: &OAuthClient,
    redirect_uri: Option<&str>,
    verifier: &PkceVerifier,
    now: OffsetDateTime,
) -> ExchangePlan {
    let refuse = |d: &'static str| ExchangePlan::Refuse(OAuthError::invalid_grant(d));
    let Some(code) = code else {
        return ExchangePlan::Refuse(OAuthError::unknown_grant("unknown authorization code"));
    };
    if code.tenant != *tenant || code.client_id != client.id {
        return refuse("authorization code was not issued to this client");
    }
    if code.consumed_at.is_some() {
        return ExchangePlan::Replay;
    }
    if code.expires_at <= now {
        return refuse("authorization code expired");
    }
    match (&code.redirect_uri, redirect_uri) {
        (Some(_), None) => {
            return ExchangePlan::Refuse(OAuthError::invalid_request(
                "redirect_uri is required: the authorization request sent one",
            ));
        }
        (Some(expected), Some(sent)) if expected != sent => {
            return refuse("redirect_uri does not match the authorization request");
        }
        // The request used the client's only registered URI: one sent now
        // must be that one, not any URI at all.
        (None, Some(sent)) if !super::redirect_uri_matches(&client.redirect_uris, sent) => {
            return refuse("redirect_uri does not match the authorization request");
        }
        _ => {}
    }
    if !code.challenge.verify(verifier.expose_secret()) {
        return refuse("code_verifier does not match the code_challenge");
    }
    ExchangePlan::Consume
}

impl AuthorizationServer {
    /// The `authorization_code` grant, for an authenticated `client`.
    pub(super) async fn exchange_code(
        &self,
        tenant: &TenantId,
        client: &OAuthClient,
        params: &Params<'_>,
    ) -> Result<TokenResponse, OAuthError> {
        let code = params.require("code")?;
        let verifier = PkceVerifier::new(params.get("code_verifier")?.ok_or_else(|| {
            OAuthError::invalid_request("missing code_verifier (PKCE is required)")
        })?);
        if !is_valid_verifier_syntax(verifier.expose_secret()) {
            return Err(OAuthError::invalid_request(
                "code_verifier must be 43 to 128 unreserved characters",
            ));
        }
        let redirect_uri = params.get("redirect_uri")?;
        let now = self.now();
        let digest = self.digest(code);
        let record = self.grants.find_code(&digest).await?;
        match plan_exchange(
            record.as_deref(),
            tenant,
            client,
            redirect_uri,
            &verifier,
            now,
        ) {
            ExchangePlan::Consume => {}
            ExchangePlan::Refuse(e) => return Err(e),
            ExchangePlan::Replay => {
                let record = record.ok_or_else(|| OAuthError::invalid_grant("code replayed"))?;
                return Err(self.code_replayed(&record, client, now).await?);
            }
        }
        let Some(record) = record else {
            return Err(OAuthError::unknown_grant("unknown authorization code"));
        };
        // RFC 8707 §2.2: the token request may name some of the resources
        // the authorization did.
        let audience = plan_resources(&requested_resources(params)?, &record.resources)?;
        let (response, tokens) = self.new_tokens(
            Mint {
                client,
                family: &record.family,
                subject: &record.subject,
                access_scopes: &record.scopes,
                family_scopes: &record.scopes,
                audience: &audience,
                family_resources: &record.resources,
                family_expires_at: None,
                handle: None,
                with_refresh: client
                    .grant_types
                    .contains(super::GrantTypes::REFRESH_TOKEN),
            },
            now,
        );
        let issued = AuditEventKind::TokensIssued {
            family: record.family.clone(),
            scopes: record.scopes.clone(),
        };
        let subject = Arc::clone(&record.subject);
        // Let go of the stored record before the store marks it consumed:
        // held here, it would be copied on write.
        drop(record);
        match self.grants.consume_code(&digest, now, tokens).await? {
            ConsumeCode::Consumed => {}
            ConsumeCode::AlreadyConsumed(r) => {
                // Lost a race to a concurrent exchange: a replay after all.
                return Err(self.code_replayed(&r, client, now).await?);
            }
            ConsumeCode::Unknown => {
                return Err(OAuthError::unknown_grant("unknown authorization code"));
            }
            ConsumeCode::FamilyRevoked => {
                return Err(OAuthError::invalid_grant("authorization code revoked"));
            }
        }
        self.emit(
            crate::AuditEvent::new(
                now,
                tenant.clone(),
                Actor::Client {
                    client_id: client.id.clone(),
                },
                issued,
            )
            .with_client(client.id.clone())
            .with_subject(&*subject),
        )
        .await;
        Ok(response)
    }

    /// A consumed code was presented again: revoke every token issued from it.
    async fn code_replayed(
        &self,
        record: &AuthorizationCodeRecord,
        client: &OAuthClient,
        now: OffsetDateTime,
    ) -> Result<OAuthError, StoreError> {
        let issued = (&record.tenant, &record.client_id, &*record.subject);
        self.revoke_family_after_replay(&record.family, issued, client, now, |family, revoked| {
            AuditEventKind::CodeReplayDetected { family, revoked }
        })
        .await?;
        Ok(OAuthError::invalid_grant(
            "authorization code already used; tokens issued from it are revoked",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{
        ClientId, CredentialFailure,
        fixtures::{CALLBACK, NOW, VERIFIER, client, code},
    };

    fn plan(
        code: Option<&AuthorizationCodeRecord>,
        redirect: Option<&str>,
        verifier: &str,
    ) -> ExchangePlan {
        let tenant = "acme".parse().unwrap();
        plan_exchange(
            code,
            &tenant,
            &client(),
            redirect,
            &PkceVerifier::new(verifier),
            NOW,
        )
    }

    fn refused(p: ExchangePlan) -> OAuthError {
        match p {
            ExchangePlan::Refuse(e) => e,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_code_is_consumed() {
        assert_eq!(
            plan(Some(&code()), Some(CALLBACK), VERIFIER),
            ExchangePlan::Consume
        );
    }

    #[test]
    fn a_consumed_code_is_a_replay_whatever_else_the_request_says() {
        let consumed = AuthorizationCodeRecord {
            consumed_at: Some(NOW),
            expires_at: NOW,
            ..code()
        };
        assert_eq!(plan(Some(&consumed), None, "x"), ExchangePlan::Replay);
    }

    #[test]
    fn guesses_and_other_clients_codes_are_refused_without_side_effect() {
        let e = refused(plan(None, Some(CALLBACK), VERIFIER));
        assert_eq!(e.failure, Some(CredentialFailure::UnknownGrant));
        let theirs = AuthorizationCodeRecord {
            client_id: ClientId::parse("other").unwrap(),
            consumed_at: Some(NOW),
            ..code()
        };
        let e = refused(plan(Some(&theirs), Some(CALLBACK), VERIFIER));
        assert_eq!(
            e.failure,
            Some(CredentialFailure::KnownGrant),
            "not a replay"
        );
        let other_tenant = AuthorizationCodeRecord {
            tenant: "globex".parse().unwrap(),
            ..code()
        };
        refused(plan(Some(&other_tenant), Some(CALLBACK), VERIFIER));
    }

    #[test]
    fn expiry_redirect_uri_and_pkce_are_checked() {
        let expired = AuthorizationCodeRecord {
            expires_at: NOW,
            ..code()
        };
        refused(plan(Some(&expired), Some(CALLBACK), VERIFIER));
        let e = refused(plan(Some(&code()), None, VERIFIER));
        assert_eq!(e.code, crate::oauth::OAuthErrorCode::InvalidRequest);
        refused(plan(
            Some(&code()),
            Some("https://evil.example/cb"),
            VERIFIER,
        ));
        refused(plan(
            Some(&code()),
            Some(CALLBACK),
            &VERIFIER.replace('d', "e"),
        ));
        // A request that sent no redirect_uri: none now, or the registered one.
        let bare = AuthorizationCodeRecord {
            redirect_uri: None,
            ..code()
        };
        assert_eq!(plan(Some(&bare), None, VERIFIER), ExchangePlan::Consume);
        assert_eq!(
            plan(Some(&bare), Some(CALLBACK), VERIFIER),
            ExchangePlan::Consume
        );
        refused(plan(
            Some(&bare),
            Some("https://app.example.com/other"),
            VERIFIER,
        ));
    }
}
