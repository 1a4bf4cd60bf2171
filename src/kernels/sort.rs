//! In-place parallel sort in the order of `TypedArray.prototype.sort()`.
//!
//! Each element type is mapped by an order-preserving bijection onto an
//! unsigned integer of the same width (signed: flip the sign bit; floats:
//! flip all bits of negatives, the sign bit of positives, so -0 sorts before
//! +0; then rotate the negative NaNs, the lowest keys, to the top so every
//! NaN sorts after +Infinity), the integers are sorted by a radix sort
//! (11-bit digits for 32- and 64-bit keys), and the mapping is undone. Every
//! element keeps its bits, NaN sign and payload included, as with V8's own
//! sort (visible through another view of the buffer); NaNs end up positive
//! ones first (V8 leaves the order of NaNs unspecified).
//!
//! # Why hand-written
//!
//! The radix sort is written here rather than taken from a crate because it
//! must be cancellable with a guarantee: every pass moves a whole range from
//! one buffer to the other, so a stop request honoured between chunks leaves
//! each range whole in one buffer, and each is copied back (`finish`). An
//! aborted sort therefore loses and invents nothing.
//!
//! # Parallel pass
//!
//! The input is cut into chunks. Each pass: (1) every chunk counts its digits
//! in parallel; (2) a sequential prefix sum gives each (chunk, digit) its
//! start in the output, chunks in order, so the sort is stable per pass; (3)
//! every chunk scatters its elements to its own disjoint output ranges in
//! parallel. Passes whose digit is the same for every element are skipped.
//!
//! # An input that changes under the sort
//!
//! The input is JavaScript memory that another thread (a SharedArrayBuffer)
//! or the main thread may write while the sort runs. Only the passes that
//! read it (the first, and those of buckets left in it as keys) can see a
//! digit other than the one they counted; `scatter` reads each element once
//! and drops a write that would leave its (chunk, digit) range, so no write
//! ever leaves the range it was given. Every other pass reads our own
//! scratch or leaf buffers. A changed input therefore only scrambles the
//! result (values may be lost or repeated), as documented; it is never a
//! memory error. Two sorts of overlapping memory never run at once
//! (`claims.rs`).
//!
//! # Order of passes
//!
//! Most significant digit first (`sort_range`): a parallel pass on the top
//! digit splits the data into buckets, and each bucket is sorted on its own,
//! in parallel — by another such pass while it is larger than `LEAF`, then
//! by one thread in its own cache, least significant digit first (`leaf`).
//! Out of cache the data moves once or twice instead of once per digit:
//! 10M f64 went from 249 ms (six full passes) to about 145 ms on 2 threads.

