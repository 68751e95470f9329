//! The classification pipeline as stages: data (validate MNIST) → one training stage
//! per model → analysis per seed → summary and figures (shared with the regressions).

use dinv_core::init::uniform_mat;
use dinv_core::{Credit, Method};
use dinv_data::mnist::SplitName;
use dinv_data::preprocess::PixelStats;
use dinv_pipeline::{
    derive_seed, rng_from_seed, Graph, Stage, StageContext, StageError, StageId, StageResultExt,
    StageSpec, Table,
};
use faer::Mat;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::config::{ClassificationConfig, NetworkSpec};
use super::train::{train_from, Classifier, Interval, Setup, TrainState};
use crate::checkpoint::{mat_values, static_name, take_mat};
use crate::curves::{group, MetricLog};
use crate::mnist_data::{Dataset, Normalisation, Source};
use crate::spec::{ModelSpec, Scale};
use crate::tables::matrices_to_table;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DataParams {
    dataset: Dataset,
    /// Left out of the key when full, so full-data keys are those from before sources.
    #[serde(default, skip_serializing_if = "Source::is_full")]
    source: Source,
    identity: Value,
}

impl Stage for DataParams {
    const KIND: &'static str = "mnist_data";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        data_stage(self, ctx)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainParams {
    dataset: Dataset,
    #[serde(default, skip_serializing_if = "Source::is_full")]
    source: Source,
    normalisation: Normalisation,
    train_examples: usize,
    test_examples: usize,
    network: NetworkSpec,
    model: ModelSpec,
    epochs: usize,
    update: dinv_core::UpdateRule,
    evaluations_per_epoch: usize,
    window: usize,
    euler_check_every: usize,
    euler_reference: dinv_core::Integration,
    /// Shared streams, so that every model starts from the same weights, sees the same
    /// random feedback and the same example order.
    init_seed: u64,
    feedback_seed: u64,
    order_seed: u64,
    /// [`dinv_core::dynamics::SOLVER_REVISION`] for models that run DI (absent for the
    /// others, whose cache entries a change to the DI solvers must not touch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    di_solver_revision: Option<u32>,
    /// DI models' re-stabilisation (absent for the others, and when not configured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    restabilise: Option<dinv_core::SsaConfig>,
    /// Extra curves (`training.diagnostics`); in the key only when on, so pipelines
    /// without them keep their cache entries.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    diagnostics: bool,
}

impl Stage for TrainParams {
    const KIND: &'static str = "mnist_classification_train";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        train_stage(self, ctx)
    }
}

/// Adds data, training and analysis stages of every seed; returns the analysis ids.
pub(crate) fn add_stages(
    cfg: &ClassificationConfig,
    scale: Scale,
    graph: &mut Graph,
) -> Result<Vec<String>, String> {
    let source = cfg.data.source.at(scale);
    let identity = cfg.data.dataset.identity(source)?;
    let mut analyses = Vec::new();
    for seed in cfg.pipeline.seeds.at(scale) {
        let data_id = StageId::new(&cfg.pipeline.name, "data").for_seed(seed);
        graph
            .add(
                StageSpec::of(
                    data_id.clone(),
                    DataParams {
                        dataset: cfg.data.dataset,
                        source,
                        identity: identity.clone(),
                    },
                )
                .with_master_seed(seed),
            )
            .map_err(|e| e.to_string())?;
        let mut train_ids = Vec::new();
        for model in &cfg.models {
            let mut model = model.clone();
            if model.method == Method::Di && model.di.is_none() {
                model.di = cfg.training.di;
            }
            let params = TrainParams {
                dataset: cfg.data.dataset,
                source,
                normalisation: cfg.data.normalisation,
                train_examples: cfg.data.train_examples.at(scale),
                test_examples: cfg.data.test_examples.at(scale),
                network: cfg.network.clone(),
                model: model.clone(),
                epochs: match (&cfg.training.di_epochs, model.method) {
                    (Some(e), Method::Di) => e.at(scale).min(cfg.training.epochs.at(scale)),
                    _ => cfg.training.epochs.at(scale),
                },
                update: cfg.training.update,
                evaluations_per_epoch: cfg.training.evaluations_per_epoch,
                window: cfg.training.window,
                euler_check_every: cfg.training.euler_check_every.at(scale),
                euler_reference: cfg.training.euler_reference,
                init_seed: derive_seed(seed, &data_id.sibling("init").to_string()),
                feedback_seed: derive_seed(seed, &data_id.sibling("feedback").to_string()),
                order_seed: derive_seed(seed, &data_id.sibling("order").to_string()),
                di_solver_revision: crate::spec::di_revision(model.method),
                restabilise: cfg
                    .training
                    .restabilise
                    .filter(|_| model.method == Method::Di),
                diagnostics: cfg.training.diagnostics,
            };
            let id = data_id.sibling("train").of(&model.name);
            graph
                .add(
                    StageSpec::of(id.clone(), params)
                        .with_inputs([&data_id])
                        .with_master_seed(seed),
                )
                .map_err(|e| e.to_string())?;
            train_ids.push(id);
        }
        let analysis_id = data_id.sibling("analysis");
        // When DI trains for fewer epochs than the others, every model's test error is
        // also read after DI's last example, so DI is compared with NDI at equal budgets.
        let epochs = cfg.training.epochs.at(scale);
        let di_budget = cfg
            .training
            .di_epochs
            .as_ref()
            .map(|e| e.at(scale).min(epochs))
            .filter(|&e| e < epochs && cfg.models.iter().any(|m| m.method == Method::Di))
            .map(|e| e * cfg.data.train_examples.at(scale));
        let analysis_params = AnalysisParams {
            models: cfg
                .models
                .iter()
                .map(|m| ModelRef {
                    name: m.name.clone(),
                    method: m.method,
                })
                .collect(),
            compare_at: di_budget,
        };
        graph
            .add(
                StageSpec::of(analysis_id.clone(), analysis_params)
                    .with_inputs(train_ids)
                    .with_master_seed(seed),
            )
            .map_err(|e| e.to_string())?;
        analyses.push(analysis_id.to_string());
    }
    Ok(analyses)
}

