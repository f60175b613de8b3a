//! Controller benchmarks (issue 6, item 7): the real `sealift controller` process (the release
//! binary under `cargo bench`) against the rig's world on loopback — kube-apiserver, registry, git
//! smart-HTTP server, the GitHub stand-in. Prints figures; fails only when promotions do not
//! finish or an update is lost, never on timing.
//!
//! 1. **Promotion → pull request**: (a) 100 promotions of one image each, one after another, each
//!    timed from just before `create` until the stand-in holds its pull request (polled in-process
//!    every 1 ms) and until the API server holds `status.phase == PullRequestOpen`. The forge
//!    client's own request budget (per API host: a burst of 120 requests, then one a second) would
//!    otherwise set the pace after ~20 pull requests, so the 100 are spread over 10 GitHub
//!    stand-ins (10 hosts, all backed by the same repository); (b) 30 more back to back on one
//!    host show where that budget sets in and the pace after it.
//! 2. **300 direct promotions of 100 images in one repository, created at once**: every one
//!    writes `overlays/prod/kustomization.yaml` on `main`; afterwards the prod overlay must pin
//!    exactly the 100 staging digests (no lost update), with exactly 100 pushes.
//! 3. **RSS**: peak `VmRSS` of the controller sampled every 50 ms during (2); idle `VmRSS` with
//!    1,000 final Promotion objects present, both in the process that did the work and in a
//!    freshly started one.
//!
//! `cargo bench -p sealift --bench controller` (needs `make rig`).

use anyhow::{Context, Result, bail};
use kube::api::ListParams;
use sealift_api::conditions::{reasons, types};
use sealift_api::{Phase, Promotion};
use sealift_testrig::cosign::Published;
use sealift_testrig::forge::{GithubOptions, GithubStandin};
use sealift_testrig::world::{Controller, ControllerOptions, World};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sealift");
/// Distinct images pinned in staging.
const IMAGES: usize = 100;
/// Promotions timed one after another in (1a).
const SEQUENTIAL: usize = 100;
/// GitHub stand-ins (API hosts) (1a) spreads its promotions over.
const HOSTS: usize = 10;
/// Promotions back to back on one API host in (1b).
const ONE_HOST: usize = 30;
/// Promotions created at once in (2).
const BULK: usize = 300;
/// Promotion objects present for the idle measurement in (3).
const IDLE_OBJECTS: usize = 1000;
const PROD: &str = "overlays/prod/kustomization.yaml";
const MIB: f64 = 1024.0 * 1024.0;

fn main() -> Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(start())
}

fn phase(p: &Promotion) -> Phase {
    p.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn ready_reason(p: &Promotion) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == types::READY))
        .map(|c| c.reason.clone())
        .unwrap_or_default()
}

fn image_name(i: usize) -> String {
    format!("img-{i:03}")
}

/// `VmRSS` / `VmHWM` of a process, in bytes.
fn proc_status_kib(pid: u32, field: &str) -> Result<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(field).and_then(|r| r.strip_prefix(':')) {
            let kib = rest.trim().trim_end_matches("kB").trim();
            return Ok(kib.parse::<u64>()? * 1024);
        }
    }
    bail!("no {field} in /proc/{pid}/status")
}

fn rss(pid: u32) -> Result<u64> {
    proc_status_kib(pid, "VmRSS")
}

/// Samples `VmRSS` every 50 ms until stopped; keeps the maximum.
struct RssSampler {
    stop: Arc<AtomicBool>,
    max: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let max = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, max) = (stop.clone(), max.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(r) = rss(pid) {
                        max.fetch_max(r, Ordering::SeqCst);
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        RssSampler {
            stop,
            max,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.max.load(Ordering::SeqCst)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / MIB)
}

fn controller_options() -> ControllerOptions {
    ControllerOptions {
        identity: "bench".into(),
        // As deployed: leader election with the default 15 s Lease (a 4 s Lease could expire
        // while two cores are saturated, which is not what is measured here).
        leader_election: true,
        lease_duration_secs: 15,
        // The pull requests of (1) stay open: do not poll them during (2) and (3).
        poll_interval_secs: 3600,
        abort_before_persist: 0,
    }
}

fn log_path(world: &World, identity: &str) -> PathBuf {
    world.dir.path().join(format!("controller-{identity}.log"))
}

fn count_in_log(path: &Path, needle: &str) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().filter(|l| l.contains(needle)).count())
        .unwrap_or(0)
}

