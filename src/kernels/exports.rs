//! The napi face of the kernels. Each export reads its arguments (pointer and
//! length from Node-API: into the TypedArray, or into a copy of it up to
//! `COPY_MAX` bytes), registers a job on the caller's port and returns at
//! once; the job runs on the kernel pool (a sort first waits for any sort of
//! overlapping memory: `claims.rs`) and completes through the port. Argument
//! validation with Node-style errors happens in `lib/kernels.js` before these
//! are called.

use std::panic::AssertUnwindSafe;

use napi::bindgen_prelude::*;
use napi::sys;
use napi_derive::napi;

use super::hash::{self, Algorithm};
use super::sort::sort_elements;
use super::stats::{stats, Summary};
use super::{claims, threads, Stop, Stopped};
use crate::bridge::buffers::{self, Elem, View};
use crate::bridge::port::Port;
use crate::bridge::status::check;
use crate::bridge::value::{panic_outcome, Completion, Outcome, Value};

/// Inputs of at most this many bytes (in all, for `hashMany`) are copied
/// when the kernel is called and the kernel works on the copy; larger ones
/// are used in place. A copy cannot be freed, detached, resized or written
/// under the kernel, so for these inputs nothing JavaScript does meanwhile
/// can make the kernel touch memory it was not given. Copying 64 KiB takes
/// a few microseconds on the calling thread, less than the call itself.
pub const COPY_MAX: usize = 64 * 1024;

/// Runs `work` on the kernel pool as job `id` of `port`, once no other
/// writer holds memory overlapping `claim` (see `claims.rs`; pass an empty
/// range for kernels that only read).
fn submit<F>(port: &Port, id: u32, claim: (usize, usize), work: F)
where
    F: FnOnce(Stop) -> Outcome + Send + 'static,
{
    let inner = port.inner().clone();
    let ctl = inner.jobs.register(id);
    claims::exclusive(claim, move |claim| {
        threads::pool().spawn(move || {
            if !ctl.start() {
                // Cancelled while queued: JavaScript has already settled it.
                drop(claim);
                return;
            }
            let stop = || ctl.should_stop();
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| work(&stop)))
                .unwrap_or_else(panic_outcome);
            // The memory is no longer touched: let the next writer in.
            drop(claim);
            inner.jobs.finish(id, &ctl);
            inner.complete(Completion { id, outcome });
        });
    });
}

fn done(r: std::result::Result<Value, Stopped>) -> Outcome {
    match r {
        Ok(v) => Outcome::Ok(v),
        Err(Stopped) => Outcome::Aborted,
    }
}

fn view_of(env: &Env, value: &Unknown) -> Result<View> {
    // SAFETY: both handles belong to the current napi call.
    unsafe { buffers::typed_array_view(env.raw(), value.value().value) }
}

/// A kernel's input: the caller's memory, or a copy of it (`COPY_MAX`).
struct Input {
    view: View,
    /// The copy `view` points into (u64s, so aligned for every element type).
    copy: Option<Vec<u64>>,
}

impl Input {
    /// Copies `view` if `copy` is set. Called on the JavaScript thread,
    /// during the napi call that handed over the memory.
    fn new(view: View, copy: bool) -> Input {
        if !copy || view.len == 0 {
            return Input { view, copy: None };
        }
        let n = view.byte_len();
        let mut own = vec![0u64; n.div_ceil(8)];
        // SAFETY: the view's memory is alive and unchanged during this call
        // (JavaScript is not running), and `own` holds at least `n` bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(view.bytes().as_ptr(), own.as_mut_ptr().cast::<u8>(), n)
        };
        // SAFETY: `own` holds the bytes, aligned to 8; its heap storage does
        // not move when `own` does, and it lives as long as this Input.
        let view = unsafe { view.with_ptr(own.as_mut_ptr().cast()) };
        Input {
            view,
            copy: Some(own),
        }
    }

    /// The copy's bytes, for JavaScript to write back (sort).
    fn copied_bytes(&self) -> Option<Vec<u8>> {
        // SAFETY: the copy is alive and nobody else uses it now.
        self.copy
            .as_ref()
            .map(|_| unsafe { self.view.bytes() }.to_vec())
    }
}

