//! Matrix products split into two fixed halves that run as two tasks.
//!
//! Every entry of `C = A B` is computed by exactly one half, by the same sequential
//! faer product it would get in the whole product, so the result does not depend on
//! how many threads run the halves (one thread runs them one after the other). This
//! is how one mini-batch uses both cores and stays bitwise reproducible: faer's own
//! parallel products may change the last bits with the thread count.
//!
//! Every task flushes subnormals on its thread first ([`crate::kernels::fp`]): a worker thread
//! that steals a half must compute as the stage thread would, and as fast.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

/// Below this many multiply-adds one task does the whole product.
const MIN_SPLIT: usize = 1 << 18;

/// `rayon::join` with subnormals flushed on whichever threads run `a` and `b`.
pub fn join<A: Send, B: Send>(
    a: impl FnOnce() -> A + Send,
    b: impl FnOnce() -> B + Send,
) -> (A, B) {
    rayon::join(
        || {
            crate::kernels::fp::flush_subnormals();
            a()
        },
        || {
            crate::kernels::fp::flush_subnormals();
            b()
        },
    )
}

/// Which dimension of `C` is halved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halve {
    /// Columns of `C` (and of `B`): for products over a batch's examples.
    Columns,
    /// Rows of `C` (and of `A`): for weight updates `W += α Δ H^T`.
    Rows,
}

/// `C = α A B` (`Accum::Replace`) or `C += α A B` (`Accum::Add`), in two halves.
pub fn matmul_halves(
    c: MatMut<'_, f64>,
    accum: Accum,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
    halve: Halve,
) {
    if a.nrows() * a.ncols() * b.ncols() < MIN_SPLIT {
        matmul(c, accum, a, b, alpha, Par::Seq);
        return;
    }
    for_halves(c, halve, |half, start| {
        let (a, b) = match halve {
            Halve::Columns => (a, b.subcols(start, half.ncols())),
            Halve::Rows => (a.subrows(start, half.nrows()), b),
        };
        matmul(half, accum, a, b, alpha, Par::Seq);
    });
}

/// `C ← decay·C + α A B` in two halves of the rows as two tasks, each half scaled just
/// before its product, while it is in cache: the bits of scaling the whole of `C` and
/// then [`matmul_halves`] (weight updates with weight decay).
///
/// # Panics
/// If the columns of `C` are not contiguous.
pub fn decay_and_add_rows(
    c: MatMut<'_, f64>,
    decay: f64,
    a: MatRef<'_, f64>,
    b: MatRef<'_, f64>,
    alpha: f64,
) {
    for_halves(c, Halve::Rows, |mut half, start| {
        if decay != 1.0 {
            for j in 0..half.ncols() {
                let col = half.as_mut().col_mut(j).try_as_col_major_mut();
                for v in col.expect("contiguous columns").as_slice_mut() {
                    *v *= decay;
                }
            }
        }
        let a = a.subrows(start, half.nrows());
        matmul(half, Accum::Add, a, b, alpha, Par::Seq);
    });
}

/// `A B` as a new matrix, in two halves of its longer side (see [`matmul_halves`]):
/// halving the rows of a tall product gives each task half of `A` to stream and the
/// whole batch as its width (a third faster than halving a batch of 100 for the
/// autoencoder's 784 × 500 layer).
pub fn mul_halves(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> Mat<f64> {
    let mut c = Mat::zeros(a.nrows(), b.ncols());
    let halve = if a.nrows() >= b.ncols() {
        Halve::Rows
    } else {
        Halve::Columns
    };
    matmul_halves(c.as_mut(), Accum::Replace, a, b, 1.0, halve);
    c
}

/// Runs `f` on every item, as tasks (the list halved recursively), and returns the
/// first error in the list's order. For independent pieces of work, each computed
/// alone: the bits do not depend on which thread runs which.
pub fn try_for_each_task<T: Send, E: Send>(
    mut items: Vec<T>,
    f: &(impl Fn(T) -> Result<(), E> + Sync),
) -> Result<(), E> {
    if items.len() <= 1 {
        return items.into_iter().try_for_each(f);
    }
    let second = items.split_off(items.len() / 2);
    let (a, b) = join(
        || try_for_each_task(items, f),
        || try_for_each_task(second, f),
    );
    a.and(b)
}

/// Runs `f` on the two halves of `m` (its columns or rows) as two tasks, with the
/// offset of each half's first column or row. For work whose entries are independent
/// (solves with many right-hand sides, products followed by elementwise functions).
pub fn for_halves(m: MatMut<'_, f64>, halve: Halve, f: impl Fn(MatMut<'_, f64>, usize) + Sync) {
    match halves(m, halve) {
        Ok((m0, m1, mid)) => {
            join(|| f(m0, 0), || f(m1, mid));
        }
        Err(m) => f(m, 0),
    }
}

/// [`for_halves`] over two matrices of the same shape, halved alike: for work that
/// writes two results per entry (a layer's activities and their derivatives).
pub fn for_halves_pair(
    a: MatMut<'_, f64>,
    b: MatMut<'_, f64>,
    halve: Halve,
    f: impl Fn(MatMut<'_, f64>, MatMut<'_, f64>, usize) + Sync,
) {
    assert!(
        a.nrows() == b.nrows() && a.ncols() == b.ncols(),
        "for_halves_pair: {}x{} and {}x{}",
        a.nrows(),
        a.ncols(),
        b.nrows(),
        b.ncols()
    );
    match (halves(a, halve), halves(b, halve)) {
        (Ok((a0, a1, mid)), Ok((b0, b1, _))) => {
            join(|| f(a0, b0, 0), || f(a1, b1, mid));
        }
        (Err(a), Err(b)) => f(a, b, 0),
        _ => unreachable!("matrices of the same shape halve alike"),
    }
}

