//! `make bench` — promote one image in generated repositories against the rig's real git server:
//! 1k files / 1k commits and 100k files / 20k commits, cache warm. Prints the median and p90 of
//! Sealift's fetch + edit + commit + push, and of what pipelines do today (`git clone --depth 1`,
//! `kustomize edit set image`, `git commit`, `git push`) on the same repositories.
//!
//! Targets (issue 3): the 100k-file case within 1.5× the 1k-file case; edit + commit + push under
//! 150 ms on loopback.
//!
//! Also prints where Sealift's time goes, per phase (median over the runs), from the crate's
//! `sealift_gitops::timing` debug events. Set-up shortcuts for repeated runs, off by default:
//! `SEALIFT_BENCH_REPOS=<dir>` keeps the generated repositories there and copies them on later
//! runs; `SEALIFT_BENCH_PIPELINE=0` skips the pipeline comparison.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use git2::{Oid, Repository, Signature};
use sealift_gitops::kustomize::PinnedImage;
use sealift_gitops::overlay::plan_target;
use sealift_gitops::{
    CommitMeta, GitCredentials, Identity, PushOutcome, PushRequest, PushTarget, RepoCache,
    RetryPolicy, SecretString, commit_and_push,
};
use sealift_testrig::Credentials;
use sealift_testrig::git_server::{GitServer, ServedRepo};
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Collects the `sealift_gitops::timing` events: one map of numeric fields per event.
struct Phases(Mutex<Vec<BTreeMap<String, u64>>>);

static PHASES: Phases = Phases(Mutex::new(Vec::new()));

struct Fields(BTreeMap<String, u64>);

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.0.insert(field.name().to_owned(), value);
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.0
            .insert(field.name().to_owned(), u64::try_from(value).unwrap_or(0));
    }
    fn record_debug(&mut self, _: &tracing::field::Field, _: &dyn std::fmt::Debug) {}
}

struct Collector;