use std::cell::RefCell;
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
    /// Runs `f` with this thread's two reusable leaf buffers (see `leaf`).
    /// `f` must not sort again on this thread (the buffers are borrowed).
    fn with_leaf_buffers<R>(f: impl FnOnce(&mut Vec<Self>, &mut Vec<Self>) -> R) -> R;
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
            fn with_leaf_buffers<R>(f: impl FnOnce(&mut Vec<Self>, &mut Vec<Self>) -> R) -> R {
                thread_local! {
                    static BUFFERS: RefCell<(Vec<$t>, Vec<$t>)> = const { RefCell::new((Vec::new(), Vec::new())) };
                }
                BUFFERS.with(|b| {
                    let (x, y) = &mut *b.borrow_mut();
                    f(x, y)
                })
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
///
/// `src` may be JavaScript memory that another thread (or the main thread)
/// changes meanwhile, so the digit of an element here need not be the one
/// `histograms` counted: every element is read once (volatile, so the
/// compiler cannot read it again), and a write that would leave its
/// (chunk, digit) range is dropped. Every write therefore stays inside that
/// range, and the ranges stay disjoint; a changed input only scrambles the
/// result (some slots keep what they held).
#[allow(clippy::too_many_arguments)]
fn scatter<S, D, K>(
    src: &[S],
    dst: &mut [D],
    chunk: usize,
    pass: usize,
    starts: Vec<Vec<usize>>,
    hists: &[Vec<usize>],
    stop: Stop,
    key: impl Fn(S) -> K + Sync,
    out: impl Fn(S) -> D + Sync,
) -> bool
where
    S: Copy + Sync,
    D: Send,
    K: Radix,
{
    assert_eq!(src.len(), dst.len(), "scatter between ranges of one length");
    let dst_ptr = SyncPtr(dst.as_mut_ptr());
    let cut = AtomicBool::new(false);
    src.par_chunks(chunk)
        .zip(starts.into_par_iter())
        .zip(hists.par_iter())
        .for_each(|((c, mut pos), h)| {
            if stop() {
                cut.store(true, Ordering::Relaxed);
                return;
            }
            let end: Vec<usize> = pos.iter().zip(h).map(|(&p, &n)| p + n).collect();
            let dst_ptr = dst_ptr.get();
            for i in 0..c.len() {
                // SAFETY: `i` is inside the chunk; a volatile read of a
                // `Copy` value that may change under us (see above).
                let x = unsafe { std::ptr::read_volatile(c.as_ptr().add(i)) };
                let d = key(x).digit(pass);
                let p = pos[d];
                if p < end[d] {
                    // SAFETY: the prefix sums give every (chunk, digit) pair
                    // the range `pos[d]..end[d]` of `dst`, disjoint from
                    // every other pair's and inside `dst` (the counts of all
                    // pairs add up to its length), and `p` is inside it.
                    unsafe { dst_ptr.add(p).write(out(x)) };
                    pos[d] = p + 1;
                }
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
            // Negative numbers: all bits flipped; positive: the sign bit set.
            // That orders every non-NaN value as JavaScript does (-0 before
            // +0) but puts the negative NaNs first, as the lowest keys
            // 0..NEG_NANS. Subtracting NEG_NANS (wrapping) moves them above
            // everything else, so every NaN sorts last and each keeps its
            // sign and payload bits: the map is a bijection.
            #[inline(always)]
            fn to_key(self) -> $u {
                const SIGN: $u = 1 << (<$u>::BITS - 1);
                const NEG_NANS: $u = (1 << (<$t>::MANTISSA_DIGITS - 1)) - 1;
                let b = self.to_bits();
                let k = if b & SIGN != 0 { !b } else { b | SIGN };
                k.wrapping_sub(NEG_NANS)
            }
            #[inline(always)]
            fn from_key(k: $u) -> $t {
                const SIGN: $u = 1 << (<$u>::BITS - 1);
                const NEG_NANS: $u = (1 << (<$t>::MANTISSA_DIGITS - 1)) - 1;
                let k = k.wrapping_add(NEG_NANS);
                <$t>::from_bits(if k & SIGN != 0 { k ^ SIGN } else { !k })
            }
        }
    )*};
}
keyed_float!(f32 => u32, f64 => u64);

/// A range this small is sorted by one thread in its own cache: two key
/// buffers of 256 KiB for 64-bit keys.
const LEAF: usize = 1 << 15;
/// Below this a leaf uses `sort_unstable` rather than radix passes.
const TINY: usize = 256;

/// Where a range's elements are, and in which form.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Loc {
    /// In the caller's slice, as elements.
    DataValues,
    /// In the caller's slice, as keys.
    DataKeys,
    /// In the scratch buffer, as keys.
    Scratch,
}

/// The caller's slice and the scratch buffer, shared by the tasks of one
/// sort. Every task works on its own range of both (see `sort_range`).
struct Buffers<T: Keyed> {
    data: SyncPtr<T>,
    scratch: SyncPtr<T::Key>,
}

impl<T: Keyed> Clone for Buffers<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: Keyed> Copy for Buffers<T> {}

impl<T: Keyed> Buffers<T> {
    /// # Safety
    /// `lo..hi` is inside both buffers, and the caller is the only task
    /// touching that range of the caller's slice while the result lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn data(&self, lo: usize, hi: usize) -> &mut [T] {
        // SAFETY: forwarded contract.
        unsafe { std::slice::from_raw_parts_mut(self.data.get().add(lo), hi - lo) }
    }

    /// The same range of the caller's slice, seen as keys.
    ///
    /// # Safety
    /// As for `data`; the two views of one range are never alive together.
    #[allow(clippy::mut_from_ref)]
    unsafe fn data_keys(&self, lo: usize, hi: usize) -> &mut [T::Key] {
        // SAFETY: forwarded contract; `as_keys`' size and alignment
        // requirements are asserted by `sort_elements`.
        unsafe { as_keys::<T, T::Key>(self.data(lo, hi)) }
    }

    /// # Safety
    /// As for `data`, for the scratch buffer.
    #[allow(clippy::mut_from_ref)]
    unsafe fn scratch(&self, lo: usize, hi: usize) -> &mut [T::Key] {
        // SAFETY: forwarded contract.
        unsafe { std::slice::from_raw_parts_mut(self.scratch.get().add(lo), hi - lo) }
    }
}

