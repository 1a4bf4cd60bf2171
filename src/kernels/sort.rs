//! In-place parallel sort in the order of `TypedArray.prototype.sort()`.
//!
//! Each element type is mapped by an order-preserving bijection onto an
//! unsigned integer of the same width (signed: flip the sign bit; floats:
//! flip all bits of negatives, the sign bit of positives, so -0 sorts before
//! +0 and every NaN after +Infinity), the integers are sorted by an LSD radix
//! sort (11-bit digits for 32- and 64-bit keys), and the mapping is undone. The only value not restored bit for bit is
//! the sign bit of a NaN (NaNs are mapped to their positive form so they all
//! sort last); JavaScript cannot observe it through the array's elements.
//!
//! # Why hand-written
//!
//! The radix sort is written here rather than taken from a crate because it
//! must be cancellable with a guarantee: every pass moves a whole permutation
//! from one buffer to the other, so a stop request honoured between chunks
//! leaves one buffer holding a full permutation of the input, which is copied
//! back. An aborted sort therefore loses and invents nothing.
//!
//! # Parallel pass
//!
//! The input is cut into chunks. Each pass: (1) every chunk counts its digits
//! in parallel; (2) a sequential prefix sum gives each (chunk, digit) its
//! start in the output, chunks in order, so the sort is stable per pass; (3)
//! every chunk scatters its elements to its own disjoint output ranges in
//! parallel. Passes whose digit is the same for every element are skipped.

use std::sync::atomic::{AtomicBool, Ordering};

use rayon::prelude::*;

use super::{Stop, Stopped};

/// Below this length a plain `sort_unstable` is faster than radix passes.
const SMALL: usize = 1 << 12;
/// Smallest chunk of a parallel pass.
const MIN_CHUNK: usize = 1 << 15;

/// An unsigned key, sorted by digits of `DIGIT_BITS` bits: 8 for 8- and
/// 16-bit keys, 11 for 32- and 64-bit keys (3 and 6 passes instead of 4 and
/// 8: 2,048 buckets still fit the per-thread histograms and write streams in
/// cache, and every pass saved is a full read and write of the data).
pub trait Radix: Copy + Ord + Default + Send + Sync + 'static {
    const BYTES: usize;
    const DIGIT_BITS: usize;
    /// Number of digits.
    const PASSES: usize = (Self::BYTES * 8).div_ceil(Self::DIGIT_BITS);
    /// Number of buckets per digit.
    const BUCKETS: usize = 1 << Self::DIGIT_BITS;
    fn digit(self, pass: usize) -> usize;
}

macro_rules! radix {
    ($($t:ty => $bits:expr),*) => {$(
        impl Radix for $t {
            const BYTES: usize = std::mem::size_of::<$t>();
            const DIGIT_BITS: usize = $bits;
            #[inline(always)]
            fn digit(self, pass: usize) -> usize {
                ((self >> (pass * $bits)) as usize) & ((1 << $bits) - 1)
            }
        }
    )*};
}
radix!(u8 => 8, u16 => 8, u32 => 11, u64 => 11);

/// A raw pointer that may be shared between the threads of one pass.
#[derive(Clone, Copy)]
struct SyncPtr<T>(*mut T);
impl<T> SyncPtr<T> {
    /// Taking `self` makes closures capture the whole (Sync) wrapper rather
    /// than the raw pointer field.
    fn get(self) -> *mut T {
        self.0
    }
}

// SAFETY: each thread writes a disjoint set of indexes (see `scatter`).
unsafe impl<T> Send for SyncPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for SyncPtr<T> {}

fn chunk_len(n: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    (n / (threads * 4)).max(MIN_CHUNK)
}

/// Sorts `data` ascending. On `Err(Stopped)` the slice holds a permutation of
/// its original contents.
pub fn radix_sort<U: Radix>(data: &mut [U], stop: Stop) -> Result<(), Stopped> {
    let n = data.len();
    if n < 2 {
        return Ok(());
    }
    if stop() {
        return Err(Stopped);
    }
    if n <= SMALL {
        data.sort_unstable();
        return Ok(());
    }
    let chunk = chunk_len(n);
    let mut scratch = vec![U::default(); n];
    // Which buffer holds the current full permutation.
    let mut in_data = true;
    let mut stopped = false;
    for pass in 0..U::PASSES {
        if stop() {
            stopped = true;
            break;
        }
        let (src, dst): (&[U], &mut [U]) = if in_data {
            (&*data, &mut scratch[..])
        } else {
            (&scratch[..], &mut *data)
        };
        let hists: Vec<Vec<usize>> = src
            .par_chunks(chunk)
            .map(|c| {
                let mut h = vec![0usize; U::BUCKETS];
                for &x in c {
                    h[x.digit(pass)] += 1;
                }
                h
            })
            .collect();
        let mut starts = vec![vec![0usize; U::BUCKETS]; hists.len()];
        let mut next = 0usize;
        let mut trivial = false;
        for d in 0..U::BUCKETS {
            let before = next;
            for (c, h) in hists.iter().enumerate() {
                starts[c][d] = next;
                next += h[d];
            }
            if next - before == n {
                trivial = true;
            }
        }
        if trivial {
            continue;
        }
        if !scatter(src, dst, chunk, pass, starts, stop) {
            // `dst` is incomplete; `src` still holds the permutation.
            stopped = true;
            break;
        }
        in_data = !in_data;
    }
    if !in_data {
        data.par_chunks_mut(chunk)
            .zip(scratch.par_chunks(chunk))
            .for_each(|(d, s)| d.copy_from_slice(s));
    }
    if stopped {
        Err(Stopped)
    } else {
        Ok(())
    }
}

