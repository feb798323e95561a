//! Fixed-point arithmetic for protocols that need logarithms and exponentials (phi-accrual
//! failure detection) without letting a platform's float library decide a run.
//!
//! Numbers are Q32.32: an `i128` holding `value × 2^32`. `exp` uses range reduction to a
//! power of two and a Taylor series in 62-bit fixed point; `log2` takes the integer part from
//! the leading bit and the fraction bit by bit by repeated squaring. Both are exact to well
//! under 1e-9 over the ranges used, and are pure integer maths: the same bits everywhere.
//! Tests compare them with f64 and pin a few results.

/// One, in Q32.32.
pub const ONE: i128 = 1 << 32;

/// Converts a constant to Q32.32 (only for literals written in source; rounding to nearest).
pub const fn q(v: f64) -> i128 {
    // Evaluated at compile time for constants; the float never reaches a run.
    (v * 4_294_967_296.0 + if v >= 0.0 { 0.5 } else { -0.5 }) as i128
}

const LOG2_E: i128 = q(std::f64::consts::LOG2_E);
const LOG10_2: i128 = q(std::f64::consts::LOG10_2);
const LN_2_Q62: u128 = 3_196_577_161_300_663_915; // ln 2 × 2^62

/// `e^x` for `x` in Q32.32, saturating: inputs above 60 give `e^60`, below -60 give 0.
pub fn exp(x: i128) -> i128 {
    let x = x.clamp(-60 * ONE, 60 * ONE);
    // e^x = 2^(x log2 e) = 2^k × 2^f, k integer, 0 <= f < 1.
    let y = (x * LOG2_E) >> 32;
    let k = y >> 32; // floor, arithmetic shift
    let f = (y - (k << 32)) as u128; // 0 ..= 2^32 - 1
    // 2^f = e^(f ln 2), with r = f ln 2 in [0, ln 2), in Q62.
    let r = (f * LN_2_Q62) >> 32;
    let mut term: u128 = 1 << 62;
    let mut sum: u128 = term;
    for i in 1..=20u128 {
        term = term * r / (i << 62);
        if term == 0 {
            break;
        }
        sum += term;
    }
    // sum is 2^f in Q62; scale to Q32 and apply 2^k.
    let q32 = sum >> 30;
    let shifted = if k >= 0 { q32 << k } else { q32 >> (-k) };
    shifted as i128
}

