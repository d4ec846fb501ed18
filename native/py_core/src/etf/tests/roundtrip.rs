//! docs/types.md's Python -> Erlang rows, each through ETF and back to Python.
use super::*;

/// Encodes the value of `expr`, checks the bytes (with 131), decodes them and checks the
/// Python value with `pred` (over `v`).
fn through(py: Python<'_>, codec: &Codec<'_>, code: &str, expr: &str, etf: &[u8], pred: &str) {
    let obj = eval(py, code, expr, None);
    let bytes = enc(codec, &obj).unwrap_or_else(|e| panic!("{expr}: {e}"));
    assert_eq!(bytes, etf, "{expr}");
    let h = VecHandles::default();
    let back = codec.decode(py, &bytes, &h).unwrap();
    check(py, &back, pred);
}

fn t(bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![131];
    v.extend_from_slice(bytes);
    v
}

#[test]
fn scalars() {
    with_py(|py, types| {
        let c = codec(types);
        through(py, &c, "", "None", &t(&atom("undefined")), "v is None");
        through(py, &c, "", "True", &t(&atom("true")), "v is True");
        through(py, &c, "", "False", &t(&atom("false")), "v is False");
        through(py, &c, "", "7", &[131, 97, 7], "v == 7");
        through(py, &c, "", "-7", &[131, 98, 255, 255, 255, 249], "v == -7");
        let code = "class E(enum.IntEnum):\n    A = 300\n";
        through(
            py,
            &c,
            code,
            "E.A",
            &[131, 98, 0, 0, 1, 44],
            "type(v) is int and v == 300",
        );
        through(
            py,
            &c,
            "",
            "2**64 + 1",
            &[131, 110, 9, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1],
            "v == 2**64 + 1",
        );
        through(
            py,
            &c,
            "",
            "-2**70",
            &[131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 64],
            "v == -2**70",
        );
        let big = eval(py, "", "10**1000", None);
        let h = VecHandles::default();
        let back = c.decode(py, &enc(&c, &big).unwrap(), &h).unwrap();
        check(py, &back, "v == 10**1000");
        let mut half = vec![131, 70];
        half.extend(0.5f64.to_be_bytes());
        through(py, &c, "", "0.5", &half, "v == 0.5");
        through(
            py,
            &c,
            "class F(float): pass",
            "F(0.5)",
            &half,
            "type(v) is float",
        );
        through(
            py,
            &c,
            "",
            "float('nan')",
            &t(&atom("nan")),
            "v == Atom('nan')",
        );
        through(
            py,
            &c,
            "",
            "float('inf')",
            &t(&atom("inf")),
            "v == Atom('inf')",
        );
        through(
            py,
            &c,
            "",
            "float('-inf')",
            &t(&atom("-inf")),
            "v == Atom('-inf')",
        );
        through(
            py,
            &c,
            "",
            "Atom('ok')",
            &t(&atom("ok")),
            "type(v) is Atom and v == 'ok'",
        );
        through(
            py,
            &c,
            "",
            "Atom('é')",
            &[131, 119, 2, 195, 169],
            "type(v) is Atom and v == 'é'",
        );
        // The only way Python makes `true`: an Atom of that name comes back a bool.
        through(py, &c, "", "Atom('true')", &t(&atom("true")), "v is True");
        let none_as_nil = Codec {
            none_as_nil: true,
            ..codec(types)
        };
        through(py, &none_as_nil, "", "None", &t(&atom("nil")), "v is None");
    })
}

#[test]
fn text_and_bytes() {
    with_py(|py, types| {
        let c = codec(types);
        through(
            py,
            &c,
            "",
            "'abc'",
            &[131, 109, 0, 0, 0, 3, 97, 98, 99],
            "v == 'abc'",
        );
        through(
            py,
            &c,
            "",
            "'é'",
            &[131, 109, 0, 0, 0, 2, 195, 169],
            "v == 'é'",
        );
        through(
            py,
            &c,
            "class S(str): pass",
            "S('ab')",
            &[131, 109, 0, 0, 0, 2, 97, 98],
            "type(v) is str",
        );
        // surrogateescape: bytes that are not UTF-8 go back as they came.
        let code = "s = b'a\\xff\\xfe'.decode('utf-8', 'surrogateescape')";
        through(
            py,
            &c,
            code,
            "s",
            &[131, 109, 0, 0, 0, 3, 97, 255, 254],
            "v == b'a\\xff\\xfe'.decode('utf-8', 'surrogateescape')",
        );
        through(
            py,
            &c,
            "",
            "b'\\x00\\x01'",
            &[131, 109, 0, 0, 0, 2, 0, 1],
            "v == '\\x00\\x01'",
        );
        through(
            py,
            &c,
            "",
            "bytearray(b'xy')",
            &[131, 109, 0, 0, 0, 2, 120, 121],
            "v == 'xy'",
        );
        through(py, &c, "", "b''", &[131, 109, 0, 0, 0, 0], "v == ''");
        let big = eval(py, "", "'x' * 100000", None);
        let b = enc(&c, &big).unwrap();
        assert_eq!(&b[..6], &[131, 109, 0, 1, 134, 160]);
        assert_eq!(b.len(), 100_006);
    })
}

