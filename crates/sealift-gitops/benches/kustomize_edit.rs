//! `cargo bench -p sealift-gitops --bench kustomize_edit` — the kustomization editor alone
//! (`set_image`, pure, no I/O) on large generated `images:` lists: 1k, 20k and 40k entries, with
//! and without a comment on every entry, one image promoted (its digest and `newName` change).
//! Prints the median per edit and the 40k ÷ 20k ratio, which is 2 when the edit is linear.
//!
//! `SEALIFT_BENCH_RUNS=<n>` sets the runs per case (default 5); `SEALIFT_BENCH_ENTRIES=a,b,…`
//! the list sizes (default `1000,20000,40000`). `cargo bench --profile dev …` gives debug-build
//! figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use sealift_gitops::kustomize::set_image;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// A kustomization with `n` digest-pinned images, sorted by name as `kustomize edit` leaves
/// them; with `comments`, a comment line above every entry and one after its `name`.
fn kustomization(n: usize, comments: bool) -> String {
    let mut s = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- ../../base\nimages:\n",
    );
    for i in 0..n {
        if comments {
            writeln!(s, "# app-{i:06}: owned by team {}", i % 17).unwrap();
        }
        let note = if comments { " # pinned by release" } else { "" };
        writeln!(s, "- name: registry.example.com/team/app-{i:06}{note}").unwrap();
        writeln!(s, "  digest: sha256:{i:064x}").unwrap();
    }
    s
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Median time of one `set_image` on the middle entry of an `n`-entry list.
fn case(n: usize, comments: bool, runs: usize) -> Duration {
    let text = kustomization(n, comments);
    let name = format!("registry.example.com/team/app-{:06}", n / 2);
    let new_name = format!("mirror.example.com/team/app-{:06}", n / 2);
    let digest = format!("sha256:{}", "b".repeat(64));
    let mut times = Vec::new();
    for _ in 0..runs {
        let t = Instant::now();
        let out = set_image("kustomization.yaml", &text, &name, Some(&new_name), &digest).unwrap();
        times.push(t.elapsed());
        assert!(out.changed);
        assert!(out.text.contains(&format!("  newName: {new_name}\n")));
    }
    let m = median(times);
    println!(
        "{n:>6} entries, {:<11} {:>8} KiB   median {:>10}   {:>6.2} µs/entry",
        if comments { "commented" } else { "no comments" },
        text.len() / 1024,
        ms(m),
        m.as_secs_f64() * 1e6 / n as f64
    );
    m
}

fn main() {
    let runs: usize = std::env::var("SEALIFT_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let sizes: Vec<usize> = std::env::var("SEALIFT_BENCH_ENTRIES")
        .ok()
        .map(|s| s.split(',').map(|n| n.trim().parse().unwrap()).collect())
        .unwrap_or_else(|| vec![1_000, 20_000, 40_000]);
    println!(
        "kustomize set_image, one image promoted in an N-entry `images:` list ({runs} runs, {} build)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    for comments in [true, false] {
        let times: Vec<(usize, Duration)> = sizes
            .iter()
            .map(|&n| (n, case(n, comments, runs)))
            .collect();
        let at = |n: usize| times.iter().find(|(m, _)| *m == n).map(|(_, t)| *t);
        if let (Some(a), Some(b)) = (at(20_000), at(40_000)) {
            println!(
                "  40k ÷ 20k ({}): {:.2}x  (2.0 = linear)",
                if comments { "commented" } else { "no comments" },
                b.as_secs_f64() / a.as_secs_f64()
            );
        }
    }
}
