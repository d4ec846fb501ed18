//! Golden vectors: what `erl` 25 wrote for each term (`term_to_binary(T)`, atoms in
//! Latin-1) and with `[{minor_version, 2}]` (UTF-8 atoms, OTP 26's default, what this
//! codec writes). Each decodes to the Python value docs/types.md gives, and that value
//! encodes back to the same bytes.
use super::*;
use Back::*;

/// `(name, term_to_binary(T), term_to_binary(T, [{minor_version, 2}]))`
#[rustfmt::skip]
pub(super) const GOLDEN: &[(&str, &[u8], &[u8])] = &[
    ("small_int", &[131,97,0], &[131,97,0]),
    ("small_int_255", &[131,97,255], &[131,97,255]),
    ("int_256", &[131,98,0,0,1,0], &[131,98,0,0,1,0]),
    ("int_neg1", &[131,98,255,255,255,255], &[131,98,255,255,255,255]),
    ("int_max32", &[131,98,127,255,255,255], &[131,98,127,255,255,255]),
    ("int_min32", &[131,98,128,0,0,0], &[131,98,128,0,0,0]),
    ("big_2_31", &[131,110,4,0,0,0,0,128], &[131,110,4,0,0,0,0,128]),
    ("big_neg_2_31_1", &[131,110,4,1,1,0,0,128], &[131,110,4,1,1,0,0,128]),
    ("big_2_63", &[131,110,8,0,0,0,0,0,0,0,0,128], &[131,110,8,0,0,0,0,0,0,0,0,128]),
    ("big_neg_2_63", &[131,110,8,1,0,0,0,0,0,0,0,128], &[131,110,8,1,0,0,0,0,0,0,0,128]),
    ("big_2_64", &[131,110,9,0,0,0,0,0,0,0,0,0,1], &[131,110,9,0,0,0,0,0,0,0,0,0,1]),
    ("big_neg_2_64", &[131,110,9,1,0,0,0,0,0,0,0,0,1], &[131,110,9,1,0,0,0,0,0,0,0,0,1]),
    ("float", &[131,70,63,248,0,0,0,0,0,0], &[131,70,63,248,0,0,0,0,0,0]),
    ("float_neg_zero", &[131,70,128,0,0,0,0,0,0,0], &[131,70,128,0,0,0,0,0,0,0]),
    ("float_big", &[131,70,126,55,228,60,136,0,117,156], &[131,70,126,55,228,60,136,0,117,156]),
    ("float_tiny", &[131,70,0,0,0,0,0,0,0,1], &[131,70,0,0,0,0,0,0,0,1]),
    ("atom", &[131,100,0,3,102,111,111], &[131,119,3,102,111,111]),
    ("atom_true", &[131,100,0,4,116,114,117,101], &[131,119,4,116,114,117,101]),
    ("atom_false", &[131,100,0,5,102,97,108,115,101], &[131,119,5,102,97,108,115,101]),
    ("atom_undefined", &[131,100,0,9,117,110,100,101,102,105,110,101,100], &[131,119,9,117,110,100,101,102,105,110,101,100]),
    ("atom_nil", &[131,100,0,3,110,105,108], &[131,119,3,110,105,108]),
    ("atom_latin1", &[131,100,0,5,104,233,108,108,111], &[131,119,6,104,195,169,108,108,111]),
    ("atom_unicode", &[131,119,5,240,159,152,128,120], &[131,119,5,240,159,152,128,120]),
    ("bin", &[131,109,0,0,0,3,97,98,99], &[131,109,0,0,0,3,97,98,99]),
    ("bin_empty", &[131,109,0,0,0,0], &[131,109,0,0,0,0]),
    ("bin_invalid_utf8", &[131,109,0,0,0,3,255,0,104], &[131,109,0,0,0,3,255,0,104]),
    ("bin_utf8", &[131,109,0,0,0,6,104,195,169,108,108,111], &[131,109,0,0,0,6,104,195,169,108,108,111]),
    ("nil", &[131,106], &[131,106]),
    ("string", &[131,107,0,3,1,2,3], &[131,107,0,3,1,2,3]),
    ("list", &[131,108,0,0,0,2,97,1,98,0,0,1,0,106], &[131,108,0,0,0,2,97,1,98,0,0,1,0,106]),
    ("list_nested", &[131,108,0,0,0,2,107,0,1,1,108,0,0,0,2,100,0,1,97,108,0,0,0,1,100,0,1,98,106,106,106], &[131,108,0,0,0,2,107,0,1,1,108,0,0,0,2,119,1,97,108,0,0,0,1,119,1,98,106,106,106]),
    ("improper", &[131,108,0,0,0,1,100,0,1,97,100,0,1,98], &[131,108,0,0,0,1,119,1,97,119,1,98]),
    ("tuple0", &[131,104,0], &[131,104,0]),
    ("tuple2", &[131,104,2,97,1,100,0,1,97], &[131,104,2,97,1,119,1,97]),
    ("map0", &[131,116,0,0,0,0], &[131,116,0,0,0,0]),
    ("map", &[131,116,0,0,0,2,100,0,1,97,97,1,109,0,0,0,1,98,107,0,1,2], &[131,116,0,0,0,2,119,1,97,97,1,109,0,0,0,1,98,107,0,1,2]),
    ("map_collide_int_float", &[131,116,0,0,0,2,97,1,100,0,1,97,70,63,240,0,0,0,0,0,0,100,0,1,98], &[131,116,0,0,0,2,97,1,119,1,97,70,63,240,0,0,0,0,0,0,119,1,98]),
    ("map_collide_atom_bin", &[131,116,0,0,0,2,100,0,1,97,97,1,109,0,0,0,1,97,97,2], &[131,116,0,0,0,2,119,1,97,97,1,109,0,0,0,1,97,97,2]),
    ("map_unhashable_key", &[131,116,0,0,0,1,107,0,1,1,97,2], &[131,116,0,0,0,1,107,0,1,1,97,2]),
    ("bits", &[131,77,0,0,0,1,3,32], &[131,77,0,0,0,1,3,32]),
    ("bits_more", &[131,77,0,0,0,2,5,1,16], &[131,77,0,0,0,2,5,1,16]),
    ("pid", &[131,88,100,0,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,9,0,0,0,0,0,0,0,0], &[131,88,119,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,9,0,0,0,0,0,0,0,0]),
    ("ref", &[131,90,0,3,100,0,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,0,0,0,115,28,100,132,0,1,106,209,84,32], &[131,90,0,3,119,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,0,0,0,115,28,100,132,0,1,106,209,84,32]),
    ("port", &[131,89,100,0,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,5,0,0,0,0], &[131,89,119,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,5,0,0,0,0]),
    ("export", &[131,113,100,0,5,108,105,115,116,115,100,0,3,109,97,112,97,2], &[131,113,119,5,108,105,115,116,115,119,3,109,97,112,97,2]),
    ("closure", &[131,112,0,0,0,72,1,69,239,191,51,39,179,240,64,31,152,67,91,130,232,53,17,0,0,0,0,0,0,0,0,100,0,4,103,111,108,100,97,0,98,2,47,125,249,88,100,0,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,9,0,0,0,0,0,0,0,0], &[131,112,0,0,0,70,1,69,239,191,51,39,179,240,64,31,152,67,91,130,232,53,17,0,0,0,0,0,0,0,0,119,4,103,111,108,100,97,0,98,2,47,125,249,88,119,13,110,111,110,111,100,101,64,110,111,104,111,115,116,0,0,0,9,0,0,0,0,0,0,0,0]),
    ("mixed", &[131,104,3,100,0,2,111,107,108,0,0,0,1,116,0,0,0,1,100,0,1,107,104,2,70,63,248,0,0,0,0,0,0,109,0,0,0,1,118,106,100,0,10,69,108,105,120,105,114,46,70,111,111], &[131,104,3,119,2,111,107,108,0,0,0,1,116,0,0,0,1,119,1,107,104,2,70,63,248,0,0,0,0,0,0,109,0,0,0,1,118,106,119,10,69,108,105,120,105,114,46,70,111,111]),
];