#[test]
fn containers() {
    with_py(|py, types| {
        let c = codec(types);
        through(py, &c, "", "[]", &[131, 106], "v == []");
        // A list of bytes is a charlist, as term_to_binary writes it.
        through(py, &c, "", "[1, 2]", &[131, 107, 0, 2, 1, 2], "v == [1, 2]");
        through(
            py,
            &c,
            "",
            "[1, 'a']",
            &[131, 108, 0, 0, 0, 2, 97, 1, 109, 0, 0, 0, 1, 97, 106],
            "v == [1, 'a']",
        );
        through(py, &c, "", "()", &[131, 104, 0], "v == ()");
        through(
            py,
            &c,
            "",
            "(1, (2,))",
            &[131, 104, 2, 97, 1, 104, 1, 97, 2],
            "v == (1, (2,))",
        );
        let code = "P = collections.namedtuple('P', 'x y')";
        through(
            py,
            &c,
            code,
            "P(1, 2)",
            &[131, 104, 2, 97, 1, 97, 2],
            "v == (1, 2) and type(v) is tuple",
        );
        through(py, &c, "", "{}", &[131, 116, 0, 0, 0, 0], "v == {}");
        let map = [131, 116, 0, 0, 0, 1, 109, 0, 0, 0, 1, 107, 97, 1];
        through(py, &c, "", "{'k': 1}", &map, "v == {'k': 1}");
        through(
            py,
            &c,
            "",
            "collections.OrderedDict(k=1)",
            &map,
            "v == {'k': 1} and type(v) is dict",
        );
        let code = "d = collections.defaultdict(list); d['k'] = 1";
        through(py, &c, code, "d", &map, "v == {'k': 1}");
        through(py, &c, "", "{7}", &[131, 107, 0, 1, 7], "v == [7]");
        through(
            py,
            &c,
            "",
            "frozenset([300])",
            &[131, 108, 0, 0, 0, 1, 98, 0, 0, 1, 44, 106],
            "v == [300]",
        );
        through(py, &c, "", "set()", &[131, 106], "v == []");
        let obj = eval(py, "", "{1, 2, 3, 'a'}", None);
        let h = VecHandles::default();
        let back = c.decode(py, &enc(&c, &obj).unwrap(), &h).unwrap();
        check(py, &back, "sorted(map(str, v)) == ['1', '2', '3', 'a']");
        // Nested and mixed, through dict keys of every kind that converts.
        let obj = eval(
            py,
            "",
            "{(1, 'a'): [None, {2.5: b'x'}], Atom('k'): frozenset()}",
            None,
        );
        let back = c.decode(py, &enc(&c, &obj).unwrap(), &h).unwrap();
        check(py, &back, "v == {(1, 'a'): [None, {2.5: 'x'}], 'k': []}");
    })
}

#[test]
fn opaque_terms_come_back_as_the_same_term() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let pid: &[u8] = &[
            88, 119, 4, 97, 64, 98, 99, 0, 0, 0, 42, 0, 0, 0, 1, 0, 0, 0, 3,
        ];
        let input = t(&[&[104, 2][..], pid, pid].concat());
        let v = c.decode(py, &input, &h).unwrap();
        check(
            py,
            &v,
            "v[0] == v[1] and v[0] is not v[1] and hash(v[0]) == hash(v[1])",
        );
        check(py, &v, "len({v[0], v[1]}) == 1 and v[0] != 1");
        check(py, &v, "repr(v[0]) == 'erlang.Pid(<a@bc.42.1>)'");
        assert_eq!(enc(&c, &v).unwrap(), input);
        // The local node's pids show as Erlang shows them.
        terms::set_local_node("a@bc");
        check(py, &v, "repr(v[0]) == 'erlang.Pid(<0.42.1>)'");
        assert_eq!(terms::node_of(pid).as_deref(), Some("a@bc"));
        // A fun is callable: erlang.call(fun, args) through _erlang.
        let fun = t(&[113, 119, 1, 109, 119, 1, 102, 97, 2]);
        let f = c.decode(py, &fun, &h).unwrap();
        check(
            py,
            &f,
            "v(1, 2) == ('called', [1, 2]) and erlang._native.calls[-1][0] is v",
        );
        check(py, &f, "erlang._native.calls[-1][1:] == (None, [1, 2])");
        check(
            py,
            &f,
            "isinstance(v, erlang.Fun) and repr(v) == 'erlang.Fun(fun m:f/2)'",
        );
    })
}

