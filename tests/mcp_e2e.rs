//! End-to-end MCP authorization test: the MCP example server
//! (`target/debug/examples/mcp_server`, a real process on an ephemeral port)
//! driven by the official MCP TypeScript SDK through `tests/e2e/mcp.mjs`:
//! discovery from the 401, dynamic registration, the code flow with PKCE and
//! `resource`, a narrowed consent, the `403 insufficient_scope` step-up,
//! refresh-token rotation, and a second client named by the URL of a Client
//! ID Metadata Document (no registration; the script serves the document on
//! 127.0.0.1, and the server, started with
//! `PAPYRUS_DANGEROUS_METADATA_LOOPBACK_HOST=cimd.test`, fetches it there).
//!
//! Build the example first (this test refuses a binary older than its
//! sources): `cargo build --all-features --example mcp_server && cargo test
//! --all-features --test mcp_e2e`.
//!
//! Needs `node` and `tests/e2e/node_modules/@modelcontextprotocol/sdk`;
//! without them it prints why and passes, unless `PAPYRUS_TEST_REQUIRE_ALL=1`,
//! which makes a missing prerequisite a failure (as in `.ci/run`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly on purpose.

#[path = "support/node.rs"]
mod node;

use std::{
    io::{BufRead as _, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// How long the server may take to print its MCP URL.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The whole MCP flow; the script gives up by itself a little earlier.
const FLOW_TIMEOUT: Duration = Duration::from_secs(60);
const URL_LINE: &str = "MCP server (Streamable HTTP): ";
/// The host name the server resolves to 127.0.0.1 for metadata documents
/// (and fetches over plain http): the script's document server is there.
const CIMD_HOST: &str = "cimd.test";

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Prints why the test cannot run (past the harness's capture) and returns
/// `true`; panics instead when `PAPYRUS_TEST_REQUIRE_ALL=1`.
fn skip(reason: &str) -> bool {
    if std::env::var("PAPYRUS_TEST_REQUIRE_ALL").as_deref() == Ok("1") {
        panic!("mcp e2e required (PAPYRUS_TEST_REQUIRE_ALL=1) but {reason}");
    }
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "SKIPPED mcp e2e: {reason}");
    true
}

/// Why the MCP test cannot run here, if it cannot.
fn missing_prerequisite(e2e_dir: &Path) -> Option<String> {
    match Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) if out.status.success() => {}
        _ => return Some("node (Node.js) not found on PATH (install Node.js 20 or newer)".into()),
    }
    if !e2e_dir
        .join("node_modules/@modelcontextprotocol/sdk/package.json")
        .is_file()
    {
        return Some(format!(
            "{}/node_modules/@modelcontextprotocol/sdk not installed (cd tests/e2e && npm ci, or run .ci/run)",
            e2e_dir.display()
        ));
    }
    None
}

/// The example binary cargo built beside this test:
/// `target/debug/deps/mcp_e2e-…` → `target/debug/examples/mcp_server`.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in target/<profile>/deps");
    profile_dir
        .join("examples")
        .join(format!("mcp_server{}", std::env::consts::EXE_SUFFIX))
}

/// A source of the example binary modified after it was built, if any:
/// `cargo test --test mcp_e2e` does not rebuild examples, and an old binary
/// would test old code.
fn newer_source(binary: &Path) -> Option<PathBuf> {
    fn modified(path: &Path) -> Option<SystemTime> {
        path.metadata().and_then(|m| m.modified()).ok()
    }
    fn walk(path: &Path, built: SystemTime) -> Option<PathBuf> {
        if path.is_dir() {
            let entries = std::fs::read_dir(path).ok()?;
            return entries
                .filter_map(Result::ok)
                .find_map(|e| walk(&e.path(), built));
        }
        modified(path)
            .is_some_and(|m| m > built)
            .then(|| path.to_owned())
    }
    let built = modified(binary)?;
    let root = crate_root();
    [
        "examples/mcp_server",
        "examples/server",
        "examples/common",
        "src",
        "migrations",
        "Cargo.toml",
    ]
    .iter()
    .find_map(|p| walk(&root.join(p), built))
}