/// How a decoded value goes back.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Back {
    /// To the `minor_version` 2 bytes.
    Same,
    /// To the very bytes it came from (pids, references, ports, funs).
    Raw,
    /// To `undefined` (`nil` is `None` in Python).
    Undefined,
    /// It does not decode (the error tests look at these).
    Refused,
}

/// What each golden term is in Python (a predicate over `v`) and how it goes back.
const EXPECT: &[(&str, &str, Back)] = &[
    ("small_int", "v == 0 and type(v) is int", Same),
    ("small_int_255", "v == 255", Same),
    ("int_256", "v == 256", Same),
    ("int_neg1", "v == -1", Same),
    ("int_max32", "v == 2**31 - 1", Same),
    ("int_min32", "v == -2**31", Same),
    ("big_2_31", "v == 2**31", Same),
    ("big_neg_2_31_1", "v == -2**31 - 1", Same),
    ("big_2_63", "v == 2**63", Same),
    ("big_neg_2_63", "v == -2**63", Same),
    ("big_2_64", "v == 2**64", Same),
    ("big_neg_2_64", "v == -2**64", Same),
    ("float", "v == 1.5 and type(v) is float", Same),
    (
        "float_neg_zero",
        "v == 0.0 and math.copysign(1, v) == -1",
        Same,
    ),
    ("float_big", "v == 1e300", Same),
    ("float_tiny", "v == 5e-324", Same),
    ("atom", "type(v) is Atom and v == 'foo'", Same),
    ("atom_true", "v is True", Same),
    ("atom_false", "v is False", Same),
    ("atom_undefined", "v is None", Same),
    ("atom_nil", "v is None", Undefined),
    (
        "atom_latin1",
        "type(v) is Atom and v == 'h\\u00e9llo'",
        Same,
    ),
    (
        "atom_unicode",
        "type(v) is Atom and v == '\\U0001F600x'",
        Same,
    ),
    ("bin", "type(v) is str and v == 'abc'", Same),
    ("bin_empty", "v == ''", Same),
    (
        "bin_invalid_utf8",
        "v == b'\\xff\\x00h'.decode('utf-8', 'surrogateescape')",
        Same,
    ),
    ("bin_utf8", "v == 'h\\u00e9llo'", Same),
    ("nil", "v == []", Same),
    ("string", "v == [1, 2, 3]", Same),
    ("list", "v == [1, 256]", Same),
    (
        "list_nested",
        "v == [[1], ['a', ['b']]] and type(v[1][0]) is Atom",
        Same,
    ),
    ("tuple0", "v == ()", Same),
    ("tuple2", "v == (1, 'a')", Same),
    ("map0", "v == {}", Same),
    (
        "map",
        "v == {'a': 1, 'b': [2]} and [type(k) for k in v] == [Atom, str]",
        Same,
    ),
    (
        "pid",
        "type(v) is Pid and repr(v) == 'erlang.Pid(<nonode@nohost.9.0>)'",
        Raw,
    ),
    (
        "ref",
        "type(v) is Ref and repr(v).startswith('erlang.Ref(#Ref<nonode@nohost.')",
        Raw,
    ),
    (
        "port",
        "type(v) is Port and repr(v) == 'erlang.Port(#Port<nonode@nohost.5>)'",
        Raw,
    ),
    (
        "export",
        "type(v) is Fun and repr(v) == 'erlang.Fun(fun lists:map/2)'",
        Raw,
    ),
    (
        "closure",
        "type(v) is Fun and repr(v).startswith('erlang.Fun(#Fun<gold.0.')",
        Raw,
    ),
    (
        "mixed",
        "v == ('ok', [{'k': (1.5, 'v')}], 'Elixir.Foo')",
        Same,
    ),
    ("improper", "", Refused),
    ("map_collide_int_float", "", Refused),
    ("map_collide_atom_bin", "", Refused),
    ("map_unhashable_key", "", Refused),
    ("bits", "", Refused),
    ("bits_more", "", Refused),
];

