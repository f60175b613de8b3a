#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The real kustomize 4.5.4 is the oracle for `kustomize::set_image`.
//!
//! For every file of `tests/corpus/`: our `set_image` and `kustomize edit set image` edit copies
//! of the same overlay (over a base whose Deployment uses the images), `kustomize build` renders
//! both, and the rendered `image:` values must be identical. A line diff between our output and
//! the original must only touch the lines of the promoted entry (or the place a new entry or
//! `images:` list goes). Where kustomize itself fails, or where we deliberately differ, the case
//! says so and why.

mod kustomize_support;

use kustomize_support::line_diff;
use sealift_gitops::kustomize::{self, KustomizeError};
use std::path::Path;
use std::process::Command;

fn digest() -> String {
    format!("sha256:{}", "d".repeat(64))
}

#[derive(Debug)]
enum Expect {
    /// kustomize's edit and ours render exactly the same images.
    Same,
    /// kustomize's edit also changes images we leave alone (it collapses duplicate names and
    /// sorts the list, and entries apply one after the other). Only the `promoted` containers
    /// are compared with kustomize; the others must render exactly as before the edit.
    SameFor {
        promoted: &'static [usize],
        why: &'static str,
    },
    /// We refuse with this error category and change nothing.
    Refused {
        category: &'static str,
        kustomize_build_fails: bool,
        why: &'static str,
    },
}

struct Case {
    file: &'static str,
    name: &'static str,
    new_name: Option<&'static str>,
    /// The images of the base Deployment's containers.
    containers: &'static [&'static str],
    /// Ranges of original lines (1-based, inclusive) that may change; lines inserted without
    /// removing any must go right before a line of a range or right after its last line.
    touch: &'static [(usize, usize)],
    expect: Expect,
}

const APP_DB: &[&str] = &["app:latest", "db:14"];

fn case(file: &'static str, name: &'static str, touch: &'static [(usize, usize)]) -> Case {
    Case {
        file,
        name,
        new_name: None,
        containers: APP_DB,
        touch,
        expect: Expect::Same,
    }
}

impl Case {
    fn new_name(mut self, new_name: &'static str) -> Self {
        self.new_name = Some(new_name);
        self
    }
    fn containers(mut self, containers: &'static [&'static str]) -> Self {
        self.containers = containers;
        self
    }
    fn expect(mut self, expect: Expect) -> Self {
        self.expect = expect;
        self
    }
}

fn refused(category: &'static str, kustomize_build_fails: bool, why: &'static str) -> Expect {
    Expect::Refused {
        category,
        kustomize_build_fails,
        why,
    }
}

