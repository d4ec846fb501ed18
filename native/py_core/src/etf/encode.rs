//! Python -> ETF (not implemented yet).
use super::error::EtfError;
use super::{Codec, Handles};
use pyo3::prelude::*;

pub(crate) fn encode(
    _codec: &Codec<'_>,
    _py: Python<'_>,
    _obj: &Bound<'_, PyAny>,
    _out: &mut Vec<u8>,
    _handles: &mut dyn Handles,
) -> Result<bool, EtfError> {
    Err(EtfError::malformed("encode: not implemented yet"))
}
