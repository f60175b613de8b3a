//! `make demo`: one real promotion, end to end, on loopback. Starts the real kube-apiserver,
//! registry, git smart-HTTP server and the GitHub stand-in, publishes a signed and attested image
//! that staging runs, starts the real `sealift controller` and creates a Promotion; prints every
//! phase as the controller records it, the pull request and its evidence report, merges it, and
//! renders prod with kustomize. Then shows a rejection. Pass `--keep` to leave everything running
//! until Ctrl-C.
//!
//! The controller binary comes from `SEALIFT_BIN` (the Makefile builds it first). The rig
//! (`sealift-testrig`) provides every server; this example only tells the story.

use anyhow::{Context, Result, bail};
use sealift_api::{Phase, Promotion};
use sealift_testrig::world::{ControllerOptions, IMAGE, POLICY, World, render};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn step(n: u32, title: &str) {
    println!("\n\x1b[1m{n}. {title}\x1b[0m");
}

fn phase(p: &Promotion) -> Phase {
    p.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints each phase the controller records until `until` holds.
async fn follow(
    world: &World,
    name: &str,
    t0: Instant,
    until: impl Fn(&Promotion) -> bool,
) -> Result<Promotion> {
    let mut last = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = world.promotions().get(name).await?;
        let ph = phase(&p);
        if last != Some(ph) && p.status.is_some() {
            let ready = p
                .status
                .as_ref()
                .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
                .map(|c| format!("  ({}: {})", c.reason, c.message))
                .unwrap_or_default();
            println!(
                "   {:>6.2}s  phase {ph:?}{}",
                t0.elapsed().as_secs_f64(),
                if ph.is_final() { ready } else { String::new() }
            );
            last = Some(ph);
        }
        if until(&p) {
            return Ok(p);
        }
        if Instant::now() > deadline {
            bail!("Promotion {name} did not progress: {:?}", p.status);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let result = demo().await;
    // Everything the demo started stops with it, the shared cluster (held in a static) included;
    // `make demo` checks with scripts/rig-leaks.sh that nothing is left.
    sealift_testrig::process::stop_all();
    result
}

async fn demo() -> Result<()> {
    let keep = std::env::args().any(|a| a == "--keep");
    let t0 = Instant::now();
    let bin = PathBuf::from(std::env::var("SEALIFT_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/sealift").to_owned()
    }));
    if !bin.exists() {
        bail!(
            "{} does not exist: run `make demo` (it builds the sealift binary first)",
            bin.display()
        );
    }
    println!("Sealift demo — one real promotion on 127.0.0.1, nothing mocked but the forge API.");

    step(1, "Start the world");
    let world = World::start("demo").await.context("starting the rig")?;
    println!(
        "   kube-apiserver v1.20.2 + etcd   kubeconfig {}",
        world.kubeconfig.display()
    );
    println!(
        "   OCI registry (distribution)     {}",
        world.registry.host()
    );
    println!("   git smart-HTTP (basic auth)     {}", world.repo.url);
    println!(
        "   GitHub stand-in                 {} (checked against @octokit/openapi)",
        world.forge.api_url()
    );
    println!("   namespace                       {}", world.namespace);

    step(
        2,
        "CI published bookstore/catalog 1.4.2: signed, with SLSA provenance and a vuln scan",
    );
    let image = world
        .publish_trusted("bookstore/catalog", "catalog 1.4.2")
        .await?;
    println!("   {}", image.reference);
    world.pin("staging", &[(IMAGE, &image)])?;
    println!("   overlays/staging pins it (staging runs and tested exactly this digest)");
    let policy: serde_json::Value = serde_json::to_value(
        &world
            .client
            .clone()
            .request::<serde_json::Value>(
                http::Request::get(format!(
                    "/apis/sealift.dev/v1alpha1/namespaces/{}/trustpolicies/{POLICY}",
                    world.namespace
                ))
                .body(Vec::new())?,
            )
            .await?["spec"],
    )?;
    println!("   TrustPolicy {POLICY}:");
    println!("{}", indent(&serde_saphyr::to_string(&policy)?));

    step(3, "Start `sealift controller` (leader election on)");
    let controller = world.controller(&bin, &ControllerOptions::default())?;
    controller.wait_ready(Duration::from_secs(60))?;
    println!("   ready: http://127.0.0.1:{}/metrics", controller.port());

    step(4, "Create the Promotion staging → prod");
    let promotion = world.promotion("catalog-to-prod", &[IMAGE], false);
    let mut shown = serde_json::to_value(&promotion)?;
    if let Some(m) = shown.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.retain(|k, _| k == "name" || k == "namespace");
    }
    println!("{}", indent(&serde_saphyr::to_string(&shown)?));
    let created = Instant::now();
    world.create(&promotion).await?;
    let open = follow(&world, "catalog-to-prod", created, |p| {
        phase(p) == Phase::PullRequestOpen || phase(p).is_final()
    })
    .await?;
    if phase(&open) != Phase::PullRequestOpen {
        bail!(
            "the promotion ended {:?}:\n{}",
            phase(&open),
            controller.log_tail(30)
        );
    }
    let status = open.status.clone().unwrap_or_default();
    if let Some(c) = &status.commit {
        println!("   commit {} on {}", c.sha, c.branch);
    }

    step(5, "The pull request, as a reviewer sees it");
    let pr = world
        .forge
        .pulls()
        .into_iter()
        .next()
        .context("no pull request")?;
    println!("   #{} {}", pr.number, pr.title);
    println!(
        "   {}",
        status
            .pull_request
            .as_ref()
            .map(|p| p.url.as_str())
            .unwrap_or("")
    );
    for s in world.forge.statuses() {
        println!(
            "   commit status {} = {} on {}",
            s.context,
            s.state,
            &s.sha[..12]
        );
    }
    println!("{}", indent(&pr.body));

    step(6, "A platform engineer merges it");
    let merge = world
        .forge
        .merge(pr.number)
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    println!("   merge commit {merge}");
    let done = follow(&world, "catalog-to-prod", created, |p| phase(p).is_final())
        .await
        .map_err(|e| anyhow::anyhow!("{e}\ncontroller log:\n{}", controller.log_tail(40)))?;
    println!("   Promotion phase: {:?}", phase(&done));

    step(
        7,
        "What Argo CD syncs: kustomize build overlays/prod on main",
    );
    let rendered = render(
        &world.repo.path,
        "overlays/prod",
        &world.dir.path().join("render"),
    )?;
    for line in rendered.lines().filter(|l| l.contains("image:")) {
        println!("   {}", line.trim());
    }
    if !rendered.contains(&image.reference) {
        bail!("prod does not run the verified digest:\n{rendered}");
    }
    println!("   = exactly the digest that was verified");

    step(
        8,
        "And an image nobody signed is refused before anything reaches Git",
    );
    let unsigned = world
        .publisher
        .publish_unsigned(&world.registry, "bookstore/unsigned", "rogue build")
        .await?;
    world.pin(
        "staging",
        &[(IMAGE, &image), ("bookstore/unsigned", &unsigned)],
    )?;
    let rogue = Instant::now();
    world
        .create(&world.promotion("unsigned-to-prod", &["bookstore/unsigned"], false))
        .await?;
    let rejected = follow(&world, "unsigned-to-prod", rogue, |p| phase(p).is_final()).await?;
    println!(
        "   branch: none, pull requests: still {} — phase {:?}",
        world.forge.pulls().len(),
        phase(&rejected)
    );

    println!(
        "\nDone in {:.1} s. Metrics: sealift_* on the controller's /metrics; docs/ explains every step.",
        t0.elapsed().as_secs_f64()
    );
    world.forge.assert_clean()?;
    if keep {
        println!("--keep: everything stays up until Ctrl-C.");
        tokio::signal::ctrl_c().await?;
    }
    Ok(())
}