#[test]
fn golden_terms_decode_to_their_python_value_and_encode_back() {
    with_py(|py, types| {
        let codec = codec(types);
        for (name, otp25, minor2) in GOLDEN {
            let Some((_, pred, back)) = EXPECT.iter().find(|e| e.0 == *name) else {
                panic!("no expectation for {name}");
            };
            for input in [otp25, minor2] {
                let h = VecHandles::default();
                let v = codec.decode(py, input, &h);
                if *back == Refused {
                    assert!(v.is_err(), "{name} decoded");
                    continue;
                }
                let v = v.unwrap_or_else(|e| panic!("{name}: {e}"));
                check(py, &v, pred);
                let back_bytes = enc(&codec, &v).unwrap_or_else(|e| panic!("{name}: {e}"));
                let want: &[u8] = match back {
                    Same => minor2,
                    Raw => input,
                    Undefined => &[131, 119, 9, 117, 110, 100, 101, 102, 105, 110, 101, 100],
                    Refused => unreachable!(),
                };
                assert_eq!(back_bytes, want, "{name}");
            }
        }
    })
}

/// `1 bsl 2100`, `-(1 bsl 2100) + 1` and `list_to_tuple(lists:seq(1, 300))`: too long
/// to paste, so built here as `term_to_binary` lays them out.
#[test]
fn large_bignums_and_large_tuples() {
    with_py(|py, types| {
        let codec = codec(types);
        let h = VecHandles::default();
        let mut big = vec![131, 111, 0, 0, 1, 7, 0];
        big.extend(std::iter::repeat_n(0, 262));
        big.push(16);
        let v = codec.decode(py, &big, &h).unwrap();
        check(py, &v, "v == 2**2100");
        assert_eq!(enc(&codec, &v).unwrap(), big);

        let mut neg = vec![131, 111, 0, 0, 1, 7, 1];
        neg.extend(std::iter::repeat_n(255, 262));
        neg.push(15);
        let v = codec.decode(py, &neg, &h).unwrap();
        check(py, &v, "v == -2**2100 + 1");
        assert_eq!(enc(&codec, &v).unwrap(), neg);

        let mut tuple = vec![131, 105, 0, 0, 1, 44];
        for i in 1..=300u32 {
            if i < 256 {
                tuple.extend([97, i as u8]);
            } else {
                tuple.extend([98, 0, 0, 1, (i - 256) as u8]);
            }
        }
        let v = codec.decode(py, &tuple, &h).unwrap();
        check(py, &v, "v == tuple(range(1, 301))");
        assert_eq!(enc(&codec, &v).unwrap(), tuple);
    })
}

