//! The autoencoder pipeline as stages, per seed: `data` (initial weights of each
//! initialisation and the random feedback draws) → `train/<model>` → `tsne/<model>`
//! for the models of Fig. 4c–d → `analysis`; then `summary` and `figures` across seeds.
//! One `baselines` stage (the reference errors of [`super::baselines`]) feeds every
//! seed's analysis and the summary; the training stages do not depend on it.

use std::collections::BTreeMap;

use dinv_core::init::{orthogonal_mat, uniform_mat};
use dinv_core::{Credit, Feedback, FeedbackInit, Layer, Network};
use dinv_data::mnist::SplitName;
use dinv_data::preprocess::Normaliser;
use dinv_pipeline::{
    derive_seed, Graph, Stage, StageContext, StageError, StageId, StageResultExt, StageSpec, Table,
};
use faer::Mat;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::analysis::{AnalysisParams, ModelRef};
use super::baselines::BaselineParams;
use super::codes::{read_codes, Codes};
use super::config::{AeModelSpec, AutoencoderConfig, WeightInit};
use super::train::{activities, train_from, Images, MetricLog, Position, TrainSetup};
use super::weights;
use crate::checkpoint::{mat_values, static_name, take_mat};
use crate::mnist_data::{Dataset, Source};
use crate::spec::{NetworkSpec, Scale};
use crate::tables::{build_feedback, feedback_draw_name, take};
use crate::tsne::{tsne, TsneConfig};
use dinv_core::batch::Learner;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct DataParams {
    network: NetworkSpec,
    inits: Vec<WeightInit>,
    /// Half-widths of the random feedback draws the models need (FA).
    feedback_draws: Vec<f64>,
}

impl Stage for DataParams {
    const KIND: &'static str = "autoencoder_data";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        data_stage(self, ctx)
    }
}

/// What a training stage keeps for Fig. 4c–d.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct DetailParams {
    /// Codes of the first this many test images.
    codes: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TrainParams {
    dataset: Dataset,
    /// Left out of the key when full, so full-data keys are those from before sources.
    #[serde(default, skip_serializing_if = "Source::is_full")]
    source: Source,
    /// The data's identity (checksums), so new data invalidates the cache.
    identity: Value,
    train_examples: usize,
    test_examples: usize,
    network: NetworkSpec,
    model: AeModelSpec,
    epochs: usize,
    batch_size: usize,
    update: dinv_core::UpdateRule,
    /// Seed of the per-epoch example orders, shared by every model of a replicate.
    order_seed: u64,
    detail: Option<DetailParams>,
    /// [`dinv_core::batch::kept::PBP_REVISION`], for PBP models only (a change to PBP's
    /// arithmetic must not touch the other models' cache entries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pbp_revision: Option<u32>,
    /// Write `final_weights` (in the key only when set).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    keep_weights: bool,
}

