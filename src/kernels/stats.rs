//! count, sum, min, max, mean and variance in one parallel pass.
//!
//! The input is cut into fixed blocks of `BLOCK` elements — fixed, not one per
//! thread — and the per-block results are combined sequentially in block
//! order, so the result is bit-for-bit the same whatever the thread count.
//! Sums are compensated (Neumaier); the variance combines per-block means and
//! squared deviations with Chan et al.'s pairwise formula. `variance` is the
//! population variance (divided by `count`). Integer inputs also get an exact
//! 128-bit sum, min and max (used for BigInt64Array and BigUint64Array).

use rayon::prelude::*;

use super::{Stop, Stopped};

/// Elements per block. A block fits in L2, so its second pass (squared
/// deviations from the block mean) reads from cache.
const BLOCK: usize = 1 << 16;

/// A number that `stats` can summarize.
pub trait Sample: Copy + Send + Sync {
    const INTEGER: bool;
    fn f(self) -> f64;
    fn i(self) -> i128;
}

macro_rules! sample_int {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            const INTEGER: bool = true;
            #[inline(always)]
            fn f(self) -> f64 { self as f64 }
            #[inline(always)]
            fn i(self) -> i128 { self as i128 }
        }
    )*};
}
sample_int!(u8, i8, u16, i16, u32, i32, u64, i64);

macro_rules! sample_float {
    ($($t:ty),*) => {$(
        impl Sample for $t {
            const INTEGER: bool = false;
            #[inline(always)]
            fn f(self) -> f64 { self as f64 }
            #[inline(always)]
            fn i(self) -> i128 { 0 }
        }
    )*};
}
sample_float!(f32, f64);

/// A compensated (Neumaier) running sum.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    s: f64,
    c: f64,
}

impl Sum {
    #[inline(always)]
    fn add(&mut self, x: f64) {
        let t = self.s + x;
        // Once the sum is ±Infinity or NaN the correction would be
        // `Inf - Inf = NaN`; skip it so the total is what `+` gives.
        if t.is_finite() {
            if self.s.abs() >= x.abs() {
                self.c += (self.s - t) + x;
            } else {
                self.c += (x - t) + self.s;
            }
        }
        self.s = t;
    }

    fn value(self) -> f64 {
        if self.s.is_finite() {
            self.s + self.c
        } else {
            self.s
        }
    }
}

/// `Math.min` without NaN (the `nan` flag handles it): -0 is below +0.
#[inline(always)]
fn js_min(a: f64, b: f64) -> f64 {
    if b < a || (b == a && b.is_sign_negative()) {
        b
    } else {
        a
    }
}

/// `Math.max` without NaN: +0 is above -0.
#[inline(always)]
fn js_max(a: f64, b: f64) -> f64 {
    if b > a || (b == a && b.is_sign_positive()) {
        b
    } else {
        a
    }
}

/// The summary of a whole input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub variance: f64,
    /// Exact sum, min and max of integer inputs (zero for floats or when empty).
    pub exact_sum: i128,
    pub exact_min: i128,
    pub exact_max: i128,
}

#[derive(Debug, Clone, Copy)]
struct Block {
    n: u64,
    sum: Sum,
    min: f64,
    max: f64,
    nan: bool,
    mean: f64,
    m2: f64,
    isum: i128,
    imin: i128,
    imax: i128,
}

fn block<T: Sample>(xs: &[T]) -> Block {
    let mut sum = Sum::default();
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut isum, mut imin, mut imax) = (0i128, i128::MAX, i128::MIN);
    let mut nan = false;
    for &x in xs {
        let v = x.f();
        sum.add(v);
        min = js_min(min, v);
        max = js_max(max, v);
        nan |= v.is_nan();
        if T::INTEGER {
            let i = x.i();
            isum += i;
            imin = imin.min(i);
            imax = imax.max(i);
        }
    }
    let n = xs.len() as u64;
    let mean = sum.value() / n as f64;
    let mut m2 = Sum::default();
    for &x in xs {
        let d = x.f() - mean;
        m2.add(d * d);
    }
    Block {
        n,
        sum,
        min,
        max,
        nan,
        mean,
        m2: m2.value(),
        isum,
        imin,
        imax,
    }
}