#[test]
fn registered_encoders_and_numpy_scalars() {
    with_py(|py, types| {
        let c = codec(types);
        let code = "\
class Base: pass
class Sub(Base): pass
class Other(Sub): pass
erlang.register_encoder(Base, lambda o: 'base')
erlang.register_encoder(Sub, lambda o: ('sub', [1]))
";
        // Exact type first; else the first registered that isinstance accepts.
        through(
            py,
            &c,
            code,
            "[Sub(), Other(), Base()]",
            &t(&[
                108, 0, 0, 0, 3, 104, 2, 109, 0, 0, 0, 3, 115, 117, 98, 107, 0, 1, 1, 109, 0, 0, 0,
                4, 98, 97, 115, 101, 109, 0, 0, 0, 4, 98, 97, 115, 101, 106,
            ]),
            "v == [('sub', [1]), 'base', 'base']",
        );
        // An encoder that raises: a Python error.
        let code = "class Bad: pass\nerlang.register_encoder(Bad, lambda o: 1 // 0)";
        let obj = eval(py, code, "[Bad()]", None);
        match enc(&c, &obj) {
            Err(EtfError::Python(e)) => {
                assert!(e.is_instance_of::<pyo3::exceptions::PyZeroDivisionError>(py))
            }
            other => panic!("{other:?}"),
        }
        // numpy scalars through .item(); arrays stay handles.
        let site = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../.venv/lib/python3.11/site-packages"
        );
        let code = format!("import sys\nsys.path.append({site:?})\nimport numpy as np");
        let mut f64_5 = vec![131, 70];
        f64_5.extend(0.5f64.to_be_bytes());
        through(py, &c, &code, "np.float32(0.5)", &f64_5, "v == 0.5");
        through(
            py,
            &c,
            &code,
            "np.int64(300)",
            &[131, 98, 0, 0, 1, 44],
            "v == 300",
        );
        through(
            py,
            &c,
            &code,
            "np.bool_(True)",
            &t(&atom("true")),
            "v is True",
        );
        let arr = eval(py, &code, "np.arange(3)", None);
        let mut h = VecHandles::default();
        let (_, handle) = c.encode_term(py, &arr, &mut h).unwrap();
        assert!(handle);
        assert!(h.objs[0].bind(py).is(&arr));
    })
}

#[test]
fn other_objects_become_handles() {
    with_py(|py, types| {
        let c = codec(types);
        let obj = eval(
            py,
            "class C: pass\nc = C()",
            "[1, c, complex(1, 2), c]",
            None,
        );
        let mut h = VecHandles::default();
        let (bytes, handle) = c.encode_term(py, &obj, &mut h).unwrap();
        assert!(handle, "a handle was written");
        assert_eq!(h.objs.len(), 3);
        let handle_term = |id: u8| [&[104, 3][..], MARKER, &atom("handle"), &[97, id]].concat();
        let want = t(&[
            &[108, 0, 0, 0, 4, 97, 1][..],
            &handle_term(0),
            &handle_term(1),
            &handle_term(2),
            &[106],
        ]
        .concat());
        assert_eq!(bytes, want);
        // Back: the very same objects.
        let back = c.decode(py, &bytes, &h).unwrap();
        check(
            py,
            &back,
            "v[1] is v[3] and type(v[1]).__name__ == 'C' and v[2] == 1+2j",
        );
        // Data only: no handle flag.
        let (_, handle) = c
            .encode_term(py, &eval(py, "", "[1, 'a']", None), &mut h)
            .unwrap();
        assert!(!handle);
        // Without a marker no handle can be made: unsupported.
        let bare = Codec::new(types);
        match enc(&bare, &obj) {
            Err(EtfError::Unsupported {
                path,
                what: Unsupported::Object(o),
            }) => {
                assert!(matches!(path[..], [PathElem::Index(1)]));
                check(py, o.bind(py), "type(v).__name__ == 'C'");
            }
            other => panic!("{other:?}"),
        }
    })
}
