//! Background servers started for a test and stopped by PID.
//!
//! No server may outlive the process that started it, however that process ends (normal exit with
//! servers held in a `static`, a panic, SIGKILL). Two mechanisms, the kernel's first:
//!
//! * Every server runs under a small POSIX `sh` watchdog that leads its own process group. The
//!   watchdog is started through `setpriv --pdeathsig USR1` (util-linux, in every Debian), so the
//!   kernel signals it the moment its parent dies; its `USR1` trap then stops the whole group
//!   (server, nginx workers, fcgiwrap children) and removes the server's scratch directory.
//!   `PR_SET_PDEATHSIG` fires when the parent *thread* ends, not the process, so every watchdog is
//!   spawned from one spawner thread that lives as long as the process.
//! * The fallback, where `setpriv` is missing: the watchdog polls the owner's PID every 0.2 s.
//!
//! Every server's environment carries `SEALIFT_RIG_OWNER=<pid>`, which is how
//! `scripts/rig-leaks.sh` (run by `.ci/run`) finds anything left behind. [`Server`]'s `Drop`
//! stops the group early; [`stop_all`] stops every server still running (those in statics too).
//!
//! The watchdog is written for dash (Debian's `/bin/sh`): its `kill` takes `-PGID`, not `-- -PGID`.