/// Kills what the test started and removes its files, also on panic.
#[derive(Default)]
struct Cleanup {
    children: Vec<Child>,
    dir: Option<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for child in &mut self.children {
            node::kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Reads a pipe to the end on a thread, line by line, each line also sent
/// on `lines` (if any).
fn drain(
    pipe: impl Read + Send + 'static,
    lines: Option<mpsc::Sender<String>>,
) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut all = String::new();
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    all.push_str(&text);
                    if let Some(tx) = &lines {
                        let _ = tx.send(text);
                    }
                }
            }
        }
        all
    })
}

/// Starts the example server on an ephemeral port with its store in `dir`;
/// returns it, its stdout and stderr readers, and the MCP URL it printed.
fn start_server(
    binary: &Path,
    dir: &Path,
    cleanup: &mut Cleanup,
) -> (
    String,
    thread::JoinHandle<String>,
    thread::JoinHandle<String>,
) {
    let mut command = Command::new(binary);
    command
        .env("PAPYRUS_ADDR", "127.0.0.1:0")
        .env(
            "PAPYRUS_DATABASE_URL",
            format!("sqlite://{}", dir.join("mcp.db").display()),
        )
        .env("RUST_LOG", "warn")
        // For step e only: `https://cimd.test:<port>/…` client ids are
        // fetched from 127.0.0.1 over plain http (tests only: it turns the
        // SSRF defence off for that name).
        .env("PAPYRUS_DANGEROUS_METADATA_LOOPBACK_HOST", CIMD_HOST)
        // Nothing shared with other runs (Redis counters would carry the
        // registration limit over), nothing from the caller's setup.
        .env_remove("PAPYRUS_REDIS_URL")
        .env_remove("PAPYRUS_TRUSTED_PROXIES")
        .env_remove("PAPYRUS_CREDENTIAL_CACHE_LEASE_MS")
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt as _;
        command.process_group(0);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", binary.display()));
    let (tx, rx) = mpsc::channel();
    let stdout = drain(child.stdout.take().unwrap(), Some(tx));
    let stderr = drain(child.stderr.take().unwrap(), None);
    cleanup.children.push(child);

    let started = Instant::now();
    let mut seen = String::new();
    loop {
        let left = START_TIMEOUT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                if let Some(rest) = line.strip_prefix(URL_LINE) {
                    let url = rest.split_whitespace().next().unwrap_or_default();
                    assert!(
                        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
                        "unexpected MCP URL line: {line}"
                    );
                    return (url.to_owned(), stdout, stderr);
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "the MCP server printed no \"{URL_LINE}\" line within {} s; stdout so far:\n{seen}",
                START_TIMEOUT.as_secs()
            ),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = cleanup.children.last_mut().unwrap().wait();
                panic!(
                    "the MCP server exited ({status:?}) before printing its URL\n--- stdout\n{seen}\n--- stderr\n{}",
                    stderr.join().unwrap_or_default()
                );
            }
        }
    }
}