impl Stage for TrainParams {
    const KIND: &'static str = "autoencoder_train";
    // 2: `final_weights` only with `training.keep_weights`.
    const VERSION: u32 = 2;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        train_stage(self, ctx)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct TsneParams {
    config: TsneConfig,
}

impl Stage for TsneParams {
    const KIND: &'static str = "autoencoder_tsne";
    const VERSION: u32 = 1;
    fn run(&self, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
        tsne_stage(self, ctx)
    }
}

/// Name of the initial `W_l` of an initialisation in the data stage's `init` table.
fn weight_name(init: WeightInit, layer: usize) -> String {
    format!("{}_W{layer}", init.name())
}

fn add(graph: &mut Graph, spec: StageSpec) -> Result<(), String> {
    graph.add(spec).map_err(|e| e.to_string())
}

/// The stages [`add_stages`] adds that later stages read.
pub(crate) struct Added {
    /// One analysis stage per seed.
    pub analyses: Vec<String>,
    pub baselines: String,
}

/// Adds the baselines stage and the data, training, t-SNE and analysis stages of every
/// seed to `graph`.
pub(crate) fn add_stages(
    cfg: &AutoencoderConfig,
    scale: Scale,
    graph: &mut Graph,
) -> Result<Added, String> {
    let source = cfg.data.source.at(scale);
    let identity = cfg.data.dataset.identity(source)?;
    let mut inits: Vec<WeightInit> = cfg.models.iter().map(|m| m.init).collect();
    inits.sort_by_key(|i| i.name());
    inits.dedup();
    let mut feedback_draws: Vec<f64> = cfg
        .models
        .iter()
        .filter_map(|m| {
            m.feedback
                .as_ref()
                .and_then(FeedbackInit::random_half_width)
        })
        .collect();
    feedback_draws.sort_by(f64::total_cmp);
    feedback_draws.dedup();

    let baselines_id = StageId::new(&cfg.pipeline.name, "baselines");
    add(
        graph,
        StageSpec::of(
            baselines_id.clone(),
            BaselineParams {
                dataset: cfg.data.dataset,
                source,
                identity: identity.clone(),
                train_examples: cfg.data.train_examples.at(scale),
                test_examples: cfg.data.test_examples.at(scale),
                components: cfg.network.dims[code_layer(&cfg.network.dims)],
            },
        ),
    )?;

    let mut analyses = Vec::new();
    for seed in cfg.pipeline.seeds.at(scale) {
        let data_id = StageId::new(&cfg.pipeline.name, "data").for_seed(seed);
        add(
            graph,
            StageSpec::of(
                data_id.clone(),
                DataParams {
                    network: cfg.network.clone(),
                    inits: inits.clone(),
                    feedback_draws: feedback_draws.clone(),
                },
            )
            .with_master_seed(seed),
        )?;
        let order_seed = derive_seed(seed, &data_id.sibling("order").to_string());
        let mut train_ids = Vec::new();
        let mut tsne_ids = Vec::new();
        let mut refs = Vec::new();
        for model in &cfg.models {
            let detail = cfg.detail.models.contains(&model.name);
            let params = TrainParams {
                dataset: cfg.data.dataset,
                source,
                identity: identity.clone(),
                train_examples: cfg.data.train_examples.at(scale),
                test_examples: cfg.data.test_examples.at(scale),
                network: cfg.network.clone(),
                model: model.clone(),
                epochs: cfg.training.epochs.at(scale),
                batch_size: cfg.training.batch_size.at(scale),
                update: cfg.training.update,
                order_seed,
                detail: detail.then(|| DetailParams {
                    codes: cfg.detail.codes.at(scale),
                }),
                pbp_revision: (model.method == dinv_core::Method::Pbp)
                    .then_some(dinv_core::batch::kept::PBP_REVISION),
                keep_weights: cfg.training.keep_weights,
            };
            let id = data_id.sibling("train").of(&model.name);
            add(
                graph,
                StageSpec::of(id.clone(), params)
                    .with_inputs([&data_id])
                    .with_master_seed(seed)
                    // Each mini-batch's products run as two halves (dinv_core::kernels::split).
                    .with_threads(2),
            )?;
            if detail {
                let tsne_id = data_id.sibling("tsne").of(&model.name);
                // The seed is replaced by one from the stage's own stream at run time.
                let config = cfg.detail.tsne.at(scale, 0);
                add(
                    graph,
                    StageSpec::of(tsne_id.clone(), TsneParams { config })
                        .with_inputs([&id])
                        .with_master_seed(seed),
                )?;
                tsne_ids.push(tsne_id);
            }
            train_ids.push(id);
            refs.push(ModelRef {
                name: model.name.clone(),
                detail,
            });
        }
        let analysis_id = data_id.sibling("analysis");
        add(
            graph,
            StageSpec::of(
                analysis_id.clone(),
                AnalysisParams {
                    models: refs,
                    train_examples: cfg.data.train_examples.at(scale),
                },
            )
            .with_inputs(
                train_ids
                    .into_iter()
                    .chain(tsne_ids)
                    .chain([baselines_id.clone()])
                    .map(String::from),
            )
            .with_master_seed(seed),
        )?;
        analyses.push(analysis_id.to_string());
    }
    Ok(Added {
        analyses,
        baselines: baselines_id.to_string(),
    })
}

/// The initial forward weights of every initialisation (each from its own stream, so
/// all models of one initialisation start from identical copies) and the random
/// feedback draws.
fn data_stage(p: &DataParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let dims = &p.network.dims;
    for &init in &p.inits {
        let mut rng = ctx.rng_for(&format!("W-{}", init.name()));
        let mut mats = Vec::new();
        for l in 1..dims.len() {
            let (rows, cols) = (dims[l], dims[l - 1]);
            let w = match init {
                WeightInit::Random => {
                    let s = p.network.init_half_width;
                    uniform_mat(&mut rng, rows, cols, -s, s)
                }
                WeightInit::Orthogonal => orthogonal_mat(&mut rng, rows, cols, 1.0),
            };
            mats.push((weight_name(init, l), w));
        }
        weights::write(ctx, &format!("init_{}", init.name()), &mats)?;
    }
    let mut draws = Vec::new();
    for &h in &p.feedback_draws {
        let mut rng = ctx.rng_for(&format!("feedback-U{h}"));
        for l in 2..dims.len() {
            draws.push((
                feedback_draw_name(l, h),
                uniform_mat(&mut rng, dims[l - 1], dims[l], -h, h),
            ));
        }
    }
    weights::write(ctx, "feedback", &draws)?;
    Ok(())
}

/// The initial network of `model` and its feedback matrices, from the data stage.
fn initial_state(
    ctx: &StageContext<'_>,
    net_spec: &NetworkSpec,
    model: &AeModelSpec,
) -> Result<(Network, Feedback), StageError> {
    let input = &ctx.inputs()[0];
    let source = input.id().to_string();
    let init = weights::read(input, &format!("init_{}", model.init.name()))?;
    let depth = net_spec.depth();
    let mut layers = Vec::with_capacity(depth);
    for l in 1..=depth {
        let w = take(&init, &weight_name(model.init, l), &source)?;
        layers.push(Layer {
            b: net_spec.bias.then(|| vec![0.0; w.nrows()]),
            w,
            act: net_spec.activations[l - 1],
        });
    }
    let net = Network::new(layers).context("initial network")?;
    let feedback = match &model.feedback {
        Some(fi) => {
            let draws = match fi.random_half_width() {
                Some(_) => weights::read(input, "feedback")?,
                None => BTreeMap::new(),
            };
            build_feedback(fi, &net, &draws, &source, &model.name)?
        }
        None => Feedback::none(depth),
    };
    Ok((net, feedback))
}

/// The first test image of each digit class, in class order.
pub(crate) fn first_of_each_class(labels: &[u8]) -> Result<Vec<usize>, StageError> {
    (0..10u8)
        .map(|c| {
            labels
                .iter()
                .position(|&l| l == c)
                .ok_or_else(|| StageError::msg(format!("the test split has no image of digit {c}")))
        })
        .collect()
}

/// Index of the bottleneck (code) layer: the narrowest hidden layer.
pub(crate) fn code_layer(dims: &[usize]) -> usize {
    let hidden = &dims[1..dims.len() - 1];
    hidden
        .iter()
        .enumerate()
        .min_by_key(|(_, d)| **d)
        .map_or(dims.len() - 1, |(i, _)| i + 1)
}

fn train_stage(p: &TrainParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let train_split = p.dataset.load(p.source, SplitName::Train)?;
    let test_split = p.dataset.load(p.source, SplitName::Test)?;
    for (split, n, what) in [
        (&train_split, p.train_examples, "train_examples"),
        (&test_split, p.test_examples, "test_examples"),
    ] {
        if n > split.n {
            return Err(StageError::msg(format!(
                "data.{what} is {n}, but the split has only {} images",
                split.n
            )));
        }
    }
    let pixels = train_split.pixels_per_image();
    if pixels != p.network.dims[0] {
        return Err(StageError::msg(format!(
            "network.dims[0] is {}, but the images have {pixels} pixels",
            p.network.dims[0]
        )));
    }
    let normaliser = Normaliser::unit_interval(pixels);
    let (net, feedback) = initial_state(ctx, &p.network, &p.model)?;
    let mut learner = Learner::new(
        net,
        feedback,
        Credit::new(p.model.method, p.model.alpha),
        p.update,
    );
    let batches = p.train_examples.div_ceil(p.batch_size);
    let start = resume(ctx, &mut learner, &p, batches);
    ctx.progress().set_total((batches * p.epochs) as u64);
    if let Some(at) = &start {
        ctx.progress()
            .inc(((at.epoch - 1) * batches + at.batch) as u64);
    }
    let progress = ctx.progress().clone();
    let test = Images {
        split: &test_split,
        n: p.test_examples,
        normaliser: &normaliser,
    };
    let out = train_from(
        TrainSetup {
            name: &p.model.name,
            learner,
            train: Images {
                split: &train_split,
                n: p.train_examples,
                normaliser: &normaliser,
            },
            test,
            epochs: p.epochs,
            batch_size: p.batch_size,
            order_seed: p.order_seed,
        },
        start,
        |k| progress.inc(k),
        |at, learner| {
            if ctx.checkpoint_due() {
                save(ctx, at, learner);
            }
        },
    )
    .map_err(StageError::msg)?;
    // The first epoch's batches run between four extra error evaluations and were
    // measured 8 % slower: the last epoch's are the steady-state figure.
    ctx.add_phase_time("batches", out.epoch_batch_seconds.iter().sum());
    if let [_, .., last] = out.epoch_batch_seconds[..] {
        ctx.add_phase_time("last epoch's batches", last);
    }
    ctx.add_phase_time("evaluation", out.evaluation_seconds);

    let log = &out.log;
    ctx.write_table(
        "metrics",
        &Table::new()
            .with_i64("step", log.step.clone())?
            .with_str("metric", log.metric.iter().map(|s| s.to_string()).collect())?
            .with_f64("value", log.value.clone())?,
    )?;
    if p.keep_weights {
        let mut finals: Vec<(String, Mat<f64>)> = Vec::new();
        for (i, l) in out.net.layers.iter().enumerate() {
            finals.push((format!("W{}", i + 1), l.w.clone()));
            if let Some(b) = &l.b {
                finals.push((format!("b{}", i + 1), Mat::from_fn(b.len(), 1, |r, _| b[r])));
            }
        }
        weights::write(ctx, "final_weights", &finals)?;
    }

    if let Some(d) = &p.detail {
        let digits = first_of_each_class(&test_split.labels)?;
        let x = test.batch(&digits);
        let y = out.net.predict_batch(x.as_ref());
        let (mut digit, mut index, mut pixel, mut input, mut output) =
            (vec![], vec![], vec![], vec![], vec![]);
        for (j, &k) in digits.iter().enumerate() {
            for i in 0..pixels {
                digit.push(j as i64);
                index.push(k as i64);
                pixel.push(i as i64);
                input.push(x[(i, j)]);
                output.push(y[(i, j)]);
            }
        }
        ctx.write_table(
            "reconstructions",
            &Table::new()
                .with_i64("digit", digit)?
                .with_i64("index", index)?
                .with_i64("pixel", pixel)?
                .with_f64("input", input)?
                .with_f64("output", output)?,
        )?;
        let idx: Vec<usize> = (0..d.codes).collect();
        let codes = activities(&out.net, test, &idx, code_layer(&p.network.dims));
        let mut t = Table::new()
            .with_i64("index", idx.iter().map(|&k| k as i64).collect())?
            .with_i64(
                "label",
                idx.iter()
                    .map(|&k| i64::from(test_split.labels[k]))
                    .collect(),
            )?;
        for c in 0..codes.nrows() {
            t.push_f64(
                &format!("c{c}"),
                (0..codes.ncols()).map(|j| codes[(c, j)]).collect(),
            )?;
        }
        ctx.write_table("codes", &t)?;
    }
    Ok(())
}

/// A training stage's checkpoint: the [`Position`], and the learner's weights and kept
/// products in the checkpoint's arrays (`W<l>`, `b<l>`, `P<l>`), bit for bit. The
/// feedback matrices are not saved: they never change during training, and the data
/// stage gives them again.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    epoch: usize,
    batch: usize,
    seen: usize,
    log_step: Vec<i64>,
    log_metric: Vec<String>,
    epoch_batch_seconds: Vec<f64>,
    batch_seconds: f64,
    evaluation_seconds: f64,
    /// Updates the kept products followed (see `Inverter::kept_products`).
    updates: usize,
    /// Shape of each layer's kept product (`None`: it keeps none).
    products: Vec<Option<(usize, usize)>>,
}

