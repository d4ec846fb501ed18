//! Integers beyond 64 bits. The NIF API has no bignum calls, so they cross through the
//! external term format, whose SMALL_BIG_EXT / LARGE_BIG_EXT layout (sign byte, then
//! little-endian magnitude) is exactly what `_PyLong_{From,As}ByteArray` work with.

const VERSION: u8 = 131;
const SMALL_BIG_EXT: u8 = 110;
const LARGE_BIG_EXT: u8 = 111;

/// Splits an external-term-format bignum into (negative, little-endian magnitude).
pub fn parse_etf_bignum(etf: &[u8]) -> Option<(bool, &[u8])> {
    match etf {
        [VERSION, SMALL_BIG_EXT, n, sign, rest @ ..] if rest.len() == *n as usize => {
            Some((*sign != 0, rest))
        }
        [VERSION, LARGE_BIG_EXT, a, b, c, d, sign, rest @ ..] => {
            let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
            (rest.len() == n).then_some((*sign != 0, rest))
        }
        _ => None,
    }
}

/// Builds the external term format of a bignum from its sign and little-endian magnitude
/// (trailing zero bytes are trimmed: the format wants no leading zeros in the magnitude).
pub fn etf_bignum(negative: bool, magnitude_le: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(magnitude_le.len() + 7);
    out.push(VERSION);
    push_etf_bignum(&mut out, negative, magnitude_le);
    out
}

/// Appends a bignum's term (no version byte) to `out`: SMALL_BIG_EXT, or LARGE_BIG_EXT
/// for a magnitude of 256 bytes or more. Trailing zero bytes of the magnitude are
/// trimmed. Whether the value should rather be a small integer is the caller's concern.
pub fn push_etf_bignum(out: &mut Vec<u8>, negative: bool, magnitude_le: &[u8]) {
    let mut len = magnitude_le.len();
    while len > 0 && magnitude_le[len - 1] == 0 {
        len -= 1;
    }
    if len < 256 {
        out.extend_from_slice(&[SMALL_BIG_EXT, len as u8]);
    } else {
        out.push(LARGE_BIG_EXT);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.push(negative as u8);
    out.extend_from_slice(&magnitude_le[..len]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_big_round_trip() {
        let etf = etf_bignum(true, &[1, 2, 3, 0, 0]);
        assert_eq!(etf, vec![131, 110, 3, 1, 1, 2, 3]);
        assert_eq!(parse_etf_bignum(&etf), Some((true, &[1u8, 2, 3][..])));
    }

    #[test]
    fn large_big_round_trip() {
        let mag: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8 + 1).collect();
        let etf = etf_bignum(false, &mag);
        assert_eq!(&etf[..6], &[131, 111, 0, 0, 1, 44]);
        assert_eq!(parse_etf_bignum(&etf), Some((false, &mag[..])));
    }

    #[test]
    fn rejects_other_terms_and_truncation() {
        assert_eq!(parse_etf_bignum(&[131, 97, 5]), None);
        assert_eq!(parse_etf_bignum(&[131, 110, 4, 0, 1, 2]), None);
        assert_eq!(parse_etf_bignum(&[]), None);
    }

    #[test]
    fn matches_erlang_encoding_of_2_pow_64() {
        // term_to_binary(1 bsl 64) =:= <<131,110,9,0,0,0,0,0,0,0,0,0,1>>
        assert_eq!(
            etf_bignum(false, &[0, 0, 0, 0, 0, 0, 0, 0, 1]),
            vec![131, 110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        );
    }
}