/// Moves every element of `src` to its place in `dst` for digit `pass`.
/// Returns false if a stop request cut the pass short.
fn scatter<U: Radix>(
    src: &[U],
    dst: &mut [U],
    chunk: usize,
    pass: usize,
    starts: Vec<Vec<usize>>,
    stop: Stop,
) -> bool {
    let out = SyncPtr(dst.as_mut_ptr());
    let cut = AtomicBool::new(false);
    src.par_chunks(chunk)
        .zip(starts.into_par_iter())
        .for_each(|(c, mut pos)| {
            if stop() {
                cut.store(true, Ordering::Relaxed);
                return;
            }
            let out = out.get();
            for &x in c {
                let d = x.digit(pass);
                // SAFETY: the prefix sums give every (chunk, digit) pair a
                // range of `dst` of exactly the size of its count, disjoint
                // from every other pair's, and `pos[d]` stays inside it.
                unsafe { out.add(pos[d]).write(x) };
                pos[d] += 1;
            }
        });
    !cut.load(Ordering::Relaxed)
}

/// Order-preserving maps between JavaScript element types and radix keys.
pub trait Keyed: Copy + Send + Sync {
    type Key: Radix;
    fn to_key(self) -> Self::Key;
    fn from_key(k: Self::Key) -> Self;
}

macro_rules! keyed_unsigned {
    ($($t:ty),*) => {$(
        impl Keyed for $t {
            type Key = $t;
            #[inline(always)]
            fn to_key(self) -> $t { self }
            #[inline(always)]
            fn from_key(k: $t) -> $t { k }
        }
    )*};
}
keyed_unsigned!(u8, u16, u32, u64);

macro_rules! keyed_signed {
    ($($t:ty => $u:ty),*) => {$(
        impl Keyed for $t {
            type Key = $u;
            #[inline(always)]
            fn to_key(self) -> $u { (self as $u) ^ (1 << (<$u>::BITS - 1)) }
            #[inline(always)]
            fn from_key(k: $u) -> $t { (k ^ (1 << (<$u>::BITS - 1))) as $t }
        }
    )*};
}
keyed_signed!(i8 => u8, i16 => u16, i32 => u32, i64 => u64);

macro_rules! keyed_float {
    ($($t:ty => $u:ty),*) => {$(
        impl Keyed for $t {
            type Key = $u;
            #[inline(always)]
            fn to_key(self) -> $u {
                const SIGN: $u = 1 << (<$u>::BITS - 1);
                let b = self.to_bits();
                if self.is_nan() {
                    (b & !SIGN) | SIGN
                } else if b & SIGN != 0 {
                    !b
                } else {
                    b | SIGN
                }
            }
            #[inline(always)]
            fn from_key(k: $u) -> $t {
                const SIGN: $u = 1 << (<$u>::BITS - 1);
                <$t>::from_bits(if k & SIGN != 0 { k ^ SIGN } else { !k })
            }
        }
    )*};
}
keyed_float!(f32 => u32, f64 => u64);

