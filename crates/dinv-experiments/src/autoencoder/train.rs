//! Mini-batch training of one autoencoder model (supp. 7.5.5) and its reconstruction
//! error, with no I/O: the stage wrapper in `stages.rs` reads MNIST and writes tables.
//!
//! Each epoch visits the training images in a fresh random order, in batches; the
//! weights move by the gradient *summed* over the batch (Eq. 2 with the batch's error
//! signals). The training-set error is measured before training, after each quarter of
//! the first epoch and after every epoch.

use dinv_core::Network;
use dinv_data::mnist::Split;
use dinv_data::preprocess::Normaliser;
use dinv_pipeline::seed::{derive_seed, rng_from_seed};
use faer::Mat;
use rand::seq::SliceRandom;
use std::time::Instant;

use dinv_core::batch::{self, Learner};

/// Metric rows in long format: `(step = examples seen, metric, value)`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricLog {
    pub step: Vec<i64>,
    pub metric: Vec<&'static str>,
    pub value: Vec<f64>,
}

impl MetricLog {
    pub fn push(&mut self, step: usize, metric: &'static str, value: f64) {
        self.step.push(step as i64);
        self.metric.push(metric);
        self.value.push(value);
    }
}

/// Images `0..n` of a split, normalised batch by batch (never the whole set as `f64`).
#[derive(Clone, Copy)]
pub struct Images<'a> {
    pub split: &'a Split,
    pub n: usize,
    pub normaliser: &'a Normaliser,
}

impl Images<'_> {
    /// The images `indices` as columns.
    pub fn batch(&self, indices: &[usize]) -> Mat<f64> {
        let mut x = Mat::new();
        self.batch_into(indices, &mut x);
        x
    }

    /// [`Images::batch`] into `x`, whose storage is reused when the shape matches.
    pub fn batch_into(&self, indices: &[usize], x: &mut Mat<f64>) {
        let pixels = self.normaliser.pixels();
        if x.nrows() != pixels || x.ncols() != indices.len() {
            *x = Mat::zeros(pixels, indices.len());
        }
        self.normaliser.batch_into(self.split, indices, x.as_mut());
    }
}

/// Examples per block when evaluating: large enough for efficient products, small
/// enough that the activations stay in cache.
const EVAL_BLOCK: usize = 250;

/// Sum over images of `‖y − x‖²`, evaluated in blocks.
pub fn reconstruction_sse(net: &Network, images: Images<'_>) -> f64 {
    let mut bufs: Vec<Mat<f64>> = vec![Mat::new(); net.depth()];
    let mut total = 0.0;
    let mut start = 0;
    let mut idx = Vec::with_capacity(EVAL_BLOCK);
    while start < images.n {
        let cols = EVAL_BLOCK.min(images.n - start);
        idx.clear();
        idx.extend(start..start + cols);
        let x = images.batch(&idx);
        for (l, layer) in net.layers.iter().enumerate() {
            let (below, rest) = bufs.split_at_mut(l);
            let input = if l == 0 {
                x.as_ref()
            } else {
                below[l - 1].as_ref()
            };
            batch::layer_forward(layer, input, &mut rest[0]);
        }
        let y = bufs.last().expect("at least one layer");
        for j in 0..cols {
            for (yi, xi) in y.col_as_slice(j).iter().zip(x.col_as_slice(j)) {
                total += (yi - xi) * (yi - xi);
            }
        }
        start += cols;
    }
    total
}

/// Activities of layer `layer` (its output `h_layer`) for the images `indices`.
pub fn activities(net: &Network, images: Images<'_>, indices: &[usize], layer: usize) -> Mat<f64> {
    let mut h = images.batch(indices);
    for l in &net.layers[..layer] {
        let mut out = Mat::new();
        batch::layer_forward(l, h.as_ref(), &mut out);
        h = out;
    }
    h
}

/// The batches of the first epoch after which the training-set error is measured (one
/// per quarter); it is also measured before training and after every epoch.
pub fn first_epoch_checkpoints(batches: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (1..=4).map(|q| (q * batches).div_ceil(4)).collect();
    v.dedup();
    v
}

/// The order of the training images in epoch `epoch` (1-based): a permutation drawn
/// from the stream `order_seed`/`epoch-<k>`, shared by every model of a replicate.
pub fn epoch_order(order_seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng_from_seed(derive_seed(
        order_seed,
        &format!("epoch-{epoch}"),
    )));
    order
}

/// Everything one model's training needs.
pub struct TrainSetup<'a> {
    pub name: &'a str,
    pub learner: Learner,
    pub train: Images<'a>,
    pub test: Images<'a>,
    pub epochs: usize,
    pub batch_size: usize,
    pub order_seed: u64,
}