fn cases() -> Vec<Case> {
    vec![
        case("01-tag-becomes-digest.yaml", "app", &[(6, 7)]),
        case("02-digest-replaced.yaml", "app", &[(6, 7)]),
        case("03-new-name-given-again.yaml", "app", &[(6, 8)])
            .new_name("registry.example.com/acme/app"),
        case("04-new-name-dropped.yaml", "app", &[(6, 8)]),
        case("05-new-name-changed.yaml", "app", &[(6, 8)]).new_name("new.example.com/app"),
        // kustomize writes `newName: app`; we write none (kustomize renders both the same).
        case("06-new-name-equal-to-name.yaml", "app", &[(6, 7)]).new_name("app"),
        case("07-comments-everywhere.yaml", "app", &[(11, 14)]),
        case("08-blank-lines.yaml", "app", &[(9, 11)]),
        case("09-flow-list.yaml", "app", &[(4, 4)]),
        case("10-flow-list-multiline.yaml", "app", &[(5, 5)]),
        case("11-flow-entries-in-block-list.yaml", "app", &[(6, 6)]),
        case("12-flow-list-insert.yaml", "app", &[(4, 4)]),
        case("13-empty-flow-list.yaml", "app", &[(5, 5)]),
        case("14-null-images.yaml", "app", &[(5, 5)]),
        case("15-tilde-images.yaml", "app", &[(5, 5)]),
        case("16-no-images.yaml", "app", &[(6, 6)]),
        case("17-no-images-crlf.yaml", "app", &[(5, 5)]),
        case("18-crlf-edit.yaml", "app", &[(6, 8)]).new_name("registry.example.com/app"),
        case("19-no-final-line-break.yaml", "app", &[(8, 9)]),
        // The last line gains the line break it lacked, then the new lines follow.
        case("20-no-images-no-final-line-break.yaml", "app", &[(4, 5)]),
        case("21-bom.yaml", "app", &[(6, 7)]),
        case("22-double-quoted.yaml", "app", &[(6, 7)]),
        case("23-single-quoted-insert.yaml", "bravo", &[(8, 8)])
            .containers(&["bravo:1", "alpha:1"]),
        case("24-quoted-keys.yaml", "app", &[(6, 7)]),
        case(
            "25-registry-port.yaml",
            "registry.example.com:5000/acme/app",
            &[(6, 7)],
        )
        .containers(&["registry.example.com:5000/acme/app:v0", "db:14"]),
        case("26-registry-port-new-name.yaml", "app", &[(6, 7)])
            .new_name("registry.example.com:5000/acme/app"),
        case("27-name-carries-a-tag.yaml", "app:v1", &[(6, 7)]).containers(&["app:v1", "app:v2"]),
        case(
            "28-name-carries-a-digest.yaml",
            "app@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            &[(6, 7)],
        )
        .containers(&[
            "app@sha256:eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee",
            "app:v3",
        ]),
        case("29-insert-in-the-middle.yaml", "bravo", &[(8, 8)]).containers(&[
            "alpha:1",
            "bravo:1",
            "charlie:1",
        ]),
        case("30-insert-first.yaml", "app", &[(6, 6)]),
        case("31-insert-last.yaml", "zed", &[(10, 10)]).containers(&["zed:1", "db:14"]),
        case("32-unsorted-insert.yaml", "mike", &[(6, 6)])
            .containers(&["mike:1", "zed:1", "alpha:1"]),
        case(
            "33-duplicates-of-the-promoted-name.yaml",
            "app",
            &[(6, 7), (10, 12)],
        ),
        case("34-duplicates-of-another-name.yaml", "app", &[(11, 12)]).expect(Expect::SameFor {
            promoted: &[0],
            why: "kustomize collapses the two `db` entries into the first, so its edit changes \
                  what `db` runs (registry.example.com/db:15 becomes db:14); we leave `db` alone",
        }),
        case("35-merge-key-in-another-entry.yaml", "app", &[(12, 13)]).containers(&[
            "db:1",
            "db-replica:1",
            "app:1",
        ]),
        case("36-anchor-in-the-promoted-entry.yaml", "app", &[]).expect(refused(
            "UnsupportedKustomizationLayout",
            false,
            "the entry defines an anchor another entry merges: changing it would change both",
        )),
        case("37-merge-key-in-the-promoted-entry.yaml", "app-canary", &[]).expect(refused(
            "UnsupportedKustomizationLayout",
            false,
            "the entry's fields come partly from a merge key: it cannot be changed in place",
        )),
        case("38-indented-list.yaml", "mike", &[(8, 8)]).containers(&["mike:1", "zed:1"]),
        case("39-tag-first-on-the-dash-line.yaml", "app", &[(6, 8)]),
        case("40-tag-and-digest.yaml", "app", &[(6, 9)]),
        case("41-empty-values.yaml", "app", &[(6, 9)]),
        case("42-keys-in-other-cases.yaml", "app", &[(6, 8)]),
        case("43-several-documents.yaml", "app", &[]).expect(refused(
            "MalformedKustomization",
            false,
            "kustomize builds the first document only and its edit merges both into one; \
             which one is meant is ambiguous",
        )),
        case("44-repeated-key.yaml", "app", &[]).expect(refused(
            "MalformedKustomization",
            false,
            "kustomize silently uses the last `newTag`; a repeated key is ambiguous",
        )),
        case("45-unknown-field.yaml", "app", &[]).expect(refused(
            "MalformedKustomization",
            true,
            "kustomize refuses unknown fields in an image entry",
        )),
        case("46-number-where-a-string-belongs.yaml", "app", &[]).expect(refused(
            "MalformedKustomization",
            true,
            "kustomize reads `newTag: 1.20` as a number and refuses it",
        )),
        case("47-tabs-between-tokens.yaml", "app", &[(6, 7)]),
        case("48-block-scalar-value.yaml", "app", &[(6, 8)]),
        case("49-tag-on-another-entry.yaml", "app", &[(8, 9)]),
        case("50-comments-only-images.yaml", "app", &[(8, 8)]),
        case("51-document-markers.yaml", "app", &[(6, 6)]),
        case("52-similar-names.yaml", "app", &[(10, 11)]).containers(&[
            "app-worker:w",
            "registry.example.com/app:r",
            "app:v",
            "apps:s",
        ]),
        case("53-realistic-overlay.yaml", "bookstore/web", &[(32, 34)])
            .new_name("registry.example.com/bookstore/web")
            .containers(&["bookstore/catalog:1", "bookstore/web:2"]),
        case("54-flow-top-level.yaml", "app", &[(1, 1)]),
        case("55-four-space-indent.yaml", "mike", &[(8, 8)]).containers(&["mike:1", "alpha:1"]),
        case("56-tag-first-with-a-comment-below.yaml", "app", &[(6, 9)]),
        case("57-multi-line-values-elsewhere.yaml", "app", &[(9, 10)]),
        case("58-doc-start-comment-header.yaml", "app", &[(8, 9)]),
        case("59-new-name-inserted-flow.yaml", "app", &[(4, 4)]).new_name("reg.example.com/app"),
        // No resources: nothing renders, but kustomize must build both edits.
        case("60-empty-file.yaml", "app", &[(1, 1)]).containers(&[]),
        case("61-chained-renames.yaml", "z", &[(11, 11)])
            .containers(&["a:1", "b:1", "z:1"])
            .expect(Expect::SameFor {
                promoted: &[2],
                why: "entries apply one after the other and kustomize sorts the list, so its \
                      edit makes `a` run `c` instead of `b`; we keep the order",
            }),
    ]
}

