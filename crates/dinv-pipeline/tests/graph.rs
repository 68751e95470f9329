//! Graph construction, validation and selection.

use std::sync::Arc;

use dinv_pipeline::{Graph, GraphError, StageContext, StageError, StageRunner, StageSpec};

fn noop() -> Arc<dyn StageRunner> {
    Arc::new(|_: &mut StageContext<'_>| -> Result<(), StageError> { Ok(()) })
}

fn stage(id: &str, inputs: &[&str]) -> StageSpec {
    StageSpec::new(id, "test", 1, noop()).with_inputs(inputs.iter().copied())
}

fn graph(stages: &[(&str, &[&str])]) -> Graph {
    let mut g = Graph::new();
    for (id, inputs) in stages {
        g.add(stage(id, inputs)).unwrap();
    }
    g
}

#[test]
fn duplicate_id_is_rejected() {
    let mut g = Graph::new();
    g.add(stage("a", &[])).unwrap();
    let err = g.add(stage("a", &[])).unwrap_err();
    assert_eq!(err, GraphError::DuplicateId { id: "a".into() });
    assert!(err.to_string().contains("`a`"));
}

#[test]
fn malformed_ids_and_kinds_are_rejected() {
    let mut g = Graph::new();
    for id in ["", "/a", "a/", "a//b"] {
        assert!(
            matches!(g.add(stage(id, &[])), Err(GraphError::InvalidId { .. })),
            "{id:?}"
        );
    }
    for kind in ["", ".hidden", "a/b", "with space"] {
        let s = StageSpec::new("x", kind, 1, noop());
        assert!(
            matches!(g.add(s), Err(GraphError::InvalidKind { .. })),
            "{kind:?}"
        );
    }
}

#[test]
fn unknown_input_is_rejected() {
    let g = graph(&[("a", &[]), ("b", &["a", "missing"])]);
    let err = g.validate().unwrap_err();
    assert_eq!(
        err,
        GraphError::UnknownInput {
            id: "b".into(),
            input: "missing".into()
        }
    );
}

#[test]
fn repeated_input_is_rejected() {
    let g = graph(&[("a", &[]), ("b", &["a", "a"])]);
    assert!(matches!(
        g.validate(),
        Err(GraphError::DuplicateInput { .. })
    ));
}

#[test]
fn cycle_is_rejected_and_named() {
    let g = graph(&[
        ("root", &[]),
        ("a", &["root", "c"]),
        ("b", &["a"]),
        ("c", &["b"]),
        ("d", &["c"]),
    ]);
    let err = g.validate().unwrap_err();
    let GraphError::Cycle { cycle } = &err else {
        panic!("expected a cycle, got {err}");
    };
    assert_eq!(cycle.first(), cycle.last());
    let mut members: Vec<&str> = cycle[1..].iter().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["a", "b", "c"]);
    assert!(err.to_string().contains(" -> "));
}

#[test]
fn self_loop_is_a_cycle() {
    let g = graph(&[("a", &["a"])]);
    assert!(matches!(g.validate(), Err(GraphError::Cycle { .. })));
}

#[test]
fn topological_order_puts_inputs_first_and_keeps_insertion_order() {
    let g = graph(&[
        ("report", &["train/b", "train/a"]),
        ("train/a", &["data"]),
        ("train/b", &["data"]),
        ("data", &[]),
        ("other", &[]),
    ]);
    let order: Vec<&str> = g
        .topological_order()
        .unwrap()
        .into_iter()
        .map(|i| g.stages()[i].id.as_str())
        .collect();
    assert_eq!(order, ["data", "train/a", "train/b", "report", "other"]);
}

fn paper() -> Graph {
    graph(&[
        ("data/teacher", &[]),
        ("data/mnist", &[]),
        ("fig3/train/bp", &["data/teacher"]),
        ("fig3/train/di", &["data/teacher"]),
        ("fig3/analysis", &["fig3/train/bp", "fig3/train/di"]),
        ("fig4/train/bp", &["data/mnist"]),
        ("fig4/analysis", &["fig4/train/bp"]),
        ("fig3b", &[]),
    ])
}

#[test]
fn select_pulls_in_ancestors_only() {
    let g = paper();
    let sub = g.select(&["fig3/analysis".to_string()]).unwrap();
    assert_eq!(
        sub.ids(),
        [
            "data/teacher",
            "fig3/train/bp",
            "fig3/train/di",
            "fig3/analysis"
        ]
    );
    sub.validate().unwrap();

    let sub = g
        .select(&["fig3/train/di".to_string(), "fig4".to_string()])
        .unwrap();
    assert_eq!(
        sub.ids(),
        [
            "data/teacher",
            "data/mnist",
            "fig3/train/di",
            "fig4/train/bp",
            "fig4/analysis"
        ]
    );
}

#[test]
fn select_matches_prefixes_at_slash_boundaries() {
    let g = paper();
    // `fig3` must not pull in `fig3b`, and a trailing slash is accepted.
    let sub = g.select(&["fig3/".to_string()]).unwrap();
    assert!(!sub.ids().contains(&"fig3b"));
    assert!(sub.ids().contains(&"fig3/analysis"));
    let err = g.select(&["fig3/tr".to_string()]).unwrap_err();
    assert!(matches!(err, GraphError::UnknownPattern { .. }));
}

#[test]
fn select_rejects_unknown_names_listing_the_valid_ones() {
    let g = paper();
    let err = g.select(&["fig5".to_string()]).unwrap_err();
    assert_eq!(
        err,
        GraphError::UnknownPattern {
            pattern: "fig5".into(),
            valid: vec!["data".into(), "fig3".into(), "fig3b".into(), "fig4".into()],
        }
    );
    assert!(err.to_string().contains("data, fig3, fig3b, fig4"), "{err}");
}

#[test]
fn empty_selection_is_the_whole_graph() {
    let g = paper();
    assert_eq!(g.select(&[]).unwrap().ids(), g.ids());
}

/// A typed stage: `StageSpec::of` takes the kind and version from the type, records the
/// parameters' JSON form (what the key hashes), and the runner receives the struct as
/// built (a sum of floats arrives with the same bits).
#[test]
fn typed_stage_carries_kind_version_and_params() {
    use dinv_pipeline::{Executor, Stage, StageId};
    #[derive(serde::Serialize)]
    struct Scaled {
        factor: f64,
    }
    impl Stage for Scaled {
        const KIND: &'static str = "scaled";
        const VERSION: u32 = 7;
        fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
            let seen = serde_json::json!({ "bits": self.factor.to_bits() });
            ctx.write_json("seen", &seen)
        }
    }
    let factor = 0.1 + 0.2;
    let spec = StageSpec::of(StageId::new("p", "s").for_seed(3), Scaled { factor });
    assert_eq!(spec.id, "p/s3/s");
    assert_eq!((spec.kind.as_str(), spec.kind_version), ("scaled", 7));
    assert_eq!(spec.params, serde_json::json!({ "factor": factor }));
    assert_eq!(
        spec.place.as_ref().map(ToString::to_string),
        Some(spec.id.clone())
    );
    let mut g = Graph::new();
    g.add(spec).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let report = Executor::new(dir.path().to_path_buf())
        .quiet(true)
        .run(&g)
        .unwrap();
    let seen = report.outputs("p/s3/s").unwrap().json("seen").unwrap();
    assert_eq!(seen["bits"].as_u64(), Some(factor.to_bits()));
}
