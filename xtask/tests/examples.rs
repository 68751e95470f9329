//! The worked examples in `pipelines/examples/` (README, "Adding an experiment") run at
//! smoke scale through `cargo xtask reproduce --pipelines`, and the claims they declare
//! as data get the verdicts that the summary's seed values give when judged here by hand.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn seed_values(summary: &Value, model: &str, metric: &str) -> Vec<f64> {
    summary
        .pointer(&format!(
            "/example_deep_di/seed_values/fixed_lr/{model}/{metric}"
        ))
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{model} {metric} in the summary"))
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

/// The verdict word for `ok` of `total` comparisons (all: holds; none: does not hold).
fn verdict(ok: usize, total: usize) -> &'static str {
    match ok {
        0 => "does not hold",
        k if k == total => "holds",
        _ => "partly",
    }
}

#[test]
fn the_deep_di_example_runs_and_its_declared_claims_are_judged() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["reproduce", "--scale", "smoke", "--quiet", "--pipelines"])
        .arg(root.join("pipelines/examples"))
        .arg("--results")
        .arg(tmp.path())
        .env_remove("DINV_DATA_DIR")
        .env("DINV_NO_SYSTEM_DATA", "1")
        .output()
        .expect("xtask starts");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    let summary: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("summary.json")).unwrap()).unwrap();
    let report = std::fs::read_to_string(tmp.path().join("REPRODUCTION.md")).unwrap();
    // The sweep made four inversion models.
    let order: Vec<&str> = summary["example_deep_di"]["model_order"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        order,
        [
            "BP",
            "FA",
            "NDI-Tr-0.001",
            "DI-Tr-0.001",
            "NDI-Tr-0.01",
            "DI-Tr-0.01"
        ]
    );
    let dis = ["DI-Tr-0.001", "DI-Tr-0.01"];
    // Claim 1: each DI below FA, seed by seed.
    let fa = seed_values(&summary, "FA", "final_nmse");
    let ok = dis
        .iter()
        .flat_map(|m| {
            seed_values(&summary, m, "final_nmse")
                .into_iter()
                .zip(fa.clone())
        })
        .filter(|(d, f)| d < f)
        .count();
    let row = |figure: &str| {
        report
            .lines()
            .find(|l| l.starts_with(&format!("| {figure} |")))
            .unwrap_or_else(|| panic!("no table row for {figure}:\n{report}"))
            .to_string()
    };
    assert!(
        row("deep_error").contains(&format!("| **{}** |", verdict(ok, 2 * fa.len()))),
        "{ok}: {}",
        row("deep_error")
    );
    // Claim 2: the first hidden layer's settled angle below 10°.
    let angles: Vec<f64> = dis
        .iter()
        .flat_map(|m| seed_values(&summary, m, "settled_angle_di_ndi_deg_l1"))
        .collect();
    let ok = angles.iter().filter(|a| **a < 10.0).count();
    assert!(
        row("deep_angle").contains(&format!("| **{}** |", verdict(ok, angles.len()))),
        "{angles:?}: {}",
        row("deep_angle")
    );
    // The verdicts also reach the figures' captions.
    assert!(report.contains("- **deep_angle**:") && report.contains("stays within 10°"));
}