impl tracing::Subscriber for Collector {
    fn enabled(&self, m: &tracing::Metadata<'_>) -> bool {
        m.target() == "sealift_gitops::timing"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        PHASES.0.lock().unwrap().push(fields.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Median of each `*_us` field over the collected events, in milliseconds, then cleared.
fn phase_medians() -> String {
    let events = std::mem::take(&mut *PHASES.0.lock().unwrap());
    let mut by_field: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for e in &events {
        for (k, v) in e {
            if let Some(name) = k.strip_suffix("_us") {
                by_field.entry(name.to_owned()).or_default().push(*v);
            }
        }
    }
    let order = [
        "fetch", "edit", "commit", "push", "discover", "pack", "send",
    ];
    let mut out = Vec::new();
    for name in order {
        if let Some(mut v) = by_field.remove(name) {
            v.sort();
            out.push(format!("{name} {:.1}", v[v.len() / 2] as f64 / 1000.0));
        }
    }
    let objects: Vec<u64> = events
        .iter()
        .filter_map(|e| e.get("objects").copied())
        .collect();
    format!(
        "{} ms; objects pushed: {:?}",
        out.join(", "),
        objects.iter().min().zip(objects.iter().max())
    )
}

/// Creates `name` on the server holding the generated repository, from `SEALIFT_BENCH_REPOS` when
/// a previous run left it there.
fn served(server: &GitServer, name: &str, files: usize, commits: usize) -> ServedRepo {
    let repo = server.create_repo(name).unwrap();
    let keep = std::env::var_os("SEALIFT_BENCH_REPOS")
        .map(|d| std::path::PathBuf::from(d).join(format!("{name}.git")));
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        let _ = std::fs::remove_dir_all(to);
        let ok = Command::new("cp")
            .arg("-a")
            .arg(from)
            .arg(to)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    if let Some(kept) = &keep
        && kept.exists()
    {
        copy(kept, &repo.path);
        eprintln!("  reused {name} from {}", kept.display());
        return repo;
    }
    let t = Instant::now();
    generate(&repo, files, commits);
    eprintln!(
        "  generated {name}: {files} files, {commits} commits in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    if let Some(kept) = &keep {
        std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
        copy(&repo.path, kept);
    }
    repo
}

/// A repository with `files` files spread over directories of 1,000 and `commits` commits, the
/// last of which adds the overlays.
fn generate(repo: &ServedRepo, files: usize, commits: usize) -> Oid {
    let r = Repository::open_bare(&repo.path).unwrap();
    let sig = Signature::new("Gen", "gen@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
    let mut root = r.treebuilder(None).unwrap();
    let mut dirs = Vec::new();
    for d in 0..files.div_ceil(1000) {
        let mut tb = r.treebuilder(None).unwrap();
        for f in 0..1000.min(files - d * 1000) {
            let blob = r.blob(format!("file {d}/{f}\n").as_bytes()).unwrap();
            tb.insert(format!("f{f:04}.txt"), blob, 0o100644).unwrap();
        }
        let id = tb.write().unwrap();
        root.insert(format!("d{d:03}"), id, 0o040000).unwrap();
        dirs.push(id);
    }
    let mut tree = r.find_tree(root.write().unwrap()).unwrap();
    let mut parent: Option<Oid> = None;
    for c in 0..commits {
        // Each commit rewrites one file in one directory, as a busy repository does.
        let d = c % dirs.len();
        let sub = r.find_tree(dirs[d]).unwrap();
        let mut tb = r.treebuilder(Some(&sub)).unwrap();
        tb.insert(
            "churn.txt",
            r.blob(format!("commit {c}\n").as_bytes()).unwrap(),
            0o100644,
        )
        .unwrap();
        dirs[d] = tb.write().unwrap();
        let mut rb = r.treebuilder(Some(&tree)).unwrap();
        rb.insert(format!("d{d:03}"), dirs[d], 0o040000).unwrap();
        if c + 1 == commits {
            let overlay = |digest: char| {
                format!(
                    "# prod\nresources:\n- ../../base\nimages:\n- name: bookstore/catalog\n  newName: registry.example.com/bookstore/catalog\n  digest: sha256:{}\n",
                    digest.to_string().repeat(64)
                )
            };
            let mut o = r.treebuilder(None).unwrap();
            for (env, d) in [("staging", 'b'), ("prod", 'a')] {
                let mut e = r.treebuilder(None).unwrap();
                e.insert(
                    "kustomization.yaml",
                    r.blob(overlay(d).as_bytes()).unwrap(),
                    0o100644,
                )
                .unwrap();
                o.insert(env, e.write().unwrap(), 0o040000).unwrap();
            }
            rb.insert("overlays", o.write().unwrap(), 0o040000).unwrap();
        }
        tree = r.find_tree(rb.write().unwrap()).unwrap();
        let parents: Vec<git2::Commit<'_>> =
            parent.iter().map(|p| r.find_commit(*p).unwrap()).collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let id = r
            .commit(None, &sig, &sig, &format!("commit {c}"), &tree, &refs)
            .unwrap();
        parent = Some(id);
    }
    let head = parent.unwrap();
    r.reference("refs/heads/main", head, true, "generated")
        .unwrap();
    // Pack what libgit2 wrote loose, as a real server's repository is, and keep the server from
    // repacking during the measurements (receive-pack would start `git gc --auto`).
    let mut cfg = r.config().unwrap();
    cfg.set_bool("receive.autogc", false).unwrap();
    cfg.set_i32("gc.auto", 0).unwrap();
    let status = Command::new("git")
        .args(["-C", repo.path.to_str().unwrap(), "repack", "-adq"])
        .status()
        .unwrap();
    assert!(status.success(), "git repack failed");
    head
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    if v.is_empty() {
        return (Duration::ZERO, Duration::ZERO);
    }
    v.sort();
    (v[v.len() / 2], v[(v.len() * 9 / 10).min(v.len() - 1)])
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

struct Case {
    sealift_median: Duration,
    sealift_p90: Duration,
    pipeline_median: Duration,
}

fn run_case(server: &GitServer, name: &str, files: usize, commits: usize, runs: usize) -> Case {
    let repo = served(server, name, files, commits);
    let creds = GitCredentials::Basic {
        username: server.credentials().username.clone(),
        password: SecretString::new(server.credentials().password.clone()),
    };
    let dir = tempfile::tempdir().unwrap();
    let cache = RepoCache::new(dir.path().join("cache"));
    let t = Instant::now();
    cache
        .open(&repo.url)
        .unwrap()
        .fetch_branch("main", &creds)
        .unwrap();
    eprintln!(
        "  first fetch into the cache: {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let image = PinnedImage {
        name: "bookstore/catalog".into(),
        reference: "registry.example.com/bookstore/catalog".into(),
        digest: format!("sha256:{}", "b".repeat(64)),
    };
    let mut sealift = Vec::new();
    for i in 0..runs {
        let req = PushRequest {
            base_branch: "main",
            target: PushTarget::PromotionBranch(format!("sealift/bench/p{i}")),
            credentials: &creds,
            meta: CommitMeta {
                identity: Identity {
                    name: "Sealift".into(),
                    email: "sealift@example.com".into(),
                },
                time: 1_790_000_000 + i as i64,
                message: format!("Promote bookstore/catalog to overlays/prod ({i})\n"),
                signing_key: None,
            },
            retry: RetryPolicy::default(),
        };
        let t = Instant::now();
        let mut cached = cache.open(&repo.url).unwrap();
        let out = commit_and_push(&mut cached, &req, &mut |snap| {
            plan_target(snap, "overlays/prod", std::slice::from_ref(&image))
        })
        .unwrap();
        sealift.push(t.elapsed());
        assert!(matches!(out, PushOutcome::Pushed { .. }));
    }
    let (sealift_median, sealift_p90) = stats(sealift);
    eprintln!("  {name} phases (median): {}", phase_medians());

    let kustomize = sealift_testrig::tools::kustomize().unwrap();
    let creds_url = repo.url.replacen(
        "http://",
        &format!(
            "http://{}:{}@",
            server.credentials().username,
            server.credentials().password
        ),
        1,
    );
    let mut pipeline = Vec::new();
    let pipeline_runs = if std::env::var("SEALIFT_BENCH_PIPELINE").as_deref() == Ok("0") {
        0
    } else {
        runs.min(5)
    };
    for i in 0..pipeline_runs {
        let work = tempfile::tempdir().unwrap();
        let w = work.path().join("w");
        let t = Instant::now();
        let git = |args: &[&str], cwd: &std::path::Path| {
            let out = Command::new("git")
                .args(args)
                .current_dir(cwd)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "git {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        git(
            &[
                "clone",
                "-q",
                "--depth",
                "1",
                "--branch",
                "main",
                &creds_url,
                w.to_str().unwrap(),
            ],
            work.path(),
        );
        let status = Command::new(&kustomize)
            .current_dir(w.join("overlays/prod"))
            .args([
                "edit",
                "set",
                "image",
                &format!(
                    "bookstore/catalog=registry.example.com/bookstore/catalog@{}",
                    image.digest
                ),
            ])
            .status()
            .unwrap();
        assert!(status.success());
        git(
            &[
                "-c",
                "user.name=CI",
                "-c",
                "user.email=ci@example.com",
                "commit",
                "-qam",
                "bump",
            ],
            &w,
        );
        git(
            &[
                "push",
                "-q",
                "origin",
                &format!("HEAD:refs/heads/pipeline/p{i}"),
            ],
            &w,
        );
        pipeline.push(t.elapsed());
    }
    let (pipeline_median, _) = stats(pipeline);
    println!(
        "{name:<28} sealift median {:>9}  p90 {:>9}   pipeline median {:>10}   pipeline/sealift {:>5.1}x",
        ms(sealift_median),
        ms(sealift_p90),
        ms(pipeline_median),
        pipeline_median.as_secs_f64() / sealift_median.as_secs_f64()
    );
    Case {
        sealift_median,
        sealift_p90,
        pipeline_median,
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    sealift_testrig::install_crypto_provider();
    tracing::subscriber::set_global_default(Collector).unwrap();
    let server = GitServer::start(Credentials::random("bench")).unwrap();
    println!(
        "promote one image: fetch (warm cache) + kustomize edit + in-memory commit + push, loopback"
    );
    let small = run_case(&server, "small-1k-files-1k-commits", 1_000, 1_000, 30);
    let large = run_case(&server, "large-100k-files-20k-commits", 100_000, 20_000, 30);
    let ratio = large.sealift_median.as_secs_f64() / small.sealift_median.as_secs_f64();
    println!("large/small (sealift median): {ratio:.2}x  (target ≤ 1.5x)");
    println!(
        "edit+commit+push median: small {}, large {}  (target < 150 ms); p90 small {}, large {}",
        ms(small.sealift_median),
        ms(large.sealift_median),
        ms(small.sealift_p90),
        ms(large.sealift_p90)
    );
    println!(
        "pipeline (clone --depth 1, kustomize edit, commit, push) median: small {}, large {}",
        ms(small.pipeline_median),
        ms(large.pipeline_median)
    );
}
