//! Lists read from the kernel: `lvs_service_list`, `lvs_destination_list`
//! and `lvs_table`.
//!
//! One ownership story for every list: a function such as
//! `lvs_handle_services` creates the list and the caller frees it with the
//! list's `_free` function. `_len` gives its length and `_get(list, i)` a
//! pointer to element `i`, borrowed from the list: valid until the list is
//! freed, never freed by the caller. Out-of-range indexes and NULL lists
//! give NULL (and `_len` gives 0), never undefined behaviour.

use lvs::TableEntry;

use crate::error::Outcome;
use crate::types::{lvs_destination_entry, lvs_service_entry};

/// The services of a namespace, from `lvs_handle_services`. Opaque; freed
/// with `lvs_service_list_free`.
pub struct lvs_service_list {
    _private: [u8; 0],
}
castable!(lvs_service_list => Vec<lvs_service_entry>);

/// The destinations of a service, from `lvs_handle_destinations` (freed
/// with `lvs_destination_list_free`) or borrowed from an `lvs_table` (by
/// `lvs_table_destinations`; never freed by the caller). Opaque.
pub struct lvs_destination_list {
    _private: [u8; 0],
}
castable!(lvs_destination_list => Vec<lvs_destination_entry>);

/// Every service with its destinations, from `lvs_handle_table`. Opaque;
/// freed with `lvs_table_free`.
pub struct lvs_table {
    _private: [u8; 0],
}
castable!(lvs_table => Table);

/// What an `lvs_table` points to.
pub(crate) struct Table(Vec<(lvs_service_entry, Vec<lvs_destination_entry>)>);

impl Table {
    pub(crate) fn from_model(rows: &[TableEntry]) -> Outcome<Table> {
        rows.iter()
            .map(|row| {
                Ok((
                    lvs_service_entry::from_model(&row.service)?,
                    row.destinations
                        .iter()
                        .map(lvs_destination_entry::from_model)
                        .collect::<Outcome<Vec<_>>>()?,
                ))
            })
            .collect::<Outcome<Vec<_>>>()
            .map(Table)
    }
}

/// Number of services in `list`; 0 if `list` is NULL.
///
/// # Safety
/// `list` must be NULL or a live list from `lvs_handle_services`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_list_len(list: *const lvs_service_list) -> usize {
    ffi_boundary! {
        try_ref!(list).map_or(0, |l| l.len())
    }
}

/// Service `index` of `list`, or NULL if `list` is NULL or `index` is not
/// below its length. The entry belongs to the list: it stays valid until
/// `lvs_service_list_free(list)` and must not be freed.
///
/// # Safety
/// `list` must be NULL or a live list from `lvs_handle_services`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_list_get(
    list: *const lvs_service_list,
    index: usize,
) -> *const lvs_service_entry {
    ffi_boundary! {
        try_ref!(list)
            .ok()
            .and_then(|l| l.get(index))
            .map_or(std::ptr::null(), std::ptr::from_ref)
    }
}

/// Free a list from `lvs_handle_services`, and the entries in it. NULL is
/// ignored.
///
/// # Safety
/// `list` must be NULL or a list from `lvs_handle_services`, not used
/// after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_list_free(list: *mut lvs_service_list) {
    ffi_boundary! {
        drop(try_box!(list));
    }
}

/// Number of destinations in `list`; 0 if `list` is NULL.
///
/// # Safety
/// `list` must be NULL or a live list (from `lvs_handle_destinations`, or
/// borrowed from a live table).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_list_len(list: *const lvs_destination_list) -> usize {
    ffi_boundary! {
        try_ref!(list).map_or(0, |l| l.len())
    }
}

/// Destination `index` of `list`, or NULL if `list` is NULL or `index` is
/// not below its length. The entry belongs to the list: valid while the
/// list is, never freed by the caller.
///
/// # Safety
/// As `lvs_destination_list_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_list_get(
    list: *const lvs_destination_list,
    index: usize,
) -> *const lvs_destination_entry {
    ffi_boundary! {
        try_ref!(list)
            .ok()
            .and_then(|l| l.get(index))
            .map_or(std::ptr::null(), std::ptr::from_ref)
    }
}

/// Free a list from `lvs_handle_destinations`. NULL is ignored. Never call
/// it on a list borrowed from a table (`lvs_table_destinations`).
///
/// # Safety
/// `list` must be NULL or a list from `lvs_handle_destinations`, not used
/// after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_list_free(list: *mut lvs_destination_list) {
    ffi_boundary! {
        drop(try_box!(list));
    }
}

/// Number of services in `table`; 0 if `table` is NULL.
///
/// # Safety
/// `table` must be NULL or a live table from `lvs_handle_table`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_table_len(table: *const lvs_table) -> usize {
    ffi_boundary! {
        try_ref!(table).map_or(0, |t| t.0.len())
    }
}

/// Service `index` of `table`, or NULL if `table` is NULL or `index` is
/// not below its length. Borrowed from the table: valid until
/// `lvs_table_free(table)`, never freed by the caller.
///
/// # Safety
/// As `lvs_table_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_table_service(
    table: *const lvs_table,
    index: usize,
) -> *const lvs_service_entry {
    ffi_boundary! {
        try_ref!(table)
            .ok()
            .and_then(|t| t.0.get(index))
            .map_or(std::ptr::null(), |(s, _)| std::ptr::from_ref(s))
    }
}

/// The destinations of service `index` of `table` (kernel order), or NULL
/// if `table` is NULL or `index` is not below its length. Borrowed from the
/// table: read it with `lvs_destination_list_len` / `_get` until
/// `lvs_table_free(table)`; never pass it to `lvs_destination_list_free`.
///
/// # Safety
/// As `lvs_table_len`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_table_destinations(
    table: *const lvs_table,
    index: usize,
) -> *const lvs_destination_list {
    ffi_boundary! {
        try_ref!(table)
            .ok()
            .and_then(|t| t.0.get(index))
            // The Rust type behind lvs_destination_list (see castable!).
            .map_or(std::ptr::null(), |(_, d)| {
                std::ptr::from_ref::<Vec<lvs_destination_entry>>(d).cast::<lvs_destination_list>()
            })
    }
}

/// Free a table from `lvs_handle_table`, with every entry and destination
/// list in it. NULL is ignored.
///
/// # Safety
/// `table` must be NULL or a table from `lvs_handle_table`, not used after
/// this call (nor anything borrowed from it) and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_table_free(table: *mut lvs_table) {
    ffi_boundary! {
        drop(try_box!(table));
    }
}