/// Sorts a TypedArray in place (internal; see `sort` in index.d.ts).
/// Resolves to undefined when it sorted in place, or to the sorted bytes when
/// it sorted a copy (`COPY_MAX`), which JavaScript then writes back.
#[napi(js_name = "kernelSort")]
pub fn kernel_sort(env: Env, port: &Port, id: u32, array: Unknown) -> Result<()> {
    let view = view_of(&env, &array)?;
    let copy = view.byte_len() <= COPY_MAX;
    // Sorts of overlapping memory run one after the other (claims.rs); a
    // copy is nobody else's.
    let claim = if copy { (0, 0) } else { view.byte_range() };
    let input = Input::new(view, copy);
    submit(port, id, claim, move |stop| {
        // The whole Input, copy included (a closure would capture only the
        // `view` field, and the copy would be freed here and now).
        let input = input;
        let mut view = input.view;
        // SAFETY: (every arm) the memory is our copy, or JavaScript's kept
        // alive by the pending table and the port's teardown protocol
        // (buffers.rs); the element type matches; no other sort holds an
        // overlapping claim. Another thread may still write the memory
        // meanwhile: the sort stays inside it whatever it reads (sort.rs).
        let r = unsafe {
            match view.elem {
                Elem::I8 => sort_elements(view.slice_mut::<i8>(), stop),
                Elem::U8 | Elem::U8Clamped => sort_elements(view.slice_mut::<u8>(), stop),
                Elem::I16 => sort_elements(view.slice_mut::<i16>(), stop),
                Elem::U16 => sort_elements(view.slice_mut::<u16>(), stop),
                Elem::I32 => sort_elements(view.slice_mut::<i32>(), stop),
                Elem::U32 => sort_elements(view.slice_mut::<u32>(), stop),
                Elem::F32 => sort_elements(view.slice_mut::<f32>(), stop),
                Elem::F64 => sort_elements(view.slice_mut::<f64>(), stop),
                Elem::I64 => sort_elements(view.slice_mut::<i64>(), stop),
                Elem::U64 => sort_elements(view.slice_mut::<u64>(), stop),
            }
        };
        done(r.map(|()| match input.copied_bytes() {
            Some(bytes) => Value::Bytes(bytes),
            None => Value::Undefined,
        }))
    });
    Ok(())
}

fn summary_value(s: Summary, bigint: bool) -> Value {
    let exact = |v: i128, f: f64| {
        if bigint && s.count > 0 {
            Value::BigInt(v)
        } else {
            Value::Number(f)
        }
    };
    Value::Object(vec![
        ("count", Value::Number(s.count as f64)),
        (
            "sum",
            if bigint {
                Value::BigInt(s.exact_sum)
            } else {
                Value::Number(s.sum)
            },
        ),
        ("min", exact(s.exact_min, s.min)),
        ("max", exact(s.exact_max, s.max)),
        ("mean", Value::Number(s.mean)),
        ("variance", Value::Number(s.variance)),
    ])
}

/// Summarizes a TypedArray (internal; see `stats` in index.d.ts).
#[napi(js_name = "kernelStats")]
pub fn kernel_stats(env: Env, port: &Port, id: u32, array: Unknown) -> Result<()> {
    let view = view_of(&env, &array)?;
    let input = Input::new(view, view.byte_len() <= COPY_MAX);
    submit(port, id, (0, 0), move |stop| {
        let input = input; // the whole Input, copy included (see kernel_sort)
        let view = input.view;
        // SAFETY: (every arm) as in `kernel_sort`; the kernel only reads,
        // through shared slices, so concurrent readers of one array are fine.
        let r = unsafe {
            match view.elem {
                Elem::I8 => stats(view.slice::<i8>(), stop),
                Elem::U8 | Elem::U8Clamped => stats(view.slice::<u8>(), stop),
                Elem::I16 => stats(view.slice::<i16>(), stop),
                Elem::U16 => stats(view.slice::<u16>(), stop),
                Elem::I32 => stats(view.slice::<i32>(), stop),
                Elem::U32 => stats(view.slice::<u32>(), stop),
                Elem::F32 => stats(view.slice::<f32>(), stop),
                Elem::F64 => stats(view.slice::<f64>(), stop),
                Elem::I64 => stats(view.slice::<i64>(), stop),
                Elem::U64 => stats(view.slice::<u64>(), stop),
            }
        };
        let bigint = matches!(view.elem, Elem::I64 | Elem::U64);
        done(r.map(|s| summary_value(s, bigint)))
    });
    Ok(())
}

fn algorithm(name: &str) -> Result<Algorithm> {
    Algorithm::parse(name)
        .ok_or_else(|| Error::new(Status::InvalidArg, format!("unknown algorithm {name}")))
}