/// Loads and verifies both splits once, and records what was found.
fn data_stage(p: &DataParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let train = p.dataset.load(p.source, SplitName::Train)?;
    let test = p.dataset.load(p.source, SplitName::Test)?;
    let stats = PixelStats::fit(&train).map_err(StageError::new)?;
    ctx.write_json(
        "info",
        &json!({
            "train": train.n, "test": test.n, "rows": train.rows, "cols": train.cols,
            "train_label_counts": train.label_counts(), "test_label_counts": test.label_counts(),
            "pixel_mean": stats.global_mean / 255.0, "pixel_std": stats.global_std / 255.0,
            "files": train.files.iter().chain(&test.files).map(|f| json!({"path": f.path.display().to_string(), "sha256": f.sha256, "verified": f.verified})).collect::<Vec<_>>(),
        }),
    )?;
    Ok(())
}

fn train_stage(p: &TrainParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let mut train_split = p.dataset.load(p.source, SplitName::Train)?;
    let mut test_split = p.dataset.load(p.source, SplitName::Test)?;
    // Statistics from the source's whole training split; then keep the first n images.
    let stats = PixelStats::fit(&train_split).map_err(StageError::new)?;
    let normaliser = stats.normaliser(p.normalisation.centering().ok_or_else(|| {
        StageError::msg("classification needs per_pixel or global normalisation")
    })?);
    truncate(&mut train_split, p.train_examples);
    truncate(&mut test_split, p.test_examples);

    let d_in = train_split.rows * train_split.cols;
    let (hidden, classes) = (p.network.hidden, dinv_data::preprocess::N_CLASSES);
    let s = p.network.init_half_width;
    let mut rng = rng_from_seed(p.init_seed);
    let w1 = uniform_mat(&mut rng, hidden, d_in, -s, s);
    let w2 = uniform_mat(&mut rng, classes, hidden, -s, s);
    let b_fb = match &p.model.feedback {
        None => None,
        Some(fi) => {
            let random = fi.random_half_width().map(|h| {
                let mut r = rng_from_seed(derive_seed(p.feedback_seed, &format!("U{h}")));
                uniform_mat(&mut r, hidden, classes, -h, h)
            });
            let (b, _) = fi
                .build(w2.as_ref(), random.as_ref().map(Mat::as_ref), 2)
                .with_context(|| format!("model `{}`: feedback initialisation", p.model.name))?;
            Some(b)
        }
    };
    if p.model.method.uses_feedback() && b_fb.is_none() {
        return Err(StageError::msg(format!(
            "model `{}` needs feedback weights",
            p.model.name
        )));
    }
    let mut orng = rng_from_seed(p.order_seed);
    let orders: Vec<Vec<usize>> = (0..p.epochs)
        .map(|_| {
            let mut o: Vec<usize> = (0..train_split.n).collect();
            o.shuffle(&mut orng);
            o
        })
        .collect();
    let mut credit = Credit::new(p.model.method, p.model.alpha);
    if let Some(di) = p.model.di {
        credit = credit.with_di(di);
    }
    let model = Classifier {
        w1,
        b1: vec![0.0; hidden],
        w2,
        b2: vec![0.0; classes],
        b_fb,
        act: p.network.activation,
    };
    let start = resume(ctx, &model, train_split.n, p.epochs);
    ctx.progress().set_total((p.epochs * train_split.n) as u64);
    if let Some(st) = &start {
        ctx.progress().inc(st.step as u64);
    }
    let progress = ctx.progress().clone();
    let out = train_from(
        Setup {
            name: &p.model.name,
            model,
            credit,
            update: p.update,
            train: &train_split,
            test: &test_split,
            normaliser: &normaliser,
            orders: &orders,
            evaluations_per_epoch: p.evaluations_per_epoch,
            window: p.window,
            euler_check_every: p.euler_check_every,
            euler_reference: p.euler_reference,
            restabilise: p.restabilise,
            diagnostics: p.diagnostics,
        },
        start,
        |k| progress.inc(k),
        |st| {
            if ctx.checkpoint_due() {
                save(ctx, st);
            }
        },
    )
    .map_err(StageError::msg)?;
    let log = &out.log;
    ctx.write_table(
        "metrics",
        &Table::new()
            .with_i64("step", log.step.clone())?
            .with_str("metric", log.metric.iter().map(|s| s.to_string()).collect())?
            .with_i64("layer", log.layer.clone())?
            .with_f64("value", log.value.clone())?,
    )?;
    let m = &out.model;
    let b1 = Mat::from_fn(m.b1.len(), 1, |i, _| m.b1[i]);
    let b2 = Mat::from_fn(m.b2.len(), 1, |i, _| m.b2[i]);
    let mut mats: Vec<(&str, &Mat<f64>)> = vec![("W2", &m.w2), ("b1", &b1), ("b2", &b2)];
    if let Some(b) = &m.b_fb {
        mats.push(("B2", b));
    }
    // The 784k-entry first layer is not stored: nothing downstream reads it.
    ctx.write_table("final_weights", &matrices_to_table(mats)?)?;
    Ok(())
}

