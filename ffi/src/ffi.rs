//! Pointer plumbing: the only place raw pointers from C become Rust
//! references.
//!
//! - `Castable` ties each C type to the Rust type behind its pointer, in
//!   exactly one `castable!` line per type. Opaque C types (`lvs_handle`,
//!   ...) stand for a boxed Rust value; plain `#[repr(C)]` structs stand
//!   for themselves.
//! - `try_ref!`, `try_mut!`, `try_out!`, `try_slice!`,
//!   `try_slice_out!`, `try_bytes!`, `try_cstr!` and `try_utf8!` check a pointer argument (NULL,
//!   alignment, length) and turn it into a reference, or an
//!   `LVS_NULL_PARAMETER` / `LVS_INVALID_ARGUMENT` failure that names the
//!   argument. `try_box!` takes back ownership for a `_free` function.
//! - `try_sized!`, `try_sized_slice!` and `put_sized!` read and write a
//!   caller's struct (or array of structs) of a size the caller gives:
//!   the growth rule of lvs.h ("Structs that grow"), as Linux's
//!   `copy_struct_from_user` does it.
//!
//! Each macro's `unsafe` block relies on the same promise, which every
//! `extern "C"` function that uses it makes in its `# Safety` section: a
//! pointer argument is NULL or valid, for the duration of the call, for
//! what the function does with it (reads, writes, or ownership).

use std::ffi::{CStr, c_char};
use std::mem::MaybeUninit;

use crate::error::{Failure, Outcome, lvs_result};

/// A C type and the Rust type its pointers point to.
pub(crate) trait Castable {
    /// The Rust type behind a `*const Self` / `*mut Self`.
    type Rust;
}

/// `castable!(lvs_handle => HandleState)`: the one place a C type is tied
/// to its Rust type. `castable!(lvs_service)`: a plain struct is itself.
macro_rules! castable {
    ($c:ty => $rust:ty) => {
        impl $crate::ffi::Castable for $c {
            type Rust = $rust;
        }
    };
    ($c:ty) => {
        impl $crate::ffi::Castable for $c {
            type Rust = $c;
        }
    };
}

fn null(what: &str) -> Failure {
    Failure::new(
        lvs_result::LVS_NULL_PARAMETER,
        format!("argument `{what}` is NULL"),
    )
}

fn misaligned(what: &str) -> Failure {
    Failure::invalid(what, "the pointer is not aligned for its type")
}

fn check<T>(p: *const T, what: &str) -> Outcome {
    if p.is_null() {
        Err(null(what))
    } else if !p.is_aligned() {
        Err(misaligned(what))
    } else {
        Ok(())
    }
}

/// Box `v` and hand the pointer to C, which frees it with the type's
/// `_free` function.
pub(crate) fn into_raw<C: Castable>(v: C::Rust) -> *mut C {
    Box::into_raw(Box::new(v)).cast()
}

/// A shared reference to what `p` points to.
///
/// # Safety
/// `p` is NULL or points to a live `C::Rust` (for an opaque type: one made
/// by `into_raw` and not freed) that nothing mutates during `'a`.
pub(crate) unsafe fn cast_ref<'a, C: Castable>(p: *const C, what: &str) -> Outcome<&'a C::Rust> {
    let p = p.cast::<C::Rust>();
    check(p, what)?;
    // SAFETY: non-NULL and aligned (checked); live and unaliased by the
    // caller's promise.
    Ok(unsafe { &*p })
}

/// An exclusive reference to what `p` points to.
///
/// # Safety
/// As `cast_ref`, and nothing else reads or writes it during `'a` (the
/// one-thread-at-a-time rule for handles and batches).
pub(crate) unsafe fn cast_mut<'a, C: Castable>(p: *mut C, what: &str) -> Outcome<&'a mut C::Rust> {
    let p = p.cast::<C::Rust>();
    check(p, what)?;
    // SAFETY: non-NULL and aligned (checked); live and exclusive by the
    // caller's promise.
    Ok(unsafe { &mut *p })
}

/// Take back a value made by `into_raw`; `None` for NULL.
///
/// # Safety
/// `p` is NULL or came from `into_raw` for the same `C` and is not used
/// again (C calls `_free` once).
pub(crate) unsafe fn take_box<C: Castable>(p: *mut C) -> Option<Box<C::Rust>> {
    if p.is_null() {
        return None;
    }
    // SAFETY: the caller promises `p` came from Box::into_raw of a
    // C::Rust and that ownership returns here exactly once.
    Some(unsafe { Box::from_raw(p.cast::<C::Rust>()) })
}

/// An output location checked once, written any number of times. It may
/// point to uninitialised memory: it is only ever written.
pub(crate) struct Out<'a, T>(&'a mut MaybeUninit<T>);

