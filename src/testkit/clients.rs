//! Conformance of [`ClientStore`] implementations.

use crate::testkit::report::{Report, Suite, check, check_eq};
use std::sync::Arc;

use time::Duration;

use super::fixtures::{at, client_id, conflict, digest, ok, scopes, tenant};
use crate::{
    TenantId,
    oauth::{ClientKind, ClientStore, OAuthClient},
};

/// Checks a [`ClientStore`]: round trips of every field, duplicate ids
/// (a conflict within a tenant, another client in another tenant) and
/// tenant isolation.
///
/// # Panics
///
/// After the whole run, when the store broke any rule: the message lists
/// every violation, each with the check and the kit's line that found it.
pub async fn client_store<S: ClientStore + ?Sized>(store: Arc<S>) {
    Report::assert_passed(&[report(store).await]);
}

/// The checks of [`client_store`], reported.
pub(super) async fn report<S: ClientStore + ?Sized>(store: Arc<S>) -> Report {
    let mut suite = Suite::new("client_store");
    suite.run("clients", checks(&*store)).await;
    suite.finish()
}

async fn checks<S: ClientStore + ?Sized>(store: &S) {
    let (a, b) = (tenant("a"), tenant("b"));
    let confidential = OAuthClient {
        kind: ClientKind::Confidential,
        secret_digest: Some(digest()),
        redirect_uris: vec![
            "https://backend.example.com/cb?a=1&b=%20".to_owned(),
            "http://127.0.0.1/native".to_owned(),
        ],
        default_scopes: scopes("documents:read"),
        access_token_ttl: Some(Duration::minutes(15)),
        refresh_token_ttl: Some(Duration::days(30)),
        created_at: at(1),
        grant_types: crate::oauth::GrantTypes::default()
            .with(crate::oauth::GrantTypes::CLIENT_CREDENTIALS),
        // A client that registered itself (RFC 7591).
        registration_digest: Some(digest()),
        ..public(&a)
    };
    let spa = public(&a);
    let other = public(&b);
    for c in [&confidential, &spa, &other] {
        ok("ClientStore::insert", store.insert(c).await);
    }
    for c in [&confidential, &spa, &other] {
        check_eq!(
            ok("ClientStore::get", store.get(&c.tenant, &c.id).await).as_deref(),
            Some(c),
            "store conformance: ClientStore::get must return the client as inserted, every field"
        );
    }
    check_eq!(
        ok("ClientStore::get", store.get(&b, &spa.id).await),
        None,
        "store conformance: ClientStore::get must not return another tenant's client"
    );
    check_eq!(
        ok("ClientStore::get", store.get(&a, &client_id()).await),
        None,
        "store conformance: ClientStore::get of an unknown id must be None"
    );
    let mut listed = ok("ClientStore::list", store.list(&a).await);
    listed.sort_by(|x, y| x.id.cmp(&y.id));
    let mut expected = vec![confidential.clone(), spa.clone()];
    expected.sort_by(|x, y| x.id.cmp(&y.id));
    check_eq!(
        listed,
        expected,
        "store conformance: ClientStore::list must return exactly the tenant's clients"
    );
    check_eq!(
        ok("ClientStore::list", store.list(&b).await),
        vec![other.clone()]
    );
    check!(ok("ClientStore::list", store.list(&tenant("empty")).await).is_empty());

    conflict(
        "ClientStore::insert of an existing id",
        store.insert(&spa).await,
    );
    let elsewhere = OAuthClient {
        tenant: b.clone(),
        name: "Impostor".to_owned(),
        ..spa.clone()
    };
    let refused = OAuthClient {
        name: "Second".to_owned(),
        ..spa.clone()
    };
    conflict(
        "ClientStore::insert of an existing id in the same tenant",
        store.insert(&refused).await,
    );
    check_eq!(
        ok("ClientStore::get", store.get(&a, &spa.id).await).as_deref(),
        Some(&spa),
        "store conformance: a refused ClientStore::insert must store nothing"
    );
    // Ids are unique per tenant: another tenant may use the same one, and
    // each tenant sees its own client.
    ok(
        "ClientStore::insert of an id another tenant uses",
        store.insert(&elsewhere).await,
    );
    check_eq!(
        ok("ClientStore::get", store.get(&b, &spa.id).await).as_deref(),
        Some(&elsewhere),
        "store conformance: ClientStore::get must return the tenant's own client of an id"
    );
    check_eq!(
        ok("ClientStore::get", store.get(&a, &spa.id).await).as_deref(),
        Some(&spa),
        "store conformance: another tenant's client of the same id must not replace this one"
    );

    // Deletion (RFC 7592): this tenant's client only, once.
    check!(
        ok("ClientStore::delete", store.delete(&a, &spa.id).await),
        "store conformance: ClientStore::delete of a client must say it deleted one"
    );
    check_eq!(
        ok("ClientStore::get", store.get(&a, &spa.id).await),
        None,
        "store conformance: ClientStore::get after ClientStore::delete must be None"
    );
    check_eq!(
        ok("ClientStore::get", store.get(&b, &spa.id).await).as_deref(),
        Some(&elsewhere),
        "store conformance: ClientStore::delete must not delete another tenant's client of the id"
    );
    check!(
        !ok("ClientStore::delete", store.delete(&a, &spa.id).await),
        "store conformance: ClientStore::delete of a deleted client must say it deleted none"
    );
}

/// A public client with no secret and the server's default lifetimes.
fn public(tenant: &TenantId) -> OAuthClient {
    OAuthClient {
        id: client_id(),
        tenant: tenant.clone(),
        name: "Portal «SPA»".to_owned(),
        kind: ClientKind::Public,
        secret_digest: None,
        redirect_uris: vec!["https://app.example.com/callback".to_owned()],
        allowed_scopes: scopes("documents:read documents:write"),
        default_scopes: scopes(""),
        access_token_ttl: None,
        refresh_token_ttl: None,
        created_at: at(0),
        grant_types: crate::oauth::GrantTypes::default(),
        registration_digest: None,
    }
}
