//! The SQLite store: the conformance kit on a temporary database file, no
//! plaintext secret in any column, a restart keeps everything, a second
//! process-like pool on the same file races correctly, and a store that is
//! down is `Unavailable`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration as StdDuration,
};

use papyrus_auth::{
    Actor, ApiKeyStore, ApiKeys, AuthError, AuthRequest, CreatedApiKey, NewApiKey, RotateOptions,
    ScopeSet, SqliteStore, StoreErrorKind, StoreOptions, TenantId, http,
    oauth::{
        AccessTokenRecord, AuthorizationCodeRecord, AuthorizationServer, ClientInfo, ClientKind,
        CodeChallenge, ConsumeCode, FamilyId, GrantStore, NewClient, NewTokens, TokenRequest,
        TokenResponse,
    },
    testkit,
};
use sqlx::Row;
use time::{Duration, OffsetDateTime};

/// A database file in a fresh temporary directory, removed on drop.
struct TempDb {
    dir: PathBuf,
}

impl TempDb {
    fn new(name: &str) -> Self {
        let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos();
        let dir = std::env::temp_dir().join(format!(
            "papyrus-store-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.join("auth.db")
    }

    fn url(&self) -> String {
        format!("sqlite://{}", self.path().display())
    }

    async fn store(&self) -> Arc<SqliteStore> {
        Arc::new(SqliteStore::connect(&self.url()).await.unwrap())
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

// ----- the conformance kit ---------------------------------------------------

/// [`ApiKeys::authenticate`](papyrus_auth::ApiKeys::authenticate) for a bare
/// key: the `Authorization` value is made here.
async fn authenticate_key(
    keys: &papyrus_auth::ApiKeys,
    key: &str,
    tenant: &papyrus_auth::TenantId,
    ip: Option<std::net::IpAddr>,
    required: &papyrus_auth::ScopeSet,
) -> Result<papyrus_auth::Principal, papyrus_auth::AuthError> {
    let header = format!("Bearer {key}");
    let request = papyrus_auth::AuthRequest::new(Some(&header), Some(tenant.as_str()), ip);
    keys.authenticate(&request, required).await
}

/// The kit with the credential cache on: a cache changes no answer; and a
/// key answered from memory is refused as soon as its revocation returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_stores_conform_with_the_credential_cache() {
    let db = TempDb::new("cached");
    let options = papyrus_auth::StoreOptions::new()
        .with_credential_cache(papyrus_auth::CacheConfig::default());
    let store = Arc::new(SqliteStore::connect_with(&db.url(), options).await.unwrap());
    testkit::api_key_store(store.clone()).await;
    testkit::grant_store(store.clone()).await;

    let keys = papyrus_auth::ApiKeys::new(store.clone(), store.clone());
    let acme: papyrus_auth::TenantId = "acme".parse().unwrap();
    let none = papyrus_auth::ScopeSet::empty();
    let created = keys
        .create(
            &acme,
            papyrus_auth::NewApiKey::new("hot", none.clone()),
            &papyrus_auth::Actor::System,
        )
        .await
        .unwrap();
    let key = created.key.expose_secret().to_owned();
    for _ in 0..3 {
        authenticate_key(&keys, &key, &acme, None, &none)
            .await
            .unwrap();
    }
    let digest = store
        .find_by_digest(created_digest(&keys, &key))
        .await
        .unwrap()
        .unwrap()
        .digest;
    assert!(
        matches!(
            store.find_by_digest(digest),
            papyrus_auth::Answer::Now(Ok(Some(_)))
        ),
        "answered from memory"
    );
    keys.revoke(&acme, &created.info.id, &papyrus_auth::Actor::System)
        .await
        .unwrap();
    let refused = authenticate_key(&keys, &key, &acme, None, &none)
        .await
        .unwrap_err();
    assert_eq!(refused.rejection(), Some(&papyrus_auth::Rejection::Revoked));
}

/// The digest `keys` stores for `key`.
fn created_digest(keys: &papyrus_auth::ApiKeys, key: &str) -> papyrus_auth::Digest {
    keys.config().hasher.digest(key.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_api_key_store_conforms() {
    let db = TempDb::new("keys");
    testkit::api_key_store(db.store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_client_store_conforms() {
    let db = TempDb::new("clients");
    testkit::client_store(db.store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_grant_store_conforms() {
    let db = TempDb::new("grants");
    testkit::grant_store(db.store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_signing_key_store_conforms() {
    let db = TempDb::new("signing");
    testkit::signing_key_store(db.store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_audit_log_conforms() {
    let db = TempDb::new("audit");
    testkit::audit_log(db.store().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_in_memory_database_conforms() {
    let store = Arc::new(SqliteStore::connect("sqlite::memory:").await.unwrap());
    testkit::run_all(store.clone(), store.clone(), store.clone(), store).await;
}

// ----- through the services ----------------------------------------------------

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CALLBACK: &str = "https://app.example.com/callback";

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

struct Services {
    keys: ApiKeys,
    oauth: AuthorizationServer,
}

fn services(store: &Arc<SqliteStore>) -> Services {
    Services {
        keys: ApiKeys::new(store.clone(), store.clone()),
        oauth: AuthorizationServer::new(
            "https://{tenant}.papyrus.io".parse().unwrap(),
            store.clone(),
            store.clone(),
            store.clone(),
        ),
    }
}

async fn register(
    oauth: &AuthorizationServer,
    tenant: &TenantId,
    kind: ClientKind,
) -> (ClientInfo, Option<String>) {
    let registered = oauth
        .register_client(
            tenant,
            NewClient::new(
                "Portal",
                kind,
                CALLBACK,
                "documents:read documents:write".parse().unwrap(),
            ),
            &Actor::System,
        )
        .await
        .unwrap();
    let secret = registered.secret.map(|s| s.expose_secret().to_owned());
    (registered.client, secret)
}

/// Authorization request and consent: the code.
async fn code(oauth: &AuthorizationServer, tenant: &TenantId, client: &ClientInfo) -> String {
    let query = form(&[
        ("response_type", "code"),
        ("client_id", client.client_id.as_str()),
        ("redirect_uri", CALLBACK),
        ("scope", "documents:read"),
        ("code_challenge", CodeChallenge::s256_of(VERIFIER).as_str()),
        ("code_challenge_method", "S256"),
        ("state", "xyz"),
    ]);
    let request = oauth.authorize(tenant, &query).await.unwrap();
    let location = oauth
        .approve(&request, "alice", &request.scopes)
        .await
        .unwrap();
    let query = location.split_once('?').unwrap().1;
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    params["code"].clone()
}

/// The client's own credentials as form pairs (client_secret_post).
fn credentials<'a>(client: &'a ClientInfo, secret: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut v = vec![("client_id", client.client_id.as_str())];
    if let Some(s) = secret {
        v.push(("client_secret", s));
    }
    v
}

async fn exchange(
    oauth: &AuthorizationServer,
    tenant: &TenantId,
    client: &ClientInfo,
    secret: Option<&str>,
    code: &str,
) -> TokenResponse {
    let mut pairs = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", CALLBACK),
        ("code_verifier", VERIFIER),
    ];
    pairs.extend(credentials(client, secret));
    oauth
        .token(tenant, &TokenRequest::new(None, &form(&pairs)))
        .await
        .unwrap()
}

async fn refresh(
    oauth: &AuthorizationServer,
    tenant: &TenantId,
    client: &ClientInfo,
    secret: Option<&str>,
    refresh_token: &str,
) -> Result<TokenResponse, papyrus_auth::oauth::OAuthError> {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    pairs.extend(credentials(client, secret));
    oauth
        .token(tenant, &TokenRequest::new(None, &form(&pairs)))
        .await
}

fn pair(t: &TokenResponse) -> (String, String) {
    (
        t.access_token.expose_secret().to_owned(),
        t.refresh_token.as_ref().unwrap().expose_secret().to_owned(),
    )
}

/// Fills every table through the public API and returns every plaintext
/// secret created on the way.
async fn fill(s: &Services, tenant: &TenantId) -> Vec<String> {
    let mut secrets = Vec::new();

    // API keys: create, use, refuse, rotate, revoke.
    let created = s
        .keys
        .create(
            tenant,
            NewApiKey::new("billing", "documents:read".parse().unwrap()),
            &Actor::System,
        )
        .await
        .unwrap();
    let key = created.key.expose_secret().to_owned();
    authenticate_key(
        &s.keys,
        &key,
        tenant,
        Some("10.0.0.1".parse().unwrap()),
        &"documents:read".parse().unwrap(),
    )
    .await
    .unwrap();
    assert!(
        authenticate_key(
            &s.keys,
            &key,
            tenant,
            None,
            &"documents:write".parse().unwrap()
        )
        .await
        .is_err()
    );
    let rotated = s
        .keys
        .rotate(
            tenant,
            &created.info.id,
            RotateOptions::default(),
            &Actor::System,
        )
        .await
        .unwrap();
    s.keys
        .revoke(tenant, &created.info.id, &Actor::System)
        .await
        .unwrap();
    secrets.push(key);
    secrets.push(rotated.key.expose_secret().to_owned());

    // OAuth: a confidential and a public client, codes, tokens, a refresh,
    // a reuse (family revocation), a revocation, an unexchanged code.
    let (backend, secret) = register(&s.oauth, tenant, ClientKind::Confidential).await;
    let secret = secret.unwrap();
    let (spa, _) = register(&s.oauth, tenant, ClientKind::Public).await;

    let c1 = code(&s.oauth, tenant, &backend).await;
    let t1 = exchange(&s.oauth, tenant, &backend, Some(&secret), &c1).await;
    let (a1, r1) = pair(&t1);
    let t2 = refresh(&s.oauth, tenant, &backend, Some(&secret), &r1)
        .await
        .unwrap();
    let (a2, r2) = pair(&t2);
    assert!(
        refresh(&s.oauth, tenant, &backend, Some(&secret), &r1)
            .await
            .is_err(),
        "reuse"
    );

    let c2 = code(&s.oauth, tenant, &spa).await;
    let t3 = exchange(&s.oauth, tenant, &spa, None, &c2).await;
    let (a3, r3) = pair(&t3);
    s.oauth
        .revoke(
            tenant,
            &TokenRequest::new(
                None,
                &form(&[("token", &a3), ("client_id", spa.client_id.as_str())]),
            ),
        )
        .await
        .unwrap();
    let c3 = code(&s.oauth, tenant, &spa).await;

    secrets.extend([secret, c1, c2, c3, a1, r1, a2, r2, a3, r3]);
    secrets
}

/// Every table of the database, with its columns.
async fn tables(pool: &sqlx::SqlitePool) -> Vec<(String, Vec<String>)> {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap();
    let mut out = Vec::new();
    for t in names {
        let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
            .bind(&t)
            .fetch_all(pool)
            .await
            .unwrap();
        out.push((t, cols));
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_column_of_any_table_holds_a_plaintext_secret() {
    let db = TempDb::new("secrets");
    let store = db.store().await;
    let tenant: TenantId = "acme".parse().unwrap();
    let secrets = fill(&services(&store), &tenant).await;
    assert_eq!(secrets.len(), 12);

    let tables = tables(store.pool()).await;
    let names: Vec<&str> = tables.iter().map(|(t, _)| t.as_str()).collect();
    for expected in [
        "api_keys",
        "clients",
        "codes",
        "access_tokens",
        "refresh_tokens",
        "token_families",
        "audit_events",
    ] {
        assert!(names.contains(&expected), "table {expected} exists");
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM \"{expected}\""))
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert!(n > 0, "the public API filled table {expected}");
    }
    // A positive control: the keys' display hints are their first characters.
    let hint = &secrets[0][..12];
    let mut hint_seen = false;
    let mut scanned = 0;
    for (table, columns) in &tables {
        for column in columns {
            // Every value as bytes, whatever its type (TEXT, BLOB, INTEGER).
            let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
                "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
            ))
            .fetch_all(store.pool())
            .await
            .unwrap();
            for v in values.iter().flatten() {
                scanned += 1;
                hint_seen |= contains(v, hint.as_bytes());
                for s in &secrets {
                    assert!(
                        !contains(v, s.as_bytes()),
                        "a plaintext secret is stored in {table}.{column}"
                    );
                }
            }
        }
    }
    assert!(scanned > 100, "scanned {scanned} values");
    assert!(
        hint_seen,
        "the scan reads text columns (it found the key's hint)"
    );

    // Nor anywhere in the files (the WAL holds recent pages).
    store.pool().close().await;
    for ext in ["", "-wal", "-shm"] {
        let path = PathBuf::from(format!("{}{ext}", db.path().display()));
        if let Ok(bytes) = std::fs::read(&path) {
            for s in &secrets {
                assert!(
                    !contains(&bytes, s.as_bytes()),
                    "a plaintext secret is in {path:?}"
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_clients_and_tokens_survive_a_restart() {
    let db = TempDb::new("restart");
    let tenant: TenantId = "acme".parse().unwrap();
    let read: ScopeSet = "documents:read".parse().unwrap();

    let store = db.store().await;
    let s = services(&store);
    let live = s
        .keys
        .create(
            &tenant,
            NewApiKey::new("live", read.clone()),
            &Actor::System,
        )
        .await
        .unwrap();
    let gone = s
        .keys
        .create(
            &tenant,
            NewApiKey::new("gone", read.clone()),
            &Actor::System,
        )
        .await
        .unwrap();
    s.keys
        .revoke(&tenant, &gone.info.id, &Actor::System)
        .await
        .unwrap();
    let (client, secret) = register(&s.oauth, &tenant, ClientKind::Confidential).await;
    let secret = secret.unwrap();
    let c = code(&s.oauth, &tenant, &client).await;
    let (access, refresh_token) =
        pair(&exchange(&s.oauth, &tenant, &client, Some(&secret), &c).await);
    let pending = code(&s.oauth, &tenant, &client).await;
    drop(s);
    store.pool().close().await;
    drop(store);

    // A new process, as far as the database can tell.
    let store = db.store().await;
    let s = services(&store);
    let live_key = live.key.expose_secret();
    let header = format!("Bearer {live_key}");
    let principal = s
        .keys
        .authenticate(&AuthRequest::new(Some(&header), Some("acme"), None), &read)
        .await
        .unwrap();
    assert_eq!(principal.tenant(), &tenant);
    assert!(
        authenticate_key(&s.keys, gone.key.expose_secret(), &tenant, None, &read)
            .await
            .is_err(),
        "a revoked key stays revoked"
    );
    assert_eq!(s.keys.list(&tenant).await.unwrap().len(), 2);
    let reread = s
        .oauth
        .get_client(&tenant, &client.client_id)
        .await
        .unwrap();
    assert_eq!(
        (
            &reread.name,
            reread.kind,
            &reread.redirect_uris,
            &reread.allowed_scopes
        ),
        (
            &client.name,
            client.kind,
            &client.redirect_uris,
            &client.allowed_scopes
        )
    );
    // Times are stored to the microsecond.
    assert!((reread.created_at - client.created_at).abs() < Duration::microseconds(1));
    s.oauth
        .validate_access_token(&access, &tenant, &read)
        .await
        .unwrap();
    let renewed = refresh(&s.oauth, &tenant, &client, Some(&secret), &refresh_token)
        .await
        .unwrap();
    s.oauth
        .validate_access_token(renewed.access_token.expose_secret(), &tenant, &read)
        .await
        .unwrap();
    // The code issued before the restart is exchanged after it, once.
    exchange(&s.oauth, &tenant, &client, Some(&secret), &pending).await;
    // The audit log too.
    let events =
        papyrus_auth::AuditLog::query(&*store, &papyrus_auth::AuditQuery::tenant(tenant.clone()))
            .await
            .unwrap();
    assert!(events.iter().any(|e| e.kind.as_str() == "key_revoked"));
    assert!(events.iter().any(|e| e.kind.as_str() == "tokens_issued"));
}

/// Two pools on one file are two processes as far as SQLite is concerned:
/// a code is exchanged once, whichever pool each caller uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_on_one_file_exchange_a_code_once() {
    let db = TempDb::new("two-pools");
    let a = db.store().await;
    let b = db.store().await;
    let tenant: TenantId = "acme".parse().unwrap();
    let family = FamilyId::from_stored("fam_twopools");
    let now = OffsetDateTime::now_utc();
    let digest = |s: &str| papyrus_auth::SecretHasher::sha256().digest(s.as_bytes());
    let client = papyrus_auth::oauth::ClientId::parse("spa").unwrap();
    let code = AuthorizationCodeRecord {
        digest: digest("the code"),
        family: family.clone(),
        tenant: tenant.clone(),
        client_id: client.clone(),
        redirect_uri: None,
        subject: "alice".into(),
        scopes: "documents:read".parse().unwrap(),
        challenge: CodeChallenge::s256_of(VERIFIER),
        issued_at: now,
        expires_at: now + Duration::minutes(1),
        consumed_at: None,
        resources: papyrus_auth::oauth::Resources::none(),
    };
    a.insert_code(code.clone()).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let token = AccessTokenRecord {
            digest: digest(&format!("access {i}")),
            family: family.clone(),
            tenant: tenant.clone(),
            client_id: client.clone(),
            subject: "alice".into(),
            scopes: "documents:read".parse().unwrap(),
            issued_at: now,
            expires_at: now + Duration::hours(1),
            revoked_at: None,
            audience: papyrus_auth::oauth::Resources::none(),
        };
        let d = code.digest;
        tasks.push(tokio::spawn(async move {
            let tokens = NewTokens {
                access: token,
                refresh: None,
            };
            store.consume_code(&d, now, tokens).await.unwrap()
        }));
    }
    let mut consumed = 0;
    for t in tasks {
        match t.await.unwrap() {
            ConsumeCode::Consumed => consumed += 1,
            ConsumeCode::AlreadyConsumed(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(consumed, 1);
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM access_tokens")
        .fetch_one(a.pool())
        .await
        .unwrap();
    assert_eq!(stored, 1, "only the winner's token is stored");
}

// ----- connecting ------------------------------------------------------------

#[tokio::test]
async fn connect_creates_the_file_in_wal_mode_and_migrates_idempotently() {
    let db = TempDb::new("connect");
    assert!(!db.path().exists());
    let store = db.store().await;
    assert!(db.path().exists(), "the file is created");
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    store.migrate().await.unwrap();
    let again = db.store().await;
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(again.pool())
        .await
        .unwrap();
    assert_eq!(
        applied, 4,
        "0001_init, 0002_refresh_handle, 0003_fleet and 0006_resources_and_grant_types, each once"
    );
}

#[tokio::test]
async fn without_migrations_nothing_is_created() {
    let db = TempDb::new("no-migrate");
    let store = SqliteStore::connect_with(&db.url(), StoreOptions::new().with_migrations(false))
        .await
        .unwrap();
    let tables: Vec<String> = sqlx::query("SELECT name FROM sqlite_master WHERE type = 'table'")
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    assert!(tables.is_empty(), "{tables:?}");
    let err = store.list(&"acme".parse().unwrap()).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Other, "{err}");
    store.migrate().await.unwrap();
    assert!(
        store
            .list(&"acme".parse().unwrap())
            .await
            .unwrap()
            .is_empty()
    );
}

/// A store on `db` with `ApiKeys` over it and one key of tenant `acme`.
async fn one_key(db: &TempDb) -> (Arc<SqliteStore>, ApiKeys, TenantId, CreatedApiKey) {
    let store = db.store().await;
    let keys = ApiKeys::new(store.clone(), store.clone());
    let tenant: TenantId = "acme".parse().unwrap();
    let created = keys
        .create(
            &tenant,
            NewApiKey::new("k", ScopeSet::empty()),
            &Actor::System,
        )
        .await
        .unwrap();
    (store, keys, tenant, created)
}

/// The times a create returns are the times read back (the system clock
/// reads whole microseconds, what the store keeps).
#[tokio::test]
async fn created_times_read_back_unchanged() {
    let db = TempDb::new("times");
    let (_, keys, tenant, created) = one_key(&db).await;
    let read = keys.get(&tenant, &created.info.id).await.unwrap();
    assert_eq!(read.created_at, created.info.created_at);
    assert_eq!(read.rotation_due_at, created.info.rotation_due_at);
}

// ----- a store that is down -----------------------------------------------------

#[tokio::test]
async fn a_closed_pool_is_unavailable_and_a_503() {
    let db = TempDb::new("closed");
    let (store, keys, tenant, created) = one_key(&db).await;
    store.pool().close().await;

    let err = store.list(&tenant).await.unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable);
    assert!(
        std::error::Error::source(&err).is_some(),
        "the cause is kept"
    );
    let err = authenticate_key(
        &keys,
        created.key.expose_secret(),
        &tenant,
        None,
        &ScopeSet::empty(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, AuthError::Store(ref e) if e.kind() == StoreErrorKind::Unavailable));
    assert_eq!(http::auth_error_response(&err).status, 503);
}

#[tokio::test]
async fn a_file_that_cannot_be_opened_is_unavailable() {
    let missing: &Path = Path::new("/nonexistent-papyrus-dir/sub/auth.db");
    let err = SqliteStore::connect_with(
        &format!("sqlite://{}", missing.display()),
        StoreOptions::new().with_acquire_timeout(StdDuration::from_secs(1)),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
}
