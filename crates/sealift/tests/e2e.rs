//! End to end, against the real kube-apiserver, registry, git smart-HTTP server and the GitHub
//! stand-in (contract-checked, backed by the served repository so its merges are real), with the
//! real `sealift controller` process.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, PostParams};
use sealift_api::{Phase, Promotion};
use sealift_testrig::cosign::Published;
use sealift_testrig::git::branch_head;
use sealift_testrig::world::{ControllerOptions, IMAGE, World, render};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_sealift");
const WAIT: Duration = Duration::from_secs(90);

fn phase(p: &Promotion) -> Phase {
    p.status.as_ref().and_then(|s| s.phase).unwrap_or_default()
}

fn ready_message(p: &Promotion) -> (String, String) {
    let c = p
        .status
        .as_ref()
        .and_then(|s| s.conditions.iter().find(|c| c.type_ == "Ready"))
        .unwrap_or_else(|| panic!("no Ready condition: {:?}", p.status));
    (c.reason.clone(), c.message.clone())
}

/// Commits on `branch` that are not on `main`.
fn commits_beyond_main(repo: &Path, branch: &str) -> usize {
    let r = git2::Repository::open_bare(repo).unwrap();
    let Some(head) = branch_head(repo, branch).unwrap() else {
        return 0;
    };
    let main = branch_head(repo, "main").unwrap().unwrap();
    let mut walk = r.revwalk().unwrap();
    walk.push(head).unwrap();
    walk.hide(main).unwrap();
    walk.count()
}

fn deployment_from(rendered: &str) -> Deployment {
    for doc in rendered.split("\n---\n") {
        let v: serde_json::Value = serde_saphyr::from_str(doc).unwrap();
        if v["kind"] == "Deployment" {
            return serde_json::from_value(v).unwrap();
        }
    }
    panic!("no Deployment in:\n{rendered}")
}

