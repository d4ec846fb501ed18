//! A call's arguments and keyword arguments, read from a job term.
use super::*;

/// A reader over `body` (raw ETF, no 131).
fn rd(body: &[u8]) -> Reader<'_> {
    Reader::raw(body)
}

fn names(e: &EtfError) -> Vec<String> {
    e.path()
        .unwrap_or(&[])
        .iter()
        .map(|p| match p {
            PathElem::Index(i) => i.to_string(),
            PathElem::Name(n) => format!("name:{n}"),
            PathElem::Key(k) => format!("{k:?}"),
            PathElem::PyKey(_) => "pykey".into(),
        })
        .collect()
}

#[test]
fn argument_lists_become_tuples() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let mut w = Writer::new();
        w.list(3).int(1).binary(b"x").list(1).atom("a").nil().nil();
        w.atom("after");
        let mut r = rd(&w.buf);
        let args = c.decode_args(py, &mut r, &h).unwrap();
        check(py, args.as_any(), "v == (1, 'x', ['a'])");
        assert_eq!(r.atom().unwrap(), "after", "the reader moved past the list");
        // [1, 2, 3] is a STRING_EXT; [] a NIL.
        let args = c
            .decode_args(py, &mut rd(&[107, 0, 3, 1, 2, 3]), &h)
            .unwrap();
        check(py, args.as_any(), "v == (1, 2, 3)");
        let args = c.decode_args(py, &mut rd(&[106]), &h).unwrap();
        check(py, args.as_any(), "v == ()");
        // Errors: the argument's position leads the path.
        let body = [108, 0, 0, 0, 2, 97, 1, 77, 0, 0, 0, 1, 3, 32, 106];
        let e = c.decode_args(py, &mut rd(&body), &h).unwrap_err();
        assert!(matches!(e, EtfError::Unsupported { .. }));
        assert_eq!(names(&e), ["1"]);
        let improper = [108, 0, 0, 0, 1, 97, 1, 97, 2];
        match c.decode_args(py, &mut rd(&improper), &h).unwrap_err() {
            EtfError::Unsupported {
                path,
                what: Unsupported::Term(t),
            } => {
                assert!(path.is_empty());
                assert_eq!(t, improper);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            c.decode_args(py, &mut rd(&[97, 1]), &h),
            Err(EtfError::Malformed(_))
        ));
        // One budget for all the arguments: [[1, 256], [3, 256]] is 2 + 2 + 2 terms.
        let mut small = codec(types);
        small.limits.max_terms = 5;
        let inner = [108, 0, 0, 0, 2, 97, 1, 98, 0, 0, 1, 0, 106];
        let body = [&[108, 0, 0, 0, 2][..], &inner, &inner, &[106]].concat();
        let e = small.decode_args(py, &mut rd(&body), &h).unwrap_err();
        assert!(matches!(e, EtfError::TooLarge { .. }));
        assert_eq!(names(&e), ["1"]);
        // Each argument may be max_depth deep: the list holding them is no level.
        let mut shallow = codec(types);
        shallow.limits.max_depth = 1;
        let args = shallow.decode_args(py, &mut rd(&[108, 0, 0, 0, 1, 107, 0, 1, 5, 106]), &h);
        check(py, args.unwrap().as_any(), "v == ([5],)");
    })
}

#[test]
fn keyword_arguments_from_maps_and_proplists() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let mut w = Writer::new();
        w.map(2).atom("base").int(2).binary(b"key").binary(b"v");
        let kw = c.decode_kwargs(py, &mut rd(&w.buf), &h).unwrap().unwrap();
        check(
            py,
            kw.as_any(),
            "v == {'base': 2, 'key': 'v'} and all(type(k) is str for k in v)",
        );
        let mut w = Writer::new();
        w.list(2)
            .tuple(2)
            .atom("a")
            .int(1)
            .tuple(2)
            .binary(b"b")
            .nil()
            .nil();
        let kw = c.decode_kwargs(py, &mut rd(&w.buf), &h).unwrap().unwrap();
        check(py, kw.as_any(), "v == {'a': 1, 'b': []}");
        assert!(c.decode_kwargs(py, &mut rd(&[106]), &h).unwrap().is_none());
        assert!(c
            .decode_kwargs(py, &mut rd(&[116, 0, 0, 0, 0]), &h)
            .unwrap()
            .is_none());

        // a and <<"a">> are one name.
        let mut w = Writer::new();
        w.list(2)
            .tuple(2)
            .atom("a")
            .int(1)
            .tuple(2)
            .binary(b"a")
            .int(2)
            .nil();
        match c.decode_kwargs(py, &mut rd(&w.buf), &h).unwrap_err() {
            EtfError::KeyCollision { path, key } => {
                assert!(path.is_empty());
                assert_eq!(key, [109, 0, 0, 0, 1, 97]);
            }
            other => panic!("{other:?}"),
        }
        // A key that is no name, and a value that does not convert.
        match c
            .decode_kwargs(py, &mut rd(&[116, 0, 0, 0, 1, 97, 1, 97, 2]), &h)
            .unwrap_err()
        {
            EtfError::Unsupported {
                path,
                what: Unsupported::Term(t),
            } => {
                assert!(path.is_empty());
                assert_eq!(t, [97, 1]);
            }
            other => panic!("{other:?}"),
        }
        let mut w = Writer::new();
        w.map(1).atom("k").raw(&[77, 0, 0, 0, 1, 3, 32]);
        let e = c.decode_kwargs(py, &mut rd(&w.buf), &h).unwrap_err();
        assert_eq!(names(&e), ["name:k"]);
        // Neither a map nor a proper list of pairs.
        let bad: [&[u8]; 4] = [
            &[97, 1],
            &[108, 0, 0, 0, 1, 97, 1, 106],
            &[108, 0, 0, 0, 1, 104, 1, 97, 1, 106],
            &[108, 0, 0, 0, 1, 104, 2, 119, 1, 97, 97, 1, 97, 2],
        ];
        for b in bad {
            match c.decode_kwargs(py, &mut rd(b), &h) {
                Err(EtfError::BadKwargs(t)) => assert_eq!(t, b),
                other => panic!("{b:?}: {other:?}"),
            }
        }
        let e = EtfError::BadKwargs(vec![97, 1]);
        let r = reason(&c, py, &e);
        assert_eq!(
            r,
            [&[131, 104, 2][..], &atom("bad_kwargs"), &[97, 1]].concat()
        );
    })
}

#[test]
fn named_values_for_bindings() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let mut w = Writer::new();
        w.binary(b"x").list(1).int(300).nil();
        let (name, v) = c.named(py, &mut rd(&w.buf), &h, |_| false).unwrap();
        assert_eq!(name, "x");
        check(py, &v, "v == [300]");
        let e = c.named(py, &mut rd(&w.buf), &h, |n| n == "x").unwrap_err();
        assert!(matches!(e, EtfError::KeyCollision { .. }));
        // Not UTF-8: no name.
        let e = c.named(py, &mut rd(&[109, 0, 0, 0, 1, 255, 97, 1]), &h, |_| false);
        assert!(matches!(e, Err(EtfError::Unsupported { .. })));
    })
}
