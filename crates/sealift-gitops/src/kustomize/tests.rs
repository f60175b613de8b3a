//! Unit tests of the kustomize module: exact bytes for each editing rule. The same rules are
//! compared with the real kustomize binary in `tests/kustomize_oracle.rs`.

use super::*;

fn d() -> String {
    format!("sha256:{}", "d".repeat(64))
}

fn e() -> String {
    format!("sha256:{}", "e".repeat(64))
}

/// `set_image` that must change the text; returns the new text.
fn set(text: &str, name: &str, new_name: Option<&str>) -> String {
    let edited = set_image("k.yaml", text, name, new_name, &d()).unwrap();
    assert!(edited.changed, "expected a change for {text:?}");
    // Editing twice is editing once.
    let again = set_image("k.yaml", &edited.text, name, new_name, &d()).unwrap();
    assert_eq!(
        again,
        Edited {
            text: edited.text.clone(),
            changed: false
        }
    );
    edited.text
}

#[test]
fn a_tag_becomes_a_digest_on_the_same_line_and_its_comment_stays() {
    let text = "resources:\n- deployment.yaml\nimages:\n- name: app\n  newTag: v1 # from CI\n";
    assert_eq!(
        set(text, "app", None),
        format!(
            "resources:\n- deployment.yaml\nimages:\n- name: app\n  digest: {} # from CI\n",
            d()
        )
    );
}

#[test]
fn an_existing_digest_is_replaced_in_its_own_quote_style() {
    for (q, r) in [("\"", "\""), ("'", "'"), ("", "")] {
        let text = format!(
            "images:\n  - name: app # the app\n    digest: {q}{}{r}  # pinned\n",
            e()
        );
        assert_eq!(
            set(&text, "app", None),
            format!(
                "images:\n  - name: app # the app\n    digest: {q}{}{r}  # pinned\n",
                d()
            )
        );
    }
}

#[test]
fn without_a_new_name_an_existing_new_name_is_dropped_like_kustomize_does() {
    let text = format!(
        "images:\n- name: app\n  newName: registry.example.com/app\n  digest: {}\n",
        e()
    );
    assert_eq!(
        set(&text, "app", None),
        format!("images:\n- name: app\n  digest: {}\n", d())
    );
}

#[test]
fn a_new_name_is_written_right_after_the_name() {
    let text = "images:\n- name: app\n  newTag: v1\n";
    assert_eq!(
        set(text, "app", Some("reg.example.com:5000/acme/app")),
        format!(
            "images:\n- name: app\n  newName: reg.example.com:5000/acme/app\n  digest: {}\n",
            d()
        )
    );
    let text = "images:\n- name: app\n  newName: old/app\n  newTag: v1\n";
    assert_eq!(
        set(text, "app", Some("new/app")),
        format!(
            "images:\n- name: app\n  newName: new/app\n  digest: {}\n",
            d()
        )
    );
}

#[test]
fn a_new_name_equal_to_the_bare_name_adds_no_line() {
    let text = "images:\n- name: app\n  newTag: v1\n";
    assert_eq!(
        set(text, "app", Some("app")),
        format!("images:\n- name: app\n  digest: {}\n", d())
    );
    // ... and an existing `newName: app` may stay.
    let text = "images:\n- name: app\n  newName: app\n  newTag: v1\n";
    assert_eq!(
        set(text, "app", None),
        format!("images:\n- name: app\n  newName: app\n  digest: {}\n", d())
    );
    // A name carrying a tag is not bare: `newName: app` differs from it and is written.
    let text = "images:\n- name: app:v1\n";
    assert_eq!(
        set(text, "app:v1", Some("app")),
        format!(
            "images:\n- name: app:v1\n  newName: app\n  digest: {}\n",
            d()
        )
    );
}

#[test]
fn a_missing_entry_goes_where_kustomizes_sort_puts_it_and_nothing_moves() {
    let text =
        "images:\n- name: alpha\n  newTag: a\n# zulu is the database\n- name: zulu\n  newTag: z\n";
    assert_eq!(
        set(text, "mike", None),
        format!(
            "images:\n- name: alpha\n  newTag: a\n- name: mike\n  digest: {}\n# zulu is the database\n- name: zulu\n  newTag: z\n",
            d()
        )
    );
    assert_eq!(
        set(text, "zz", None),
        format!("{text}- name: zz\n  digest: {}\n", d())
    );
    // Unsorted lists are not sorted: the new entry goes before the first name after it.
    let text = "images:\n- name: zulu\n- name: alpha\n";
    assert_eq!(
        set(text, "mike", None),
        format!(
            "images:\n- name: mike\n  digest: {}\n- name: zulu\n- name: alpha\n",
            d()
        )
    );
}