/// A world whose staging overlay pins one trusted (signed and attested) image.
async fn staged(prefix: &str, tag: &str) -> (World, Published) {
    let world = World::start(prefix).await.unwrap();
    let image = world
        .publish_trusted("bookstore/catalog", tag)
        .await
        .unwrap();
    world.pin("staging", &[(IMAGE, &image)]).unwrap();
    (world, image)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verified_digest_travels_from_staging_to_a_merged_prod_deployment() {
    let (world, image) = staged("e2e-happy", "v1.4.2").await;
    let controller = world
        .controller(Path::new(BIN), &ControllerOptions::default())
        .unwrap();
    controller.wait_ready(WAIT).unwrap();

    world
        .create(&world.promotion("catalog-to-prod", &[], false))
        .await
        .unwrap();
    let open = world
        .wait_for("catalog-to-prod", WAIT, |p| {
            phase(p) == Phase::PullRequestOpen || phase(p).is_final()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", controller.log_tail(40)));
    assert_eq!(phase(&open), Phase::PullRequestOpen, "{:?}", open.status);
    let status = open.status.clone().unwrap();

    // Verified: the evidence names the digest, the key and both attestations.
    assert_eq!(status.images.len(), 1);
    let evidence = status.images[0]
        .evidence
        .as_ref()
        .expect("evidence recorded");
    assert_eq!(evidence.digest, image.digest);
    assert_eq!(status.images[0].digest, image.digest);
    assert_eq!(evidence.attestations.len(), 2, "{evidence:?}");

    // One commit on the promotion branch, carrying exactly the verified digest.
    let branch = format!("sealift/{}/catalog-to-prod", world.namespace);
    let commit = status.commit.clone().unwrap();
    assert_eq!(commit.branch, branch);
    assert_eq!(commits_beyond_main(&world.repo.path, &branch), 1);
    let prod = sealift_testrig::git::read_file(
        &world.repo.path,
        &branch,
        "overlays/prod/kustomization.yaml",
    )
    .unwrap()
    .unwrap();
    let prod = String::from_utf8(prod).unwrap();
    assert!(
        prod.contains(&format!("digest: {}", image.digest)),
        "{prod}"
    );
    assert!(
        prod.contains("# The environment's overlay."),
        "comments kept: {prod}"
    );

    // One pull request with the evidence report and the sealift/verified status on its head.
    let pulls = world.forge.pulls();
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert_eq!(pr.head, branch);
    assert_eq!(pr.head_sha, commit.sha);
    assert!(pr.body.contains(&image.digest), "{}", pr.body);
    // The reviewer sees the overlay diff of the pushed commit.
    assert!(
        pr.body
            .contains("```diff\ndiff --git a/overlays/prod/kustomization.yaml")
            && pr
                .body
                .contains(&format!("\n+  digest: {}\n", image.digest)),
        "{}",
        pr.body
    );
    assert!(
        pr.body.contains("https://slsa.dev/provenance/v1"),
        "{}",
        pr.body
    );
    assert_eq!(pr.labels, vec!["promotion".to_owned()]);
    let statuses = world.forge.statuses();
    assert!(
        statuses.iter().any(|s| s.sha == commit.sha
            && s.context == "sealift/verified"
            && s.state == "success"),
        "{statuses:?}"
    );
    assert_eq!(status.pull_request.as_ref().unwrap().number, pr.number);

    // Merged through the stand-in → phase Merged with the real merge commit.
    let merge_sha = world.forge.merge(pr.number).unwrap();
    let merged = world
        .wait_for("catalog-to-prod", WAIT, |p| phase(p).is_final())
        .await
        .unwrap();
    assert_eq!(phase(&merged), Phase::Merged, "{:?}", merged.status);
    let status = merged.status.unwrap();
    assert_eq!(
        status.pull_request.unwrap().merge_commit.as_deref(),
        Some(merge_sha.as_str())
    );
    assert!(status.finished_at.is_some());

    // What Argo CD would sync: the prod overlay renders a Deployment running exactly that digest,
    // and the API server accepts it.
    let rendered = render(
        &world.repo.path,
        "overlays/prod",
        &world.dir.path().join("render"),
    )
    .unwrap();
    let deployment = deployment_from(&rendered);
    let api: Api<Deployment> = Api::namespaced(world.client.clone(), &world.namespace);
    api.create(&PostParams::default(), &deployment)
        .await
        .unwrap();
    let stored = api.get("catalog").await.unwrap();
    let running = stored.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap();
    assert_eq!(running, image.reference);

    // Events on the way, metrics of the work, and nothing the forge would refuse.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(world.client.clone(), &world.namespace);
    let reasons: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for r in ["Verified", "PullRequestOpened", "Merged"] {
        assert!(reasons.iter().any(|x| x == r), "{r} in {reasons:?}");
    }
    let metrics = controller.metrics().unwrap();
    for m in [
        "sealift_step_duration_seconds_count{step=\"Verifying\"}",
        "sealift_port_call_duration_seconds_count{port=\"forge\",operation=\"open\",outcome=\"ok\"}",
        "sealift_lead_time_seconds_count 1",
        "sealift_leader 1",
    ] {
        assert!(metrics.contains(m), "{m} in:\n{metrics}");
    }
    // Secrets never leave memory: not in the log, the Events, the status or the pull request.
    let secrets = [
        world.git.credentials().password.clone(),
        world.forge.token().to_owned(),
    ];
    let log = controller.log_tail(100_000);
    let events_text =
        serde_json::to_string(&events.list(&Default::default()).await.unwrap().items).unwrap();
    let status_text = serde_json::to_string(
        &world
            .promotions()
            .get("catalog-to-prod")
            .await
            .unwrap()
            .status,
    )
    .unwrap();
    let prs = format!("{:?}", world.forge.pulls());
    for secret in &secrets {
        assert!(secret.len() >= 16, "a real secret");
        for (what, text) in [
            ("log", &log),
            ("Events", &events_text),
            ("status", &status_text),
            ("PR", &prs),
        ] {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into the {what}"
            );
        }
    }
    world.forge.assert_clean().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_images_are_rejected_with_no_branch_and_no_pull_request() {
    let world = World::start("e2e-reject").await.unwrap();
    let unsigned = world
        .publisher
        .publish_unsigned(&world.registry, "bookstore/unsigned", "u")
        .await
        .unwrap();
    let stranger = sealift_testrig::cosign::Publisher::new().unwrap();
    let foreign = stranger
        .publish(
            &world.registry,
            "bookstore/foreign",
            "f",
            &[(
                sealift_testrig::cosign::SLSA_V1,
                sealift_testrig::cosign::slsa_provenance(
                    sealift_testrig::world::SOURCE_REPO,
                    &"ab".repeat(20),
                ),
            )],
        )
        .await
        .unwrap();
    let vulnerable = world
        .publisher
        .publish(
            &world.registry,
            "bookstore/vulnerable",
            "v",
            &[
                (
                    sealift_testrig::cosign::SLSA_V1,
                    sealift_testrig::cosign::slsa_provenance(
                        sealift_testrig::world::SOURCE_REPO,
                        &"ab".repeat(20),
                    ),
                ),
                (
                    sealift_testrig::cosign::VULN,
                    sealift_testrig::cosign::vuln_scan(2),
                ),
            ],
        )
        .await
        .unwrap();
    world
        .pin(
            "staging",
            &[
                ("unsigned", &unsigned),
                ("foreign", &foreign),
                ("vulnerable", &vulnerable),
            ],
        )
        .unwrap();
    let controller = world
        .controller(Path::new(BIN), &ControllerOptions::default())
        .unwrap();
    controller.wait_ready(WAIT).unwrap();
    let cases = [
        ("unsigned", "SignatureMissing"),
        ("foreign", "SignatureInvalid"),
        ("vulnerable", "AttestationPolicyFailed"),
    ];
    for (name, _) in cases {
        world
            .create(&world.promotion(name, &[name], false))
            .await
            .unwrap();
    }
    for (name, reason) in cases {
        let p = world
            .wait_for(name, WAIT, |p| phase(p).is_final())
            .await
            .unwrap_or_else(|e| panic!("{e}\n{}", controller.log_tail(40)));
        assert_eq!(phase(&p), Phase::Rejected, "{name}: {:?}", p.status);
        let (got, message) = ready_message(&p);
        assert_eq!(got, reason, "{name}: {message}");
        assert!(!message.is_empty());
        let branch = format!("sealift/{}/{name}", world.namespace);
        assert_eq!(
            branch_head(&world.repo.path, &branch).unwrap(),
            None,
            "no branch for {name}"
        );
        assert!(p.status.unwrap().commit.is_none());
    }
    assert!(world.forge.pulls().is_empty(), "no pull request at all");
    world.forge.assert_clean().unwrap();
}

/// Runs controllers that abort just before recording their `abort_at`-th step (after its side
/// effect), one after another, until `stop` holds or a run survives. Returns how many were killed.
async fn crash_until(
    world: &World,
    name: &str,
    abort_at: u64,
    stop: impl Fn(&Promotion) -> bool,
) -> usize {
    let mut killed = 0;
    for run in 0..20 {
        let mut c = world
            .controller(
                Path::new(BIN),
                &ControllerOptions {
                    identity: format!("crash-{abort_at}-{run}"),
                    leader_election: false,
                    abort_before_persist: abort_at,
                    ..ControllerOptions::default()
                },
            )
            .unwrap();
        // Either the fault fires (the process dies) or the promotion reaches `stop` and the
        // process stays up, polling.
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if !c.is_running() {
                killed += 1;
                let log = c.log_tail(5);
                assert!(
                    log.contains("fault injection"),
                    "died of something else:\n{log}"
                );
                break;
            }
            let p = world.promotions().get(name).await.unwrap();
            if stop(&p) {
                c.kill();
                return killed;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "stuck:\n{}",
                c.log_tail(30)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.wait_exit(WAIT).unwrap();
    }
    panic!("never reached the expected state after 20 runs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_after_every_side_effect_the_controller_still_makes_one_commit_and_one_pull_request()
{
    let (world, _) = staged("e2e-crash", "v2").await;
    world
        .create(&world.promotion("crashy", &[], false))
        .await
        .unwrap();

    // Every run redoes the step whose record was lost, records it, performs the next side effect
    // (resolve, verify, commit + push, open the pull request) and dies before recording it.
    let killed = crash_until(&world, "crashy", 2, |p| phase(p) == Phase::PullRequestOpen).await;
    assert!(
        killed >= 5,
        "killed at every step boundary up to the pull request: {killed}"
    );
    let branch = format!("sealift/{}/crashy", world.namespace);
    assert_eq!(
        commits_beyond_main(&world.repo.path, &branch),
        1,
        "one commit"
    );
    let pulls = world.forge.pulls();
    assert_eq!(pulls.len(), 1, "one pull request: {pulls:?}");
    let opened = world.forge.calls("pulls/create").len();
    assert_eq!(
        opened, 1,
        "the lost pull request was adopted, not opened again"
    );

    // Merged; the controller that sees it dies before recording it; the next one finishes.
    let merge_sha = world.forge.merge(pulls[0].number).unwrap();
    let mut once = world
        .controller(
            Path::new(BIN),
            &ControllerOptions {
                identity: "sees-merge".into(),
                leader_election: false,
                abort_before_persist: 1,
                ..ControllerOptions::default()
            },
        )
        .unwrap();
    once.wait_exit(WAIT).unwrap();
    assert!(once.log_tail(5).contains("fault injection"));
    assert_eq!(
        phase(&world.promotions().get("crashy").await.unwrap()),
        Phase::PullRequestOpen,
        "the merge was seen but not recorded"
    );
    let mut c = world
        .controller(
            Path::new(BIN),
            &ControllerOptions {
                identity: "final".into(),
                leader_election: false,
                ..ControllerOptions::default()
            },
        )
        .unwrap();
    let done = world
        .wait_for("crashy", WAIT, |p| phase(p).is_final())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", c.log_tail(30)));
    assert_eq!(phase(&done), Phase::Merged);
    assert_eq!(
        done.status
            .unwrap()
            .pull_request
            .unwrap()
            .merge_commit
            .as_deref(),
        Some(merge_sha.as_str())
    );
    assert_eq!(world.forge.pulls().len(), 1);
    c.terminate(Duration::from_secs(20)).unwrap();
    world.forge.assert_clean().unwrap();
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_replicas_exactly_one_acts_and_the_standby_takes_over_when_it_dies() {
    let (world, _) = staged("e2e-ha", "v3").await;
    let options = |id: &str| ControllerOptions {
        identity: id.into(),
        ..ControllerOptions::default()
    };
    let a = world
        .controller(Path::new(BIN), &options("replica-a"))
        .unwrap();
    let b = world
        .controller(Path::new(BIN), &options("replica-b"))
        .unwrap();
    a.wait_ready(WAIT).unwrap();
    b.wait_ready(WAIT).unwrap();
    let names = ["ha-1", "ha-2", "ha-3", "ha-4"];
    for n in names {
        world.create(&world.promotion(n, &[], false)).await.unwrap();
    }
    for n in names {
        let p = world
            .wait_for(n, WAIT, |p| {
                phase(p) == Phase::PullRequestOpen || phase(p).is_final()
            })
            .await
            .unwrap_or_else(|e| panic!("{e}\nA:\n{}\nB:\n{}", a.log_tail(20), b.log_tail(20)));
        assert_eq!(phase(&p), Phase::PullRequestOpen, "{n}: {:?}", p.status);
        let branch = format!("sealift/{}/{n}", world.namespace);
        assert_eq!(commits_beyond_main(&world.repo.path, &branch), 1, "{n}");
    }
    assert_eq!(
        world.forge.pulls().len(),
        names.len(),
        "one pull request each"
    );
    assert_eq!(
        world.forge.calls("pulls/create").len(),
        names.len(),
        "none opened twice"
    );

    let (ma, mb) = (a.metrics().unwrap(), b.metrics().unwrap());
    let steps = |m: &str| metric(m, "sealift_step_duration_seconds_count");
    let leading = |m: &str| metric(m, "sealift_leader ");
    let (leader, standby, mut leader_proc, standby_proc) = if leading(&ma) == 1.0 {
        (ma, mb, a, b)
    } else {
        (mb, ma, b, a)
    };
    assert_eq!(
        (leading(&leader), leading(&standby)),
        (1.0, 0.0),
        "exactly one leader"
    );
    assert!(
        steps(&leader) >= 4.0 * 5.0,
        "the leader did the work:\n{leader}"
    );
    assert_eq!(steps(&standby), 0.0, "the standby did nothing:\n{standby}");

    // The leader dies without releasing the Lease; the standby takes over once it expires.
    leader_proc.kill();
    world
        .create(&world.promotion("ha-5", &[], false))
        .await
        .unwrap();
    let p = world
        .wait_for("ha-5", WAIT, |p| {
            phase(p) == Phase::PullRequestOpen || phase(p).is_final()
        })
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", standby_proc.log_tail(30)));
    assert_eq!(phase(&p), Phase::PullRequestOpen);
    let after = standby_proc.metrics().unwrap();
    assert_eq!(leading(&after), 1.0, "the standby leads now");
    assert!(steps(&after) > 0.0);
    assert_eq!(world.forge.pulls().len(), 5);

    // SIGTERM: the leader stops promptly and hands the Lease back instead of letting it expire.
    let mut leader = standby_proc;
    let t = std::time::Instant::now();
    leader
        .terminate(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", leader.log_tail(20)));
    assert!(
        leader.log_tail(5).contains("released the Lease"),
        "{}",
        leader.log_tail(20)
    );
    let lease: k8s_openapi::api::coordination::v1::Lease =
        kube::Api::namespaced(world.client.clone(), &world.namespace)
            .get("sealift-controller")
            .await
            .unwrap();
    let holder = lease.spec.and_then(|s| s.holder_identity);
    assert!(
        holder.as_deref().is_none_or(str::is_empty),
        "the Lease is free after {:?}: held by {holder:?}",
        t.elapsed()
    );
    world.forge.assert_clean().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spec_edited_mid_flight_is_refused_even_though_the_api_server_accepts_the_edit() {
    // kube-apiserver 1.20 ignores the CRD's CEL `self == oldSelf`: the controller enforces it.
    let (world, _) = staged("e2e-immutable", "v4").await;
    let controller = world
        .controller(Path::new(BIN), &ControllerOptions::default())
        .unwrap();
    controller.wait_ready(WAIT).unwrap();
    world
        .create(&world.promotion("edited", &[], false))
        .await
        .unwrap();
    world
        .wait_for("edited", WAIT, |p| phase(p) == Phase::PullRequestOpen)
        .await
        .unwrap();
    let patch = serde_json::json!({"spec": {"to": "overlays/elsewhere"}});
    let edited = world
        .promotions()
        .patch(
            "edited",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await
        .expect("the old API server accepts the edit");
    assert_eq!(edited.metadata.generation, Some(2));
    let refused = world
        .wait_for("edited", WAIT, |p| phase(p).is_final())
        .await
        .unwrap();
    assert_eq!(phase(&refused), Phase::Failed);
    let (reason, message) = ready_message(&refused);
    assert_eq!(reason, "SpecImmutable", "{message}");
    assert!(message.contains("create a new Promotion"), "{message}");
    // Nothing was written for the new spec.
    assert!(
        !world
            .forge
            .pulls()
            .iter()
            .any(|p| p.body.contains("overlays/elsewhere"))
    );
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(world.client.clone(), &world.namespace);
    let warned = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .any(|e| {
            e.reason.as_deref() == Some("SpecImmutable") && e.type_.as_deref() == Some("Warning")
        });
    assert!(warned, "a Warning Event says why");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_at_any_moment_of_start_up_stops_the_controller_promptly() {
    // Kubernetes sends SIGTERM whenever it likes, e.g. during a rollout right after start: while
    // the controller waits for the Lease, just after it won it, or without leader election.
    let world = World::start("e2e-sigterm").await.unwrap();
    for (identity, leader_election, settle_ms) in [
        ("early", true, 0),
        ("leading", true, 1500),
        ("solo-early", false, 0),
        ("solo", false, 1500),
    ] {
        let mut c = world
            .controller(
                Path::new(BIN),
                &ControllerOptions {
                    identity: identity.into(),
                    leader_election,
                    ..ControllerOptions::default()
                },
            )
            .unwrap();
        c.wait_ready(WAIT).unwrap();
        tokio::time::sleep(Duration::from_millis(settle_ms)).await;
        c.terminate(Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("{identity}: {e}\n{}", c.log_tail(20)));
    }
}