/// Sorts a slice of a JavaScript element type in place, in
/// `TypedArray.prototype.sort()` order. On `Err(Stopped)` the slice holds a
/// permutation of its original contents.
///
/// # Order of work
///
/// Most significant digit first: one parallel radix pass on the top digit
/// splits the data into buckets (reading elements, writing keys into the
/// scratch buffer), and each bucket is then sorted on its own, in parallel —
/// by another such pass if it is still larger than `LEAF` (skewed data, or
/// the narrow exponent range of floats), else by one thread entirely in its
/// cache (`leaf`), which writes the elements back in place. Out of cache the
/// data moves only once or twice instead of once per digit.
///
/// # Stopping
///
/// Every range is always wholly in one place and form (`Loc`). A pass that
/// a stop request cuts short leaves its source whole; a range whose task
/// sees the request, or whose pass was cut, turns itself back into elements
/// in the caller's slice (`finish`) before returning, so the slice holds a
/// permutation of the input at the end, whatever was cut.
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
    let mut scratch = vec![<T::Key>::default(); n];
    let buf = Buffers {
        data: SyncPtr(data.as_mut_ptr()),
        scratch: SyncPtr(scratch.as_mut_ptr()),
    };
    let top = <T::Key as Radix>::PASSES - 1;
    if sort_range(buf, 0, n, top, Loc::DataValues, stop) {
        Ok(())
    } else {
        Err(Stopped)
    }
}

/// Sorts `lo..hi` by digits `top` down to 0, all its elements sharing every
/// digit above `top`; they are at `at`. Leaves them as elements in the
/// caller's slice. False if a stop request cut it short (the range then
/// holds a permutation of what it held).
fn sort_range<T: Keyed>(
    buf: Buffers<T>,
    lo: usize,
    hi: usize,
    top: usize,
    at: Loc,
    stop: Stop,
) -> bool
where
    T::Key: Radix,
{
    if stop() {
        finish(buf, lo, hi, at);
        return false;
    }
    let n = hi - lo;
    if n <= LEAF {
        leaf(buf, lo, hi, top, at);
        return true;
    }
    let chunk = chunk_len(n);
    let key = |k: T::Key| k;
    let to_key = |x: T| x.to_key();
    // Every view below: this task owns `lo..hi` of both buffers, and only
    // one view of each buffer's range is alive at a time.
    let hists = match at {
        Loc::DataValues => {
            // SAFETY: as above; the view only lives for the count.
            let src = unsafe { &*buf.data(lo, hi) };
            histograms(src, chunk, top, to_key)
        }
        Loc::DataKeys => {
            // SAFETY: as above.
            let src = unsafe { &*buf.data_keys(lo, hi) };
            histograms(src, chunk, top, key)
        }
        Loc::Scratch => {
            // SAFETY: as above.
            let src = unsafe { &*buf.scratch(lo, hi) };
            histograms(src, chunk, top, key)
        }
    };
    let buckets = <T::Key as Radix>::BUCKETS;
    let Some(starts) = prefix_sums(&hists, buckets, n) else {
        // Every element has the same digit here: nothing to move.
        if top == 0 {
            finish(buf, lo, hi, at);
            return true;
        }
        return sort_range(buf, lo, hi, top - 1, at, stop);
    };
    // Each digit's bucket, as a range of this one.
    let mut bounds = Vec::new();
    for d in 0..buckets {
        let len: usize = hists.iter().map(|h| h[d]).sum();
        if len > 0 {
            let start = starts[0][d];
            bounds.push((lo + start, lo + start + len));
        }
    }
    let keys_to_keys = |src: &[T::Key], dst: &mut [T::Key], starts| {
        scatter(src, dst, chunk, top, starts, &hists, stop, key, key)
    };
    let (done, next) = match at {
        Loc::DataValues => {
            // SAFETY: this task owns `lo..hi`; two different buffers.
            let (src, dst) = unsafe { (&*buf.data(lo, hi), buf.scratch(lo, hi)) };
            let done = scatter(src, dst, chunk, top, starts, &hists, stop, to_key, to_key);
            (done, Loc::Scratch)
        }
        Loc::DataKeys => {
            // SAFETY: this task owns `lo..hi`; two different buffers.
            let (src, dst) = unsafe { (&*buf.data_keys(lo, hi), buf.scratch(lo, hi)) };
            (keys_to_keys(src, dst, starts), Loc::Scratch)
        }
        Loc::Scratch => {
            // SAFETY: this task owns `lo..hi`; two different buffers.
            let (src, dst) = unsafe { (&*buf.scratch(lo, hi), buf.data_keys(lo, hi)) };
            (keys_to_keys(src, dst, starts), Loc::DataKeys)
        }
    };
    if !done {
        // The destination is incomplete; the source still holds the range.
        finish(buf, lo, hi, at);
        return false;
    }
    if top == 0 {
        finish(buf, lo, hi, next);
        return true;
    }
    bounds
        .into_par_iter()
        .map(|(b_lo, b_hi)| sort_range(buf, b_lo, b_hi, top - 1, next, stop))
        .reduce(|| true, |a, b| a && b)
}