#[test]
fn a_new_entry_copies_its_neighbours_indentation_and_quotes() {
    let text = "images:\n    -   name: 'zulu'\n        digest: \"x\"\n";
    assert_eq!(
        set(text, "alpha", Some("reg/alpha")),
        format!(
            "images:\n    -   name: 'alpha'\n        newName: 'reg/alpha'\n        digest: \"{}\"\n    -   name: 'zulu'\n        digest: \"x\"\n",
            d()
        )
    );
}

#[test]
fn flow_lists_stay_flow() {
    let text = format!(
        "images: [{{name: app, newTag: v1}}, {{ name: b, digest: {} }}]\n",
        e()
    );
    assert_eq!(
        set(&text, "app", None),
        format!(
            "images: [{{name: app, digest: {}}}, {{ name: b, digest: {} }}]\n",
            d(),
            e()
        )
    );
    assert_eq!(
        set(&text, "c", None),
        format!(
            "images: [{{name: app, newTag: v1}}, {{ name: b, digest: {} }}, {{ name: c, digest: {} }}]\n",
            e(),
            d()
        )
    );
    assert_eq!(
        set("images: []\n", "app", None),
        format!("images: [{{name: app, digest: {}}}]\n", d())
    );
    assert_eq!(
        set(
            "images: [{newTag: v1, name: app, newName: x}]\n",
            "app",
            None
        ),
        format!("images: [{{digest: {}, name: app}}]\n", d())
    );
}

#[test]
fn a_null_images_field_gets_a_block_list() {
    for null in ["", " ~", " null", "  # none yet"] {
        let text = format!("resources:\n  - d.yaml\nimages:{null}\nnamePrefix: p-\n");
        let kept_comment = if null.contains('#') { null } else { "" };
        assert_eq!(
            set(&text, "app", None),
            format!(
                "resources:\n  - d.yaml\nimages:{kept_comment}\n  - name: app\n    digest: {}\nnamePrefix: p-\n",
                d()
            )
        );
    }
}

#[test]
fn a_file_without_images_gets_them_at_the_end_in_its_own_line_breaks() {
    assert_eq!(
        set("resources:\n- d.yaml\n", "app", None),
        format!(
            "resources:\n- d.yaml\nimages:\n- name: app\n  digest: {}\n",
            d()
        )
    );
    assert_eq!(
        set("resources:\r\n- d.yaml\r\n", "app", None),
        format!(
            "resources:\r\n- d.yaml\r\nimages:\r\n- name: app\r\n  digest: {}\r\n",
            d()
        )
    );
    assert_eq!(
        set("resources:\n- d.yaml", "app", None),
        format!(
            "resources:\n- d.yaml\nimages:\n- name: app\n  digest: {}",
            d()
        )
    );
    assert_eq!(
        set("", "app", None),
        format!("images:\n- name: app\n  digest: {}\n", d())
    );
    assert_eq!(
        set("resources: [d.yaml]\n...\n", "app", None),
        format!(
            "resources: [d.yaml]\nimages:\n- name: app\n  digest: {}\n...\n",
            d()
        )
    );
    assert_eq!(
        set("{resources: [d.yaml]}\n", "app", None),
        format!(
            "{{resources: [d.yaml], images: [{{name: app, digest: {}}}]}}\n",
            d()
        )
    );
}

#[test]
fn crlf_bom_and_a_missing_final_line_break_are_kept() {
    let text = "\u{feff}images:\r\n- name: app\r\n  newTag: v1\r\n  newName: x";
    assert_eq!(
        set(text, "app", None),
        format!("\u{feff}images:\r\n- name: app\r\n  digest: {}", d())
    );
}

#[test]
fn a_field_on_the_dash_line_is_removed_without_breaking_the_entry() {
    let text = format!("images:\n- newTag: v1\n  name: app\n  digest: {}\n", e());
    assert_eq!(
        set(&text, "app", None),
        format!("images:\n- name: app\n  digest: {}\n", d())
    );
    let text = format!(
        "images:\n- newTag: v1 # old\n  # keep me\n  name: app\n  digest: {}\n",
        e()
    );
    assert_eq!(
        set(&text, "app", None),
        format!("images:\n-\n  # keep me\n  name: app\n  digest: {}\n", d())
    );
}

#[test]
fn duplicate_entries_of_the_promoted_name_collapse_into_the_first() {
    let text = "images:\n- name: app\n  newTag: v1\n- name: other\n  newTag: o\n- name: app\n  newName: x\n  newTag: v2\n";
    assert_eq!(
        set(text, "app", None),
        format!(
            "images:\n- name: app\n  digest: {}\n- name: other\n  newTag: o\n",
            d()
        )
    );
}