#[test]
fn mcp_sdk_discovers_registers_steps_up_and_refreshes() {
    let e2e_dir = crate_root().join("tests/e2e");
    if let Some(reason) = missing_prerequisite(&e2e_dir) {
        skip(&reason);
        return;
    }
    let binary = example_binary();
    assert!(
        binary.is_file(),
        "{} not found: build it first with `cargo build --all-features --example mcp_server` \
         (`cargo test --all-features` builds the examples; `cargo test --test mcp_e2e` alone does not)",
        binary.display()
    );
    if let Some(newer) = newer_source(&binary) {
        panic!(
            "{} is older than {}: rebuild it with `cargo build --all-features --example mcp_server` \
             (`cargo test --all-features` builds the examples; `cargo test --test mcp_e2e` alone does not)",
            binary.display(),
            newer.display()
        );
    }

    let mut cleanup = Cleanup::default();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let dir = std::env::temp_dir().join(format!("papyrus-mcp-e2e-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    cleanup.dir = Some(dir.clone());

    let (mcp_url, server_stdout, server_stderr) = start_server(&binary, &dir, &mut cleanup);
    let run = node::run_node(
        &e2e_dir,
        "mcp.mjs",
        &[("MCP_URL", mcp_url.as_str()), ("CIMD_HOST", CIMD_HOST)],
        FLOW_TIMEOUT,
    );
    let ok = run.status.is_some_and(|s| s.success());
    // Stop the server to collect its output.
    drop(cleanup);
    if !ok {
        panic!(
            "the MCP flow failed\n{}\n--- server stdout\n{}\n--- server stderr\n{}",
            run.report(),
            server_stdout.join().unwrap_or_default().trim_end(),
            server_stderr.join().unwrap_or_default().trim_end()
        );
    }
    println!("{}", run.report());

    let summary: serde_json::Value = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("MCP_E2E_SUMMARY "))
        .and_then(|json| serde_json::from_str(json).ok())
        .unwrap_or_else(|| panic!("no MCP_E2E_SUMMARY line\n{}", run.report()));
    let base = mcp_url.trim_end_matches("/mcp");
    let checks = [
        (&summary["a"]["resource"], serde_json::json!(mcp_url)),
        (
            &summary["a"]["code_challenge_method"],
            serde_json::json!("S256"),
        ),
        (
            &summary["a"]["approved"],
            serde_json::json!(["documents:read"]),
        ),
        (
            &summary["a"]["granted_scope"],
            serde_json::json!("documents:read"),
        ),
        (
            &summary["c"]["challenge"],
            serde_json::json!(format!(
                "Bearer realm=\"papyrus\", error=\"insufficient_scope\", scope=\"documents:write\", \
                 resource_metadata=\"{base}/.well-known/oauth-protected-resource/mcp\""
            )),
        ),
        (
            &summary["c"]["granted_scope"],
            serde_json::json!("documents:read documents:write"),
        ),
        (
            &summary["d"]["old_refresh_token_replay"],
            serde_json::json!("400 invalid_grant"),
        ),
        (
            &summary["e"]["metadata_document_client"],
            serde_json::json!(true),
        ),
        (
            &summary["e"]["client_id_metadata_document_supported"],
            serde_json::json!(true),
        ),
        (&summary["e"]["registrations"], serde_json::json!(0)),
        (
            &summary["e"]["consent_shows_client_name"],
            serde_json::json!(true),
        ),
        (
            &summary["e"]["granted_scope"],
            serde_json::json!("documents:read"),
        ),
    ];
    for (got, want) in checks {
        assert_eq!(*got, want, "in the summary\n{}", run.report());
    }
    assert!(
        summary["a"]["client_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cli_")),
        "a registered client\n{}",
        run.report()
    );
    let document_client = summary["e"]["client_id"].as_str().unwrap_or_default();
    assert!(
        document_client.starts_with(&format!("https://{CIMD_HOST}:"))
            && document_client.ends_with("/client.json"),
        "the metadata-document client is named by its URL: {document_client}\n{}",
        run.report()
    );
    assert!(
        summary["e"]["metadata_document_fetches"]
            .as_u64()
            .is_some_and(|n| n >= 1),
        "the server fetched the metadata document\n{}",
        run.report()
    );
    assert_eq!(
        summary["requests"].as_array().map(|r| r
            .iter()
            .filter(|r| r.as_str().is_some_and(|r| r.contains("/oauth/register")))
            .count()),
        Some(1),
        "one registration in the whole run (step a's)\n{}",
        run.report()
    );
}
