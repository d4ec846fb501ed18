//! Conversion errors, both ways, with the path that leads to the culprit.
use super::*;

fn dec(c: &Codec<'_>, py: Python<'_>, body: &[u8]) -> Result<(), EtfError> {
    let h = VecHandles::default();
    c.decode(py, &[&[131][..], body].concat(), &h).map(|_| ())
}

/// The path as a Python-side description: indices, raw keys, Python keys' reprs.
fn path(e: &EtfError) -> Vec<String> {
    Python::attach(|py| {
        e.path()
            .unwrap_or(&[])
            .iter()
            .map(|p| match p {
                PathElem::Index(i) => i.to_string(),
                PathElem::Key(raw) => format!("{raw:?}"),
                PathElem::PyKey(k) => format!("py:{}", k.bind(py).repr().unwrap()),
                PathElem::Name(n) => format!("name:{n}"),
            })
            .collect()
    })
}

fn unsupported_term(e: &EtfError) -> &[u8] {
    match e {
        EtfError::Unsupported {
            what: Unsupported::Term(t),
            ..
        } => t,
        other => panic!("{other:?}"),
    }
}

const IMPROPER: &[u8] = &[108, 0, 0, 0, 1, 119, 1, 97, 119, 1, 98]; // [a | b]
const BITS: &[u8] = &[77, 0, 0, 0, 1, 3, 32]; // <<1:3>>

#[test]
fn improper_lists_and_bitstrings_are_unsupported_where_they_are() {
    with_py(|py, types| {
        let c = codec(types);
        let e = dec(&c, py, IMPROPER).unwrap_err();
        assert_eq!(unsupported_term(&e), IMPROPER);
        assert!(path(&e).is_empty());
        // [1, {x, [a | b]}]
        let body = [
            &[108, 0, 0, 0, 2, 97, 1, 104, 2, 119, 1, 120][..],
            IMPROPER,
            &[106],
        ]
        .concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert_eq!(unsupported_term(&e), IMPROPER);
        assert_eq!(path(&e), ["1", "1"]);
        // #{k => <<1:3>>}
        let body = [&[116, 0, 0, 0, 1, 119, 1, 107][..], BITS].concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert_eq!(unsupported_term(&e), BITS);
        assert_eq!(path(&e), [format!("{:?}", atom("k"))]);
        // [<<1:3>> | b]: the list is refused first, as the NIF checks it before its items.
        let body = [&[108, 0, 0, 0, 1][..], BITS, &[119, 1, 98]].concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert_eq!(unsupported_term(&e), &body[..]);
        // An improper key: the path leads to the map, the key is the term.
        let body = [&[116, 0, 0, 0, 1][..], IMPROPER, &[97, 1]].concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert_eq!(unsupported_term(&e), IMPROPER);
        assert!(path(&e).is_empty());
    })
}

#[test]
fn map_keys_that_are_one_in_python_collide() {
    with_py(|py, types| {
        let c = codec(types);
        let one = [97, 1];
        let one_f = [70, 63, 240, 0, 0, 0, 0, 0, 0];
        let bin_a = [109, 0, 0, 0, 1, 97];
        let cases: Vec<(Vec<u8>, Vec<u8>)> = vec![
            (one.to_vec(), one_f.to_vec()),
            (atom("a"), bin_a.to_vec()),
            (atom("true"), one.to_vec()),
            (atom("undefined"), atom("nil")),
            (atom("false"), [97, 0].to_vec()),
        ];
        for (k1, k2) in cases {
            let body = [&[116, 0, 0, 0, 2][..], &k1, &[97, 1], &k2, &[97, 2]].concat();
            match dec(&c, py, &body).unwrap_err() {
                EtfError::KeyCollision { path, key } => {
                    assert!(path.is_empty());
                    assert_eq!(key, k2, "the later key");
                }
                other => panic!("{other:?}"),
            }
        }
        // Nested: [#{x => #{1 => a, 1.0 => b}}]: the path leads to the inner map.
        let inner = [&[116, 0, 0, 0, 2][..], &one, &[97, 1], &one_f, &[97, 2]].concat();
        let body = [
            &[108, 0, 0, 0, 1, 116, 0, 0, 0, 1][..],
            &atom("x"),
            &inner,
            &[106],
        ]
        .concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert!(matches!(e, EtfError::KeyCollision { .. }));
        assert_eq!(path(&e), ["0".to_string(), format!("{:?}", atom("x"))]);
    })
}