/// Tags `term_to_binary` no longer writes but a peer may: old floats (text), old pids,
/// ports and references, and a LIST_EXT of bytes instead of a STRING_EXT.
#[test]
fn older_encodings_decode() {
    with_py(|py, types| {
        let codec = codec(types);
        let h = VecHandles::default();
        let mut old_float = vec![131, 99];
        let text = b"1.50000000000000000000e+00";
        old_float.extend_from_slice(text);
        old_float.extend(std::iter::repeat_n(0, 31 - text.len()));
        check(py, &codec.decode(py, &old_float, &h).unwrap(), "v == 1.5");

        let node = [
            100, 0, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116,
        ];
        let mut pid = vec![131, 103];
        pid.extend(node);
        pid.extend([0, 0, 0, 7, 0, 0, 0, 0, 0]);
        let v = codec.decode(py, &pid, &h).unwrap();
        check(py, &v, "repr(v) == 'erlang.Pid(<nonode@nohost.7.0>)'");
        assert_eq!(enc(&codec, &v).unwrap(), pid);

        let mut port = vec![131, 120];
        port.extend(node);
        port.extend([0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 1]);
        let v = codec.decode(py, &port, &h).unwrap();
        check(py, &v, "repr(v) == 'erlang.Port(#Port<nonode@nohost.9>)'");
        assert_eq!(enc(&codec, &v).unwrap(), port);

        let mut r = vec![131, 114, 0, 2];
        r.extend(node);
        r.extend([0, 0, 0, 0, 1, 0, 0, 0, 2]);
        let v = codec.decode(py, &r, &h).unwrap();
        check(py, &v, "repr(v) == 'erlang.Ref(#Ref<nonode@nohost.2.1>)'");
        assert_eq!(enc(&codec, &v).unwrap(), r);

        let list = [131, 108, 0, 0, 0, 2, 97, 1, 97, 2, 106];
        let v = codec.decode(py, &list, &h).unwrap();
        check(py, &v, "v == [1, 2]");
        assert_eq!(enc(&codec, &v).unwrap(), [131, 107, 0, 2, 1, 2]);

        // A whole-byte BIT_BINARY is a binary; [|X] (a LIST_EXT of no elements) is X.
        let bits = [131, 77, 0, 0, 0, 2, 8, 104, 105];
        check(py, &codec.decode(py, &bits, &h).unwrap(), "v == 'hi'");
        let tail = [131, 108, 0, 0, 0, 0, 97, 5];
        check(py, &codec.decode(py, &tail, &h).unwrap(), "v == 5");
    })
}