fn corpus_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus"))
}

fn kustomize(dir: &Path, args: &[&str]) -> Result<String, String> {
    let bin = sealift_testrig::tools::kustomize().expect("the kustomize oracle");
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A fresh `base/` (a Deployment with one container per image) and `overlays/prod/` holding
/// `kustomization` as its kustomization.yaml. Returns the overlay directory.
fn overlay(root: &Path, containers: &[&str], kustomization: &str) -> std::path::PathBuf {
    let base = root.join("base");
    let prod = root.join("overlays/prod");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::create_dir_all(&prod).unwrap();
    std::fs::write(
        base.join("kustomization.yaml"),
        "resources:\n- deployment.yaml\n",
    )
    .unwrap();
    let mut deployment = String::from(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: shop\nspec:\n  template:\n    spec:\n      containers:\n",
    );
    for (i, image) in containers.iter().enumerate() {
        deployment.push_str(&format!("      - name: c{i}\n        image: \"{image}\"\n"));
    }
    std::fs::write(base.join("deployment.yaml"), deployment).unwrap();
    std::fs::write(prod.join("kustomization.yaml"), kustomization).unwrap();
    prod
}

/// The `image:` values `kustomize build` renders, in container order.
fn rendered_images(overlay: &Path) -> Result<Vec<String>, String> {
    let out = kustomize(overlay, &["build", "."])?;
    Ok(out
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("- image: ")
                .or_else(|| l.strip_prefix("image: "))
        })
        .map(|v| v.trim_matches(|c| c == '"' || c == '\'').to_owned())
        .collect())
}

/// The argument of `kustomize edit set image` with the meaning of our call.
fn set_image_arg(name: &str, new_name: Option<&str>, digest: &str) -> String {
    match new_name {
        Some(new_name) => format!("{name}={new_name}@{digest}"),
        // `NAME@DIGEST` splits at the first `@`; `NAME=@DIGEST` means the same for any name.
        None if name.contains('@') => format!("{name}=@{digest}"),
        None => format!("{name}@{digest}"),
    }
}

fn check_touched_lines(c: &Case, before: &str, after: &str) {
    let hunks = line_diff(before, after);
    assert!(!hunks.is_empty(), "{}: nothing changed", c.file);
    for hunk in &hunks {
        let allowed = c.touch.iter().any(|&(from, to)| {
            if hunk.removed.is_empty() {
                from <= hunk.at && hunk.at <= to + 1
            } else {
                hunk.removed.iter().all(|l| (from..=to).contains(l))
            }
        });
        assert!(
            allowed,
            "{}: the edit touches lines outside {:?}: {hunk:?}\n--- before\n{before}\n--- after\n{after}",
            c.file, c.touch
        );
    }
}

