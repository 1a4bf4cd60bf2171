//! Raw views of JavaScript TypedArrays, read and written in place.
//!
//! A [`View`] is a pointer into memory that V8 owns. It stays valid because
//! (1) the JavaScript layer keeps the TypedArray referenced in its table of
//! pending operations until the operation's completion has been processed,
//! and (2) when the environment is torn down, the port's cleanup hook stops
//! every running job before V8 frees the memory (`job.rs`). Changing or
//! detaching the input while its promise is pending is the caller's race, as
//! with Node's asynchronous zlib; the docs say so.

use napi::sys;
use napi::{Error, Result, Status};

/// The element type of a TypedArray.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem {
    I8,
    U8,
    U8Clamped,
    I16,
    U16,
    I32,
    U32,
    F32,
    F64,
    I64,
    U64,
}

impl Elem {
    pub fn size(self) -> usize {
        match self {
            Elem::I8 | Elem::U8 | Elem::U8Clamped => 1,
            Elem::I16 | Elem::U16 => 2,
            Elem::I32 | Elem::U32 | Elem::F32 => 4,
            Elem::F64 | Elem::I64 | Elem::U64 => 8,
        }
    }

    fn from_napi(t: sys::napi_typedarray_type) -> Option<Elem> {
        use sys::TypedarrayType as T;
        Some(match t {
            T::int8_array => Elem::I8,
            T::uint8_array => Elem::U8,
            T::uint8_clamped_array => Elem::U8Clamped,
            T::int16_array => Elem::I16,
            T::uint16_array => Elem::U16,
            T::int32_array => Elem::I32,
            T::uint32_array => Elem::U32,
            T::float32_array => Elem::F32,
            T::float64_array => Elem::F64,
            T::bigint64_array => Elem::I64,
            T::biguint64_array => Elem::U64,
            _ => return None,
        })
    }
}

/// A TypedArray's memory: `len` elements of type `elem` at `ptr`.
#[derive(Debug, Clone, Copy)]
pub struct View {
    pub elem: Elem,
    ptr: *mut u8,
    pub len: usize,
}

// SAFETY: a View is only a pointer and a length; the protocol described at
// the top of this file keeps the memory alive while any thread uses it.
unsafe impl Send for View {}
// SAFETY: as above; concurrent access is coordinated by the kernels, which
// split the memory into disjoint parts.
unsafe impl Sync for View {}

impl View {
    pub fn byte_len(&self) -> usize {
        self.len * self.elem.size()
    }

    /// The memory as bytes, borrowed for as long as this `View` is.
    ///
    /// # Safety
    /// The TypedArray must still be alive (see the file comment) and no one
    /// may write to it while the slice is in use.
    pub unsafe fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: the caller guarantees the memory is alive and unwritten
        // while the slice (bounded by this borrow) is used; ptr and length
        // come from napi_get_typedarray_info for this array.
        unsafe { std::slice::from_raw_parts(self.ptr, self.byte_len()) }
    }

    /// The memory as a mutable slice of `T`, borrowed for as long as this
    /// `View` is mutably borrowed (one writer per view at a time).
    ///
    /// # Safety
    /// As for [`View::bytes`], and `T` must have the size of `elem` (the
    /// alignment of a TypedArray's data is that of its element type) and no
    /// other reference to the memory may be in use, through this view or
    /// any copy of it.
    pub unsafe fn slice_mut<T>(&mut self) -> &mut [T] {
        debug_assert_eq!(std::mem::size_of::<T>(), self.elem.size());
        if self.len == 0 {
            return &mut [];
        }
        debug_assert_eq!(self.ptr as usize % std::mem::align_of::<T>(), 0);
        // SAFETY: see the function's contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.cast::<T>(), self.len) }
    }

    /// The memory as a shared slice of `T`, borrowed for as long as this
    /// `View` is. Built as a shared reference from the start, so any number
    /// of readers (two `stats()` of one array) may hold one at once.
    ///
    /// # Safety
    /// As for [`View::bytes`], and `T` must have the size of `elem` (the
    /// alignment of a TypedArray's data is that of its element type).
    pub unsafe fn slice<T>(&self) -> &[T] {
        debug_assert_eq!(std::mem::size_of::<T>(), self.elem.size());
        if self.len == 0 {
            return &[];
        }
        debug_assert_eq!(self.ptr as usize % std::mem::align_of::<T>(), 0);
        // SAFETY: see the function's contract; only reads happen through
        // the slice.
        unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>().cast_const(), self.len) }
    }
}

