//! Real-browser end-to-end test: the example server (in process) driven by
//! headless Chromium through `tests/e2e/flow.mjs` (Node.js + playwright-core).
//!
//! Needs `/usr/bin/chromium`, `node` and `tests/e2e/node_modules`; without
//! them it prints why and passes, unless `PAPYRUS_TEST_REQUIRE_ALL=1`, which
//! makes a missing prerequisite a failure (as in `.ci/run`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

#[path = "../examples/server/app.rs"]
mod app;

#[path = "support/node.rs"]
mod node;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use app::demo::{Demo, DemoConfig, TENANT};
use papyrus_auth::http::TrustedProxies;

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser flow; the script gives up by itself a little earlier.
const FLOW_TIMEOUT: Duration = Duration::from_secs(120);
const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Why the browser test cannot run here, if it cannot.
fn missing_prerequisite(e2e_dir: &Path) -> Option<String> {
    if !is_executable(Path::new(CHROMIUM)) {
        return Some(format!(
            "{CHROMIUM} not found (apt-get install chromium, or run .ci/run)"
        ));
    }
    match Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        _ => return Some("node (Node.js) not found on PATH (install Node.js 20 or newer)".into()),
    }
    if !e2e_dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        return Some(format!(
            "{}/node_modules/playwright-core not installed (cd tests/e2e && npm ci, or run .ci/run)",
            e2e_dir.display()
        ));
    }
    None
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

async fn admin_get(base_url: &str, admin_key: &str, path: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .get(format!("{base_url}{path}"))
        .bearer_auth(admin_key)
        .header("X-Tenant-Id", TENANT)
        .timeout(Duration::from_secs(15))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn browser_oauth_login_and_admin_key_lifecycle() {
    let e2e_dir = crate_root().join("tests/e2e");
    if let Some(reason) = missing_prerequisite(&e2e_dir) {
        if std::env::var("PAPYRUS_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
            panic!("browser e2e required (PAPYRUS_TEST_REQUIRE_ALL=1) but {reason}");
        }
        // Written to stderr directly, not with eprintln!, so the test
        // harness's output capture does not hide it.
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "SKIPPED browser e2e: {reason}");
        return;
    }

    // The example server, in process, on an ephemeral port.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let demo = Demo::start(DemoConfig {
        base_url: base_url.clone(),
        trusted_proxies: TrustedProxies::none(),
        database_url: None,
        redis_url: None,
        metrics: None,
        credential_cache: None,
        dangerous_metadata_loopback_host: None,
    })
    .await
    .unwrap();
    let admin_key = demo
        .admin_key
        .clone()
        .expect("the demo's bootstrap admin key");
    let server = tokio::spawn(async move {
        app::serve(
            listener,
            app::router(demo),
            app::ConnectionLimits::default(),
            std::future::pending(),
        )
        .await
    });

    let screenshot_dir = crate_root().join("target/e2e");
    std::fs::create_dir_all(&screenshot_dir).unwrap();
    let screenshot = screenshot_dir.join("admin.png");
    let _ = std::fs::remove_file(&screenshot); // never pass on an old picture
    let (base, key, shots) = (
        base_url.clone(),
        admin_key.clone(),
        screenshot_dir.display().to_string(),
    );
    let run = tokio::task::spawn_blocking(move || {
        let envs = [
            ("BASE_URL", base.as_str()),
            ("ADMIN_KEY", key.as_str()),
            ("SCREENSHOT_DIR", shots.as_str()),
        ];
        node::run_node(&e2e_dir, "flow.mjs", &envs, FLOW_TIMEOUT)
    })
    .await
    .unwrap();
    assert!(
        run.status.is_some_and(|s| s.success()),
        "the browser flow failed\n{}",
        run.report()
    );
    println!("{}", run.report());

    // What the browser did is visible server-side.
    let key_id = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("CREATED_KEY_ID="))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no CREATED_KEY_ID= line\n{}", run.report()))
        .to_owned();
    let keys = admin_get(&base_url, &admin_key, "/admin/api-keys").await;
    let created = keys["api_keys"]
        .as_array()
        .expect("api_keys is a list")
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap_or_else(|| panic!("{key_id} is not listed: {keys}"));
    assert_eq!(created["status"], "revoked", "{created}");

    let audit = admin_get(
        &base_url,
        &admin_key,
        &format!("/admin/audit?key_id={key_id}&limit=100"),
    )
    .await;
    let types: Vec<&str> = audit["events"]
        .as_array()
        .expect("events is a list")
        .iter()
        .filter_map(|e| e["type"].as_str())
        .collect();
    for expected in ["key_created", "key_revoked"] {
        assert!(types.contains(&expected), "{expected} not in {types:?}");
    }

    let png = std::fs::read(&screenshot)
        .unwrap_or_else(|e| panic!("screenshot {}: {e}", screenshot.display()));
    assert!(
        png.starts_with(PNG_SIGNATURE),
        "{} is not a PNG",
        screenshot.display()
    );
    assert!(
        png.len() > 10_000,
        "{} is only {} bytes",
        screenshot.display(),
        png.len()
    );
    println!("screenshot of the admin page: {}", screenshot.display());

    server.abort();
}