fn run_case(c: &Case) {
    let original = std::fs::read_to_string(corpus_dir().join(c.file)).unwrap();
    let d = digest();
    let ours = kustomize::set_image(c.file, &original, c.name, c.new_name, &d);
    let tmp = tempfile::tempdir().unwrap();
    let before_dir = overlay(&tmp.path().join("before"), c.containers, &original);
    if let Expect::Refused {
        category,
        kustomize_build_fails,
        why,
    } = &c.expect
    {
        let err = ours.expect_err(why);
        assert_eq!(err.category(), *category, "{}: {err}", c.file);
        if *kustomize_build_fails {
            assert!(
                rendered_images(&before_dir).is_err(),
                "{}: kustomize accepts it",
                c.file
            );
        }
        return;
    }
    let ours = ours.unwrap_or_else(|e| panic!("{}: {e}", c.file));
    assert!(ours.changed, "{}", c.file);

    let rendered_before = rendered_images(&before_dir).unwrap();
    let ours_dir = overlay(&tmp.path().join("ours"), c.containers, &ours.text);
    let rendered_ours = rendered_images(&ours_dir).unwrap_or_else(|e| {
        panic!(
            "{}: kustomize cannot build our edit: {e}\n{}",
            c.file, ours.text
        )
    });
    let theirs_dir = overlay(&tmp.path().join("theirs"), c.containers, &original);
    let arg = set_image_arg(c.name, c.new_name, &d);
    kustomize(&theirs_dir, &["edit", "set", "image", &arg]).unwrap();
    let rendered_theirs = rendered_images(&theirs_dir).unwrap();
    assert_eq!(rendered_ours.len(), c.containers.len(), "{}", c.file);

    match &c.expect {
        Expect::Same => assert_eq!(
            rendered_ours, rendered_theirs,
            "{}: kustomize renders differently\n--- ours\n{}",
            c.file, ours.text
        ),
        Expect::SameFor { promoted, why } => {
            for i in 0..c.containers.len() {
                if promoted.contains(&i) {
                    assert_eq!(
                        rendered_ours[i], rendered_theirs[i],
                        "{}: container {i}",
                        c.file
                    );
                } else {
                    assert_eq!(
                        rendered_ours[i], rendered_before[i],
                        "{}: container {i}",
                        c.file
                    );
                }
            }
            // The difference is real: otherwise this case should say `Same`.
            assert_ne!(rendered_ours, rendered_theirs, "{}: {why}", c.file);
        }
        Expect::Refused { .. } => unreachable!(),
    }
    // The promoted containers now run the digest.
    assert!(
        c.containers.is_empty() || rendered_ours.iter().any(|image| image.ends_with(&d)),
        "{}",
        c.file
    );

    check_touched_lines(c, &original, &ours.text);

    // Editing again changes nothing, and the source-side reader finds what was written.
    let again = kustomize::set_image(c.file, &ours.text, c.name, c.new_name, &d).unwrap();
    assert!(
        !again.changed && again.text == ours.text,
        "{}: not idempotent",
        c.file
    );
    let pinned = kustomize::pinned_digest(c.file, &ours.text, c.name).unwrap();
    assert_eq!(pinned.digest, d, "{}", c.file);
}

#[test]
fn every_corpus_file_has_a_case_and_there_are_at_least_forty() {
    let mut files: Vec<String> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    let listed: Vec<&str> = cases().iter().map(|c| c.file).collect();
    assert_eq!(files, listed);
    assert!(files.len() >= 40);
}

