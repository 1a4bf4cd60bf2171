//! SHA-256 and SHA-512 (RustCrypto `sha2`, which uses the CPU's SHA
//! extensions when present, fed with a software prefetch: see `FEED`) and BLAKE3 (the `blake3` crate, which spreads one
//! large input over every thread of the current rayon pool).

use rayon::prelude::*;
use sha2::Digest;

use super::{Stop, Stopped};

/// Bytes hashed between two stop polls (SHA-2).
const SLICE: usize = 1 << 20;
/// Bytes handed to BLAKE3's parallel update between two stop polls.
const BLAKE3_SLICE: usize = 1 << 24;
/// Inputs at least this long use BLAKE3's multi-threaded update.
const BLAKE3_PARALLEL: usize = 1 << 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
    Blake3,
}

impl Algorithm {
    pub fn parse(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            "blake3" => Some(Algorithm::Blake3),
            _ => None,
        }
    }
}

/// SHA-2 input is fed in pieces of `FEED` bytes, with the cache lines
/// `PREFETCH_AHEAD` bytes further on requested first. The SHA extensions
/// hash faster than this machine streams memory to one core without help:
/// 10,000 × 64 KiB went from about 1,050 to 1,550 MiB/s per thread (OpenSSL,
/// which Node's `crypto` uses, reached about 1,250 on the same buffers).
const FEED: usize = 2 * 1024;
const PREFETCH_AHEAD: usize = 8 * 1024;

fn sha<D: Digest>(data: &[u8], stop: Stop) -> Result<Vec<u8>, Stopped> {
    let mut h = D::new();
    prefetch(&data[..PREFETCH_AHEAD.min(data.len())]);
    let mut off = 0;
    while off < data.len() {
        // FEED divides SLICE: a poll every SLICE bytes, the first at 0.
        if off % SLICE == 0 && stop() {
            return Err(Stopped);
        }
        let end = (off + FEED).min(data.len());
        // The lines that enter the window as this piece leaves it.
        let ahead = (end + PREFETCH_AHEAD - FEED).min(data.len());
        prefetch(&data[ahead..(end + PREFETCH_AHEAD).min(data.len())]);
        h.update(&data[off..end]);
        off = end;
    }
    Ok(h.finalize().to_vec())
}

/// Asks for `bytes` to be brought into the cache (a hint; x86-64 only).
#[inline(always)]
fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch only hints the cache and never faults; the
        // address is inside `bytes` anyway. SSE is part of x86-64.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// Hashes one input, using every pool thread for a large BLAKE3 input.
pub fn hash(algo: Algorithm, data: &[u8], stop: Stop) -> Result<Vec<u8>, Stopped> {
    match algo {
        Algorithm::Sha256 => sha::<sha2::Sha256>(data, stop),
        Algorithm::Sha512 => sha::<sha2::Sha512>(data, stop),
        Algorithm::Blake3 => {
            let mut h = blake3::Hasher::new();
            if data.len() < BLAKE3_PARALLEL {
                h.update(data);
            } else {
                for part in data.chunks(BLAKE3_SLICE) {
                    if stop() {
                        return Err(Stopped);
                    }
                    h.update_rayon(part);
                }
            }
            Ok(h.finalize().as_bytes().to_vec())
        }
    }
}

/// Hashes many inputs in parallel; results in input order.
pub fn hash_many(algo: Algorithm, inputs: &[&[u8]], stop: Stop) -> Result<Vec<Vec<u8>>, Stopped> {
    inputs
        .par_iter()
        .with_max_len(1)
        .map(|d| hash(algo, d, stop))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> bool {
        false
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    #[test]
    fn known_answers() {
        let e = b"";
        assert_eq!(
            hex(&hash(Algorithm::Sha256, e, &never).unwrap()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&hash(Algorithm::Blake3, e, &never).unwrap()),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
        assert_eq!(
            hex(&hash(Algorithm::Sha512, b"abc", &never).unwrap()),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a\
             2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }

    #[test]
    fn fed_in_pieces_equals_one_update_at_every_boundary() {
        // Lengths around FEED, PREFETCH_AHEAD and SLICE, and a few MiB.
        let data: Vec<u8> = (0..(3 << 20) + 17)
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        for len in [
            0,
            1,
            63,
            FEED - 1,
            FEED,
            FEED + 1,
            PREFETCH_AHEAD - 1,
            PREFETCH_AHEAD + 1,
            SLICE - 1,
            SLICE,
            SLICE + 3,
            data.len(),
        ] {
            let d = &data[..len];
            assert_eq!(
                hash(Algorithm::Sha256, d, &never).unwrap(),
                sha2::Sha256::digest(d).to_vec(),
                "sha256, {len} bytes"
            );
            assert_eq!(
                hash(Algorithm::Sha512, d, &never).unwrap(),
                sha2::Sha512::digest(d).to_vec(),
                "sha512, {len} bytes"
            );
        }
    }

    #[test]
    fn a_long_sha_polls_stop_between_slices() {
        let data = vec![7u8; 4 * SLICE];
        let polls = std::sync::atomic::AtomicUsize::new(0);
        let stop = || polls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= 2;
        assert_eq!(hash(Algorithm::Sha256, &data, &stop), Err(Stopped));
        // Polled at 0, SLICE and 2 × SLICE: stopped at the third.
        assert_eq!(polls.load(std::sync::atomic::Ordering::Relaxed), 3);
    }

    #[test]
    fn parallel_blake3_matches_serial() {
        let data: Vec<u8> = (0..(40 << 20))
            .map(|i: u32| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let par = hash(Algorithm::Blake3, &data, &never).unwrap();
        assert_eq!(par, blake3::hash(&data).as_bytes().to_vec());
    }

    #[test]
    fn many_in_order_and_stoppable() {
        let inputs: Vec<Vec<u8>> = (0..100u8).map(|i| vec![i; i as usize * 100]).collect();
        let refs: Vec<&[u8]> = inputs.iter().map(|v| v.as_slice()).collect();
        let out = hash_many(Algorithm::Sha256, &refs, &never).unwrap();
        for (i, d) in out.iter().enumerate() {
            assert_eq!(d, &sha2::Sha256::digest(&inputs[i]).to_vec());
        }
        assert_eq!(hash_many(Algorithm::Sha256, &refs, &|| true), Err(Stopped));
    }
}