fn save(ctx: &mut StageContext<'_>, at: &Position, learner: &Learner) {
    let net = learner.net();
    let (products, updates) = learner.kept_products();
    let mut names = Vec::new();
    let mut values = Vec::new();
    for (i, layer) in net.layers.iter().enumerate() {
        names.push(format!("W{}", i + 1));
        values.push(mat_values(&layer.w));
        if let Some(b) = &layer.b {
            names.push(format!("b{}", i + 1));
            values.push(b.clone());
        }
    }
    for (i, p) in products.iter().enumerate() {
        if let Some(p) = p {
            names.push(format!("P{}", i + 1));
            values.push(mat_values(p));
        }
    }
    let mut arrays: Vec<(&str, &[f64])> = names
        .iter()
        .zip(&values)
        .map(|(n, v)| (n.as_str(), v.as_slice()))
        .collect();
    arrays.push(("log_value", &at.log.value));
    let saved = Saved {
        epoch: at.epoch,
        batch: at.batch,
        seen: at.seen,
        log_step: at.log.step.clone(),
        log_metric: at.log.metric.iter().map(|s| s.to_string()).collect(),
        epoch_batch_seconds: at.epoch_batch_seconds.clone(),
        batch_seconds: at.batch_seconds,
        evaluation_seconds: at.evaluation_seconds,
        updates,
        products: products
            .iter()
            .map(|p| p.map(|p| (p.nrows(), p.ncols())))
            .collect(),
    };
    ctx.checkpoint_save(&saved, &arrays);
}

