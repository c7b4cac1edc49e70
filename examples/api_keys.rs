//! The API key lifecycle of the product document, step by step:
//! create, authenticate, rotate, check the old key's traffic, revoke, and
//! read the audit log.
//!
//! `cargo run --example api_keys`

use std::{error::Error, sync::Arc};

use papyrus_auth::{
    Actor, ApiKeys, AuditLog, AuditQuery, AuthRequest, IpAllowlist, ManualClock, MemoryApiKeyStore,
    MemoryAuditLog, NewApiKey, RotateOptions, ScopeSet, TenantId, http,
};
use time::{Duration, OffsetDateTime};

/// Authenticates `key` as the product document's curl line would send it,
/// and prints the HTTP status the server would answer.
async fn call(
    keys: &ApiKeys,
    label: &str,
    key: &str,
    tenant: &str,
    ip: &str,
    need: &str,
) -> Result<(), Box<dyn Error>> {
    let header = format!("Bearer {key}");
    let request = AuthRequest::new(Some(&header), Some(tenant), Some(ip.parse()?));
    match keys
        .authenticate(&request, &need.parse::<ScopeSet>()?)
        .await
    {
        Ok(p) => println!(
            "  {label:<44} → 200 OK as {} in tenant {}",
            p.subject(),
            p.tenant()
        ),
        Err(e) => {
            let r = http::auth_error_response(&e);
            println!("  {label:<44} → {} {}", r.status, r.body);
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let audit = Arc::new(MemoryAuditLog::new());
    let clock = ManualClock::new(OffsetDateTime::now_utc());
    let keys = ApiKeys::new(Arc::new(MemoryApiKeyStore::new()), audit.clone())
        .with_clock(Arc::new(clock.clone()));
    let acme: TenantId = "acme".parse()?;
    let admin = Actor::User {
        subject: "admin@acme.example".into(),
    };

    println!("1. Admin → API Keys → create \"billing-sync\" (documents:read, from 10.0.0.0/8)");
    let created = keys
        .create(
            &acme,
            NewApiKey::new("billing-sync", "documents:read workflows:write".parse()?)
                .with_ip_allowlist(IpAllowlist::parse(["10.0.0.0/8"])?),
            &admin,
        )
        .await?;
    let old_key = created.key.expose_secret().to_owned();
    println!("  key (shown once):  {old_key}");
    println!(
        "  stored as:         {} (digest only), id {}",
        created.info.hint, created.info.id
    );

    println!("\n2. Calls with   Authorization: Bearer <key>   X-Tenant-Id: <tenant>");
    call(
        &keys,
        "GET /documents from 10.0.0.7",
        &old_key,
        "acme",
        "10.0.0.7",
        "documents:read",
    )
    .await?;
    call(
        &keys,
        "POST /documents (needs documents:write)",
        &old_key,
        "acme",
        "10.0.0.7",
        "documents:write",
    )
    .await?;
    call(
        &keys,
        "from 203.0.113.9 (outside the allowlist)",
        &old_key,
        "acme",
        "203.0.113.9",
        "documents:read",
    )
    .await?;
    call(
        &keys,
        "as tenant globex",
        &old_key,
        "globex",
        "10.0.0.7",
        "documents:read",
    )
    .await?;
    let mut typo = old_key.clone();
    typo.pop();
    typo.push('x');
    call(
        &keys,
        "with a mistyped key (checksum fails)",
        &typo,
        "acme",
        "10.0.0.7",
        "documents:read",
    )
    .await?;

    clock.advance(Duration::days(91));
    let listed = keys.list(&acme).await?;
    println!(
        "\n3. 91 days later the admin page says: rotation due = {}",
        listed[0].rotation_due
    );

    println!("\n4. Rotate: a new key with the same scopes; the old one keeps working");
    let rotated = keys
        .rotate(&acme, &created.info.id, RotateOptions::default(), &admin)
        .await?;
    let new_key = rotated.key.expose_secret().to_owned();
    println!("  new key (shown once): {new_key}");
    println!(
        "  old key traffic: {}",
        serde_json::to_string(&keys.rotation_traffic(&acme, &created.info.id).await?)?
    );
    call(
        &keys,
        "old key during the rolling deploy",
        &old_key,
        "acme",
        "10.0.0.7",
        "documents:read",
    )
    .await?;
    println!(
        "  old key traffic: {}",
        serde_json::to_string(&keys.rotation_traffic(&acme, &created.info.id).await?)?
    );
    clock.advance(Duration::minutes(10));
    call(
        &keys,
        "new key after the deploy",
        &new_key,
        "acme",
        "10.0.0.7",
        "documents:read",
    )
    .await?;

    println!(
        "\n5. The admin page: old key {}; 10 minutes without traffic: revoke it (no grace period)",
        serde_json::to_string(&keys.rotation_traffic(&acme, &created.info.id).await?)?
    );
    keys.revoke(&acme, &created.info.id, &admin).await?;
    call(
        &keys,
        "old key, right after revocation",
        &old_key,
        "acme",
        "10.0.0.7",
        "documents:read",
    )
    .await?;
    call(
        &keys,
        "new key",
        &new_key,
        "acme",
        "10.0.0.7",
        "documents:read",
    )
    .await?;

    println!("\n6. Audit log of tenant acme (newest first)");
    for e in audit.query(&AuditQuery::tenant(acme.clone())).await? {
        let key = e.key_id.as_ref().map_or("-", |k| k.as_str());
        let detail = match &e.kind {
            papyrus_auth::AuditEventKind::KeyRejected { reason } => format!(" ({reason})"),
            _ => String::new(),
        };
        println!("  {}  {:<13} {key}{detail}", e.at.date(), e.kind.as_str());
    }
    Ok(())
}