#[test]
fn comments_blank_lines_and_other_entries_are_untouched() {
    let text = "# overlay for prod\n\nimages:   # pinned by Sealift\n\n  # the shop\n  - name: shop # keep\n    # tag below\n    newTag: \"1.2\"\n\n  - name: db\n    newTag: '15'\n\nresources: [../../base]\n";
    assert_eq!(
        set(text, "shop", None),
        format!(
            "# overlay for prod\n\nimages:   # pinned by Sealift\n\n  # the shop\n  - name: shop # keep\n    # tag below\n    digest: \"{}\"\n\n  - name: db\n    newTag: '15'\n\nresources: [../../base]\n",
            d()
        )
    );
}

#[test]
fn keys_kustomize_matches_case_insensitively_are_edited_in_place() {
    let text = "IMAGES:\n- NAME: app\n  NewTag: v1\n";
    assert_eq!(
        set(text, "app", None),
        format!("IMAGES:\n- NAME: app\n  digest: {}\n", d())
    );
}

#[test]
fn an_entry_that_already_is_exactly_that_is_not_changed() {
    let text = format!("images:\n- name: app # c\n  digest: {}\n", d());
    let edited = set_image("k.yaml", &text, "app", None, &d()).unwrap();
    assert_eq!(
        edited,
        Edited {
            text: text.clone(),
            changed: false
        }
    );
    let edited = set_image("k.yaml", &text, "app", Some("app"), &d()).unwrap();
    assert!(!edited.changed);
    // An empty newTag means "not set" to kustomize.
    let text = format!("images:\n- name: app\n  newTag: ''\n  digest: {}\n", d());
    assert!(
        !set_image("k.yaml", &text, "app", None, &d())
            .unwrap()
            .changed
    );
}

#[test]
fn editing_through_an_alias_or_anchor_is_refused_and_says_why() {
    let text = "images:\n- &app\n  name: app\n  newTag: v1\n- <<: *app\n  name: app2\n";
    let err = set_image("k.yaml", text, "app", None, &d()).unwrap_err();
    assert_eq!(err.category(), "UnsupportedKustomizationLayout");
    assert!(err.to_string().contains("anchor `&app`"), "{err}");
    // Other entries may use anchors: the promoted one does not.
    let edited = set(text, "zed", None);
    assert!(
        edited.ends_with(&format!("- name: zed\n  digest: {}\n", d())),
        "{edited}"
    );
}

#[test]
fn bad_arguments_are_clear_errors_and_nothing_is_read() {
    let text = "not: [valid";
    let err = set_image("k.yaml", text, "app", None, "sha256:abc").unwrap_err();
    assert_eq!(err.category(), "InvalidDigest");
    let err = set_image("k.yaml", text, "app\nimages: []", None, &d()).unwrap_err();
    assert_eq!(err.category(), "InvalidImageName");
    assert!(
        err.to_string().contains("\\n"),
        "the name is escaped: {err}"
    );
    let err = set_image("k.yaml", text, "app", Some("x@sha256:1"), &d()).unwrap_err();
    assert_eq!(err.category(), "InvalidImageName");
    let err = set_image("k.yaml", text, "app", None, &d()).unwrap_err();
    assert_eq!(err.category(), "MalformedKustomization");
    assert!(
        err.to_string()
            .starts_with("`k.yaml` is not a valid kustomization"),
        "{err}"
    );
}

#[test]
fn a_tag_only_source_image_is_an_error_naming_the_file_and_entry() {
    let text = "images:\n- name: db\n  digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n- name: app\n  newTag: v1.2\n";
    let err = pinned_digest("overlays/staging/kustomization.yaml", text, "app").unwrap_err();
    assert!(
        matches!(&err, KustomizeError::NotPinnedByDigest { index: 1, tag: Some(t), .. } if t == "v1.2")
    );
    assert_eq!(err.category(), "ImageNotPinnedByDigest");
    let message = err.to_string();
    assert!(
        message.contains("overlays/staging/kustomization.yaml"),
        "{message}"
    );
    assert!(message.contains("images[1] (`app`)"), "{message}");
    assert!(message.contains("tag `v1.2`"), "{message}");
}

