//! # dinv-core: the science of dynamic inversion
//!
//! Podlaski & Machens (NeurIPS 2020) propagate errors backwards by *inverting* the
//! forward weights through leaky integral feedback control instead of multiplying by
//! their transpose. This crate holds that mathematics and nothing else: feedforward
//! networks (Eq. 1), the credit-assignment rules BP, FA, PBP, NDI and DI (Eqs. 3–16,
//! Algorithms 1–4), the stability analysis of the block system (Eq. S9) with SSA
//! optimisation of the feedback weights (supp. 7.3), the learning rule (Eq. 2) and
//! the metrics the paper plots.
//!
//! **Invariant:** no I/O. Nothing here knows about files, TOML or Parquet.

pub mod linalg;

pub mod activation;
pub mod batch;
pub mod chain;
pub mod credit;
pub mod dynamics;
pub mod error;
pub mod expanding;
pub mod feedback;
pub mod gauss_newton;
pub mod init;
pub mod inverse;
pub mod kernels;
pub mod learn;
pub mod metrics;
pub mod net;
mod newton;
pub mod stability;

pub use activation::Activation;
pub use credit::{
    Backward, Chain, ClosedForm, Controller, Credit, DiSettings, Feedback, LayerLink, Method,
    Restabilisation, SsaSystem,
};
pub use dynamics::{Dynamics, EulerOrder, Integration, Inversion, LayerSystem, Solver};
pub use error::{CoreError, Result};
pub use feedback::FeedbackInit;
pub use learn::{DecayMode, UpdateRule};
pub use net::{Layer, Loss, Network, Trace};
pub use stability::{spectral_abscissa, ssa_stabilise, SsaConfig, SsaOutcome};