/// `log2(x)` for positive `x` in Q32.32. Returns `i128::MIN` for `x <= 0`.
pub fn log2(x: i128) -> i128 {
    if x <= 0 {
        return i128::MIN;
    }
    let x = x as u128;
    let msb = 127 - x.leading_zeros() as i128; // position of the top bit
    let int_part = msb - 32;
    // m = x / 2^msb in [1, 2), held in Q62.
    let mut m: u128 = if msb >= 62 {
        x >> (msb - 62)
    } else {
        x << (62 - msb)
    };
    let mut frac: i128 = 0;
    for bit in (0..32).rev() {
        m = (m * m) >> 62;
        if m >= 2 << 62 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    (int_part << 32) + frac
}

/// `log10(x)` for positive `x` in Q32.32.
pub fn log10(x: i128) -> i128 {
    (log2(x) * LOG10_2) >> 32
}

/// The `y = (elapsed - mean) / std` (Q32.32) above which phi exceeds `threshold_milli`
/// thousandths. Phi grows with `y`, so a detector can compare `y` with this once-computed
/// bound instead of evaluating logarithms on every check; found by bisection on
/// [`phi_of_y_milli`], so the two agree to the last representable step.
pub fn phi_y_threshold(threshold_milli: u64) -> i128 {
    let (mut lo, mut hi) = (-32 * ONE, 32 * ONE);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if phi_of_y_milli(mid) > threshold_milli {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// Phi in thousandths for a given `y` in Q32.32 (see [`phi_milli`]).
pub fn phi_of_y_milli(y: i128) -> u64 {
    const A: i128 = q(1.5976);
    const B: i128 = q(0.070566);
    const LOG10_E: i128 = q(std::f64::consts::LOG10_E);
    let y = y.clamp(-32 * ONE, 32 * ONE);
    let y2 = (y * y) >> 32;
    let z = (y * (A + ((B * y2) >> 32))) >> 32;
    let phi = if z > 40 * ONE {
        // log10(1 + e^z) = z log10(e) + log10(1 + e^-z), and the last term is below 1e-17.
        (z * LOG10_E) >> 32
    } else {
        log10(ONE + exp(z))
    };
    ((phi.max(0) * 1000 + (ONE / 2)) >> 32) as u64
}

/// Phi of the phi-accrual failure detector, in thousandths, with the logistic approximation
/// of the normal distribution's tail: `phi = log10(1 + e^z)`, `z = y (1.5976 + 0.070566 y²)`,
/// `y = (elapsed - mean) / std`. All times in microseconds; `std_us` must be positive.
pub fn phi_milli(elapsed_us: u64, mean_us: u64, std_us: u64) -> u64 {
    let std = i128::from(std_us.max(1));
    phi_of_y_milli(((i128::from(elapsed_us) - i128::from(mean_us)) << 32) / std)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(x: i128) -> f64 {
        x as f64 / ONE as f64
    }

    #[test]
    fn exp_and_log_match_floats() {
        for i in -400..=400 {
            let x = i as f64 / 10.0;
            let got = f(exp(q(x)));
            let want = x.exp();
            assert!(
                (got - want).abs() <= want * 1e-8 + 1e-9,
                "exp({x}) = {got}, want {want}"
            );
        }
        for i in 1..=2000 {
            let x = i as f64 / 7.0;
            let got = f(log2(q(x)));
            assert!((got - x.log2()).abs() < 1e-8, "log2({x}) = {got}");
            assert!((f(log10(q(x))) - x.log10()).abs() < 1e-8);
        }
        assert_eq!(log2(0), i128::MIN);
        assert_eq!(exp(q(-100.0)), 0);
    }

    fn phi_float(elapsed: f64, mean: f64, std: f64) -> f64 {
        let y = ((elapsed - mean) / std).clamp(-32.0, 32.0);
        let z = y * (1.5976 + 0.070566 * y * y);
        if z > 40.0 {
            z * std::f64::consts::LOG10_E
        } else {
            (1.0 + z.exp()).log10()
        }
    }

    #[test]
    fn phi_matches_the_float_formula() {
        for elapsed in (0..3_000_000).step_by(37_000) {
            for (mean, std) in [(100_000u64, 10_000u64), (500_000, 200_000), (1_000_000, 1)] {
                let got = phi_milli(elapsed, mean, std) as f64 / 1000.0;
                let want = phi_float(elapsed as f64, mean as f64, std as f64);
                assert!(
                    (got - want).abs() < 0.002,
                    "phi({elapsed}, {mean}, {std}) = {got}, want {want}"
                );
            }
        }
    }

    #[test]
    fn the_y_threshold_agrees_with_phi() {
        for t in [1_000u64, 3_000, 8_000, 12_000, 16_000] {
            let y = phi_y_threshold(t);
            assert!(
                phi_of_y_milli(y) > t && phi_of_y_milli(y - 1) <= t,
                "threshold {t}"
            );
        }
        assert_eq!(phi_y_threshold(8_000), PINNED_Y_8);
    }
    const PINNED_Y_8: i128 = 22_446_111_808;

    /// Pins results: a change here changes every run that uses phi-accrual.
    #[test]
    fn phi_is_pinned() {
        assert_eq!(phi_milli(100_000, 100_000, 10_000), 301); // at the mean: log10(2)
        assert_eq!(phi_milli(130_000, 100_000, 10_000), PINNED_3_SIGMA);
        assert_eq!(phi_milli(200_000, 100_000, 10_000), PINNED_10_SIGMA);
        assert_eq!(phi_milli(0, 100_000, 10_000), 0);
    }
    const PINNED_3_SIGMA: u64 = 2909;
    const PINNED_10_SIGMA: u64 = 37585;
}