/// Sorts a small range by digits `top` down to 0 in two buffers of the
/// thread's own (LSD, each pass stable), then writes the elements back. The
/// buffers are kept from leaf to leaf: allocating and freeing 256 KiB per
/// leaf made the allocator map and unmap memory, and the main thread's page
/// faults waited on the address-space lock (worst loop delay 3 -> 5-9 ms).
fn leaf<T: Keyed>(buf: Buffers<T>, lo: usize, hi: usize, top: usize, at: Loc)
where
    T::Key: Radix,
{
    let n = hi - lo;
    <T::Key as Radix>::with_leaf_buffers(|a, b| {
        a.clear();
        // Every view here: this task owns `lo..hi` of both buffers, and
        // each view lives only for its copy into `a`.
        match at {
            Loc::DataValues => {
                // SAFETY: as above.
                let src = unsafe { buf.data(lo, hi) };
                a.extend(src.iter().map(|x| x.to_key()))
            }
            Loc::DataKeys => {
                // SAFETY: as above.
                a.extend_from_slice(unsafe { buf.data_keys(lo, hi) })
            }
            Loc::Scratch => {
                // SAFETY: as above.
                a.extend_from_slice(unsafe { buf.scratch(lo, hi) })
            }
        }
        if n <= TINY {
            a.sort_unstable();
        } else {
            b.clear();
            b.resize(n, <T::Key>::default());
            let mut count = [0usize; 1 << 11];
            let count = &mut count[..<T::Key as Radix>::BUCKETS];
            for pass in 0..=top {
                count.fill(0);
                for &k in a.iter() {
                    count[k.digit(pass)] += 1;
                }
                if count.contains(&n) {
                    continue;
                }
                let mut sum = 0;
                for c in count.iter_mut() {
                    let here = *c;
                    *c = sum;
                    sum += here;
                }
                for &k in a.iter() {
                    let d = k.digit(pass);
                    b[count[d]] = k;
                    count[d] += 1;
                }
                std::mem::swap(a, b);
            }
        }
        // SAFETY: as above.
        for (x, &k) in unsafe { buf.data(lo, hi) }.iter_mut().zip(a.iter()) {
            *x = T::from_key(k);
        }
    });
}