/// A training stage's checkpoint: a [`TrainState`] whose weights, log values and
/// floating-point accumulators go into the checkpoint's arrays (bit for bit, NaN
/// included), the rest here.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    step: usize,
    epoch: usize,
    pos: usize,
    interval_n: usize,
    interval_wrong: usize,
    interval_angle_n: usize,
    #[serde(default)]
    interval_checks: usize,
    #[serde(default)]
    interval_checks_positive: usize,
    log_step: Vec<i64>,
    log_metric: Vec<String>,
    log_layer: Vec<i64>,
}

fn save(ctx: &mut StageContext<'_>, st: &TrainState) {
    let m = &st.model;
    let (w1, w2) = (mat_values(&m.w1), mat_values(&m.w2));
    let b_fb = m.b_fb.as_ref().map(mat_values);
    let iv = &st.interval;
    let interval = [
        iv.loss,
        iv.angle_ndi,
        iv.di_steps,
        iv.di_euler,
        iv.check_sum,
        iv.check_max,
    ];
    let mut arrays: Vec<(&str, &[f64])> = vec![
        ("w1", &w1),
        ("b1", &m.b1),
        ("w2", &w2),
        ("b2", &m.b2),
        ("interval", &interval),
        ("log_value", &st.log.value),
    ];
    if let Some(b) = &b_fb {
        arrays.push(("b_fb", b));
    }
    let saved = Saved {
        step: st.step,
        epoch: st.epoch,
        pos: st.pos,
        interval_n: iv.n,
        interval_wrong: iv.wrong,
        interval_angle_n: iv.angle_n,
        interval_checks: iv.checks,
        interval_checks_positive: iv.checks_positive,
        log_step: st.log.step.clone(),
        log_metric: st.log.metric.iter().map(|s| s.to_string()).collect(),
        log_layer: st.log.layer.clone(),
    };
    ctx.checkpoint_save(&saved, &arrays);
}

