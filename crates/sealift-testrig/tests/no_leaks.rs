//! No server outlives the process that started it (issue: a fresh clone stands on its own).
//!
//! The parent test runs this same test binary again as a child that starts the shared kube
//! cluster (etcd + kube-apiserver), a registry and the git server (nginx + fcgiwrap), keeps them
//! the way a `static` does (never dropped), prints their PIDs and then either exits normally or
//! is killed with SIGKILL. Every process the child started must be gone a few seconds later, and
//! the scratch directories of the servers with them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealift_testrig::git_server::GitServer;
use sealift_testrig::kube::shared_cluster;
use sealift_testrig::process::{alive, started_by};
use sealift_testrig::registry::{Credentials, Registry};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MODE: &str = "SEALIFT_NO_LEAKS_CHILD";

/// The child: starts servers, keeps them like statics, reports, then exits or waits to be killed.
#[tokio::test]
#[ignore = "a child process of servers_die_with_their_owner_*; not a test on its own"]
async fn child_starts_servers_and_never_drops_them() {
    let mode = std::env::var(MODE).expect("run by the parent test");
    let cluster = shared_cluster().await.unwrap();
    let registry = Registry::start().unwrap();
    let git = GitServer::start(Credentials::random("leak")).unwrap();
    let [apiserver, etcd] = cluster.pids();
    // On a line of its own: libtest prints "test NAME ... " without a newline first.
    println!(
        "\nSERVERS {apiserver} {etcd} {} {}",
        registry.pid(),
        cluster.dir().display()
    );
    // As a `static` would: never dropped, so no Drop stops them.
    std::mem::forget(registry);
    std::mem::forget(git);
    if mode == "sigkill" {
        std::thread::sleep(Duration::from_secs(600));
    }
}

struct Reported {
    child: std::process::Child,
    pids: Vec<u32>,
    scratch: std::path::PathBuf,
    started: Vec<u32>,
}

fn run_child(mode: &str) -> Reported {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_starts_servers_and_never_drops_them",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, mode)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    let mut seen = String::new();
    let mut reader = BufReader::new(stdout);
    loop {
        seen.push_str(&line);
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "the child exited before reporting its servers; it printed:\n{seen}"
        );
        if line.starts_with("SERVERS ") {
            break;
        }
    }
    let fields: Vec<&str> = line.split_whitespace().skip(1).collect();
    let pids: Vec<u32> = fields[..3].iter().map(|f| f.parse().unwrap()).collect();
    let started = started_by(child.id());
    // apiserver, etcd, registry, nginx master and workers, fcgiwrap and its children.
    assert!(
        started.len() >= 6,
        "the child's servers carry the owner marker: {started:?}"
    );
    for pid in &pids {
        assert!(started.contains(pid), "{pid} is marked as the child's");
    }
    std::thread::spawn(move || for _ in reader.lines() {});
    Reported {
        child,
        pids,
        scratch: fields[3].into(),
        started,
    }
}

fn assert_all_gone(owner: u32, r: &Reported) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline
        && (r.started.iter().any(|p| alive(*p)) || !started_by(owner).is_empty())
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = r.started.iter().copied().filter(|p| alive(*p)).collect();
    assert!(
        left.is_empty(),
        "still running 5 s after their owner: {left:?}"
    );
    assert!(started_by(owner).is_empty());
    assert!(r.pids.iter().all(|p| !alive(*p)));
    while Instant::now() < deadline && r.scratch.exists() {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !r.scratch.exists(),
        "the cluster's scratch directory {} was removed",
        r.scratch.display()
    );
}

#[test]
fn servers_die_with_their_owner_when_it_exits_normally() {
    let mut r = run_child("exit");
    let owner = r.child.id();
    let status = r.child.wait().unwrap();
    assert!(status.success(), "the child test itself passed");
    assert_all_gone(owner, &r);
}

#[test]
fn servers_die_with_their_owner_when_it_is_killed() {
    let mut r = run_child("sigkill");
    let owner = r.child.id();
    r.child.kill().unwrap();
    r.child.wait().unwrap();
    assert_all_gone(owner, &r);
}
