//! The quantities the paper plots: angles between vectors and between matrices,
//! and squared errors.

use faer::MatRef;

/// Angle in degrees between two vectors given as element iterators, by Kahan's
/// formula `2·atan2(‖â − b̂‖, ‖â + b̂‖)` on the unit vectors: accurate near 0° and
/// 180°, where `acos` of a rounded cosine loses half the digits. NaN when either
/// vector is zero or non-finite (the angle is undefined).
fn kahan_angle<I>(pairs: I) -> f64
where
    I: Iterator<Item = (f64, f64)> + Clone,
{
    let (na2, nb2) = pairs
        .clone()
        .fold((0.0, 0.0), |(sa, sb), (a, b)| (sa + a * a, sb + b * b));
    let (na, nb) = (na2.sqrt(), nb2.sqrt());
    if na == 0.0 || nb == 0.0 || !na.is_finite() || !nb.is_finite() {
        return f64::NAN;
    }
    let (diff2, sum2) = pairs.fold((0.0, 0.0), |(d, s), (a, b)| {
        let (ua, ub) = (a / na, b / nb);
        (d + (ua - ub) * (ua - ub), s + (ua + ub) * (ua + ub))
    });
    (2.0 * diff2.sqrt().atan2(sum2.sqrt())).to_degrees()
}

/// Angle between two vectors, in degrees.
pub fn angle_deg(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    kahan_angle(a.iter().copied().zip(b.iter().copied()))
}

/// Angle between two matrices of the same shape under the Frobenius inner product,
/// in degrees.
pub fn matrix_angle_deg(a: MatRef<'_, f64>, b: MatRef<'_, f64>) -> f64 {
    debug_assert_eq!((a.nrows(), a.ncols()), (b.nrows(), b.ncols()));
    let idx = (0..a.ncols()).flat_map(move |j| (0..a.nrows()).map(move |i| (i, j)));
    kahan_angle(idx.map(|(i, j)| (a[(i, j)], b[(i, j)])))
}

/// Angle between `B` and `−W^T` (Fig. 3e,j), in degrees.
pub fn feedback_alignment_deg(b: MatRef<'_, f64>, w: MatRef<'_, f64>) -> f64 {
    debug_assert_eq!((b.nrows(), b.ncols()), (w.ncols(), w.nrows()));
    let idx = (0..b.ncols()).flat_map(move |j| (0..b.nrows()).map(move |i| (i, j)));
    kahan_angle(idx.map(|(i, j)| (b[(i, j)], -w[(j, i)])))
}

/// Sum of squared differences `Σ (y − t)²`.
pub fn squared_error(y: &[f64], t: &[f64]) -> f64 {
    y.iter().zip(t).map(|(a, b)| (a - b) * (a - b)).sum()
}

/// Scales a series so its maximum over all series is 1 — the paper's normalised
/// error (supp. 7.5.2: "normalized by the maximum error across all algorithms and
/// iterations"). Non-finite values are ignored when taking the maximum.
pub fn normalise_by_max(series: &mut [Vec<f64>]) -> f64 {
    let max = series
        .iter()
        .flatten()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    if max > 0.0 {
        for s in series.iter_mut() {
            for v in s.iter_mut() {
                *v /= max;
            }
        }
    }
    max
}