/// The state of an interrupted run of this stage, if it left a usable checkpoint;
/// `initial` gives the shapes.
fn resume(
    ctx: &mut StageContext<'_>,
    initial: &Classifier,
    per_epoch: usize,
    epochs: usize,
) -> Option<TrainState> {
    let mut c = ctx.checkpoint_load::<Saved>()?;
    let mut rebuild = || -> Result<TrainState, StageError> {
        let s = &c.state;
        let n = s.log_step.len();
        if s.log_metric.len() != n || s.log_layer.len() != n {
            return Err(StageError::msg("its metric log is ragged"));
        }
        let at_end = s.epoch == epochs && s.pos == 0;
        if !(s.epoch < epochs || at_end) || s.pos >= per_epoch.max(1) {
            return Err(StageError::msg(format!(
                "it stopped at epoch {} position {}, beyond this stage's training",
                s.epoch, s.pos
            )));
        }
        if s.step != s.epoch * per_epoch + s.pos {
            return Err(StageError::msg(
                "its example count does not match its position",
            ));
        }
        let log = MetricLog {
            step: s.log_step.clone(),
            metric: s.log_metric.iter().map(|m| static_name(m)).collect(),
            layer: s.log_layer.clone(),
            value: c.take("log_value", n)?,
        };
        let interval = c.take("interval", 6)?;
        let s = &c.state;
        let interval = Interval {
            n: s.interval_n,
            loss: interval[0],
            wrong: s.interval_wrong,
            angle_ndi: interval[1],
            angle_n: s.interval_angle_n,
            di_steps: interval[2],
            di_euler: interval[3],
            checks: s.interval_checks,
            checks_positive: s.interval_checks_positive,
            check_sum: interval[4],
            check_max: interval[5],
        };
        let (step, epoch, pos) = (s.step, s.epoch, s.pos);
        let model = Classifier {
            w1: take_mat(&mut c, "w1", &initial.w1)?,
            b1: c.take("b1", initial.b1.len())?,
            w2: take_mat(&mut c, "w2", &initial.w2)?,
            b2: c.take("b2", initial.b2.len())?,
            b_fb: match &initial.b_fb {
                Some(b) => Some(take_mat(&mut c, "b_fb", b)?),
                None => None,
            },
            act: initial.act,
        };
        Ok(TrainState {
            model,
            log,
            step,
            epoch,
            pos,
            interval,
        })
    };
    match rebuild() {
        Ok(st) => Some(st),
        Err(e) => {
            ctx.warn(&format!(
                "its checkpoint does not fit this stage ({e}): starting over"
            ));
            None
        }
    }
}

fn truncate(split: &mut dinv_data::mnist::Split, n: usize) {
    let n = n.min(split.n);
    let px = split.rows * split.cols;
    split.images.truncate(n * px);
    split.labels.truncate(n);
    split.n = n;
}

#[derive(Serialize)]
struct ModelRef {
    name: String,
    method: Method,
}

#[derive(Serialize)]
struct AnalysisParams {
    models: Vec<ModelRef>,
    /// Examples after which every model's test error is also reported (DI's budget).
    #[serde(skip_serializing_if = "Option::is_none")]
    compare_at: Option<usize>,
}

impl Stage for AnalysisParams {
    const KIND: &'static str = "mnist_classification_analysis";
    const VERSION: u32 = 3;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        analysis_stage(self, ctx)
    }
}

