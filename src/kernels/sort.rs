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
struct SyncPtr<T>(*mut T);
// Copy for any `T` (a derive would demand `T: Copy`).
impl<T> Clone for SyncPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for SyncPtr<T> {}
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
pub fn radix_sort<U: Radix + Keyed<Key = U>>(data: &mut [U], stop: Stop) -> Result<(), Stopped> {
    sort_elements(data, stop)
}

/// Per-chunk digit counts of `src` for `pass`, with `key` mapping each
/// element to its radix key.
fn histograms<S, K>(
    src: &[S],
    chunk: usize,
    pass: usize,
    key: impl Fn(S) -> K + Sync,
) -> Vec<Vec<usize>>
where
    S: Copy + Sync,
    K: Radix,
{
    src.par_chunks(chunk)
        .map(|c| {
            let mut h = vec![0usize; K::BUCKETS];
            for &x in c {
                h[key(x).digit(pass)] += 1;
            }
            h
        })
        .collect()
}

/// Each (chunk, digit)'s start in the output; `None` when one digit holds
/// every element (the pass would move nothing).
fn prefix_sums(hists: &[Vec<usize>], buckets: usize, n: usize) -> Option<Vec<Vec<usize>>> {
    let mut starts = vec![vec![0usize; buckets]; hists.len()];
    let mut next = 0usize;
    for d in 0..buckets {
        let before = next;
        for (c, h) in hists.iter().enumerate() {
            starts[c][d] = next;
            next += h[d];
        }
        if next - before == n {
            return None;
        }
    }
    Some(starts)
}

/// Where the current full permutation lives, and in which form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    /// In the caller's slice, as elements.
    DataValues,
    /// In the caller's slice, as keys.
    DataKeys,
    /// In the scratch buffer, as keys.
    Scratch,
}

/// Views a slice of elements as their keys' bit patterns.
///
/// # Safety
/// `T` and `K` must have the same size and alignment and every bit pattern
/// must be a valid `K` (checked by the caller for every JS element type).
unsafe fn as_keys<T, K>(data: &mut [T]) -> &mut [K] {
    // SAFETY: forwarded contract.
    unsafe { std::slice::from_raw_parts_mut(data.as_mut_ptr().cast::<K>(), data.len()) }
}

