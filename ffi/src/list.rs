//! Lists read from the kernel: `lvs_service_list`, `lvs_destination_list`,
//! `lvs_table` and `lvs_connection_list`.
//!
//! One ownership story for every list: a function such as
//! `lvs_handle_services` creates the list and the caller frees it with the
//! list's `_free` function. `_len` gives its length and `_get(list, i)` a
//! pointer to element `i`, borrowed from the list: valid until the list is
//! freed, never freed by the caller. Out-of-range indexes and NULL lists
//! give NULL (and `_len` gives 0), never undefined behaviour.

use std::ffi::c_char;

use lvs::{Connection, TableEntry};

use crate::error::{Outcome, copy_message, lvs_result};
use crate::types::{
    key_fields, lvs_addr, lvs_connection, lvs_destination_entry, lvs_service_entry, lvs_service_key,
};

/// `_len` of every list: the number of items, 0 for a NULL list.
fn len<L, T>(list: Outcome<&L>, items: impl FnOnce(&L) -> &[T]) -> usize {
    list.map_or(0, |l| items(l).len())
}

/// `_get` of every list: item `index` borrowed from the list (`pick`
/// chooses the part of a row C sees), or NULL for a NULL list or an index
/// out of range.
fn get<'a, L, T: 'a, U>(
    list: Outcome<&'a L>,
    items: impl FnOnce(&'a L) -> &'a [T],
    index: usize,
    pick: impl FnOnce(&'a T) -> *const U,
) -> *const U {
    list.ok()
        .and_then(|l| items(l).get(index))
        .map_or(std::ptr::null(), pick)
}

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
        len(try_ref!(list), Vec::as_slice)
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
        get(try_ref!(list), Vec::as_slice, index, std::ptr::from_ref)
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
        len(try_ref!(list), Vec::as_slice)
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
        get(try_ref!(list), Vec::as_slice, index, std::ptr::from_ref)
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
        len(try_ref!(table), |t| &t.0)
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
        get(try_ref!(table), |t| &t.0, index, |(s, _)| std::ptr::from_ref(s))
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
        // The Rust type behind lvs_destination_list (see castable!).
        get(try_ref!(table), |t| &t.0, index, |(_, d)| {
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

/// The connection table of a namespace, from `lvs_handle_connections` or
/// `lvs_handle_connections_with_origin`. Opaque; freed with
/// `lvs_connection_list_free`.
pub struct lvs_connection_list {
    _private: [u8; 0],
}
castable!(lvs_connection_list => ConnList);

/// What an `lvs_connection_list` points to: the entries, and each one's
/// persistence-engine data ("" for none).
pub(crate) struct ConnList {
    entries: Vec<lvs_connection>,
    pe_data: Vec<String>,
}

impl ConnList {
    pub(crate) fn from_model(conns: &[Connection]) -> Outcome<ConnList> {
        Ok(ConnList {
            entries: conns
                .iter()
                .map(lvs_connection::from_model)
                .collect::<Outcome<Vec<_>>>()?,
            pe_data: conns
                .iter()
                .map(|c| c.pe.as_ref().map_or_else(String::new, |p| p.data.clone()))
                .collect(),
        })
    }
}

/// Number of entries in `list`; 0 if `list` is NULL.
///
/// # Safety
/// `list` must be NULL or a live list from `lvs_handle_connections*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_connection_list_len(list: *const lvs_connection_list) -> usize {
    ffi_boundary! {
        len(try_ref!(list), |l| &l.entries)
    }
}

/// Entry `index` of `list` (hash-table order), or NULL if `list` is NULL
/// or `index` is not below its length. The entry belongs to the list: it
/// stays valid until `lvs_connection_list_free(list)` and must not be
/// freed.
///
/// # Safety
/// `list` must be NULL or a live list from `lvs_handle_connections*`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_connection_list_get(
    list: *const lvs_connection_list,
    index: usize,
) -> *const lvs_connection {
    ffi_boundary! {
        get(try_ref!(list), |l| &l.entries, index, std::ptr::from_ref)
    }
}

/// Copy the persistence-engine data of entry `index` (for the `sip`
/// engine, the Call-ID; "" when the entry has none, and always "" in a
/// list from `lvs_handle_connections_with_origin`) into `buf`,
/// NUL-terminated. Returns `LVS_OK`, `LVS_BUFFER_TOO_SMALL` (buffer rules
/// as `lvs_last_error`), `LVS_OUT_OF_RANGE` or `LVS_NULL_PARAMETER`.
/// Changes no last error.
///
/// # Safety
/// `list` must be a live list (not NULL). `buf` may be NULL only when
/// `len` is 0; otherwise it must be valid for writes of `len` bytes.
/// `out_len` may be NULL; if not, it receives the data's length without
/// the NUL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_connection_list_pe_data(
    list: *const lvs_connection_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> lvs_result {
    ffi_boundary! {
        match try_ref!(list) {
            Ok(l) => match l.pe_data.get(index) {
                // SAFETY: forwarded from this function's contract.
                Some(data) => unsafe { copy_message(data, buf, len, out_len) },
                None => lvs_result::LVS_OUT_OF_RANGE,
            },
            Err(e) => e.code,
        }
    }
}

/// Free a list from `lvs_handle_connections*`, and the entries in it. NULL
/// is ignored.
///
/// # Safety
/// `list` must be NULL or a list from `lvs_handle_connections*`, not used
/// after this call and not freed twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_connection_list_free(list: *mut lvs_connection_list) {
    ffi_boundary! {
        drop(try_box!(list));
    }
}

// ----- find by key ----------------------------------------------------------

/// The index of the first item of `items` that `matches` `key`; `None`
/// when none does, or for a NULL list or key.
fn position<L, T, K>(
    list: Outcome<&L>,
    items: impl FnOnce(&L) -> &[T],
    key: Outcome<&K>,
    matches: impl Fn(&T, &K) -> bool,
) -> Option<usize> {
    let (l, k) = (list.ok()?, key.ok()?);
    items(l).iter().position(|t| matches(t, k))
}

fn same_addr(a: &lvs_addr, b: &lvs_addr) -> bool {
    (a.family, a.addr, a.port) == (b.family, b.addr, b.port)
}

/// The service of `list` whose key equals `key` (as
/// `lvs_service_key_equal` compares), or NULL if none does or an argument
/// is NULL. Borrowed from the list, as `lvs_service_list_get`. A linear
/// search: for many look-ups, hash the keys (`lvs_service_key_hash`).
///
/// # Safety
/// `list` as for `lvs_service_list_get`; `key` NULL or valid for reading
/// one `lvs_service_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_service_list_find(
    list: *const lvs_service_list,
    key: *const lvs_service_key,
) -> *const lvs_service_entry {
    ffi_boundary! {
        let i = position(try_ref!(list), Vec::as_slice, try_ref!(key), |e: &lvs_service_entry, k| {
            key_fields(&e.service.key) == key_fields(k)
        });
        i.map_or(std::ptr::null(), |i| {
            get(try_ref!(list), Vec::as_slice, i, std::ptr::from_ref)
        })
    }
}

