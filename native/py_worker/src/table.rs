//! The handle table: the objects the VM holds proxies of, by number. A result, a
//! callback's arguments or a message that holds an object that is not data puts it here
//! and sends `{M, handle, Id}`; the VM's `release` packets take ids out again.
//!
//! The lock is held only to insert, look up or remove: an object is never dropped under
//! it, since its `__del__` may run Python code that sends a handle (and takes the lock).
use py_core::etf::Handles;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::Mutex;

struct Table {
    objects: HashMap<u64, Py<PyAny>>,
    next: u64,
}

static TABLE: Mutex<Option<Table>> = Mutex::new(None);

fn with<R>(f: impl FnOnce(&mut Table) -> R) -> R {
    let mut guard = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    let table = guard.get_or_insert_with(|| Table {
        objects: HashMap::new(),
        next: 1,
    });
    f(table)
}

/// The table, as the codec sees it.
pub struct TableHandles;

impl Handles for TableHandles {
    fn get(&self, py: Python<'_>, id: u64) -> Option<Py<PyAny>> {
        with(|t| t.objects.get(&id).map(|o| o.clone_ref(py)))
    }

    fn put(&mut self, _py: Python<'_>, obj: Py<PyAny>) -> u64 {
        with(|t| {
            let id = t.next;
            t.next += 1;
            t.objects.insert(id, obj);
            id
        })
    }

    fn forget(&mut self, _py: Python<'_>, id: u64) {
        let obj = with(|t| t.objects.remove(&id));
        drop(obj);
    }
}

/// The object numbered `id`.
pub fn get(py: Python<'_>, id: u64) -> Option<Py<PyAny>> {
    TableHandles.get(py, id)
}

/// Drops these objects (with the GIL: their `__del__` runs here); ids the table does
/// not have are ignored. Returns how many objects the table holds now.
pub fn release(_py: Python<'_>, ids: &[u64]) -> u64 {
    let (dropped, count): (Vec<Py<PyAny>>, u64) = with(|t| {
        let dropped = ids.iter().filter_map(|id| t.objects.remove(id)).collect();
        (dropped, t.objects.len() as u64)
    });
    drop(dropped);
    count
}

/// How many objects the table holds.
pub fn count() -> u64 {
    with(|t| t.objects.len() as u64)
}
