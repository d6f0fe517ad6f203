//! The demo's node processes: spawned from this binary, logged to files, recorded in a pid
//! file so a demo that was killed outright leaves nothing behind for the next run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context as _;

/// Running node processes; dropping this stops them (SIGTERM, then kill).
pub(crate) struct NodeProcesses {
    children: Vec<Child>,
    pid_file: PathBuf,
}

/// Where one node keeps its files.
pub(crate) struct NodeSpec {
    pub(crate) key_file: PathBuf,
    pub(crate) data_dir: PathBuf,
    pub(crate) log_file: PathBuf,
    pub(crate) metrics_port: u16,
    /// Model ids to serve.
    pub(crate) models: Vec<u64>,
}

impl NodeProcesses {
    /// Starts one `aikernel node run` per spec.
    pub(crate) fn spawn(
        specs: &[NodeSpec],
        rpc: &str,
        deployment: &Path,
        pid_file: &Path,
    ) -> anyhow::Result<NodeProcesses> {
        let exe = std::env::current_exe().context("locating the aikernel binary")?;
        let mut nodes = NodeProcesses {
            children: Vec::new(),
            pid_file: pid_file.to_path_buf(),
        };
        for spec in specs {
            let log = File::create(&spec.log_file)
                .with_context(|| format!("creating {}", spec.log_file.display()))?;
            let err = log.try_clone().context("duplicating the log handle")?;
            let child = Command::new(&exe)
                .args([
                    "-v",
                    "node",
                    "run",
                    "--no-progress",
                    "--rpc",
                    rpc,
                    "--deployment",
                ])
                .arg(deployment)
                .arg("--key-file")
                .arg(&spec.key_file)
                .arg("--data-dir")
                .arg(&spec.data_dir)
                .arg("--metrics-addr")
                .arg(format!("127.0.0.1:{}", spec.metrics_port))
                .arg("--models")
                .arg(
                    spec.models
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(","),
                )
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(err)
                .spawn()
                .with_context(|| format!("starting a node ({})", exe.display()))?;
            nodes.children.push(child);
            nodes.write_pid_file(None)?;
        }
        Ok(nodes)
    }

    /// Records our pids (and anvil's) so a later run can clean up after a hard kill.
    pub(crate) fn write_pid_file(&self, anvil_pid: Option<u32>) -> anyhow::Result<()> {
        let mut pids: Vec<String> = self.children.iter().map(|c| c.id().to_string()).collect();
        if let Some(pid) = anvil_pid {
            pids.push(pid.to_string());
        }
        std::fs::write(&self.pid_file, pids.join("\n") + "\n")
            .with_context(|| format!("writing {}", self.pid_file.display()))
    }

    /// A node that exited early, with its status.
    pub(crate) fn exited(&mut self) -> Option<(usize, std::process::ExitStatus)> {
        self.children
            .iter_mut()
            .enumerate()
            .find_map(|(i, c)| c.try_wait().ok().flatten().map(|s| (i, s)))
    }

    /// Pids of the node processes.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(Child::id).collect()
    }
}

impl Drop for NodeProcesses {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for child in &mut self.children {
            for _ in 0..50 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.pid_file);
    }
}

/// Kills processes left by a demo that was killed outright (their pids are in `pid_file`
/// and their command line is still anvil's or aikernel's).
pub(crate) fn kill_stale(pid_file: &Path) {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return;
    };
    for pid in text.lines().filter_map(|l| l.trim().parse::<u32>().ok()) {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline);
        if cmdline.contains("anvil") || cmdline.contains("aikernel") {
            tracing::warn!(pid, "stopping a process left by an earlier demo");
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
    let _ = std::fs::remove_file(pid_file);
}