/// The destination of `list` at `addr` (family, address and port), or
/// NULL if none is or an argument is NULL. Borrowed from the list, as
/// `lvs_destination_list_get`.
///
/// # Safety
/// `list` as for `lvs_destination_list_get`; `addr` NULL or valid for
/// reading one `lvs_addr`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_destination_list_find(
    list: *const lvs_destination_list,
    addr: *const lvs_addr,
) -> *const lvs_destination_entry {
    ffi_boundary! {
        let i = position(try_ref!(list), Vec::as_slice, try_ref!(addr), |e: &lvs_destination_entry, a| {
            same_addr(&e.destination.addr, a)
        });
        i.map_or(std::ptr::null(), |i| {
            get(try_ref!(list), Vec::as_slice, i, std::ptr::from_ref)
        })
    }
}

/// The index in `table` of the service whose key equals `key` (as
/// `lvs_service_key_equal` compares), for `lvs_table_service` and
/// `lvs_table_destinations`; `lvs_table_len(table)` when no service has
/// that key (or an argument is NULL).
///
/// # Safety
/// `table` NULL or a live table from `lvs_handle_table`; `key` NULL or
/// valid for reading one `lvs_service_key`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn lvs_table_find(
    table: *const lvs_table,
    key: *const lvs_service_key,
) -> usize {
    ffi_boundary! {
        position(try_ref!(table), |t| &t.0, try_ref!(key), |(s, _), k| {
            key_fields(&s.service.key) == key_fields(k)
        })
        .unwrap_or_else(|| len(try_ref!(table), |t| &t.0))
    }
}
