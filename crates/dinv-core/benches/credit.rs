//! Kernels that bound the MNIST experiments' speed: `cargo bench -p dinv-core`.
//! (Pipeline-level figures come from `cargo xtask bench`.)

use criterion::{criterion_group, criterion_main, Criterion};
use dinv_core::dynamics::{Dynamics, EulerOrder, Integration, LayerSystem, Solver};
use dinv_core::kernels::split::{matmul_halves, Halve};
use dinv_core::Activation;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rand::{RngExt, SeedableRng};
use std::hint::black_box;

fn random(seed: u64, r: usize, c: usize, half: f64) -> Mat<f64> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    Mat::from_fn(r, c, |_, _| rng.random_range(-half..half))
}

/// True DI on the MNIST read-out (10 × 1000, tanh dynamics, Tr-Init): 1000 Euler steps
/// of dt = 0.1, a tenth of the paper's 10000.
fn euler_tanh(c: &mut Criterion) {
    dinv_core::kernels::fp::flush_subnormals();
    let w = random(1, 10, 1000, 0.05);
    let b = dinv_core::feedback::neg_transpose(w.as_ref(), 1.0);
    let gp = vec![1.0; 1000];
    let target: Vec<f64> = (0..10).map(|i| 0.05 * (i as f64 - 4.5)).collect();
    let sys = LayerSystem {
        w: w.as_ref(),
        b: b.as_ref(),
        alpha: 0.01,
        dynamics: Dynamics::Nonlinear,
        act: Activation::Tanh,
        gprime: &gp,
    };
    let int = Integration {
        dt: 0.1,
        steps: 1000,
        order: EulerOrder::StateFirst,
        tol: None,
    };
    c.bench_function("di_euler_tanh_10x1000_1000_steps", |bench| {
        bench.iter(|| sys.invert(black_box(&target), Solver::Euler, &int).unwrap())
    });
    c.bench_function("di_newton_tanh_10x1000", |bench| {
        bench.iter(|| {
            sys.invert(black_box(&target), Solver::SteadyState, &int)
                .unwrap()
        })
    });
}

/// The autoencoder's largest product per batch (500 × 784 by 784 × 100), whole and in
/// two halves on two threads.
fn batch_product(c: &mut Criterion) {
    dinv_core::kernels::fp::flush_subnormals();
    let w = random(2, 500, 784, 0.05);
    let x = random(3, 784, 100, 1.0);
    let mut out = Mat::<f64>::zeros(500, 100);
    c.bench_function("matmul_500x784x100_whole", |bench| {
        bench.iter(|| {
            matmul(
                out.as_mut(),
                Accum::Replace,
                w.as_ref(),
                x.as_ref(),
                1.0,
                Par::Seq,
            )
        })
    });
    c.bench_function("matmul_500x784x100_halves", |bench| {
        bench.iter(|| {
            matmul_halves(
                out.as_mut(),
                Accum::Replace,
                w.as_ref(),
                x.as_ref(),
                1.0,
                Halve::Columns,
            )
        })
    });
}

/// NDI's closed form for one MNIST example (10 × 1000 read-out, α = 0.01): what online
/// NDI pays per example on top of BP.
fn ndi_one_example(c: &mut Criterion) {
    dinv_core::kernels::fp::flush_subnormals();
    let w = random(4, 10, 1000, 0.05);
    let b = dinv_core::feedback::neg_transpose(w.as_ref(), 1.0);
    let y = random(5, 10, 1, 1.0);
    c.bench_function("ndi_apply_10x1000_one_example", |bench| {
        bench.iter(|| {
            dinv_core::inverse::ndi_apply(w.as_ref(), b.as_ref(), 0.01, black_box(y.as_ref()))
                .unwrap()
        })
    });
}

criterion_group!(benches, euler_tanh, batch_product, ndi_one_example);
criterion_main!(benches);