impl<T> Out<'_, T> {
    /// Store `v` (the old value, if any, is not dropped: outputs are plain
    /// C data).
    pub(crate) fn set(&mut self, v: T) {
        self.0.write(v);
    }
}

/// Check an output pointer.
///
/// # Safety
/// `p` is NULL or valid for writes of one `T` during `'a`.
pub(crate) unsafe fn out<'a, T>(p: *mut T, what: &str) -> Outcome<Out<'a, T>> {
    check(p, what)?;
    // SAFETY: non-NULL and aligned (checked); writable by the caller's
    // promise. MaybeUninit<T> has T's layout and needs no initialised
    // contents.
    Ok(Out(unsafe { &mut *p.cast::<MaybeUninit<T>>() }))
}

fn check_len<T>(len: usize, what: &str) -> Outcome {
    match len.checked_mul(size_of::<T>()) {
        Some(bytes) if bytes <= isize::MAX as usize => Ok(()),
        _ => Err(Failure::invalid(
            what,
            format_args!("length {len} is larger than any array can be"),
        )),
    }
}

/// A slice of `len` values from C; NULL is fine when `len` is 0.
///
/// # Safety
/// `p` is NULL or valid for reads of `len` values of `T`, not mutated
/// during `'a`.
pub(crate) unsafe fn slice<'a, T>(p: *const T, len: usize, what: &str) -> Outcome<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    check(p, what)?;
    check_len::<T>(len, what)?;
    // SAFETY: non-NULL, aligned, and a length whose size fits isize
    // (checked); readable by the caller's promise.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// An output array of `len` values; NULL is fine when `len` is 0.
///
/// # Safety
/// `p` is NULL or valid for writes of `len` values of `T` during `'a`.
pub(crate) unsafe fn slice_out<'a, T>(
    p: *mut T,
    len: usize,
    what: &str,
) -> Outcome<&'a mut [MaybeUninit<T>]> {
    if len == 0 {
        return Ok(&mut []);
    }
    check(p, what)?;
    check_len::<T>(len, what)?;
    // SAFETY: non-NULL, aligned, size fits isize (checked); writable by
    // the caller's promise; MaybeUninit needs no initialised contents.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<MaybeUninit<T>>(), len) })
}

/// `len` bytes of text from C (`const char *` with a length, no NUL
/// needed); NULL is fine when `len` is 0.
///
/// # Safety
/// As `slice`.
pub(crate) unsafe fn bytes<'a>(p: *const c_char, len: usize, what: &str) -> Outcome<&'a [u8]> {
    // SAFETY: forwarded from this function's contract; c_char and u8 have
    // the same size and alignment.
    unsafe { slice(p.cast::<u8>(), len, what) }
}

/// A NUL-terminated string argument.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string readable up to its
/// NUL and not mutated during `'a`.
pub(crate) unsafe fn c_str<'a>(p: *const c_char, what: &str) -> Outcome<&'a CStr> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL; NUL-terminated and readable by the caller's promise.
    Ok(unsafe { CStr::from_ptr(p) })
}

/// A UTF-8 string argument.
///
/// # Safety
/// As `c_str`.
pub(crate) unsafe fn utf8<'a>(p: *const c_char, what: &str) -> Outcome<&'a str> {
    // SAFETY: forwarded from this function's contract.
    let s = unsafe { c_str(p, what) }?;
    s.to_str().map_err(|e| {
        Failure::new(
            lvs_result::LVS_INVALID_UTF8,
            format!("argument `{what}` is not valid UTF-8 ({e})"),
        )
    })
}

/// `try_ref!(p)`: `&T` (or the boxed Rust value of an opaque type) from a
/// `*const T` argument, as an `Outcome`.
macro_rules! try_ref {
    ($p:ident) => {
        // SAFETY: every extern fn using try_ref! promises in its `# Safety`
        // that `$p` is NULL or valid for reads during the call.
        unsafe { $crate::ffi::cast_ref($p, stringify!($p)) }
    };
}

/// `try_mut!(p)`: `&mut` from a `*mut T` argument, as an `Outcome`.
macro_rules! try_mut {
    ($p:ident) => {
        // SAFETY: every extern fn using try_mut! promises in its `# Safety`
        // that `$p` is NULL or valid and used by one thread at a time.
        unsafe { $crate::ffi::cast_mut($p, stringify!($p)) }
    };
}

/// `try_box!(p)`: ownership back from C in a `_free` function (`None` for
/// NULL).
macro_rules! try_box {
    ($p:ident) => {
        // SAFETY: every `_free` function promises in its `# Safety` that
        // `$p` is NULL or came from this library and is freed once.
        unsafe { $crate::ffi::take_box($p) }
    };
}