/// The position of an interrupted run of this stage, with `learner` restored to the
/// state it had there, if it left a usable checkpoint.
fn resume(
    ctx: &mut StageContext<'_>,
    learner: &mut Learner,
    p: &TrainParams,
    batches: usize,
) -> Option<Position> {
    let mut c = ctx.checkpoint_load::<Saved>()?;
    let mut rebuild = || -> Result<Position, StageError> {
        let s = &c.state;
        let n = s.log_step.len();
        if s.log_metric.len() != n {
            return Err(StageError::msg("its metric log is ragged"));
        }
        let at_end = s.epoch == p.epochs + 1 && s.batch == 0;
        if !((1..=p.epochs).contains(&s.epoch) || at_end) || s.batch >= batches.max(1) {
            return Err(StageError::msg(format!(
                "it stopped at epoch {} batch {}, beyond this stage's training",
                s.epoch, s.batch
            )));
        }
        let done = (s.epoch - 1) * batches + s.batch;
        if s.seen != (s.epoch - 1) * p.train_examples + s.batch * p.batch_size || s.updates != done
        {
            return Err(StageError::msg("its counts do not match its position"));
        }
        let log = MetricLog {
            step: s.log_step.clone(),
            metric: s.log_metric.iter().map(|m| static_name(m)).collect(),
            value: c.take("log_value", n)?,
        };
        let mut net = learner.net().clone();
        for (i, layer) in net.layers.iter_mut().enumerate() {
            layer.w = take_mat(&mut c, &format!("W{}", i + 1), &layer.w)?;
            if let Some(b) = &mut layer.b {
                *b = c.take(&format!("b{}", i + 1), b.len())?;
            }
        }
        let shapes = c.state.products.clone();
        let mut products = Vec::with_capacity(shapes.len());
        for (i, shape) in shapes.into_iter().enumerate() {
            products.push(match shape {
                Some((r, k)) => Some(take_mat(&mut c, &format!("P{}", i + 1), &Mat::zeros(r, k))?),
                None => None,
            });
        }
        let s = &c.state;
        learner
            .restore(net, products, s.updates)
            .map_err(StageError::msg)?;
        Ok(Position {
            epoch: s.epoch,
            batch: s.batch,
            seen: s.seen,
            log,
            epoch_batch_seconds: s.epoch_batch_seconds.clone(),
            batch_seconds: s.batch_seconds,
            evaluation_seconds: s.evaluation_seconds,
        })
    };
    match rebuild() {
        Ok(at) => Some(at),
        Err(e) => {
            ctx.warn(&format!(
                "its checkpoint does not fit this stage ({e}): starting over"
            ));
            None
        }
    }
}

