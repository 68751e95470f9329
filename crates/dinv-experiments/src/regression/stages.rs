//! The regression pipeline as stages: data → one training stage per model and run →
//! analysis per run (and, for runs with checkpoints, the Gauss–Newton comparison) →
//! summary and figures across runs (and seeds).

use dinv_core::init::uniform_mat;
use dinv_core::{Credit, Feedback, FeedbackInit, Layer, Method, Network};
use dinv_data::synthetic::{linear_teacher, network_teacher, sample};
use dinv_pipeline::{
    Graph, Stage, StageContext, StageError, StageId, StageResultExt, StageSpec, Table,
};
use faer::Mat;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::config::{RegressionConfig, RunSpec, TeacherSpec};
use super::data::load_data;
use super::train::{train, ErrorEval, EvalSchedule, TrainSetup};
use crate::spec::{di_revision, ModelSpec, NetworkSpec, Scale, Scaled};
use crate::tables::{build_feedback, feedback_draw_name, matrices_to_table, take};

/// Bumped whenever a stage's code changes what it computes.

/// Parameters of the data stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DataParams {
    network: NetworkSpec,
    teacher: TeacherSpec,
    examples: usize,
    /// Half-widths of the random feedback draws the models need (FA, R-Init).
    feedback_draws: Vec<f64>,
    /// Half-widths of DFA's direct matrices `D_l` (absent without DFA models, so no
    /// other pipeline's key changes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    direct_draws: Vec<f64>,
}

impl Stage for DataParams {
    const KIND: &'static str = "regression_data";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        data_stage(self, ctx)
    }
}

/// Parameters of a training stage.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainParams {
    network: NetworkSpec,
    model: ModelSpec,
    run: RunSpec,
    ssa: dinv_core::SsaConfig,
    restabilise: bool,
    /// [`dinv_core::dynamics::SOLVER_REVISION`] for models that run DI (absent for the
    /// others, whose cache entries a change to the DI solvers must not touch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    di_solver_revision: Option<u32>,
    /// [`dinv_core::chain::CHAIN_SOLVER_REVISION`] for models that simulate the whole
    /// network at once (SDI, repeat-layer DI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    chain_solver_revision: Option<u32>,
    /// [`dinv_core::expanding::SOLVER_REVISION`] for DI models with the S1–S2
    /// controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    expanding_solver_revision: Option<u32>,
}

impl Stage for TrainParams {
    const KIND: &'static str = "regression_train";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        train_stage(self, ctx)
    }
}

pub(crate) struct StageIds {
    pub data: StageId,
    pub train: Vec<StageId>,
    pub analysis: StageId,
    /// Only added for runs that save checkpoints.
    pub gauss_newton: StageId,
}

/// The stages [`add_stages`] added that the summary and figures read, in order
/// (run-major, then seed).
pub(crate) struct Added {
    pub analyses: Vec<String>,
    /// `(run name, stage id)` of every Gauss–Newton stage.
    pub gauss_newton: Vec<(String, String)>,
}

pub(crate) fn ids(cfg: &RegressionConfig, run: &RunSpec, seed: u64) -> StageIds {
    let data = StageId::new(&cfg.pipeline.name, "data")
        .in_run(&run.name)
        .for_seed(seed);
    StageIds {
        train: cfg
            .models
            .iter()
            .map(|m| data.sibling("train").of(&m.name))
            .collect(),
        analysis: data.sibling("analysis"),
        gauss_newton: data.sibling("gauss_newton"),
        data,
    }
}

/// A model as trained: dynamic methods without DI settings of their own use the
/// pipeline's.
pub(crate) fn resolved_model(cfg: &RegressionConfig, model: &ModelSpec) -> ModelSpec {
    let mut model = model.clone();
    if model.method.is_dynamic() && model.di.is_none() {
        model.di = Some(cfg.training.di);
    }
    model
}