#[test]
fn an_unhashable_key_is_unsupported_at_that_key() {
    with_py(|py, types| {
        let c = codec(types);
        // #{[1] => 2}: docs/types.md's example, `{unsupported, [[1]], [1]}` here.
        let key = [107, 0, 1, 1];
        let body = [&[116, 0, 0, 0, 1][..], &key, &[97, 2]].concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert_eq!(unsupported_term(&e), key);
        assert_eq!(path(&e), [format!("{key:?}")]);
        let r = reason(&c, py, &e);
        let want = [
            &[131, 104, 3][..],
            &atom("unsupported"),
            &[108, 0, 0, 0, 1],
            &key,
            &[106],
            &key,
        ]
        .concat();
        assert_eq!(r, want);
    })
}

/// `n` lists, one in the other (`[[[]]]` is 3), as ETF with 131.
fn nested_lists(n: usize) -> Vec<u8> {
    let mut b = vec![131];
    for _ in 1..n {
        b.extend([108, 0, 0, 0, 1]);
    }
    b.push(106);
    b.extend(std::iter::repeat_n(106, n - 1));
    b
}

#[test]
fn depth_is_bounded_both_ways_and_deep_data_needs_no_stack() {
    with_py(|py, types| {
        let mut c = codec(types);
        c.limits.max_depth = 3;
        let h = VecHandles::default();
        assert!(c.decode(py, &nested_lists(3), &h).is_ok());
        let e = c.decode(py, &nested_lists(4), &h).unwrap_err();
        assert!(matches!(e, EtfError::TooDeep { .. }), "{e:?}");
        assert_eq!(path(&e), ["0", "0", "0"]);
        let deep = eval(py, "", "[[[[]]]]", None);
        let e = enc(&c, &deep).unwrap_err();
        assert!(matches!(e, EtfError::TooDeep { .. }));
        assert_eq!(path(&e), ["0", "0", "0"]);
        assert!(enc(&c, &eval(py, "", "[[[]]]", None)).is_ok());

        // The default limit: 10,000 levels pass, both ways, on this test thread's stack.
        let c = codec(types);
        let bytes = nested_lists(10_000);
        let v = c.decode(py, &bytes, &h).unwrap();
        assert_eq!(enc(&c, &v).unwrap(), bytes);
        assert!(matches!(
            c.decode(py, &nested_lists(10_001), &h),
            Err(EtfError::TooDeep { .. })
        ));
        let code = "v = []\nfor _ in range(10000): v = [v]";
        assert!(matches!(
            enc(&c, &eval(py, code, "v", None)),
            Err(EtfError::TooDeep { .. })
        ));
        // Far deeper when allowed: nothing recurses.
        let mut c = codec(types);
        c.limits.max_depth = 1_000_000;
        let bytes = nested_lists(200_000);
        let v = c.decode(py, &bytes, &h).unwrap();
        assert_eq!(enc(&c, &v).unwrap(), bytes);
    })
}

#[test]
fn term_budget_both_ways() {
    with_py(|py, types| {
        let mut c = codec(types);
        c.limits.max_terms = 5;
        // [[1, 256, 3], [4, 256, 6]]: 2 + 3 terms pass, the second inner list does not.
        let inner = [108, 0, 0, 0, 3, 97, 1, 98, 0, 0, 1, 0, 97, 3, 106];
        let body = [&[108, 0, 0, 0, 2][..], &inner, &inner, &[106]].concat();
        let e = dec(&c, py, &body).unwrap_err();
        assert!(matches!(e, EtfError::TooLarge { .. }), "{e:?}");
        assert_eq!(path(&e), ["1"]);
        let e = enc(&c, &eval(py, "", "[[1, 2, 3], [4, 5, 6]]", None)).unwrap_err();
        assert!(matches!(e, EtfError::TooLarge { .. }));
        assert_eq!(path(&e), ["1"]);
        // A structure with shared parts expands: refused quickly, not built.
        let c = codec(types);
        let t = eval(py, "t = ()\nfor _ in range(27): t = (t, t)", "t", None);
        let start = std::time::Instant::now();
        assert!(matches!(enc(&c, &t), Err(EtfError::TooLarge { .. })));
        // Under a second in a release build (debug builds are several times slower).
        let limit = if cfg!(debug_assertions) { 5.0 } else { 1.0 };
        assert!(
            start.elapsed().as_secs_f64() < limit,
            "{:?}",
            start.elapsed()
        );
    })
}

