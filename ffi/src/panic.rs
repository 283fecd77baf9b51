//! The panic boundary: a panic is a bug in `lvs`, and it never unwinds into
//! C. Every `extern "C"` body runs inside `ffi_boundary!`, which catches
//! the panic, records its message as the calling thread's last error and
//! returns a value that tells C something went wrong: `LVS_PANIC` for
//! functions returning `lvs_result`, `NULL` for pointers, `0` for lengths.

use std::any::Any;

use crate::error::{Failure, lvs_result, record_thread_failure};

/// What an `extern "C"` function returns when its body panicked.
pub(crate) trait PanicValue {
    /// The value.
    fn panic_value() -> Self;
}

impl PanicValue for lvs_result {
    fn panic_value() -> Self {
        lvs_result::LVS_PANIC
    }
}

impl PanicValue for usize {
    fn panic_value() -> Self {
        0
    }
}

impl PanicValue for u64 {
    fn panic_value() -> Self {
        0
    }
}

/// `lvs_service_key_equal`: a panic compares unequal.
impl PanicValue for bool {
    fn panic_value() -> Self {
        false
    }
}

impl PanicValue for () {
    fn panic_value() -> Self {}
}

impl<T> PanicValue for *const T {
    fn panic_value() -> Self {
        std::ptr::null()
    }
}

impl<T> PanicValue for *mut T {
    fn panic_value() -> Self {
        std::ptr::null_mut()
    }
}

/// The failure a caught panic becomes.
pub(crate) fn panic_failure(payload: &(dyn Any + Send)) -> Failure {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    Failure::new(
        lvs_result::LVS_PANIC,
        format!("internal error: lvs panicked ({what}); this is a bug in lvs, please report it"),
    )
}

/// Called by `ffi_boundary!` with the payload of a caught panic.
pub(crate) fn panicked<T: PanicValue>(payload: Box<dyn Any + Send>) -> T {
    record_thread_failure(&panic_failure(payload.as_ref()));
    T::panic_value()
}

/// Run an `extern "C"` body, turning a panic into the function's
/// `PanicValue`. The body is a closure: `return` inside it returns from
/// the body.
macro_rules! ffi_boundary {
    ($($body:tt)*) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(|| { $($body)* })) {
            Ok(value) => value,
            Err(payload) => $crate::panic::panicked(payload),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::thread_message;

    fn boom() -> lvs_result {
        ffi_boundary! {
            let v: Vec<u8> = Vec::new();
            #[allow(clippy::out_of_bounds_indexing, unconditional_panic)]
            let x = v[3];
            let _ = x;
            lvs_result::LVS_OK
        }
    }

    fn boom_ptr() -> *const u8 {
        ffi_boundary! { panic!("pointer") }
    }

    fn boom_len() -> usize {
        ffi_boundary! { panic!("{}", String::from("length")) }
    }

    #[test]
    fn a_panic_becomes_lvs_panic_with_its_message() {
        assert_eq!(boom(), lvs_result::LVS_PANIC);
        let m = thread_message();
        assert!(m.contains("index out of bounds"), "{m}");
        assert!(m.contains("bug in lvs"), "{m}");
        assert!(boom_ptr().is_null());
        assert!(thread_message().contains("pointer"));
        assert_eq!(boom_len(), 0);
        assert!(thread_message().contains("length"));
    }
}