/// Commits reachable from `main` in the served repository.
fn main_commits(world: &World) -> Result<usize> {
    let repo = git2::Repository::open_bare(&world.repo.path)?;
    let mut walk = repo.revwalk()?;
    walk.push_ref("refs/heads/main")?;
    Ok(walk.count())
}

/// The `images:` of a kustomization as name → (newName, digest).
fn pins(kustomization: &str) -> Result<BTreeMap<String, (String, String)>> {
    let v: serde_json::Value = serde_saphyr::from_str(kustomization)?;
    let mut out = BTreeMap::new();
    for image in v["images"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        let field = |k: &str| image[k].as_str().unwrap_or_default().to_owned();
        out.insert(field("name"), (field("newName"), field("digest")));
    }
    Ok(out)
}

/// Creates `items` with at most `parallel` requests in flight.
async fn create_all(world: &Arc<World>, items: Vec<Promotion>, parallel: usize) -> Result<()> {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut set = tokio::task::JoinSet::new();
    for p in items {
        let (world, sem) = (world.clone(), sem.clone());
        set.spawn(async move {
            let _permit = sem.acquire_owned().await?;
            world.create(&p).await.map(|_| ())
        });
    }
    while let Some(r) = set.join_next().await {
        r??;
    }
    Ok(())
}

/// `p` labelled `sealift.dev/bench=<group>`, so that waiting lists only its group.
fn labelled(mut p: Promotion, group: &str) -> Promotion {
    p.metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert("sealift.dev/bench".into(), group.into());
    p
}

/// Waits until every Promotion of `group` is final, listing them every `every` from the API
/// server's watch cache (cheap: the list must not compete with the controller for the two cores).
/// Returns when the last one was seen final, and the final objects.
async fn wait_all_final(
    world: &World,
    controller: &Controller,
    group: &str,
    expected: usize,
    every: Duration,
    timeout: Duration,
) -> Result<(Instant, Vec<Promotion>)> {
    let deadline = Instant::now() + timeout;
    let params = ListParams::default()
        .labels(&format!("sealift.dev/bench={group}"))
        .match_any();
    loop {
        let ours = world.promotions().list(&params).await?.items;
        let done = ours.iter().filter(|p| phase(p).is_final()).count();
        if ours.len() == expected && done == expected {
            return Ok((Instant::now(), ours));
        }
        if !controller.is_running() {
            bail!("the controller exited:\n{}", controller.log_tail(60));
        }
        if Instant::now() > deadline {
            let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
            for p in &ours {
                *by_phase.entry(format!("{:?}", phase(p))).or_default() += 1;
            }
            let stuck: Vec<String> = ours
                .iter()
                .filter(|p| !phase(p).is_final())
                .take(3)
                .map(|p| serde_json::to_string(&p.status).unwrap_or_default())
                .collect();
            bail!(
                "{group}: only {done} of {expected} final after {timeout:?}; by phase: {by_phase:?}\n\
                 e.g. {stuck:#?}\ncontroller log:\n{}",
                controller.log_tail(60)
            );
        }
        tokio::time::sleep(every).await;
    }
}