/// Summarizes `data`, polling `stop` once per block.
pub fn stats<T: Sample>(data: &[T], stop: Stop) -> Result<Summary, Stopped> {
    let blocks: Option<Vec<Block>> = data
        .par_chunks(BLOCK)
        .map(|c| if stop() { None } else { Some(block(c)) })
        .collect();
    let blocks = blocks.ok_or(Stopped)?;
    let mut n = 0u64;
    let mut sum = Sum::default();
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    let (mut mean, mut m2) = (0.0f64, 0.0f64);
    let (mut isum, mut imin, mut imax) = (0i128, i128::MAX, i128::MIN);
    let mut nan = false;
    for b in &blocks {
        let total = n + b.n;
        let delta = b.mean - mean;
        m2 += b.m2 + delta * delta * (n as f64) * (b.n as f64) / total as f64;
        mean += delta * (b.n as f64) / total as f64;
        n = total;
        sum.add(b.sum.s);
        sum.add(b.sum.c);
        min = js_min(min, b.min);
        max = js_max(max, b.max);
        nan |= b.nan;
        isum += b.isum;
        imin = imin.min(b.imin);
        imax = imax.max(b.imax);
    }
    if n == 0 {
        return Ok(Summary {
            count: 0,
            sum: 0.0,
            min: f64::NAN,
            max: f64::NAN,
            mean: f64::NAN,
            variance: f64::NAN,
            exact_sum: 0,
            exact_min: 0,
            exact_max: 0,
        });
    }
    let total = if T::INTEGER { isum as f64 } else { sum.value() };
    let mut s = Summary {
        count: n,
        sum: total,
        min,
        max,
        mean: total / n as f64,
        // Not `f64::max`, which would turn a NaN variance (±Infinity in
        // the input) into 0.
        variance: if m2 < 0.0 { 0.0 } else { m2 / n as f64 },
        exact_sum: isum,
        exact_min: if T::INTEGER { imin } else { 0 },
        exact_max: if T::INTEGER { imax } else { 0 },
    };
    if nan {
        s.sum = f64::NAN;
        s.min = f64::NAN;
        s.max = f64::NAN;
        s.mean = f64::NAN;
        s.variance = f64::NAN;
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    #[test]
    fn small_exact_values() {
        let s = stats(&[1.0f64, 2.0, 3.0, 4.0], &never).unwrap();
        assert_eq!(s.count, 4);
        assert_eq!(s.sum, 10.0);
        assert_eq!(s.min, 1.0);
        assert_eq!(s.max, 4.0);
        assert_eq!(s.mean, 2.5);
        assert_eq!(s.variance, 1.25);
    }

    #[test]
    fn compensated_sum_keeps_small_terms() {
        let mut v = vec![1e16f64];
        v.extend(std::iter::repeat_n(1.0, 10_000));
        v.push(-1e16);
        let s = stats(&v, &never).unwrap();
        assert_eq!(s.sum, 10_000.0);
    }

    #[test]
    fn identical_for_any_thread_count() {
        let v: Vec<f64> = (0..1_000_003u64)
            .map(|i| ((i * 7919) % 10007) as f64 / 3.1)
            .collect();
        let mut results = Vec::new();
        for t in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap();
            results.push(pool.install(|| stats(&v, &never).unwrap()));
        }
        for r in &results[1..] {
            assert_eq!(r.sum.to_bits(), results[0].sum.to_bits());
            assert_eq!(r.variance.to_bits(), results[0].variance.to_bits());
            assert_eq!(r.mean.to_bits(), results[0].mean.to_bits());
        }
    }

    #[test]
    fn infinities_follow_plain_addition() {
        let s = stats(&[f64::INFINITY, 1.0], &never).unwrap();
        assert_eq!(s.sum, f64::INFINITY);
        assert_eq!(s.mean, f64::INFINITY);
        assert!(s.variance.is_nan());
        let s = stats(&[f64::NEG_INFINITY, 2.0, f64::INFINITY], &never).unwrap();
        assert!(s.sum.is_nan() && s.mean.is_nan() && s.variance.is_nan());
        assert_eq!((s.min, s.max), (f64::NEG_INFINITY, f64::INFINITY));
        // Across blocks: an infinity in one block, finite values in another.
        let mut v = vec![1.5f64; 3 * BLOCK];
        v[BLOCK + 7] = f64::NEG_INFINITY;
        let s = stats(&v, &never).unwrap();
        assert_eq!(s.sum, f64::NEG_INFINITY);
        assert!(s.variance.is_nan());
    }

    #[test]
    fn signed_zeros_like_math_min_and_max() {
        for v in [[0.0f64, -0.0], [-0.0, 0.0]] {
            let s = stats(&v, &never).unwrap();
            assert_eq!(s.min.to_bits(), (-0.0f64).to_bits());
            assert_eq!(s.max.to_bits(), 0.0f64.to_bits());
        }
    }

    #[test]
    fn integers_exact_and_nan_poisons() {
        let v = [i64::MAX, i64::MAX, i64::MIN];
        let s = stats(&v, &never).unwrap();
        // 2 * (2^63 - 1) - 2^63 = 2^63 - 2: exact, beyond i64's range midway.
        assert_eq!(s.exact_sum, i64::MAX as i128 - 1);
        assert_eq!(s.exact_min, i64::MIN as i128);
        let s = stats(&[1.0f64, f64::NAN], &never).unwrap();
        assert!(s.sum.is_nan() && s.min.is_nan() && s.variance.is_nan());
        let e = stats::<f64>(&[], &never).unwrap();
        assert_eq!(e.count, 0);
        assert!(e.mean.is_nan());
    }
}