/// Adds the data, training, analysis and Gauss–Newton stages of every run and seed to
/// `graph`.
pub(crate) fn add_stages(
    cfg: &RegressionConfig,
    scale: Scale,
    graph: &mut Graph,
) -> Result<Added, String> {
    let mut analyses = Vec::new();
    let mut gauss_newton = Vec::new();
    // Half-widths of the random draws: B_l for FA and R-Init, D_l for DFA.
    let draws = |dfa: bool| {
        let mut h: Vec<f64> = cfg
            .models
            .iter()
            .filter(|m| (m.method == Method::Dfa) == dfa)
            .filter_map(|m| {
                m.feedback
                    .as_ref()
                    .and_then(FeedbackInit::random_half_width)
            })
            .collect();
        h.sort_by(f64::total_cmp);
        h.dedup();
        h
    };
    let (feedback_draws, direct_draws) = (draws(false), draws(true));
    for run in &cfg.runs {
        for seed in cfg.pipeline.seeds.at(scale) {
            let ids = ids(cfg, run, seed);
            let data = DataParams {
                network: cfg.network.clone(),
                teacher: cfg.teacher.clone(),
                examples: run.examples.at(scale),
                feedback_draws: feedback_draws.clone(),
                direct_draws: direct_draws.clone(),
            };
            add(
                graph,
                StageSpec::of(ids.data.clone(), data).with_master_seed(seed),
            )?;
            for (model, id) in cfg.models.iter().zip(&ids.train) {
                let model = resolved_model(cfg, model);
                let model_method = model.method;
                let chain_solver_revision = chain_revision(&model);
                let expanding_solver_revision = expanding_revision(&model);
                let params = TrainParams {
                    network: cfg.network.clone(),
                    model,
                    run: RunSpec {
                        examples: Scaled::Same(run.examples.at(scale)),
                        eval_every: Scaled::Same(run.eval_every.at(scale)),
                        eval_dense_until: Scaled::Same(run.eval_dense_until.at(scale)),
                        checkpoints: Scaled::Same(run.checkpoints.at(scale)),
                        ..run.clone()
                    },
                    ssa: cfg.training.ssa,
                    restabilise: cfg.training.restabilise,
                    di_solver_revision: di_revision(model_method),
                    chain_solver_revision,
                    expanding_solver_revision,
                };
                add(
                    graph,
                    StageSpec::of(id.clone(), params)
                        .with_inputs([&ids.data])
                        .with_master_seed(seed),
                )?;
            }
            let analysis = super::analysis::AnalysisParams {
                run: run.name.clone(),
                models: cfg
                    .models
                    .iter()
                    .map(|m| super::analysis::ModelRef {
                        name: m.name.clone(),
                        method: m.method,
                    })
                    .collect(),
            };
            add(
                graph,
                StageSpec::of(ids.analysis.clone(), analysis)
                    .with_inputs(ids.train.iter().chain([&ids.data]))
                    .with_master_seed(seed),
            )?;
            analyses.push(ids.analysis.to_string());
            if run.checkpoints.at(scale) > 0 {
                let params = super::gauss_newton::GnParams {
                    run: run.name.clone(),
                    network: cfg.network.clone(),
                    models: cfg
                        .models
                        .iter()
                        .map(|m| super::gauss_newton::GnModel::of(&resolved_model(cfg, m)))
                        .collect(),
                    delta_cap: run.update.delta_cap,
                    batch: cfg.training.gn_batch,
                    damping: cfg.training.gn_damping,
                };
                add(
                    graph,
                    StageSpec::of(ids.gauss_newton.clone(), params)
                        .with_inputs(std::iter::once(&ids.data).chain(&ids.train))
                        .with_master_seed(seed),
                )?;
                gauss_newton.push((run.name.clone(), ids.gauss_newton.to_string()));
            }
        }
    }
    Ok(Added {
        analyses,
        gauss_newton,
    })
}

fn add(graph: &mut Graph, spec: StageSpec) -> Result<(), String> {
    graph.add(spec).map_err(|e| e.to_string())
}