use crate::lock;
use anyhow::{Context, Result, bail};
use std::fs;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The environment variable every rig server carries (value: the owner's PID).
pub const OWNER_ENV: &str = "SEALIFT_RIG_OWNER";

const WATCHDOG: &str = r#"
owner=$1; pidfile=$2; scratch=$3; shift 3
stop() {
  trap '' USR1
  kill -TERM -$$ 2>/dev/null
  i=0
  while kill -0 "$child" 2>/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
  [ -n "$scratch" ] && rm -rf "$scratch"
  kill -KILL -$$ 2>/dev/null
  exit 0
}
trap stop USR1
"$@" &
child=$!
echo "$child" > "$pidfile"
trap '' TERM
while kill -0 "$owner" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.2; done
stop
"#;

type SpawnJob = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawns `cmd` from the process-lifetime spawner thread (see the module docs for why).
fn spawn_from_spawner(cmd: Command) -> std::io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnJob>>> = OnceLock::new();
    let sender = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnJob>();
        let started = std::thread::Builder::new()
            .name("sealift-rig-spawner".into())
            .spawn(move || {
                // Ends only with the process: the channel's sender lives in a static.
                for (mut cmd, reply) in rx {
                    let _ = reply.send(cmd.spawn());
                }
            });
        if let Err(e) = started {
            eprintln!("sealift-testrig: cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    lock(sender)
        .send((cmd, reply_tx))
        .map_err(|_| std::io::Error::other("the spawner thread is gone"))?;
    reply_rx
        .recv()
        .map_err(|_| std::io::Error::other("the spawner thread did not answer"))?
}

/// Process groups of the servers still running (watchdog PIDs), for [`stop_all`].
fn live_groups() -> &'static Mutex<Vec<u32>> {
    static GROUPS: Mutex<Vec<u32>> = Mutex::new(Vec::new());
    &GROUPS
}

/// Stops every server this process started and has not stopped yet, including those held in
/// statics (the shared cluster). Waits until their watchdogs have cleaned up.
pub fn stop_all() {
    let groups: Vec<u32> = std::mem::take(&mut *lock(live_groups()));
    for g in &groups {
        // The watchdog's own trap stops its group and removes its scratch directory.
        signal(*g, "-USR1");
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while groups.iter().any(|g| alive(*g)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    for g in &groups {
        signal_group(*g, "-KILL");
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

fn signal_group(pgid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([sig, "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}

/// True while `pid` exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.starts_with(" Z"))
        })
        .unwrap_or(false)
}

/// A running server process (and everything it forked), killed when dropped.
#[derive(Debug)]
pub struct Server {
    name: String,
    watchdog: Child,
    pid: u32,
    log: PathBuf,
}

impl Server {
    /// Starts `program args…` under the watchdog, with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> Result<Server> {
        Self::start(name, program, args, &[], log, None)
    }

    /// Like [`Server::spawn`], with extra environment variables.
    pub fn spawn_with_env(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
    ) -> Result<Server> {
        Self::start(name, program, args, env, log, None)
    }

    /// Like [`Server::spawn`], for a server whose scratch directory `scratch` must not outlive
    /// it either: when the owner dies without dropping it (a `static`), the watchdog removes the
    /// directory after stopping the server (etcd's data lives on tmpfs, i.e. in memory).
    pub fn spawn_owning(
        name: &str,
        program: &Path,
        args: &[String],
        log: &Path,
        scratch: &Path,
    ) -> Result<Server> {
        Self::start(name, program, args, &[], log, Some(scratch))
    }

    fn start(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &str)],
        log: &Path,
        scratch: Option<&Path>,
    ) -> Result<Server> {
        let out = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening log {}", log.display()))?;
        let err = out.try_clone()?;
        let pidfile = log.with_extension("pid");
        let _ = fs::remove_file(&pidfile);
        let setpriv = Path::new("/usr/bin/setpriv");
        let mut cmd = if setpriv.exists() {
            let mut c = Command::new(setpriv);
            c.args(["--pdeathsig", "USR1", "sh"]);
            c
        } else {
            Command::new("sh")
        };
        cmd.arg("-c")
            .arg(WATCHDOG)
            .arg("sealift-watchdog")
            .arg(std::process::id().to_string())
            .arg(&pidfile)
            .arg(scratch.map(Path::as_os_str).unwrap_or_default())
            .arg(program)
            .args(args)
            .envs(env.iter().copied())
            .env(OWNER_ENV, std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .process_group(0);
        let watchdog = spawn_from_spawner(cmd)
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        lock(live_groups()).push(watchdog.id());
        let mut server = Server {
            name: name.to_owned(),
            pid: 0,
            watchdog,
            log: log.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        server.pid = loop {
            if let Some(pid) = fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                break pid;
            }
            if Instant::now() > deadline {
                bail!("{name} did not start: no PID after 5 s");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(server)
    }

    /// The server's own PID (not the watchdog's).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// True while the server process is alive.
    pub fn is_running(&self) -> bool {
        alive(self.pid)
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log, lines)
    }

    /// Waits until `check` succeeds, failing with the server's log if it exits or times out.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut() -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if check() {
                return Ok(());
            }
            if !self.is_running() {
                bail!(
                    "{} exited before {what}; log:\n{}",
                    self.name,
                    self.log_tail(40)
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "{} not {what} after {:?}; log:\n{}",
                    self.name,
                    timeout,
                    self.log_tail(40)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and everything in its process group, politely first.
    pub fn stop(&mut self) {
        let group = self.watchdog.id();
        lock(live_groups()).retain(|g| *g != group);
        signal_group(group, "-TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while self.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        signal_group(group, "-KILL");
        let _ = self.watchdog.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The last `lines` lines of a log file.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A TCP port on 127.0.0.1 that was free a moment ago. Servers that lose the race fail to bind and
/// are restarted on another port by their `start` function.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding an ephemeral port")?;
    Ok(listener.local_addr()?.port())
}

/// True when something accepts TCP connections on 127.0.0.1:`port`.
pub fn port_open(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Status code of a plain-HTTP GET to 127.0.0.1:`port``path`, or None if nothing answered.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Tries `start` up to three times: a free port can be taken between probing and binding.
pub fn with_port_retries<T>(mut start: impl FnMut() -> Result<T>) -> Result<T> {
    let mut last = None;
    for _ in 0..3 {
        match start() {
            Ok(v) => return Ok(v),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| anyhow::anyhow!("server did not start")))
}

/// PIDs of the live processes whose environment says `owner` started them ([`OWNER_ENV`]):
/// servers, and everything they forked.
pub fn started_by(owner: u32) -> Vec<u32> {
    let marker = format!("{OWNER_ENV}={owner}");
    let mut pids = Vec::new();
    for entry in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(environ) = fs::read(entry.path().join("environ")) else {
            continue;
        };
        if environ.split(|b| *b == 0).any(|v| v == marker.as_bytes()) && alive(pid) {
            pids.push(pid);
        }
    }
    pids
}