/// `try_out!(p)`: a checked output location for a `*mut T` argument.
macro_rules! try_out {
    ($p:ident) => {
        // SAFETY: every extern fn using try_out! promises in its `# Safety`
        // that `$p` is NULL or valid for a write during the call.
        unsafe { $crate::ffi::out($p, stringify!($p)) }
    };
}

/// `try_slice!(p, n)`: a `&[T]` from a pointer and a count.
macro_rules! try_slice {
    ($p:ident, $n:expr) => {
        // SAFETY: every extern fn using try_slice! promises in its
        // `# Safety` that `$p` is NULL or valid for reads of `$n` values.
        unsafe { $crate::ffi::slice($p, $n, stringify!($p)) }
    };
}

/// `try_slice_out!(p, n)`: an output array from a pointer and a count.
macro_rules! try_slice_out {
    ($p:ident, $n:expr) => {
        // SAFETY: every extern fn using try_slice_out! promises in its
        // `# Safety` that `$p` is NULL or valid for writes of `$n` values.
        unsafe { $crate::ffi::slice_out($p, $n, stringify!($p)) }
    };
}

/// `try_bytes!(p, n)`: `n` bytes of text (`const char *` and a length) as
/// `&[u8]`.
macro_rules! try_bytes {
    ($p:ident, $n:expr) => {
        // SAFETY: every extern fn using try_bytes! promises in its
        // `# Safety` that `$p` is NULL or valid for reads of `$n` bytes.
        unsafe { $crate::ffi::bytes($p, $n, stringify!($p)) }
    };
}

/// `try_cstr!(p)`: a NUL-terminated string argument as `&CStr`.
macro_rules! try_cstr {
    ($p:ident) => {
        // SAFETY: every extern fn using try_cstr! promises in its
        // `# Safety` that `$p` is NULL or a readable NUL-terminated string.
        unsafe { $crate::ffi::c_str($p, stringify!($p)) }
    };
}

/// `try_utf8!(p)`: a NUL-terminated UTF-8 string argument as `&str`.
macro_rules! try_utf8 {
    ($p:ident) => {
        // SAFETY: as try_cstr!.
        unsafe { $crate::ffi::utf8($p, stringify!($p)) }
    };
}

/// A plain struct whose bytes may be copied out as they are: `#[repr(C)]`
/// with no padding (`no_padding!` checks it), so every byte is
/// initialised.
///
/// # Safety
/// Implement only for such structs.
pub(crate) unsafe trait AsBytes: Copy {}

/// A plain struct that may be built from any bytes: [`AsBytes`], and every
/// field an integer or an array of integers (no `bool`, enum or
/// reference), so every bit pattern, all-zero included, is a value.
///
/// # Safety
/// Implement only for such structs.
pub(crate) unsafe trait FromBytes: AsBytes {}

fn check_size(size: usize, what: &str) -> Outcome {
    if size == 0 || size > isize::MAX as usize {
        return Err(Failure::invalid(
            what,
            format_args!("size {size} is not the size of a struct (pass sizeof)"),
        ));
    }
    Ok(())
}

/// Check an array of `n` structs of `size` bytes at `p`.
fn check_array<T>(p: *const T, n: usize, size: usize, what: &str) -> Outcome {
    check(p, what)?;
    check_size(size, what)?;
    if n.checked_mul(size).is_none_or(|b| b > isize::MAX as usize) {
        return Err(Failure::invalid(
            what,
            format_args!("{n} structs of {size} bytes are larger than any array can be"),
        ));
    }
    Ok(())
}

/// Read one `T` from `size` bytes at `p`, which need not be aligned: the
/// first `min(size, size_of::<T>())` bytes are the caller's, the rest of
/// `T` is 0 (a field the caller's layout does not have takes its zero
/// meaning); bytes past `size_of::<T>()` must be 0.
///
/// # Safety
/// `p` is valid for reads of `size` bytes.
unsafe fn read_bytes<T: FromBytes>(p: *const u8, size: usize, what: &str) -> Outcome<T> {
    let known = size.min(size_of::<T>());
    // SAFETY: T: FromBytes, so all-zero is a value.
    let mut v: T = unsafe { std::mem::zeroed() };
    // SAFETY: `known` bytes are readable at `p` (the caller's promise,
    // known <= size) and fit in `v`; the two do not overlap (`v` is
    // local); any bytes make a T (FromBytes).
    unsafe { std::ptr::copy_nonoverlapping(p, (&raw mut v).cast::<u8>(), known) };
    if size > known {
        // SAFETY: `size` bytes are readable at `p`; `known` < `size`.
        let tail = unsafe { std::slice::from_raw_parts(p.add(known), size - known) };
        if let Some(i) = tail.iter().position(|&b| b != 0) {
            return Err(Failure::invalid(
                what,
                format_args!(
                    "byte {} of {size} is not 0, and this library's struct has {known} bytes: \
                     a field of a newer lvs.h that this version cannot honour",
                    known + i
                ),
            ));
        }
    }
    Ok(v)
}