/// Curves of every model in one table, and the per-seed summary (same formats as the
/// regression analysis, so the shared summary and figure stages read them).
fn analysis_stage(p: &AnalysisParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    let (mut mc, mut sc, mut kc, mut lc, mut vc) = (vec![], vec![], vec![], vec![], vec![]);
    let mut summary = Map::new();
    for (model, input) in p.models.iter().zip(ctx.inputs()) {
        let t = input.table("metrics")?;
        let curves = group(&t)?;
        let (steps, metric, layer, value) = (
            t.i64("step")?,
            t.str("metric")?,
            t.i64("layer")?,
            t.f64("value")?,
        );
        for k in 0..steps.len() {
            mc.push(model.name.clone());
            sc.push(steps[k]);
            kc.push(metric[k].clone());
            lc.push(layer[k]);
            vc.push(value[k]);
        }
        let curve = |m: &str, l: i64| curves.get(m).and_then(|x| x.get(&l));
        let last = |m: &str, l: i64| curve(m, l).and_then(|(_, v)| v.last().copied());
        // A curve's value at `step`, if it was recorded there.
        let at = |m: &str, l: i64, step: i64| {
            curve(m, l).and_then(|(s, v)| s.iter().position(|&q| q == step).map(|k| v[k]))
        };
        let mean = |m: &str, l: i64| {
            curve(m, l).and_then(|(_, v)| {
                let f: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
                (!f.is_empty()).then(|| f.iter().sum::<f64>() / f.len() as f64)
            })
        };
        let best =
            curve("test_error", 0).map(|(_, v)| v.iter().copied().fold(f64::INFINITY, f64::min));
        let mut s = Map::new();
        let mut put = |k: &str, v: Option<f64>| {
            if let Some(v) = v {
                s.insert(k.into(), json!(v));
            }
        };
        put("final_test_error", last("test_error", 0));
        if let Some(budget) = p.compare_at {
            let v = at("test_error", 0, budget as i64);
            put("test_error_at_di_budget", v);
        }
        put(
            "examples_trained",
            curve("test_error", 0)
                .and_then(|(s, _)| s.last())
                .map(|s| *s as f64),
        );
        put("best_test_error", best);
        put("final_test_loss", last("test_loss", 0));
        put("final_train_error_online", last("train_error_online", 0));
        put("final_angle_b_negwt_deg", last("b_angle_deg", 2));
        put("final_max_eig", last("abscissa", 2));
        put(
            "max_eig_over_training",
            curve("abscissa", 2).map(|(_, v)| v.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        );
        // Diagnostics (`training.diagnostics`): weights and saturation at the end and
        // at the best test error, which tell why an error climbs from its best.
        if let Some((steps, errors)) = curve("test_error", 0) {
            let best_k =
                (0..errors.len()).fold(0, |b, k| if errors[k] < errors[b] { k } else { b });
            if let Some(&best_step) = steps.get(best_k) {
                if curves.contains_key("weight_norm") {
                    put("best_step", Some(best_step as f64));
                    put("w1_norm_at_best", at("weight_norm", 1, best_step));
                    put("w2_norm_at_best", at("weight_norm", 2, best_step));
                    put("saturated_at_best", at("saturated", 1, best_step));
                    put("final_w1_norm", last("weight_norm", 1));
                    put("final_w2_norm", last("weight_norm", 2));
                    put("final_saturated", last("saturated", 1));
                    put("final_mean_gprime", last("mean_gprime", 1));
                }
            }
        }
        // Every stability check DI made (one before each example), before any
        // re-stabilisation: not only the checkpoints' values after it.
        if let (Some((_, n)), Some((_, pos)), Some((_, mean_k)), Some((_, max_k))) = (
            curve("checks", 2),
            curve("checks_positive", 2),
            curve("check_mean", 2),
            curve("check_max", 2),
        ) {
            let total: f64 = n.iter().sum();
            put("stability_checks", Some(total));
            put("positive_checks", Some(pos.iter().sum()));
            put(
                "mean_eig_checked",
                Some(n.iter().zip(mean_k).map(|(c, m)| c * m).sum::<f64>() / total),
            );
            put(
                "max_eig_checked",
                Some(max_k.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            );
        }
        if model.method == Method::Di {
            put("mean_angle_di_ndi_deg", mean("angle_ndi_deg", 1));
            put("final_angle_di_ndi_deg", last("angle_ndi_deg", 1));
            put("final_euler_fraction", last("di_euler", 1));
            put("mean_di_steps", mean("di_steps", 1));
            put("euler_fraction", mean("di_euler", 1));
            put(
                "mean_angle_euler_vs_solver_deg",
                mean("euler_vs_solver_deg", 1),
            );
            put("mean_angle_euler_vs_ndi_deg", mean("euler_vs_ndi_deg", 1));
            put(
                "restabilisations",
                Some(curve("ssa_iterations", 2).map_or(0, |(s, _)| s.len()) as f64),
            );
        }
        summary.insert(model.name.clone(), Value::Object(s));
    }
    ctx.write_table(
        "curves",
        &Table::new()
            .with_str("model", mc)?
            .with_i64("step", sc)?
            .with_str("metric", kc)?
            .with_i64("layer", lc)?
            .with_f64("value", vc)?,
    )?;
    ctx.write_json("summary", &json!({ "models": summary }))?;
    Ok(())
}