#[test]
fn cycles_are_found() {
    with_py(|py, types| {
        let c = codec(types);
        let e = enc(&c, &eval(py, "l = []\nl.append(l)", "l", None)).unwrap_err();
        assert!(matches!(e, EtfError::Cycle { .. }), "{e:?}");
        assert_eq!(path(&e), vec!["0"; CYCLE_CHECK_DEPTH]);
        let e = enc(&c, &eval(py, "d = {}\nd['k'] = [d]", "d", None)).unwrap_err();
        assert!(matches!(e, EtfError::Cycle { .. }), "{e:?}");
        assert_eq!(path(&e)[..2], ["py:'k'", "0"]);
        // Shared but acyclic is fine.
        assert!(enc(&c, &eval(py, "a = [1]", "[a, a, (a, a)]", None)).is_ok());
    })
}

#[test]
fn python_keys_that_become_one_term_collide() {
    with_py(|py, types| {
        let c = codec(types);
        let bin_a = vec![109, 0, 0, 0, 1, 97];
        let e = enc(&c, &eval(py, "", "{'a': 1, b'a': 2}", None)).unwrap_err();
        match &e {
            EtfError::KeyCollision { path, key } => {
                assert!(path.is_empty());
                assert_eq!(key, &bin_a);
            }
            other => panic!("{other:?}"),
        }
        let obj = eval(py, "", "[{'x': {b'k': 1, 'k': 2}}]", None);
        let e = enc(&c, &obj).unwrap_err();
        assert!(matches!(e, EtfError::KeyCollision { .. }));
        assert_eq!(path(&e), ["0", "py:'x'"]);
        // Many keys (the hashed check).
        let obj = eval(
            py,
            "d = {str(i): i for i in range(40)}\nd[b'17'] = 0",
            "d",
            None,
        );
        match enc(&c, &obj).unwrap_err() {
            EtfError::KeyCollision { key, .. } => assert_eq!(key, [109, 0, 0, 0, 2, 49, 55]),
            other => panic!("{other:?}"),
        }
    })
}

#[test]
fn unencodable_strings_and_atoms() {
    with_py(|py, types| {
        let c = codec(types);
        let e = enc(&c, &eval(py, "", "('ok', '\\ud800')", None)).unwrap_err();
        match &e {
            EtfError::Unsupported {
                what: Unsupported::Object(o),
                ..
            } => check(py, o.bind(py), "v == '\\ud800'"),
            other => panic!("{other:?}"),
        }
        assert_eq!(path(&e), ["1"]);
        let e = enc(&c, &eval(py, "", "Atom('x' * 256)", None)).unwrap_err();
        assert!(matches!(e, EtfError::Unsupported { .. }));
        assert!(enc(&c, &eval(py, "", "Atom('é' * 255)", None)).is_ok());
        // A key that does not convert: the path holds the key itself.
        let e = enc(&c, &eval(py, "", "{('\\ud800',): 1}", None)).unwrap_err();
        assert_eq!(path(&e), ["py:('\\ud800',)", "0"]);
    })
}

#[test]
fn a_failed_encoding_takes_back_its_handles_and_writes_nothing() {
    with_py(|py, types| {
        let c = codec(types);
        let obj = eval(py, "", "[object(), object(), '\\ud800']", None);
        let mut h = VecHandles::default();
        let mut out = vec![131, 1, 2];
        assert!(c.encode(py, &obj, &mut out, &mut h).is_err());
        assert_eq!(out, [131, 1, 2]);
        assert_eq!(h.forgotten, [0, 1]);
    })
}