/// Where training stands between two batches, besides the [`Learner`]: with the
/// learner's weights and kept products, everything it needs to go on exactly as if it
/// had never stopped (each epoch's order is drawn from its own seeded stream, and the
/// learner's other buffers are scratch).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Position {
    /// The epoch (1-based) and the index in it of the next batch.
    pub epoch: usize,
    pub batch: usize,
    /// Examples trained on so far.
    pub seen: usize,
    /// Metrics logged so far.
    pub log: MetricLog,
    /// Wall time of the batches of each finished epoch, and of the current epoch's so
    /// far, and of the error evaluations (for benchmarks; never part of an output).
    pub epoch_batch_seconds: Vec<f64>,
    pub batch_seconds: f64,
    pub evaluation_seconds: f64,
}

pub struct TrainOutput {
    pub log: MetricLog,
    pub net: Network,
    /// Wall time spent on each epoch's batches (forward, backward and update) and on
    /// measuring the errors, in seconds (for benchmarks; not part of any output).
    pub epoch_batch_seconds: Vec<f64>,
    pub evaluation_seconds: f64,
}

/// Records the training-set error (mean squared error per pixel, and the per-image
/// sum of Hinton & Salakhutdinov 2006) and the test-set error per pixel; a non-finite
/// error is an error naming the model and the epoch.
fn record(s: &TrainSetup<'_>, step: usize, log: &mut MetricLog) -> Result<(), String> {
    let net = &s.learner.net();
    let pixels = s.train.normaliser.pixels() as f64;
    let sse = reconstruction_sse(net, s.train);
    if !sse.is_finite() {
        return Err(format!(
            "model `{}`, epoch {:.2} ({step} examples): training diverged (training-set reconstruction error is {sse}); lower the learning rate",
            s.name,
            step as f64 / s.train.n as f64
        ));
    }
    log.push(step, "mse_per_pixel", sse / (s.train.n as f64 * pixels));
    log.push(step, "sse_per_image", sse / s.train.n as f64);
    let test = reconstruction_sse(net, s.test);
    log.push(
        step,
        "test_mse_per_pixel",
        test / (s.test.n as f64 * pixels),
    );
    Ok(())
}

/// Trains for `epochs` epochs; `progress` is told about every batch.
pub fn train(s: TrainSetup<'_>, progress: impl FnMut(u64)) -> Result<TrainOutput, String> {
    train_from(s, None, progress, |_, _| {})
}

/// [`train`] from `start` (a [`Position`] an earlier call passed to `at_batch_end`,
/// with `s.learner` restored to the state it had then) or, with `None`, from the
/// beginning; `at_batch_end` sees the position and the learner after every batch (and
/// the evaluation, if one was due), a point from which training can resume exactly.
pub fn train_from(
    mut s: TrainSetup<'_>,
    start: Option<Position>,
    mut progress: impl FnMut(u64),
    mut at_batch_end: impl FnMut(&Position, &Learner),
) -> Result<TrainOutput, String> {
    s.learner
        .update()
        .validate()
        .and_then(|()| s.learner.feedback().check(s.learner.net()))
        .map_err(|e| format!("model `{}`: {e}", s.name))?;
    let timed_record = |s: &TrainSetup<'_>, at: &mut Position| {
        let t = Instant::now();
        let r = record(s, at.seen, &mut at.log);
        at.evaluation_seconds += t.elapsed().as_secs_f64();
        r
    };
    let mut at = match start {
        Some(at) => at,
        None => {
            let mut at = Position {
                epoch: 1,
                epoch_batch_seconds: Vec::with_capacity(s.epochs),
                ..Position::default()
            };
            timed_record(&s, &mut at)?;
            at
        }
    };
    let n = s.train.n;
    let batches = n.div_ceil(s.batch_size);
    let quarters = first_epoch_checkpoints(batches);
    let mut x = Mat::new();
    while at.epoch <= s.epochs && batches > 0 {
        let epoch = at.epoch;
        let order = epoch_order(s.order_seed, epoch, n);
        for (b, idx) in order.chunks(s.batch_size).enumerate().skip(at.batch) {
            let t = Instant::now();
            s.train.batch_into(idx, &mut x);
            let stepped = s.learner.step(&x, &x);
            at.batch_seconds += t.elapsed().as_secs_f64();
            stepped.map_err(|e| {
                format!(
                    "model `{}`, epoch {epoch}, batch {} of {batches}: {e}",
                    s.name,
                    b + 1
                )
            })?;
            at.seen += idx.len();
            progress(1);
            let last = b + 1 == batches;
            if last || (epoch == 1 && quarters.contains(&(b + 1))) {
                timed_record(&s, &mut at)?;
            }
            at.batch = b + 1;
            if last {
                at.epoch_batch_seconds.push(at.batch_seconds);
                at.batch_seconds = 0.0;
                at.epoch += 1;
                at.batch = 0;
            }
            at_batch_end(&at, &s.learner);
        }
    }
    Ok(TrainOutput {
        log: at.log,
        net: s.learner.into_net(),
        epoch_batch_seconds: at.epoch_batch_seconds,
        evaluation_seconds: at.evaluation_seconds,
    })
}