/// Teacher, inputs, student initialisation, random feedback draws and the example
/// order, each from its own labelled stream of the stage's seed.
fn data_stage(p: &DataParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let net = &p.network;
    let (teacher, linear) = match p.teacher {
        TeacherSpec::Linear { half_width } => {
            let t = linear_teacher(
                &mut ctx.rng_for("teacher"),
                net.dims[0],
                *net.dims.last().unwrap_or(&1),
                half_width,
            );
            (t, true)
        }
        TeacherSpec::Network { half_width } => (
            network_teacher(
                &mut ctx.rng_for("teacher"),
                &net.dims,
                &net.activations,
                net.bias,
                half_width,
            )
            .context("building the teacher network")?,
            false,
        ),
    };
    let data = sample(&mut ctx.rng_for("inputs"), &teacher, p.examples);

    let mut init: Vec<(String, Mat<f64>)> = Vec::new();
    let mut rng = ctx.rng_for("student");
    for l in 1..=net.depth() {
        let w = uniform_mat(
            &mut rng,
            net.dims[l],
            net.dims[l - 1],
            -net.init_half_width,
            net.init_half_width,
        );
        init.push((format!("W{l}"), w));
    }
    for &h in &p.feedback_draws {
        let mut rng = ctx.rng_for(&format!("feedback-U{h}"));
        for l in 2..=net.depth() {
            init.push((
                feedback_draw_name(l, h),
                uniform_mat(&mut rng, net.dims[l - 1], net.dims[l], -h, h),
            ));
        }
    }
    for &h in &p.direct_draws {
        let mut rng = ctx.rng_for(&format!("direct-U{h}"));
        for l in 1..net.depth() {
            init.push((
                direct_draw_name(l, h),
                uniform_mat(&mut rng, net.dims[l], net.dims[net.depth()], -h, h),
            ));
        }
    }
    for (l, layer) in teacher.layers.iter().enumerate() {
        init.push((format!("teacher_W{}", l + 1), layer.w.clone()));
        if let Some(b) = &layer.b {
            init.push((
                format!("teacher_b{}", l + 1),
                Mat::from_fn(b.len(), 1, |i, _| b[i]),
            ));
        }
    }
    if linear {
        init.push(("teacher_linear".into(), teacher.layers[0].w.clone()));
    }
    let refs: Vec<(&str, &Mat<f64>)> = init.iter().map(|(n, m)| (n.as_str(), m)).collect();
    ctx.write_table("init", &matrices_to_table(refs)?)?;

    let mut examples = Table::new();
    for i in 0..data.x.nrows() {
        examples.push_f64(
            &format!("x{i}"),
            (0..data.len()).map(|n| data.x[(i, n)]).collect(),
        )?;
    }
    for i in 0..data.t.nrows() {
        examples.push_f64(
            &format!("t{i}"),
            (0..data.len()).map(|n| data.t[(i, n)]).collect(),
        )?;
    }
    ctx.write_table("examples", &examples)?;

    let mut order: Vec<usize> = (0..p.examples).collect();
    order.shuffle(&mut ctx.rng_for("order"));
    ctx.write_table(
        "order",
        &Table::new().with_i64("index", order.iter().map(|&i| i as i64).collect())?,
    )?;
    Ok(())
}

