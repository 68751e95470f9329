//! The numerical kernels under the mathematics: fused loops and products tuned for
//! speed, with no equation of their own. The paper's equations live one level up and
//! call these.
//!
//! - `simulate`: Algorithm 1's Euler loop, fused (used by `dynamics.rs`);
//! - `split`: products split into two fixed halves that run as two tasks, bitwise
//!   independent of the thread count;
//! - `fp`: flush-to-zero for subnormals, set on each thread that computes;
//! - `tanh`, `vecops`: the vectorised activation and small vector operations.

pub mod fp;
pub(crate) mod simulate;
pub mod split;
pub mod tanh;
pub mod vecops;
