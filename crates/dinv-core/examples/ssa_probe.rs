use dinv_core::feedback::neg_transpose;
use dinv_core::init::uniform_mat;
use dinv_core::stability::*;
use rand::SeedableRng;
fn main() {
    for seed in 0..6u64 {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let w0 = uniform_mat(&mut rng, 10, 20, -0.01, 0.01);
    let b = neg_transpose(w0.as_ref(), 1.0);
    let mut w = w0.clone();
    let d = uniform_mat(&mut rng, 10, 20, -0.02, 0.02);
    for i in 0..10 { for j in 0..20 { w[(i,j)] += d[(i,j)]; } }
    let a0 = spectral_abscissa(w.as_ref(), b.as_ref(), 0.0).unwrap();
    println!("seed {seed} abscissa start {a0:e}");
    for eps in [1e-2, 1e-3, 1e-4] {
        for lr in [0.05] {
            let cfg = SsaConfig { epsilon: eps, learning_rate: lr, min_iters: 10, max_iters: 200, margin: 0.01 };
            let t = std::time::Instant::now();
            match ssa_stabilise(w.as_ref(), b.as_ref(), 0.0, &cfg, 2) {
                Ok(o) => println!("  eps {eps:e} lr {lr}: ok iters {} after {:e} ({:?}) |B| {:.3}", o.iterations, o.abscissa_after, t.elapsed(), o.b.norm_l2()),
                Err(e) => println!("  eps {eps:e} lr {lr}: {e} ({:?})", t.elapsed()),
            }
        }
    }
    }
    // R-Init as in the paper: random B, alpha 0
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let w = uniform_mat(&mut rng, 10, 20, -0.01, 0.01);
    let b = uniform_mat(&mut rng, 20, 10, -0.01, 0.01);
    println!("R-init start {:e}", spectral_abscissa(w.as_ref(), b.as_ref(), 0.0).unwrap());
    for eps in [1e-2, 1e-3, 1e-4] {
        let cfg = SsaConfig { epsilon: eps, learning_rate: 0.05, min_iters: 10, max_iters: 200, margin: 0.01 };
        let t = std::time::Instant::now();
        match ssa_stabilise(w.as_ref(), b.as_ref(), 0.0, &cfg, 2) {
            Ok(o) => println!("  eps {eps:e}: ok iters {} after {:e} ({:?}) |B| {:.3}", o.iterations, o.abscissa_after, t.elapsed(), o.b.norm_l2()),
            Err(e) => println!("  eps {eps:e}: {e} ({:?})", t.elapsed()),
        }
    }
}