#[test]
fn the_source_digest_comes_with_the_reference_that_runs() {
    let text = format!(
        "images:\n- name: app\n  newName: reg.example.com:5000/acme/app\n  newTag: ignored\n  digest: {}\n- name: web:1.0\n  digest: {}\n- name: tagged\n  newTag: v1\n",
        d(),
        e()
    );
    assert_eq!(
        pinned_digest("k", &text, "app").unwrap(),
        PinnedImage {
            name: "app".into(),
            reference: "reg.example.com:5000/acme/app".into(),
            digest: d()
        }
    );
    assert_eq!(
        pinned_images("k", &text).unwrap(),
        vec![
            PinnedImage {
                name: "app".into(),
                reference: "reg.example.com:5000/acme/app".into(),
                digest: d()
            },
            PinnedImage {
                name: "web:1.0".into(),
                reference: "web".into(),
                digest: e()
            },
        ]
    );
}

#[test]
fn entries_without_a_name_pin_nothing() {
    let text = format!(
        "images:\n- digest: {}\n-\n- name: app\n  digest: {}\n",
        d(),
        e()
    );
    let pinned = pinned_images("k", &text).unwrap();
    assert_eq!(
        pinned.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
        vec!["app"]
    );
}

#[test]
fn unlisted_duplicated_and_badly_pinned_source_images_are_errors() {
    let text = format!(
        "images:\n- name: a\n  digest: {}\n- name: a\n  digest: {}\n- name: b\n  digest: sha256:ABC\n",
        d(),
        e()
    );
    assert_eq!(
        pinned_digest("k", &text, "zzz").unwrap_err().category(),
        "ImageNotInOverlay"
    );
    let dup = pinned_digest("k", &text, "a").unwrap_err();
    assert!(matches!(&dup, KustomizeError::DuplicateImage { indices, .. } if indices == &[0, 1]));
    assert_eq!(
        pinned_images("k", &text).unwrap_err().category(),
        "DuplicateImageInOverlay"
    );
    assert_eq!(
        pinned_digest("k", &text, "b").unwrap_err().category(),
        "InvalidPinnedDigest"
    );
}

#[test]
fn the_kustomization_file_is_the_one_name_kustomize_accepts() {
    assert_eq!(
        kustomization_file_name("o", ["x.yaml", "Kustomization"]).unwrap(),
        "Kustomization"
    );
    assert_eq!(
        kustomization_file_name("o", ["x.yaml"])
            .unwrap_err()
            .category(),
        "KustomizationNotFound"
    );
    let err =
        kustomization_file_name("o", ["kustomization.yml", "kustomization.yaml"]).unwrap_err();
    assert_eq!(err.category(), "MultipleKustomizationFiles");
    assert!(
        err.to_string()
            .contains("kustomization.yaml, kustomization.yml"),
        "{err}"
    );
}

#[test]
fn several_documents_are_refused_rather_than_guessed() {
    let err = set_image("k.yaml", "images: []\n---\nimages: []\n", "app", None, &d()).unwrap_err();
    assert_eq!(err.category(), "MalformedKustomization");
    assert!(
        err.to_string()
            .contains("several YAML documents (line 3, column 1)"),
        "{err}"
    );
    let err = parse_images("k.yaml", "images:\n- name: a\n  newTag: x\n  newTag: y\n").unwrap_err();
    assert!(
        err.to_string().contains("key `newTag` is given twice"),
        "{err}"
    );
}

#[test]
fn categories_are_valid_condition_reasons() {
    let all = [
        KustomizeError::malformed("f", "r"),
        KustomizeError::ImageNotListed {
            file: "f".into(),
            name: "n".into(),
        },
        KustomizeError::NotPinnedByDigest {
            file: "f".into(),
            name: "n".into(),
            index: 0,
            tag: None,
        },
        KustomizeError::DuplicateImage {
            file: "f".into(),
            name: "n".into(),
            indices: vec![],
        },
        KustomizeError::InvalidDigest { digest: "x".into() },
        KustomizeError::InvalidPinnedDigest {
            file: "f".into(),
            name: "n".into(),
            index: 0,
            digest: "x".into(),
        },
        KustomizeError::InvalidImageName {
            what: "name",
            value: "x".into(),
            reason: "r".into(),
        },
        KustomizeError::unsupported("f", "r"),
        KustomizeError::self_check("f", "r"),
        KustomizeError::MultipleFiles {
            dir: "d".into(),
            names: vec![],
        },
        KustomizeError::NotFound { dir: "d".into() },
    ];
    let mut seen = std::collections::HashSet::new();
    for err in &all {
        let c = err.category();
        assert!(
            c.chars().all(|c| c.is_ascii_alphanumeric()) && c.starts_with(char::is_uppercase),
            "{c}"
        );
        assert!(seen.insert(c), "{c} is used twice");
    }
}