/// Turns a range back into elements in the caller's slice, wherever it is.
fn finish<T: Keyed>(buf: Buffers<T>, lo: usize, hi: usize, at: Loc) {
    let chunk = chunk_len(hi - lo);
    match at {
        Loc::DataValues => {}
        Loc::DataKeys => {
            // SAFETY: this task owns `lo..hi`; the keys are turned back in place.
            let keys = unsafe { buf.data_keys(lo, hi) };
            keys.par_chunks_mut(chunk).for_each(|c| {
                for k in c.iter_mut() {
                    let x = T::from_key(*k);
                    // SAFETY: T and T::Key have the same size (asserted).
                    *k = unsafe { std::mem::transmute_copy::<T, T::Key>(&x) };
                }
            });
        }
        Loc::Scratch => {
            // SAFETY: this task owns `lo..hi` of both buffers.
            let (d, s) = unsafe { (buf.data(lo, hi), &*buf.scratch(lo, hi)) };
            d.par_chunks_mut(chunk)
                .zip(s.par_chunks(chunk))
                .for_each(|(d, s)| {
                    for (x, &k) in d.iter_mut().zip(s) {
                        *x = T::from_key(k);
                    }
                });
        }
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
    fn every_shape_of_input_sorts() {
        // Shapes that make the most-significant-digit split uneven or empty:
        // constant, two values, already sorted, reversed, one exponent only,
        // subnormals, a narrow integer range, and a few outliers among equals.
        let n = 300_000;
        let mut seed = 17;
        let shapes: Vec<(&str, Vec<f64>)> = vec![
            ("constant", vec![2.5; n]),
            (
                "two values",
                (0..n)
                    .map(|i| if i % 3 == 0 { -1.0 } else { 1e300 })
                    .collect(),
            ),
            ("sorted", (0..n).map(|i| i as f64 * 0.5 - 1e4).collect()),
            ("reversed", (0..n).map(|i| (n - i) as f64).collect()),
            (
                "one exponent",
                (0..n)
                    .map(|_| 1.0 + (lcg(&mut seed) as f64) / 2f64.powi(53))
                    .collect(),
            ),
            (
                "subnormals",
                (0..n)
                    .map(|_| f64::from_bits(lcg(&mut seed) & 0x000f_ffff_ffff_ffff))
                    .collect(),
            ),
            (
                "narrow ints",
                (0..n).map(|_| (lcg(&mut seed) % 1000) as f64).collect(),
            ),
            (
                "outliers",
                (0..n)
                    .map(|i| {
                        if i % 50_000 == 7 {
                            -(lcg(&mut seed) as f64)
                        } else {
                            42.0
                        }
                    })
                    .collect(),
            ),
        ];
        for (name, mut v) in shapes {
            let mut expected = v.clone();
            expected.sort_by(js_order);
            sort_elements(&mut v, &never).unwrap();
            assert_eq!(bits(&v), bits(&expected), "{name}");
        }
    }

    #[test]
    fn stopped_sort_leaves_a_permutation() {
        let mut seed = 11;
        for stop_after in [0usize, 1, 3, 7, 20, 40] {
            let original: Vec<u64> = (0..300_000).map(|_| lcg(&mut seed)).collect();
            let mut v = original.clone();
            let polls = std::sync::atomic::AtomicUsize::new(0);
            let stop = || polls.fetch_add(1, Ordering::Relaxed) >= stop_after;
            let r = sort_elements(&mut v, &stop);
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

    #[test]
    fn nan_bits_and_signed_zeros_are_kept() {
        // Every NaN pattern class: quiet/signalling, both signs, small and
        // large payloads; the multiset of bit patterns must survive, NaNs
        // last, everything else in JS order (-0 before +0).
        let mut seed = 23;
        let nan_bits = |s: &mut u64, neg: bool| {
            let payload = (lcg(s) & 0x000f_ffff_ffff_ffff).max(1);
            let b = 0x7ff0_0000_0000_0000 | payload;
            if neg {
                b | (1 << 63)
            } else {
                b
            }
        };
        for n in [10usize, 3000, 100_000] {
            let v: Vec<f64> = (0..n)
                .map(|i| match i % 6 {
                    0 => f64::from_bits(nan_bits(&mut seed, true)),
                    1 => f64::from_bits(nan_bits(&mut seed, false)),
                    2 => -0.0,
                    3 => 0.0,
                    4 => f64::from_bits(0xfff0_0000_0000_0001), // smallest negative NaN
                    _ => (lcg(&mut seed) as f64 - 4e15) / 1e3,
                })
                .collect();
            let mut sorted = v.clone();
            sort_elements(&mut sorted, &never).unwrap();
            let mut before = bits(&v);
            let mut after = bits(&sorted);
            let first_nan = sorted.iter().position(|x| x.is_nan()).unwrap();
            assert!(sorted[first_nan..].iter().all(|x| x.is_nan()));
            let mut expected: Vec<f64> = v.iter().copied().filter(|x| !x.is_nan()).collect();
            expected.sort_by(js_order);
            assert_eq!(bits(&sorted[..first_nan]), bits(&expected));
            before.sort();
            after.sort();
            assert_eq!(before, after, "n = {n}: bit patterns lost");
        }
        let mut f: Vec<f32> = vec![
            f32::from_bits(0xffc0_0001),
            f32::from_bits(0x7f80_0001),
            -0.0,
            0.0,
            f32::NEG_INFINITY,
            f32::from_bits(0xff80_0001),
            f32::INFINITY,
            f32::from_bits(0x7fff_ffff),
        ];
        sort_elements(&mut f, &never).unwrap();
        let fb: Vec<u32> = f.iter().map(|x| x.to_bits()).collect();
        assert_eq!(
            fb,
            [
                0xff80_0000,
                0x8000_0000,
                0,
                0x7f80_0000,
                0x7f80_0001,
                0x7fff_ffff,
                0xffc0_0001,
                0xff80_0001
            ]
        );
    }

    #[test]
    fn scatter_stays_in_its_ranges_when_the_digits_change() {
        // The counting pass sees one set of digits, the scatter another (an
        // input written meanwhile): every write must stay inside the
        // destination, whose neighbours are sentinels.
        let n = 200_000;
        let chunk = 1 << 15;
        let mut seed = 29;
        let src: Vec<u32> = (0..n).map(|_| lcg(&mut seed) as u32).collect();
        let hists = histograms(&src, chunk, 0, |k: u32| k);
        let starts = prefix_sums(&hists, <u32 as Radix>::BUCKETS, n).unwrap();
        let mut dst = vec![0xdead_beefu32; n + 2 * 4096];
        let calls = std::sync::atomic::AtomicU32::new(0);
        // Every element now falls in the top bucket (or a varying one).
        let liar = |k: u32| {
            k ^ calls
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9e37_79b9)
        };
        let done = scatter(
            &src,
            &mut dst[4096..4096 + n],
            chunk,
            0,
            starts,
            &hists,
            &never,
            liar,
            |k| k,
        );
        assert!(done);
        assert!(dst[..4096].iter().all(|&x| x == 0xdead_beef));
        assert!(dst[4096 + n..].iter().all(|&x| x == 0xdead_beef));
        let top = |k: u32| k | 0x7ff;
        let hists = histograms(&src, chunk, 0, |k: u32| k);
        let starts = prefix_sums(&hists, <u32 as Radix>::BUCKETS, n).unwrap();
        scatter(
            &src,
            &mut dst[4096..4096 + n],
            chunk,
            0,
            starts,
            &hists,
            &never,
            top,
            |k| k,
        );
        assert!(dst[..4096].iter().all(|&x| x == 0xdead_beef));
        assert!(dst[4096 + n..].iter().all(|&x| x == 0xdead_beef));
    }

    #[test]
    fn input_written_during_the_sort_stays_in_bounds() {
        // Another thread rewrites the input while it is being sorted (a
        // SharedArrayBuffer in JavaScript): the result may be anything, but
        // the memory around the input must be untouched.
        let n = 2_000_000;
        let pad = 1 << 16;
        let mut seed = 31;
        let mut mem: Vec<u64> = (0..n + 2 * pad).map(|_| lcg(&mut seed)).collect();
        mem[..pad].fill(0x5555_5555_5555_5555);
        mem[pad + n..].fill(0x5555_5555_5555_5555);
        let base = SyncPtr(mem.as_mut_ptr());
        let running = AtomicBool::new(true);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut seed = 37u64;
                while running.load(Ordering::Relaxed) {
                    for _ in 0..10_000 {
                        let i = (lcg(&mut seed) as usize) % n;
                        // SAFETY: inside the input; a deliberate race, as JS
                        // code on another thread would make it (volatile so
                        // that it really happens).
                        unsafe {
                            std::ptr::write_volatile(base.get().add(pad + i), lcg(&mut seed))
                        };
                    }
                }
            });
            for _ in 0..3 {
                // SAFETY: the input part of `mem`; the writer thread only
                // writes inside it too.
                let data = unsafe { std::slice::from_raw_parts_mut(base.get().add(pad), n) };
                sort_elements(data, &never).unwrap();
            }
            running.store(false, Ordering::Relaxed);
        });
        assert!(mem[..pad].iter().all(|&x| x == 0x5555_5555_5555_5555));
        assert!(mem[pad + n..].iter().all(|&x| x == 0x5555_5555_5555_5555));
    }
}
