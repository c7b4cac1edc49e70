//! Running a Node.js script of `tests/e2e` with a deadline: the browser
//! and MCP end-to-end tests' one way to do it.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::Read,
    path::Path,
    process::{Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

/// What a script did.
pub struct NodeRun {
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    script: String,
    timeout: Duration,
}

impl NodeRun {
    /// The exit status, time and output, for a failure message.
    pub fn report(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => format!("killed after the {} s timeout", self.timeout.as_secs()),
        };
        format!(
            "node tests/e2e/{}: {status} ({:.1} s)\n--- stdout\n{}\n--- stderr\n{}",
            self.script,
            self.elapsed.as_secs_f64(),
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `node <script>` in `dir` with `envs`, in a process group of its
/// own; past `timeout` kills the whole group (its children too, such as
/// Chromium).
pub fn run_node(dir: &Path, script: &str, envs: &[(&str, &str)], timeout: Duration) -> NodeRun {
    let started = Instant::now();
    let mut command = Command::new("node");
    command
        .arg(script)
        .current_dir(dir)
        .envs(envs.iter().copied())
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
        .unwrap_or_else(|e| panic!("spawn node tests/e2e/{script}: {e}"));
    let stdout = drain(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped stderr")));
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if started.elapsed() > timeout {
            kill_group(child.id());
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    NodeRun {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
        elapsed: started.elapsed(),
        script: script.to_owned(),
        timeout,
    }
}

/// Kills process group `id` (led by the process of that id). `--` first:
/// procps `kill -KILL -<pgid>` without it may read the group id as an
/// option and signal every process (-1); and never an id ≤ 1.
pub fn kill_group(id: u32) {
    #[cfg(unix)]
    if id > 1 {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{id}")])
            .stderr(Stdio::null())
            .status();
    }
    #[cfg(not(unix))]
    let _ = id;
}

/// Reads a pipe to its end on a thread of its own.
fn drain(mut pipe: Box<dyn Read + Send>) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}