/// Moves every element of `src` to its place in `dst` for digit `pass`,
/// writing `out(x)`; `key(x)` gives the digit. Returns false if a stop
/// request cut the pass short.
#[allow(clippy::too_many_arguments)]
fn scatter<S, D, K>(
    src: &[S],
    dst: &mut [D],
    chunk: usize,
    pass: usize,
    starts: Vec<Vec<usize>>,
    stop: Stop,
    key: impl Fn(S) -> K + Sync,
    out: impl Fn(S) -> D + Sync,
) -> bool
where
    S: Copy + Sync,
    D: Send,
    K: Radix,
{
    let dst_ptr = SyncPtr(dst.as_mut_ptr());
    let cut = AtomicBool::new(false);
    src.par_chunks(chunk)
        .zip(starts.into_par_iter())
        .for_each(|(c, mut pos)| {
            if stop() {
                cut.store(true, Ordering::Relaxed);
                return;
            }
            let dst_ptr = dst_ptr.get();
            for &x in c {
                let d = key(x).digit(pass);
                // SAFETY: the prefix sums give every (chunk, digit) pair a
                // range of `dst` of exactly the size of its count, disjoint
                // from every other pair's, and `pos[d]` stays inside it.
                unsafe { dst_ptr.add(pos[d]).write(out(x)) };
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
/// `TypedArray.prototype.sort()` order. On `Err(Stopped)` the slice holds a
/// permutation of its original contents.
///
/// The first pass that moves anything reads elements and writes keys into
/// the scratch buffer; the last pass writes elements back; passes between
/// move keys. So mapping elements to keys and back costs no pass of its own
/// (one full read and write of the data each), except when the last digit
/// needed no pass or a stop request ends the sort early.
pub fn sort_elements<T: Keyed>(data: &mut [T], stop: Stop) -> Result<(), Stopped>
where
    T::Key: Radix,
{
    assert_eq!(
        std::mem::size_of::<T>(),
        std::mem::size_of::<T::Key>(),
        "key and element widths differ"
    );
    assert_eq!(
        std::mem::align_of::<T>(),
        std::mem::align_of::<T::Key>(),
        "key and element alignments differ"
    );
    let n = data.len();
    if n < 2 {
        return Ok(());
    }
    if stop() {
        return Err(Stopped);
    }
    if n <= SMALL {
        let mut keys: Vec<T::Key> = data.iter().map(|x| x.to_key()).collect();
        keys.sort_unstable();
        for (x, k) in data.iter_mut().zip(keys) {
            *x = T::from_key(k);
        }
        return Ok(());
    }
    let chunk = chunk_len(n);
    let buckets = <T::Key as Radix>::BUCKETS;
    let passes = <T::Key as Radix>::PASSES;
    let mut scratch = vec![<T::Key>::default(); n];
    let mut at = At::DataValues;
    let mut stopped = false;
    for pass in 0..passes {
        if stop() {
            stopped = true;
            break;
        }
        let key = |k: T::Key| k;
        let hists = match at {
            At::DataValues => histograms(&*data, chunk, pass, |x: T| x.to_key()),
            // SAFETY: same size and alignment (asserted), any bits are a key.
            At::DataKeys => histograms(unsafe { as_keys::<T, T::Key>(data) }, chunk, pass, key),
            At::Scratch => histograms(&scratch, chunk, pass, key),
        };
        let Some(starts) = prefix_sums(&hists, buckets, n) else {
            continue;
        };
        let last = pass == passes - 1;
        let keys_to_keys = |src: &[T::Key], dst: &mut [T::Key], starts| {
            scatter(src, dst, chunk, pass, starts, stop, key, key)
        };
        let (done, next) = match at {
            At::DataValues => (
                scatter(
                    &*data,
                    &mut scratch,
                    chunk,
                    pass,
                    starts,
                    stop,
                    |x: T| x.to_key(),
                    |x: T| x.to_key(),
                ),
                At::Scratch,
            ),
            At::DataKeys => (
                // SAFETY: as above.
                keys_to_keys(
                    unsafe { &*as_keys::<T, T::Key>(data) },
                    &mut scratch,
                    starts,
                ),
                At::Scratch,
            ),
            At::Scratch if last => (
                scatter(&scratch, data, chunk, pass, starts, stop, key, |k| {
                    T::from_key(k)
                }),
                At::DataValues,
            ),
            At::Scratch => (
                // SAFETY: as above.
                keys_to_keys(&scratch, unsafe { as_keys::<T, T::Key>(data) }, starts),
                At::DataKeys,
            ),
        };
        if !done {
            // The destination is incomplete; the source still holds the permutation.
            stopped = true;
            break;
        }
        at = next;
    }
    match at {
        At::DataValues => {}
        At::DataKeys => {
            // SAFETY: as above; the slice holds keys, turned back in place.
            let keys = unsafe { as_keys::<T, T::Key>(data) };
            keys.par_chunks_mut(chunk).for_each(|c| {
                for k in c.iter_mut() {
                    let x = T::from_key(*k);
                    // SAFETY: T and T::Key have the same size (asserted).
                    *k = unsafe { std::mem::transmute_copy::<T, T::Key>(&x) };
                }
            });
        }
        At::Scratch => {
            data.par_chunks_mut(chunk)
                .zip(scratch.par_chunks(chunk))
                .for_each(|(d, s)| {
                    for (x, &k) in d.iter_mut().zip(s) {
                        *x = T::from_key(k);
                    }
                });
        }
    }
    if stopped {
        Err(Stopped)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    /// The bit patterns of `v` (so NaNs and -0 compare exactly).
    fn bits(v: &[f64]) -> Vec<u64> {
        v.iter().map(|x| x.to_bits()).collect()
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
        // (f32: compared by bit pattern too.)
        let bits32 = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits32(&e), bits32(&ee));
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
                bits(&a),
                bits(&b),
                "stop after {stop_after} polls lost or invented values"
            );
            if r.is_ok() {
                assert_eq!(bits(&v), bits(&b));
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