/// Sorts a slice of a JavaScript element type in place, in
/// `TypedArray.prototype.sort()` order.
pub fn sort_elements<T: Keyed>(data: &mut [T], stop: Stop) -> Result<(), Stopped>
where
    T::Key: Radix,
{
    assert_eq!(
        std::mem::size_of::<T>(),
        std::mem::size_of::<T::Key>(),
        "key and element widths differ"
    );
    let len = data.len();
    let chunk = chunk_len(len);
    data.par_chunks_mut(chunk).for_each(|c| {
        for x in c.iter_mut() {
            let k = x.to_key();
            // SAFETY: T and T::Key have the same size (asserted above) and
            // every bit pattern is a valid integer.
            *x = unsafe { std::mem::transmute_copy::<T::Key, T>(&k) };
        }
    });
    // SAFETY: the slice now holds keys; same size, and the alignment of the
    // unsigned key equals that of the element type for every JS element type.
    let keys: &mut [T::Key] =
        unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<T::Key>(), len) };
    let result = radix_sort(keys, stop);
    keys.par_chunks_mut(chunk).for_each(|c| {
        for k in c.iter_mut() {
            let x = T::from_key(*k);
            // SAFETY: as above, in the other direction.
            *k = unsafe { std::mem::transmute_copy::<T, T::Key>(&x) };
        }
    });
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    fn lcg(seed: &mut u64) -> u64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        *seed >> 11
    }

    /// The JavaScript order: numeric, -0 before +0, NaN last.
    fn js_order(a: &f64, b: &f64) -> std::cmp::Ordering {
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.total_cmp(b),
        }
    }

    #[test]
    fn floats_sort_in_js_order() {
        let mut seed = 7;
        let mut v: Vec<f64> = (0..200_000)
            .map(|i| match i % 11 {
                0 => f64::NAN,
                1 => -0.0,
                2 => 0.0,
                3 => f64::INFINITY,
                4 => f64::NEG_INFINITY,
                5 => -f64::NAN,
                _ => (lcg(&mut seed) as f64 - 4e15) / 1e3,
            })
            .collect();
        let mut expected = v.clone();
        expected.sort_by(js_order);
        sort_elements(&mut v, &never).unwrap();
        assert_eq!(v.len(), expected.len());
        for (a, b) in v.iter().zip(&expected) {
            if b.is_nan() {
                assert!(a.is_nan());
            } else {
                assert_eq!(a.to_bits(), b.to_bits());
            }
        }
    }

    #[test]
    fn integers_of_every_width_sort() {
        let mut seed = 3;
        let mut a: Vec<i8> = (0..50_000).map(|_| lcg(&mut seed) as i8).collect();
        let mut b: Vec<i32> = (0..50_000).map(|_| lcg(&mut seed) as i32).collect();
        let mut c: Vec<u64> = (0..50_000).map(|_| lcg(&mut seed) << 9).collect();
        let mut d: Vec<i64> = (0..50_000).map(|_| (lcg(&mut seed) << 11) as i64).collect();
        let mut e: Vec<f32> = (0..50_000)
            .map(|_| f32::from_bits(lcg(&mut seed) as u32))
            .filter(|x| !x.is_nan())
            .collect();
        let (mut ea, mut eb, mut ec, mut ed, mut ee) =
            (a.clone(), b.clone(), c.clone(), d.clone(), e.clone());
        ea.sort();
        eb.sort();
        ec.sort();
        ed.sort();
        ee.sort_by(|x, y| x.total_cmp(y));
        sort_elements(&mut a, &never).unwrap();
        sort_elements(&mut b, &never).unwrap();
        sort_elements(&mut c, &never).unwrap();
        sort_elements(&mut d, &never).unwrap();
        sort_elements(&mut e, &never).unwrap();
        assert_eq!(a, ea);
        assert_eq!(b, eb);
        assert_eq!(c, ec);
        assert_eq!(d, ed);
        assert_eq!(
            e.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            ee.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn stopped_element_sort_leaves_a_permutation() {
        let mut seed = 5;
        for stop_after in [0usize, 1, 2, 3, 5, 9, 30, 200] {
            let original: Vec<f64> = (0..400_000)
                .map(|_| (lcg(&mut seed) as f64 - 4e15) / 7.0)
                .collect();
            let mut v = original.clone();
            let polls = std::sync::atomic::AtomicUsize::new(0);
            let stop = || polls.fetch_add(1, Ordering::Relaxed) >= stop_after;
            let r = sort_elements(&mut v, &stop);
            let mut a = v.clone();
            let mut b = original.clone();
            a.sort_by(js_order);
            b.sort_by(js_order);
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                "stop after {stop_after} polls lost or invented values"
            );
            if r.is_ok() {
                assert_eq!(
                    v.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn skewed_and_large_buckets_sort() {
        // 90% of the keys share their top digits: one oversized bucket.
        let mut seed = 13;
        let mut v: Vec<u64> = (0..3_000_000)
            .map(|i| {
                if i % 10 == 0 {
                    lcg(&mut seed)
                } else {
                    lcg(&mut seed) & 0xffff
                }
            })
            .collect();
        let mut e = v.clone();
        e.sort();
        sort_elements(&mut v, &never).unwrap();
        assert_eq!(v, e);
    }

    #[test]
    fn stopped_sort_leaves_a_permutation() {
        let mut seed = 11;
        for stop_after in [0usize, 1, 3, 7, 20, 40] {
            let original: Vec<u64> = (0..300_000).map(|_| lcg(&mut seed)).collect();
            let mut v = original.clone();
            let polls = std::sync::atomic::AtomicUsize::new(0);
            let stop = || polls.fetch_add(1, Ordering::Relaxed) >= stop_after;
            let r = radix_sort(&mut v, &stop);
            let mut a = v.clone();
            let mut b = original.clone();
            a.sort();
            b.sort();
            assert_eq!(
                a, b,
                "stop after {stop_after} polls lost or invented values"
            );
            if r.is_ok() {
                assert_eq!(v, b);
            }
        }
    }
}