/// Hashes one byte view (internal; see `hash` in index.d.ts).
#[napi(js_name = "kernelHash")]
pub fn kernel_hash(env: Env, port: &Port, id: u32, algo: String, data: Unknown) -> Result<()> {
    let algo = algorithm(&algo)?;
    let view = view_of(&env, &data)?;
    let input = Input::new(view, view.byte_len() <= COPY_MAX);
    submit(port, id, (0, 0), move |stop| {
        let input = input; // the whole Input, copy included (see kernel_sort)
                           // SAFETY: as in `kernel_sort`; the kernel only reads.
        let bytes = unsafe { input.view.bytes() };
        done(hash::hash(algo, bytes, stop).map(Value::Bytes))
    });
    Ok(())
}

/// Lower-case hex of a digest.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Hashes many byte views in parallel (internal; see `hashMany` in index.d.ts).
/// With `as_hex`, digests come back as hex strings encoded on the kernel
/// threads, so the main thread only creates the strings.
#[napi(js_name = "kernelHashMany")]
pub fn kernel_hash_many(
    env: Env,
    port: &Port,
    id: u32,
    algo: String,
    list: Unknown,
    as_hex: bool,
) -> Result<()> {
    let algo = algorithm(&algo)?;
    let raw_env = env.raw();
    let raw_list = list.value().value;
    let mut len = 0u32;
    // SAFETY: live handles of this call; JavaScript passes an Array.
    let status = unsafe { sys::napi_get_array_length(raw_env, raw_list, &mut len) };
    check(status, "expected an array")?;
    let mut views = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut item = std::ptr::null_mut();
        // SAFETY: live handles; `i` is below the array's length.
        let status = unsafe { sys::napi_get_element(raw_env, raw_list, i, &mut item) };
        check(status, "could not read the list")?;
        // SAFETY: `item` is a live handle of this call.
        views.push(unsafe { buffers::typed_array_view(raw_env, item)? });
    }
    let total: usize = views.iter().map(|v| v.byte_len()).sum();
    let inputs: Vec<Input> = views
        .into_iter()
        .map(|v| Input::new(v, total <= COPY_MAX))
        .collect();
    submit(port, id, (0, 0), move |stop| {
        // SAFETY: as in `kernel_sort`; the list's views are kept alive by the
        // pending table (or copied) and the kernel only reads.
        let slices: Vec<&[u8]> = inputs.iter().map(|i| unsafe { i.view.bytes() }).collect();
        done(hash::hash_many(algo, &slices, stop).map(|ds| {
            Value::List(
                ds.into_iter()
                    .map(|d| {
                        if as_hex {
                            Value::Str(hex(&d))
                        } else {
                            Value::Bytes(d)
                        }
                    })
                    .collect(),
            )
        }))
    });
    Ok(())
}

/// Whether a TypedArray's buffer has been detached (internal).
#[napi(js_name = "isDetached")]
pub fn is_detached(env: Env, view: Unknown) -> Result<bool> {
    // SAFETY: both handles belong to the current napi call.
    unsafe { buffers::is_detached(env.raw(), view.value().value) }
}

/// Rebuilds the kernel pool with `threads` threads (internal; see `configure`).
#[napi(js_name = "configureThreads")]
pub fn configure_threads(threads: u32) -> Result<()> {
    threads::configure(threads as usize).map_err(|e| Error::new(Status::GenericFailure, e))
}

/// The most kernel threads, for `configure` and `SPINDLE_THREADS` alike (internal).
#[napi(js_name = "kernelMaxThreads")]
pub fn kernel_max_threads() -> u32 {
    threads::MAX_THREADS as u32
}

/// The warning about the `SPINDLE_THREADS` environment variable, if its value
/// is out of range or not an integer: given once per process, to whichever
/// environment asks first (internal; JavaScript emits it).
#[napi(js_name = "kernelThreadsWarning")]
pub fn kernel_threads_warning() -> Option<String> {
    static GIVEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let env = std::env::var("SPINDLE_THREADS").ok();
    let warning = threads::threads_from_env(env.as_deref()).1?;
    if GIVEN.swap(true, std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    Some(warning)
}

/// Inputs of at most this many bytes are copied (internal; see `COPY_MAX`).
#[napi(js_name = "kernelCopyMax")]
pub fn kernel_copy_max() -> u32 {
    COPY_MAX as u32
}

/// The kernel pool's thread count (internal).
#[napi(js_name = "kernelThreads")]
pub fn kernel_threads() -> u32 {
    threads::current_threads() as u32
}

/// A kernel that panics, to test that a panic becomes a rejection (internal).
#[napi(js_name = "kernelPanic")]
pub fn kernel_panic(port: &Port, id: u32) {
    // `resume_unwind` unwinds like a panic but skips the panic hook, so the
    // tests that use this do not print a backtrace; real panics still do.
    submit(port, id, (0, 0), |_| {
        std::panic::resume_unwind(Box::new("deliberate panic for testing"))
    });
}
