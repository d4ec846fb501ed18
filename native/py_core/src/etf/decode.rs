//! ETF -> Python (not implemented yet).
use super::error::EtfError;
use super::reader::Cur;
use super::{Codec, Handles};
use pyo3::prelude::*;

pub(crate) fn decode<'py>(
    _codec: &Codec<'_>,
    _py: Python<'py>,
    _cur: &mut Cur<'_>,
    _handles: &dyn Handles,
) -> Result<Bound<'py, PyAny>, EtfError> {
    Err(EtfError::malformed("decode: not implemented yet"))
}