/// Fig. 4d: a 2-D t-SNE map of a model's codes, seeded from this stage's stream.
fn tsne_stage(p: &TsneParams, ctx: &mut StageContext<'_>) -> Result<(), StageError> {
    dinv_core::kernels::fp::flush_subnormals();
    let input = &ctx.inputs()[0];
    let Codes {
        data,
        n,
        d,
        index,
        label,
    } = read_codes(&input.table("codes")?)?;
    let config = TsneConfig {
        seed: derive_seed(ctx.seed(), "tsne"),
        ..p.config
    };
    let emb = tsne(&data, n, d, &config)
        .with_context(|| format!("t-SNE of the codes of {}", input.id()))?;
    if emb.points.iter().flatten().any(|v| !v.is_finite()) || !emb.kl_divergence.is_finite() {
        return Err(StageError::msg(format!(
            "t-SNE of the codes of {} produced non-finite values",
            input.id()
        )));
    }
    ctx.write_table(
        "embedding",
        &Table::new()
            .with_i64("index", index)?
            .with_i64("label", label)?
            .with_f64("x", emb.points.iter().map(|p| p[0]).collect())?
            .with_f64("y", emb.points.iter().map(|p| p[1]).collect())?,
    )?;
    ctx.write_json(
        "tsne",
        &json!({ "kl_divergence": emb.kl_divergence, "points": n, "perplexity": config.perplexity }),
    )?;
    Ok(())
}