use super::status::check;

/// What `napi_get_typedarray_info` reports.
struct Info {
    kind: sys::napi_typedarray_type,
    len: usize,
    data: *mut std::ffi::c_void,
    buffer: sys::napi_value,
}

/// # Safety
/// `env` and `value` must be live handles of the current call.
unsafe fn typedarray_info(env: sys::napi_env, value: sys::napi_value) -> Result<Info> {
    let mut is_typed = false;
    // SAFETY: live handles per the contract; `is_typed` is a valid local.
    let status = unsafe { sys::napi_is_typedarray(env, value, &mut is_typed) };
    check(status, "napi_is_typedarray")?;
    if !is_typed {
        return Err(Error::new(Status::InvalidArg, "expected a TypedArray"));
    }
    let mut info = Info {
        kind: 0,
        len: 0,
        data: std::ptr::null_mut(),
        buffer: std::ptr::null_mut(),
    };
    let mut offset = 0usize;
    // SAFETY: value is a TypedArray (checked above); out-pointers are valid.
    let status = unsafe {
        sys::napi_get_typedarray_info(
            env,
            value,
            &mut info.kind,
            &mut info.len,
            &mut info.data,
            &mut info.buffer,
            &mut offset,
        )
    };
    check(status, "napi_get_typedarray_info")?;
    Ok(info)
}

/// Reads the element type, length and data pointer of a TypedArray.
///
/// # Safety
/// `env` and `value` must be live handles of the current call.
pub unsafe fn typed_array_view(env: sys::napi_env, value: sys::napi_value) -> Result<View> {
    // SAFETY: forwarded contract.
    let info = unsafe { typedarray_info(env, value)? };
    let elem = Elem::from_napi(info.kind)
        .ok_or_else(|| Error::new(Status::InvalidArg, "unsupported TypedArray type"))?;
    Ok(View {
        elem,
        ptr: info.data.cast(),
        len: if info.data.is_null() { 0 } else { info.len },
    })
}

/// Whether a TypedArray's ArrayBuffer has been detached (transferred).
///
/// # Safety
/// `env` and `value` must be live handles of the current call, `value` a TypedArray.
pub unsafe fn is_detached(env: sys::napi_env, value: sys::napi_value) -> Result<bool> {
    // SAFETY: forwarded contract.
    let info = unsafe { typedarray_info(env, value)? };
    let mut detached = false;
    // SAFETY: `info.buffer` is the array's ArrayBuffer handle, live for
    // this call; `detached` is a valid local.
    let status = unsafe { sys::napi_is_detached_arraybuffer(env, info.buffer, &mut detached) };
    check(status, "napi_is_detached_arraybuffer")?;
    Ok(detached)
}

// ─── Kernels: byte ranges and owned copies ───────────────────────────────

impl View {
    /// The addresses `[start, end)` of the view's memory (empty for an empty view).
    pub fn byte_range(&self) -> (usize, usize) {
        let start = self.ptr as usize;
        (start, start + self.byte_len())
    }

    /// A view of the same type and length over other memory.
    ///
    /// # Safety
    /// `ptr` must point to `len * elem.size()` bytes aligned for `elem`, kept
    /// alive by the caller for as long as the view is used.
    pub unsafe fn with_ptr(&self, ptr: *mut u8) -> View {
        View {
            elem: self.elem,
            ptr,
            len: self.len,
        }
    }
}