fn train_stage(p: &TrainParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let source = ctx.inputs()[0].id().to_string();
    let (data, order, init) = load_data(ctx, &p.network)?;
    let depth = p.network.depth();
    let mut layers = Vec::with_capacity(depth);
    for l in 1..=depth {
        let mut w = take(&init, &format!("W{l}"), &source)?;
        if let Some(k) = p.model.init_scale {
            w *= faer::Scale(k);
        }
        let b = p.network.bias.then(|| vec![0.0; w.nrows()]);
        layers.push(Layer {
            w,
            b,
            act: p.network.activations[l - 1],
        });
    }
    let net = Network::new(layers).context("initial network")?;

    let mut feedback = Feedback::none(depth);
    if let (Method::Dfa, Some(h)) = (
        p.model.method,
        p.model
            .feedback
            .as_ref()
            .and_then(FeedbackInit::random_half_width),
    ) {
        feedback.direct = (1..depth)
            .map(|l| take(&init, &direct_draw_name(l, h), &source).map(Some))
            .collect::<Result<_, _>>()?;
    } else if let Some(fi) = &p.model.feedback {
        feedback = build_feedback(fi, &net, &init, &source, &p.model.name)?;
        if p.model.method == Method::Sdi {
            feedback.loop_b = Some(loop_feedback(&feedback, depth));
        }
    }
    let mut credit = Credit::new(p.model.method, p.model.alpha);
    if let Some(di) = p.model.di {
        credit = credit.with_di(di);
    }
    let teacher = init.get("teacher_linear");
    let eval = ErrorEval::for_task(&net, &data, teacher);
    let checkpoint_steps = p.run.checkpoint_steps(Scale::Paper);
    let schedule = EvalSchedule {
        every: p.run.eval_every.at(Scale::Paper),
        dense_until: p.run.eval_dense_until.at(Scale::Paper),
    };
    ctx.progress().set_total(order.len() as u64);
    let progress = ctx.progress().clone();
    let out = train(
        TrainSetup {
            name: &p.model.name,
            net,
            feedback,
            credit,
            update: p.run.update,
            ssa: p.ssa,
            restabilise: p.restabilise,
            data: &data,
            order: &order,
            eval: &eval,
            schedule,
            checkpoints: &checkpoint_steps,
        },
        |k| progress.inc(k),
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
    let ev = &out.events;
    ctx.write_table(
        "events",
        &Table::new()
            .with_i64("step", ev.iter().map(|e| e.step as i64).collect())?
            .with_i64("layer", ev.iter().map(|e| e.layer as i64).collect())?
            .with_f64(
                "abscissa_before",
                ev.iter().map(|e| e.abscissa_before).collect(),
            )?
            .with_f64(
                "abscissa_after",
                ev.iter().map(|e| e.abscissa_after).collect(),
            )?
            .with_i64(
                "iterations",
                ev.iter().map(|e| e.iterations as i64).collect(),
            )?,
    )?;
    let mut finals: Vec<(String, Mat<f64>)> = Vec::new();
    for (i, l) in out.net.layers.iter().enumerate() {
        finals.push((format!("W{}", i + 1), l.w.clone()));
    }
    for (i, b) in out.feedback.b.iter().enumerate() {
        if let Some(b) = b {
            finals.push((format!("B{}", i + 1), b.clone()));
        }
    }
    if let Some(b) = &out.feedback.loop_b {
        finals.push(("B_loop".into(), b.clone()));
    }
    let refs: Vec<(&str, &Mat<f64>)> = finals.iter().map(|(n, m)| (n.as_str(), m)).collect();
    ctx.write_table("final_weights", &matrices_to_table(refs)?)?;
    if !out.checkpoints.is_empty() {
        ctx.write_table("checkpoints", &checkpoint_table(&out.checkpoints)?)?;
    }
    Ok(())
}

/// SDI's loop matrix from the per-layer feedback: `±B_2 B_3 ⋯ B_L`, the sign chosen so
/// that Tr-Init gives `−(W_L ⋯ W_2)^T` (each `B_l` plays the role of `−W_l^T`). For
/// R-Init this is the product of the stabilised per-layer matrices, as in the authors'
/// code; training re-stabilises the loop itself if it turns unstable.
fn loop_feedback(fb: &Feedback, depth: usize) -> Mat<f64> {
    let mut p = fb.b[1]
        .clone()
        .expect("feedback built for every layer above the first");
    for i in 2..depth {
        p = dinv_core::kernels::vecops::mul(
            p.as_ref(),
            fb.b[i].as_ref().expect("feedback built").as_ref(),
        );
    }
    // depth − 1 matrices, each ≈ −W^T: their product carries (−1)^{depth−1}; we want −1.
    let sign = if (depth - 1).is_multiple_of(2) {
        -1.0
    } else {
        1.0
    };
    Mat::from_fn(p.nrows(), p.ncols(), |i, j| sign * p[(i, j)])
}

/// Weights, biases and feedback of every checkpoint, as matrices named `W<l>`, `b<l>`
/// (a column), `B<l>`, `B_loop` and DFA's `D<l>`, with a `step` column.
fn checkpoint_table(cps: &[super::train::Checkpoint]) -> Result<Table, StageError> {
    let (mut step, mut name, mut row, mut col, mut value) =
        (vec![], vec![], vec![], vec![], vec![]);
    for cp in cps {
        let mut mats: Vec<(String, Mat<f64>)> = Vec::new();
        for (i, l) in cp.net.layers.iter().enumerate() {
            mats.push((format!("W{}", i + 1), l.w.clone()));
            if let Some(b) = &l.b {
                mats.push((format!("b{}", i + 1), Mat::from_fn(b.len(), 1, |r, _| b[r])));
            }
        }
        for (i, b) in cp.feedback.b.iter().enumerate() {
            if let Some(b) = b {
                mats.push((format!("B{}", i + 1), b.clone()));
            }
        }
        if let Some(b) = &cp.feedback.loop_b {
            mats.push(("B_loop".into(), b.clone()));
        }
        for (i, d) in cp.feedback.direct.iter().enumerate() {
            if let Some(d) = d {
                mats.push((format!("D{}", i + 1), d.clone()));
            }
        }
        for (n, m) in &mats {
            for j in 0..m.ncols() {
                for i in 0..m.nrows() {
                    step.push(cp.step as i64);
                    name.push(n.clone());
                    row.push(i as i64);
                    col.push(j as i64);
                    value.push(m[(i, j)]);
                }
            }
        }
    }
    Ok(Table::new()
        .with_i64("step", step)?
        .with_str("name", name)?
        .with_i64("row", row)?
        .with_i64("col", col)?
        .with_f64("value", value)?)
}

/// The whole-network solvers' revision for a model that runs one (SDI, or DI with the
/// repeat-layer chain).
fn chain_revision(model: &ModelSpec) -> Option<u32> {
    let repeat = model
        .di
        .is_some_and(|d| d.chain == dinv_core::Chain::RepeatLayer);
    (model.method == dinv_core::Method::Sdi || (model.method == dinv_core::Method::Di && repeat))
        .then_some(dinv_core::chain::CHAIN_SOLVER_REVISION)
}

/// The S1–S2 controller's revision for a DI model that may use it.
fn expanding_revision(model: &ModelSpec) -> Option<u32> {
    let expanding = model
        .di
        .is_some_and(|d| d.controller != dinv_core::Controller::Standard);
    (model.method == dinv_core::Method::Di && expanding)
        .then_some(dinv_core::expanding::SOLVER_REVISION)
}

/// The name of DFA's draw `D_l ~ U(±h)` (`d_l × d_L`) in the data stage's `init` table.
fn direct_draw_name(layer: usize, h: f64) -> String {
    format!("D{layer}_U{h}")
}