/// Write `v` into `size` bytes at `p`, which need not be aligned: the
/// first `min(size, size_of::<T>())` bytes of `v`, then 0 up to `size`
/// (fields of a newer layout this version does not know read as 0).
///
/// # Safety
/// `p` is valid for writes of `size` bytes.
unsafe fn write_bytes<T: AsBytes>(p: *mut u8, size: usize, v: &T) {
    let known = size.min(size_of::<T>());
    // SAFETY: `v` is `size_of::<T>()` initialised bytes (AsBytes: no
    // padding), `known` of them are copied to `p`, writable for `size`
    // >= `known` bytes; a local and the caller's memory do not overlap.
    unsafe { std::ptr::copy_nonoverlapping((v as *const T).cast::<u8>(), p, known) };
    // SAFETY: `p + known .. p + size` is writable (the caller's promise).
    unsafe { std::ptr::write_bytes(p.add(known), 0, size - known) };
}

/// A caller's struct of `size` bytes at `p` (not NULL, aligned for `T`).
///
/// # Safety
/// `p` is NULL or valid for reads of `size` bytes.
pub(crate) unsafe fn sized<T: FromBytes>(p: *const T, size: usize, what: &str) -> Outcome<T> {
    check(p, what)?;
    check_size(size, what)?;
    // SAFETY: forwarded.
    unsafe { read_bytes(p.cast(), size, what) }
}

/// `n` structs of `size` bytes each from `p` (not NULL unless `n` is 0).
///
/// # Safety
/// `p` is NULL or valid for reads of `n * size` bytes.
pub(crate) unsafe fn sized_slice<T: FromBytes>(
    p: *const T,
    n: usize,
    size: usize,
    what: &str,
) -> Outcome<Vec<T>> {
    if n == 0 {
        return Ok(Vec::new());
    }
    check_array(p, n, size, what)?;
    (0..n)
        .map(|i| {
            // SAFETY: element i lies inside the `n * size` readable bytes.
            unsafe { read_bytes(p.cast::<u8>().add(i * size), size, what) }
        })
        .collect()
}

/// Write `values` into the caller's array of `n` structs of `size` bytes
/// at `p` (NULL only when `n` is 0); those that fit are written.
///
/// # Safety
/// `p` is NULL or valid for writes of `n * size` bytes.
pub(crate) unsafe fn put_sized<T: AsBytes>(
    p: *mut T,
    n: usize,
    size: usize,
    values: &[T],
    what: &str,
) -> Outcome {
    if n == 0 {
        return Ok(());
    }
    check_array(p, n, size, what)?;
    for (i, v) in values.iter().take(n).enumerate() {
        // SAFETY: element i lies inside the `n * size` writable bytes.
        unsafe { write_bytes(p.cast::<u8>().add(i * size), size, v) };
    }
    Ok(())
}

/// `try_sized!(p, size)`: a copy of the caller's struct of `size` bytes
/// (the growth rule), as an `Outcome`.
macro_rules! try_sized {
    ($p:ident, $size:expr) => {
        // SAFETY: every extern fn using try_sized! promises in its
        // `# Safety` that `$p` is NULL or valid for reads of `$size` bytes.
        unsafe { $crate::ffi::sized($p, $size, stringify!($p)) }
    };
}

/// `try_sized_slice!(p, n, size)`: copies of the caller's `n` structs of
/// `size` bytes each.
macro_rules! try_sized_slice {
    ($p:ident, $n:expr, $size:expr) => {
        // SAFETY: every extern fn using try_sized_slice! promises in its
        // `# Safety` that `$p` is NULL or valid for reads of `$n * $size`
        // bytes.
        unsafe { $crate::ffi::sized_slice($p, $n, $size, stringify!($p)) }
    };
}

/// `put_sized!(p, n, size, values)`: write `values` into the caller's
/// array of `n` structs of `size` bytes.
macro_rules! put_sized {
    ($p:ident, $n:expr, $size:expr, $values:expr) => {
        // SAFETY: every extern fn using put_sized! promises in its
        // `# Safety` that `$p` is NULL or valid for writes of `$n * $size`
        // bytes.
        unsafe { $crate::ffi::put_sized($p, $n, $size, $values, stringify!($p)) }
    };
}
