//! The mini-batch step of one model: forward pass, batched backward pass, and the
//! summed-gradient update of Eq. (2), with the inversions' kept products following
//! the weights.

use faer::Mat;

use super::kept::Inverter;
use super::{output_delta, BatchTrace};
use crate::{CoreError, Credit, Feedback, Network, UpdateRule};

/// One model's credit assignment, weights and update rule: the mini-batch step. The
/// weights change only through [`Learner::step`], which keeps the inversions' stored
/// products in step with them.
pub struct Learner {
    net: Network,
    feedback: Feedback,
    credit: Credit,
    update: UpdateRule,
    trace: BatchTrace,
    inverter: Inverter,
}

impl Learner {
    pub fn new(net: Network, feedback: Feedback, credit: Credit, update: UpdateRule) -> Self {
        let inverter = Inverter::new(&credit, &net);
        Learner {
            net,
            feedback,
            credit,
            update,
            trace: BatchTrace::default(),
            inverter,
        }
    }

    /// Forward and backward pass of the batch `x` (one example per column) under the
    /// squared-error loss against `target` (an autoencoder passes `x` itself): every
    /// layer's error signals, `deltas[i] = Δ_{i+1}`.
    pub fn backward(
        &mut self,
        x: &Mat<f64>,
        target: &Mat<f64>,
    ) -> Result<Vec<Mat<f64>>, CoreError> {
        // PBP's and NDI's factorisations do not depend on the batch: they run beside
        // the forward pass (two tasks; each computes what it would alone).
        let (net, fb, alpha) = (&self.net, &self.feedback, self.credit.alpha);
        let (trace, inverter) = (&mut self.trace, &mut self.inverter);
        let ((), prepared) = crate::kernels::split::join(
            || super::forward(net, x.as_ref(), trace),
            || inverter.prepare(net, fb, alpha),
        );
        prepared?;
        let delta_out = output_delta(&self.trace, target);
        self.credit.backward_batch(
            &self.net,
            &self.trace,
            &self.feedback,
            &mut self.inverter,
            delta_out,
        )
    }

    /// One update from the batch `x` and its `target`: the summed-gradient step of
    /// Eq. (2) with weight decay, after [`Learner::backward`].
    pub fn step(&mut self, x: &Mat<f64>, target: &Mat<f64>) -> Result<(), CoreError> {
        let deltas = self.backward(x, target)?;
        let inputs = &self.trace.h[..self.net.depth()];
        self.inverter.update_and_follow(
            &mut self.net,
            &self.feedback,
            &self.update,
            inputs,
            &deltas,
        )
    }

    pub fn net(&self) -> &Network {
        &self.net
    }

    pub fn update(&self) -> &UpdateRule {
        &self.update
    }

    pub fn feedback(&self) -> &Feedback {
        &self.feedback
    }

    pub fn into_net(self) -> Network {
        self.net
    }

    /// The inversions' kept products (see [`Inverter::kept_products`]), for checkpoints.
    pub fn kept_products(&self) -> (Vec<Option<&Mat<f64>>>, usize) {
        self.inverter.kept_products()
    }

    /// Puts back the weights and kept products of a checkpoint (see
    /// [`Inverter::restore`]); the feedback matrices never change during training.
    pub fn restore(
        &mut self,
        net: Network,
        products: Vec<Option<Mat<f64>>>,
        updates: usize,
    ) -> Result<(), String> {
        if net.depth() != self.net.depth()
            || net.layers.iter().zip(&self.net.layers).any(|(a, b)| {
                a.w.nrows() != b.w.nrows()
                    || a.w.ncols() != b.w.ncols()
                    || a.b.as_ref().map(Vec::len) != b.b.as_ref().map(Vec::len)
            })
        {
            return Err("its network has other dimensions".to_string());
        }
        self.inverter.restore(&net, products, updates)?;
        self.net = net;
        Ok(())
    }

    /// Largest relative drift of the inversions' kept products from their direct
    /// computation (see [`Inverter`]).
    pub fn drift(&self) -> Result<f64, CoreError> {
        self.inverter.drift(&self.net, &self.feedback)
    }
}
