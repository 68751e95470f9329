//! The one-file plug-in experiment `di_convergence` at smoke scale: its numbers obey the
//! time constants of the linear dynamics, and a snapshot shows any change for review.

mod common;

use common::{rounded, smoke_summary};

fn value(s: &serde_json::Value, model: &str, metric: &str) -> f64 {
    s.pointer(&format!("/runs/euler/{model}/{metric}"))
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{model} {metric}"))
}

#[test]
fn convergence_follows_the_time_constants() {
    let (s, models) = smoke_summary("ext_di_convergence");
    assert_eq!(models.len(), 6, "{models:?}");
    // The slowest mode decays at least at rate α (Tr-Init: λ(W Wᵀ) ≥ 0 adds to it).
    // By time 10000 that is e^{-100} or less for α ≥ 0.01: converged to rounding.
    for m in [
        "h0.01-a0.1",
        "h0.01-a0.01",
        "h0.5-a0.1",
        "h0.5-a0.01",
        "h0.5-a0.001",
    ] {
        let r = value(&s, m, "rel_error_at_t10000");
        assert!(r < 1e-9, "{m}: {r}");
    }
    // At α = 0.001 and weights U(±0.01) (λ(W Wᵀ) ≤ about 0.002), time 1000 is one to
    // three time constants: neither converged nor at the start.
    let r = value(&s, "h0.01-a0.001", "rel_error_at_t1000");
    assert!((0.01..0.9).contains(&r), "{r}");
    // From rest the distance is the whole steady state: 1 at t = 0, just below at t = 1.
    for m in &models {
        let r = value(&s, m, "rel_error_at_t1");
        assert!(r > 0.5 && r <= 1.0, "{m}: {r}");
    }
    insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_yaml_snapshot!("ext_di_convergence_smoke_summary", rounded(&s, 4));
    });
}