/// One promotion through a pull request on `forge`: (created → the stand-in holds the pull
/// request, created → the API server holds `PullRequestOpen`).
async fn time_one_pr(
    world: &World,
    controller: &Controller,
    forge: &GithubStandin,
    name: &str,
    image: &str,
) -> Result<(Duration, Duration)> {
    let number = i64::try_from(forge.pulls().len())? + 1;
    let mut p = world.promotion(name, &[image], false);
    if let Some(pr) = p.spec.pull_request.as_mut() {
        pr.api_url = Some(forge.api_url().to_owned());
    }
    let started = Instant::now();
    world.create(&p).await?;
    let deadline = started + Duration::from_secs(90);
    // The stand-in runs in this process: polling it is a mutex lock, no I/O.
    while forge.pull(number).is_none() {
        if Instant::now() > deadline {
            let p = world.promotions().get(name).await?;
            bail!(
                "{name}: no pull request after 90 s; status {}\n{}",
                serde_json::to_string(&p.status)?,
                controller.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let pr = started.elapsed();
    loop {
        let p = world.promotions().get(name).await?;
        if phase(&p) == Phase::PullRequestOpen {
            return Ok((pr, started.elapsed()));
        }
        if phase(&p).is_final() || Instant::now() > deadline {
            bail!(
                "{name}: {:?} instead of PullRequestOpen; status {}\n{}",
                phase(&p),
                serde_json::to_string(&p.status)?,
                controller.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

struct Figures {
    cold_first: Duration,
    pr: Vec<Duration>,
    status: Vec<Duration>,
    one_host: Vec<Duration>,
    bulk_wall: Duration,
    bulk_pushed: usize,
    bulk_up_to_date: usize,
    push_retries: usize,
    peak_rss: u64,
    hwm: u64,
    fill: usize,
    fill_wall: Duration,
    idle_after_load: u64,
    idle_fresh: u64,
    idle_fresh_hwm: u64,
    sigterm: Option<Duration>,
}

async fn start() -> Result<()> {
    let total = Instant::now();
    let world = Arc::new(World::start("bench-ctl").await?);
    println!(
        "controller bench: namespace {}, binary {BIN}",
        world.namespace
    );
    let result = run(&world).await;
    keep_logs(&world);
    let figures = result?;
    report(&figures, total.elapsed());
    Ok(())
}

/// Copies the controllers' logs out of the world's scratch directory, which is deleted on drop.
fn keep_logs(world: &World) {
    let dest = std::env::temp_dir().join("sealift-controller-bench");
    let _ = std::fs::remove_dir_all(&dest);
    let _ = std::fs::create_dir_all(&dest);
    if let Ok(entries) = std::fs::read_dir(world.dir.path()) {
        for e in entries.flatten() {
            let path = e.path();
            if path.extension().is_some_and(|x| x == "log")
                && let Some(name) = path.file_name()
            {
                let _ = std::fs::copy(&path, dest.join(name));
            }
        }
    }
    println!("controller logs: {}", dest.display());
}

async fn run(world: &Arc<World>) -> Result<Figures> {
    // Set-up: 100 distinct trusted images (signed, SLSA provenance, vulnerability scan), pinned in
    // staging.
    let t = Instant::now();
    let published = {
        let sem = Arc::new(tokio::sync::Semaphore::new(4));
        let mut set = tokio::task::JoinSet::new();
        for i in 0..IMAGES {
            let (world, sem) = (world.clone(), sem.clone());
            set.spawn(async move {
                let _permit = sem.acquire_owned().await?;
                let p = world
                    .publish_trusted(&format!("bench/{}", image_name(i)), &format!("content {i}"))
                    .await?;
                anyhow::Ok((i, p))
            });
        }
        let mut out: Vec<Option<Published>> = vec![None; IMAGES];
        while let Some(r) = set.join_next().await {
            let (i, p) = r??;
            out[i] = Some(p);
        }
        out.into_iter()
            .map(|p| p.context("an image was not published"))
            .collect::<Result<Vec<Published>>>()?
    };
    let names: Vec<String> = (0..IMAGES).map(image_name).collect();
    let staging: Vec<(&str, &Published)> = names
        .iter()
        .map(String::as_str)
        .zip(published.iter())
        .collect();
    world.pin("staging", &staging)?;
    // More GitHub hosts, all backed by the world's repository and accepting its token.
    let mut hosts = Vec::with_capacity(HOSTS);
    for _ in 0..HOSTS {
        hosts.push(
            GithubStandin::start(
                GithubOptions::new()
                    .repository("acme", "gitops")
                    .token(world.forge.token())
                    .backed_by(world.repo.path.clone()),
            )
            .await?,
        );
    }
    println!(
        "set-up: published and signed {IMAGES} images in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let options = controller_options();
    let mut controller = world.controller(Path::new(BIN), &options)?;
    controller.wait_ready(Duration::from_secs(60))?;
    let pid = controller.pid();

    // (1a) Promotion created → pull request opened, one after another, over 10 hosts. The first
    // one (cold repository cache, first policy compilation, first forge connection) is timed
    // separately.
    let mut to_pr = Vec::with_capacity(SEQUENTIAL);
    let mut to_status = Vec::with_capacity(SEQUENTIAL);
    let mut cold_first = Duration::ZERO;
    for i in 0..=SEQUENTIAL {
        let host = &hosts[i % HOSTS];
        let (pr, status) = time_one_pr(
            world,
            &controller,
            host,
            &format!("pr-{i:03}"),
            &image_name(i % IMAGES),
        )
        .await?;
        if i == 0 {
            cold_first = pr;
        } else {
            to_pr.push(pr);
            to_status.push(status);
        }
    }
    let opened: usize = hosts.iter().map(|h| h.pulls().len()).sum();
    if opened != SEQUENTIAL + 1 {
        bail!("{opened} pull requests for {} promotions", SEQUENTIAL + 1);
    }
    for h in &hosts {
        h.assert_clean()?;
    }
    to_pr.sort();
    to_status.sort();
    println!(
        "(1a) created → PR opened: median {}, p99 {} (first, cold: {})",
        ms(percentile(&to_pr, 50.0)),
        ms(percentile(&to_pr, 99.0)),
        ms(cold_first)
    );
    println!(
        "     where it goes (mean per call over (1a), from the controller's metrics): {}",
        call_means(&controller.metrics()?)
    );

    // (1b) Back to back on one host: where the client-side budget sets in, and the pace after.
    let mut one_host = Vec::with_capacity(ONE_HOST);
    for i in 0..ONE_HOST {
        let (pr, _) = time_one_pr(
            world,
            &controller,
            &world.forge,
            &format!("one-host-{i:02}"),
            &image_name(i % IMAGES),
        )
        .await?;
        one_host.push(pr);
    }
    world.forge.assert_clean()?;
    let forge_requests = world.forge.exchanges().len();
    println!(
        "(1b) {ONE_HOST} back to back on one host ({forge_requests} forge requests, {:.1} per PR): {}",
        forge_requests as f64 / ONE_HOST as f64,
        one_host
            .iter()
            .map(|d| format!("{:.0}", d.as_secs_f64() * 1000.0))
            .collect::<Vec<_>>()
            .join(" ")
    );

    // (2) 300 direct promotions of the 100 images, created at once, all writing the prod overlay
    // on `main`.
    let commits_before = main_commits(world)?;
    let bulk: Vec<Promotion> = (0..BULK)
        .map(|i| {
            let p = world.promotion(
                &format!("bulk-{i:03}"),
                &[image_name(i % IMAGES).as_str()],
                true,
            );
            labelled(p, "bulk")
        })
        .collect();
    let sampler = RssSampler::start(pid);
    let started = Instant::now();
    create_all(world, bulk, 32).await?;
    let created_in = started.elapsed();
    let (finished, done) = wait_all_final(
        world,
        &controller,
        "bulk",
        BULK,
        Duration::from_millis(500),
        Duration::from_secs(900),
    )
    .await?;
    let bulk_wall = finished - started;
    let peak_rss = sampler.finish();
    let hwm = proc_status_kib(pid, "VmHWM")?;
    let mut outcomes: BTreeMap<(String, String), usize> = BTreeMap::new();
    for p in &done {
        *outcomes
            .entry((format!("{:?}", phase(p)), ready_reason(p)))
            .or_default() += 1;
    }
    let count = |reason: &str| {
        outcomes
            .get(&("Merged".to_owned(), reason.to_owned()))
            .copied()
            .unwrap_or(0)
    };
    let (bulk_pushed, bulk_up_to_date) = (
        count(reasons::PUSHED_DIRECTLY),
        count(reasons::ALREADY_UP_TO_DATE),
    );
    println!(
        "(2) {BULK} direct promotions: all final in {:.1} s (created in {:.1} s); outcomes {outcomes:?}",
        bulk_wall.as_secs_f64(),
        created_in.as_secs_f64()
    );
    if bulk_pushed + bulk_up_to_date != BULK {
        bail!("not every promotion was merged: {outcomes:?}");
    }
    // No lost update: main pins exactly the staging digests, one push per image.
    let prod = sealift_testrig::git::read_file(&world.repo.path, "main", PROD)?
        .context("no prod overlay on main")?;
    let prod = String::from_utf8(prod)?;
    let got = pins(&prod)?;
    let want: BTreeMap<String, (String, String)> = names
        .iter()
        .zip(published.iter())
        .map(|(n, p)| (n.clone(), (p.repository.clone(), p.digest.clone())))
        .collect();
    if got != want {
        let differ: Vec<&String> = want
            .keys()
            .filter(|k| got.get(*k) != want.get(*k))
            .collect();
        bail!(
            "LOST UPDATE: the prod overlay on main pins {} images, {} differ from staging: {differ:?}\n{prod}",
            got.len(),
            differ.len()
        );
    }
    let pushes = main_commits(world)? - commits_before;
    if pushes != IMAGES || bulk_pushed != IMAGES {
        bail!("{pushes} commits on main and {bulk_pushed} PushedDirectly for {IMAGES} images");
    }
    let push_retries = count_in_log(
        &log_path(world, &options.identity),
        "push refused, retrying",
    );
    println!(
        "     prod overlay on main pins exactly the {IMAGES} staging digests ({pushes} commits); \
         push retries: {push_retries}; controller RSS peak {} (VmHWM {})",
        mib(peak_rss),
        mib(hwm)
    );

    // (3) Idle with 1,000 Promotion objects: fill up with direct promotions that find the target
    // already up to date (resolved, verified, committed as a no-op: real final objects with
    // evidence), let the controller settle, then read its RSS.
    let present = world
        .promotions()
        .list(&ListParams::default())
        .await?
        .items
        .len();
    let fill = IDLE_OBJECTS.saturating_sub(present);
    let more: Vec<Promotion> = (0..fill)
        .map(|i| {
            let p = world.promotion(
                &format!("idle-{i:03}"),
                &[image_name(i % IMAGES).as_str()],
                true,
            );
            labelled(p, "idle")
        })
        .collect();
    let started = Instant::now();
    create_all(world, more, 32).await?;
    let (finished, done) = wait_all_final(
        world,
        &controller,
        "idle",
        fill,
        Duration::from_millis(500),
        Duration::from_secs(900),
    )
    .await?;
    let fill_wall = finished - started;
    let not_up_to_date = done
        .iter()
        .filter(|p| phase(p) != Phase::Merged || ready_reason(p) != reasons::ALREADY_UP_TO_DATE)
        .count();
    if not_up_to_date != 0 {
        bail!("{not_up_to_date} of the {fill} fill-up promotions were not AlreadyUpToDate");
    }
    let total_objects = world
        .promotions()
        .list(&ListParams::default())
        .await?
        .items
        .len();
    if total_objects != IDLE_OBJECTS {
        bail!("{total_objects} Promotion objects instead of {IDLE_OBJECTS}");
    }
    println!(
        "(3) {fill} more direct promotions (all AlreadyUpToDate) in {:.1} s; {total_objects} objects",
        fill_wall.as_secs_f64()
    );
    let idle_after_load = settle(pid).await?;
    println!(
        "     idle RSS with {IDLE_OBJECTS} objects, after the load: {} (anonymous {}, file-backed {})",
        mib(idle_after_load),
        mib(proc_status_kib(pid, "RssAnon")?),
        mib(proc_status_kib(pid, "RssFile")?)
    );
    // `SEALIFT_BENCH_HOLD=<s>`: keep the loaded controller alive for inspection (gdb, smaps).
    if let Some(secs) = std::env::var("SEALIFT_BENCH_HOLD")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        println!("     holding pid {pid} for {secs} s");
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    let t = Instant::now();
    let sigterm = match controller.terminate(Duration::from_secs(15)) {
        Ok(()) => Some(t.elapsed()),
        Err(e) => {
            println!("     WARNING: {e}; killing it (SIGKILL)");
            controller.kill();
            None
        }
    };
    drop(controller);

    // The same 1,000 objects, a fresh process: what a restarted Pod holds.
    let fresh_options = ControllerOptions {
        identity: "bench-fresh".into(),
        ..controller_options()
    };
    let fresh = world.controller(Path::new(BIN), &fresh_options)?;
    fresh.wait_ready(Duration::from_secs(60))?;
    // Wait until it leads and has seen every object (its phase gauge counts the watch cache).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let m = fresh.metrics().unwrap_or_default();
        let seen: f64 = m
            .lines()
            .filter(|l| l.starts_with("sealift_promotions{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if seen as usize == IDLE_OBJECTS {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the fresh controller sees {seen} objects:\n{}",
                fresh.log_tail(30)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let idle_fresh = settle(fresh.pid()).await?;
    let idle_fresh_hwm = proc_status_kib(fresh.pid(), "VmHWM")?;
    println!(
        "     idle RSS with {IDLE_OBJECTS} objects, fresh process: {} (VmHWM {})",
        mib(idle_fresh),
        mib(idle_fresh_hwm)
    );
    let changed = count_in_log(&log_path(world, &fresh_options.identity), "phase changed");
    if changed != 0 {
        bail!("the fresh controller changed {changed} phases of final promotions");
    }
    drop(fresh);

    Ok(Figures {
        cold_first,
        pr: to_pr,
        status: to_status,
        one_host,
        bulk_wall,
        bulk_pushed,
        bulk_up_to_date,
        push_retries,
        peak_rss,
        hwm,
        fill,
        fill_wall,
        idle_after_load,
        idle_fresh,
        idle_fresh_hwm,
        sigterm,
    })
}

/// Lets the process settle for 10 s, then the median of 10 `VmRSS` samples over 5 s.
async fn settle(pid: u32) -> Result<u64> {
    tokio::time::sleep(Duration::from_secs(10)).await;
    let mut samples = Vec::new();
    for _ in 0..10 {
        samples.push(rss(pid)?);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    samples.sort_unstable();
    Ok(samples[samples.len() / 2])
}

/// Mean duration per labelled series of `sealift_port_call_duration_seconds` (port and
/// operation) and `sealift_step_duration_seconds` (step), from a Prometheus text exposition.
fn call_means(text: &str) -> String {
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for line in text.lines() {
        for (metric, part) in [
            ("sealift_port_call_duration_seconds", "call"),
            ("sealift_step_duration_seconds", "step"),
        ] {
            let (is_sum, rest) = if let Some(r) = line.strip_prefix(&format!("{metric}_sum")) {
                (true, r)
            } else if let Some(r) = line.strip_prefix(&format!("{metric}_count")) {
                (false, r)
            } else {
                continue;
            };
            let Some((labels, value)) = rest.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            // Keep the port/operation/step labels, drop the outcome (the means are over all).
            let key: Vec<&str> = labels
                .trim_matches(|c| c == '{' || c == '}')
                .split(',')
                .filter(|l| !l.starts_with("outcome="))
                .map(|l| l.split('=').nth(1).unwrap_or("").trim_matches('"'))
                .collect();
            let entry = sums.entry(format!("{part} {}", key.join("/"))).or_default();
            if is_sum {
                entry.0 += value;
            } else {
                entry.1 += value;
            }
        }
    }
    sums.iter()
        .filter(|(_, (_, n))| *n > 0.0)
        .map(|(k, (sum, n))| format!("{k} {:.1} ms (n={n})", 1000.0 * sum / n))
        .collect::<Vec<_>>()
        .join(", ")
}

fn met(ok: bool) -> &'static str {
    if ok { "met" } else { "NOT met" }
}

fn median(durations: &[Duration]) -> Duration {
    let mut sorted = durations.to_vec();
    sorted.sort();
    percentile(&sorted, 50.0)
}

fn report(f: &Figures, total: Duration) {
    let rate = BULK as f64 / f.bulk_wall.as_secs_f64();
    let fill_rate = f.fill as f64 / f.fill_wall.as_secs_f64();
    let within_burst = f
        .one_host
        .iter()
        .take_while(|d| **d < Duration::from_secs(2))
        .count();
    let tail = &f.one_host[f.one_host.len().saturating_sub(10)..];
    println!();
    println!("| benchmark | figure | target |");
    println!("|---|---|---|");
    println!(
        "| created → PR opened, {SEQUENTIAL} one after another ({HOSTS} hosts) | median {}, p90 {}, p99 {}, max {} | median < 500 ms: {} |",
        ms(percentile(&f.pr, 50.0)),
        ms(percentile(&f.pr, 90.0)),
        ms(percentile(&f.pr, 99.0)),
        ms(percentile(&f.pr, 100.0)),
        met(percentile(&f.pr, 50.0) < Duration::from_millis(500))
    );
    println!(
        "| created → status PullRequestOpen | median {}, p99 {}; first (cold cache) {} to the PR | |",
        ms(percentile(&f.status, 50.0)),
        ms(percentile(&f.status, 99.0)),
        ms(f.cold_first)
    );
    println!(
        "| {ONE_HOST} back to back on one host | first {within_burst} within the budget's burst (median {}); last 10: median {} each | |",
        ms(median(&f.one_host[..within_burst.max(1)])),
        ms(median(tail))
    );
    println!(
        "| {BULK} direct promotions of {IMAGES} images, one repository | {:.1} s, {rate:.1} promotions/s; {} pushed + {} up to date; no lost update; {} push retries | |",
        f.bulk_wall.as_secs_f64(),
        f.bulk_pushed,
        f.bulk_up_to_date,
        f.push_retries
    );
    println!(
        "| {} more direct promotions, all AlreadyUpToDate | {:.1} s, {fill_rate:.1} promotions/s | |",
        f.fill,
        f.fill_wall.as_secs_f64()
    );
    println!(
        "| RSS peak during the {BULK} | {} sampled every 50 ms (VmHWM {}) | < 150 MiB: {} |",
        mib(f.peak_rss),
        mib(f.hwm),
        met(f.peak_rss < 150 * 1024 * 1024)
    );
    println!(
        "| RSS idle, {IDLE_OBJECTS} objects, after the load | {} | < 64 MiB: {} |",
        mib(f.idle_after_load),
        met(f.idle_after_load < 64 * 1024 * 1024)
    );
    println!(
        "| RSS idle, {IDLE_OBJECTS} objects, fresh process | {} (VmHWM {}) | < 64 MiB: {} |",
        mib(f.idle_fresh),
        mib(f.idle_fresh_hwm),
        met(f.idle_fresh < 64 * 1024 * 1024)
    );
    println!(
        "| SIGTERM with leader election, {IDLE_OBJECTS} objects | {} | |",
        match f.sigterm {
            Some(d) => format!("exited in {}", ms(d)),
            None => "did NOT exit within 15 s".to_owned(),
        }
    );
    println!();
    println!("total bench time {:.0} s", total.as_secs_f64());
}