#[test]
fn our_edit_renders_exactly_what_kustomize_edit_set_image_renders() {
    let cases = cases();
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(panic) = std::panic::catch_unwind(|| run_case(c)) {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            failures.push(format!("{}: {message}", c.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

#[test]
fn prod_renders_the_exact_image_staging_renders_after_a_promotion() {
    let tmp = tempfile::tempdir().unwrap();
    let source = format!(
        "resources:\n- ../../base\nimages:\n- name: bookstore/catalog\n  newName: registry.example.com:5000/bookstore/catalog\n  newTag: 2.0.0\n  digest: {}\n",
        digest()
    );
    let target = "resources:\n- ../../base\nimages:\n- name: bookstore/catalog # pinned by Sealift\n  newTag: 1.9.0\n";
    let containers = &["bookstore/catalog:dev"];
    let staging = overlay(&tmp.path().join("staging"), containers, &source);
    let pinned = kustomize::pinned_digest("staging", &source, "bookstore/catalog").unwrap();
    assert_eq!(
        pinned.reference,
        "registry.example.com:5000/bookstore/catalog"
    );
    let edited = kustomize::set_image(
        "prod",
        target,
        &pinned.name,
        Some(&pinned.reference),
        &pinned.digest,
    )
    .unwrap();
    let prod = overlay(&tmp.path().join("prod"), containers, &edited.text);
    let staging_runs = rendered_images(&staging).unwrap();
    let prod_runs = rendered_images(&prod).unwrap();
    // Staging's render carries its tag too (`…:2.0.0@sha256:…`); the digest decides what runs.
    assert_eq!(
        staging_runs,
        vec![format!("{}:2.0.0@{}", pinned.reference, pinned.digest)]
    );
    assert_eq!(
        prod_runs,
        vec![format!("{}@{}", pinned.reference, pinned.digest)]
    );
}

#[test]
fn kustomize_reads_the_file_names_we_accept_and_refuses_two_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let prod = overlay(tmp.path(), &["app:1"], "resources:\n- ../../base\n");
    std::fs::remove_file(prod.join("kustomization.yaml")).unwrap();
    for name in kustomize::FILE_NAMES {
        std::fs::write(
            prod.join(name),
            "resources:\n- ../../base\nimages:\n- {name: app, newTag: '2'}\n",
        )
        .unwrap();
        assert_eq!(rendered_images(&prod).unwrap(), vec!["app:2"], "{name}");
        assert_eq!(
            kustomize::kustomization_file_name("prod", [name]).unwrap(),
            name
        );
        std::fs::remove_file(prod.join(name)).unwrap();
    }
    std::fs::write(
        prod.join(kustomize::FILE_NAMES[0]),
        "resources: [../../base]\n",
    )
    .unwrap();
    std::fs::write(
        prod.join(kustomize::FILE_NAMES[2]),
        "resources: [../../base]\n",
    )
    .unwrap();
    let err = rendered_images(&prod).unwrap_err();
    assert!(err.contains("Found multiple kustomization files"), "{err}");
    let ours = kustomize::kustomization_file_name(
        "prod",
        [kustomize::FILE_NAMES[0], kustomize::FILE_NAMES[2]],
    );
    assert!(matches!(ours, Err(KustomizeError::MultipleFiles { .. })));
}

#[test]
fn field_names_and_plain_scalar_types_are_read_like_kustomize_reads_them() {
    // kustomize matches keys case-insensitively (Go's encoding/json) and refuses non-strings.
    let tmp = tempfile::tempdir().unwrap();
    for (i, (value, string)) in [
        ("v1", true),
        ("2021-01-01", true),
        ("12:30", true),
        ("1.2.3", true),
        ("1e", true),
        ("true1", true),
        ("'1.20'", true),
        ("1.20", false),
        ("yes", false),
        ("y", false),
        ("on", false),
        ("True", false),
        ("0x1F", false),
        ("0o17", false),
        ("0b101", false),
        ("1_000", false),
        ("017", false),
        ("+1", false),
        ("-1", false),
        ("1e3", false),
        (".inf", false),
        ("~", true),
        ("", true),
    ]
    .into_iter()
    .enumerate()
    {
        let text = format!("resources:\n- ../../base\nIMAGES:\n- Name: app\n  NEWTAG: {value}\n");
        let dir = tmp.path().join(format!("t{i}"));
        let prod = overlay(&dir, &["app"], &text);
        let theirs = rendered_images(&prod);
        let ours = kustomize::parse_images("k", &text);
        assert_eq!(theirs.is_ok(), string, "kustomize on {value:?}: {theirs:?}");
        assert_eq!(ours.is_ok(), string, "we on {value:?}: {ours:?}");
        if let (Ok(theirs), Ok(ours)) = (theirs, ours) {
            // A null tag means "not set" to both.
            let expected = match &ours[0].new_tag {
                Some(tag) => format!("app:{tag}"),
                None => "app".to_owned(),
            };
            assert_eq!(theirs, vec![expected], "{value:?}");
        }
    }
}

#[test]
fn the_line_diff_used_above_reports_removed_lines_and_insertion_points() {
    let hunks = line_diff("a\nb\nc\n", "a\nB\nc\nd\n");
    assert_eq!(hunks.len(), 2, "{hunks:?}");
    assert_eq!((hunks[0].removed.clone(), hunks[0].added), (vec![2], 1));
    assert_eq!(
        (hunks[1].removed.clone(), hunks[1].added, hunks[1].at),
        (vec![], 1, 4)
    );
    // A line that only gains its line break changes.
    assert_eq!(line_diff("a", "a\n")[0].removed, vec![1]);
}