/// The two halves of `m` and the offset of the second, or `m` whole when it has fewer
/// than two columns or rows to halve.
#[allow(clippy::type_complexity)]
fn halves(
    m: MatMut<'_, f64>,
    halve: Halve,
) -> Result<(MatMut<'_, f64>, MatMut<'_, f64>, usize), MatMut<'_, f64>> {
    let len = match halve {
        Halve::Columns => m.ncols(),
        Halve::Rows => m.nrows(),
    };
    if len < 2 {
        return Err(m);
    }
    let mid = len / 2;
    let (m0, m1) = match halve {
        Halve::Columns => m.split_at_col_mut(mid),
        Halve::Rows => m.split_at_row_mut(mid),
    };
    Ok((m0, m1, mid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use faer::Mat;
    use rand::{RngExt, SeedableRng};

    fn pool(threads: usize) -> rayon::ThreadPool {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
    }

    fn random(seed: u64, r: usize, c: usize) -> Mat<f64> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        Mat::from_fn(r, c, |_, _| rng.random_range(-1.0..1.0))
    }

    /// The halves give the bits of the whole sequential product, for the shapes of
    /// the MNIST autoencoder's batches of 100 (forward, backward and update), with a
    /// one- and a two-thread pool.
    #[test]
    fn halves_equal_the_whole_product_bitwise() {
        let shapes = [
            (500, 784, 100),
            (784, 500, 100),
            (250, 500, 100),
            (500, 250, 100),
            (30, 250, 100),
            (250, 30, 100),
            (500, 100, 784),
            (784, 100, 500),
            (30, 100, 250),
            (500, 100, 500),
            (101, 77, 33),
        ];
        // Each shape with `A` stored as given and as the transpose of a stored matrix
        // (the backward pass's `W^T Δ`).
        let cases = shapes
            .iter()
            .enumerate()
            .flat_map(|(k, &s)| [(k, s, false), (k, s, true)]);
        for (k, (m, inner, n), transposed) in cases {
            let stored = if transposed {
                random(2 * k as u64, inner, m)
            } else {
                random(2 * k as u64, m, inner)
            };
            let a = if transposed {
                stored.transpose()
            } else {
                stored.as_ref()
            };
            let b = random(2 * k as u64 + 1, inner, n);
            let c0 = random(99, m, n);
            for accum in [Accum::Replace, Accum::Add] {
                let mut whole = c0.clone();
                matmul(
                    whole.as_mut(),
                    accum,
                    a.as_ref(),
                    b.as_ref(),
                    -0.3,
                    Par::Seq,
                );
                for halve in [Halve::Columns, Halve::Rows] {
                    for threads in [1, 2] {
                        let pool = pool(threads);
                        let mut split = c0.clone();
                        pool.install(|| {
                            matmul_halves(
                                split.as_mut(),
                                accum,
                                a.as_ref(),
                                b.as_ref(),
                                -0.3,
                                halve,
                            )
                        });
                        let same = (0..n).all(|j| {
                            (0..m).all(|i| whole[(i, j)].to_bits() == split[(i, j)].to_bits())
                        });
                        assert!(
                            same,
                            "{m}x{inner}x{n} (A transposed: {transposed}) {halve:?} {accum:?} on {threads} threads"
                        );
                    }
                }
            }
        }
    }

    /// The fused decay and product give the bits of scaling all of `C` first and then
    /// adding the whole sequential product, on one and two threads.
    #[test]
    fn decay_and_add_rows_equals_scaling_then_the_product_bitwise() {
        let (m, k, n) = (123, 40, 57);
        let (a, b, c0) = (random(1, m, k), random(2, k, n), random(3, m, n));
        for decay in [1.0, 1.0 - 1e-3] {
            let mut whole = c0.clone();
            for j in 0..n {
                for v in whole.col_as_slice_mut(j) {
                    *v *= decay;
                }
            }
            matmul(
                whole.as_mut(),
                Accum::Add,
                a.as_ref(),
                b.as_ref(),
                -0.7,
                Par::Seq,
            );
            for threads in [1, 2] {
                let pool = pool(threads);
                let mut fused = c0.clone();
                pool.install(|| {
                    decay_and_add_rows(fused.as_mut(), decay, a.as_ref(), b.as_ref(), -0.7)
                });
                let same = (0..n)
                    .all(|j| (0..m).all(|i| whole[(i, j)].to_bits() == fused[(i, j)].to_bits()));
                assert!(same, "decay {decay} on {threads} threads");
            }
        }
    }

    /// Every item runs exactly once, on one or two threads, and the error returned is
    /// the first in the list's order, not the first to finish.
    #[test]
    fn tasks_run_every_item_once_and_report_the_first_error() {
        for threads in [1, 2] {
            let pool = pool(threads);
            let seen = std::sync::Mutex::new(Vec::new());
            let result = pool.install(|| {
                try_for_each_task((0..7).collect(), &|i: usize| {
                    seen.lock().unwrap().push(i);
                    if i == 3 || i == 5 {
                        Err(i)
                    } else {
                        Ok(())
                    }
                })
            });
            let mut seen = seen.into_inner().unwrap();
            seen.sort_unstable();
            assert_eq!(seen, (0..7).collect::<Vec<_>>(), "{threads} threads");
            assert_eq!(result, Err(3), "{threads} threads");
        }
        let none: Vec<usize> = Vec::new();
        assert_eq!(try_for_each_task(none, &|_| Err::<(), _>(0)), Ok(()));
    }
}
