//! `Reader` and `Writer`, the by-hand walkers, and errors rendered as Erlang reasons.
use super::*;

#[test]
fn a_job_term_walked_by_hand() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let mut w = Writer::term();
        w.tuple(4).atom("call").binary(b"math.pow");
        w.list(2).int(2).binary(b"x").nil();
        w.map(1).atom("base").int(10);
        let mut r = Reader::new(&w.buf).unwrap();
        assert_eq!(r.tuple_arity().unwrap(), 4);
        assert_eq!(r.peek_tag().unwrap(), tag::SMALL_ATOM_UTF8);
        assert_eq!(r.atom().unwrap(), "call");
        assert_eq!(r.binary().unwrap(), b"math.pow");
        assert_eq!(r.list_header().unwrap(), (2, true));
        check(py, &r.python(&c, py, &h).unwrap(), "v == 2");
        check(py, &r.python(&c, py, &h).unwrap(), "v == 'x'");
        assert!(r.is_nil());
        r.nil().unwrap();
        assert_eq!(r.map_header().unwrap(), 1);
        assert_eq!(r.atom().unwrap(), "base");
        assert_eq!(r.integer().unwrap(), 10);
        assert!(r.rest().is_empty());
    })
}

#[test]
fn charlists_read_as_lists_of_small_integers() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        // term_to_binary({[1, 2, 3], ok}): the list is a STRING_EXT.
        let bytes = [131, 104, 2, 107, 0, 3, 1, 2, 3, 100, 0, 2, 111, 107];
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(r.tuple_arity().unwrap(), 2);
        assert_eq!(r.list_header().unwrap(), (3, true));
        assert_eq!(r.peek_tag().unwrap(), tag::SMALL_INTEGER);
        assert_eq!(r.integer().unwrap(), 1);
        assert_eq!(r.skip().unwrap(), [97, 2]);
        check(py, &r.python(&c, py, &h).unwrap(), "v == 3");
        assert!(r.is_nil());
        assert!(r.atom().is_err(), "the tail comes first");
        r.nil().unwrap();
        assert_eq!(r.atom().unwrap(), "ok");
        assert!(r.rest().is_empty());
        // Skipping a whole charlist, and the tail read by skip.
        let mut r = Reader::new(&bytes).unwrap();
        r.tuple_arity().unwrap();
        assert_eq!(r.skip().unwrap(), &bytes[3..9]);
        let mut r = Reader::raw(&bytes[3..9]);
        assert_eq!(r.list_header().unwrap(), (3, true));
        for _ in 0..3 {
            r.unsigned().unwrap();
        }
        assert_eq!(r.skip().unwrap(), [106]);
        assert!(r.rest().is_empty());
    })
}

#[test]
fn reader_refuses_other_kinds_without_moving() {
    let bytes = [131, 108, 0, 0, 0, 1, 97, 1, 97, 2]; // [1 | 2]
    let mut r = Reader::new(&bytes).unwrap();
    assert!(r.tuple_arity().is_err());
    assert!(r.atom().is_err());
    assert!(r.binary().is_err());
    assert!(r.integer().is_err());
    assert_eq!(r.position(), 1);
    assert_eq!(r.list_header().unwrap(), (1, false));
    assert_eq!(r.integer().unwrap(), 1);
    assert!(r.nil().is_err());
    assert_eq!(r.skip().unwrap(), [97, 2]);
    assert!(Reader::new(&[130, 106]).is_err());
    assert!(Reader::new(&[]).is_err());
    // 64-bit integers, both ways.
    let mut w = Writer::term();
    w.uint(u64::MAX)
        .int(i64::MIN)
        .int(-1)
        .bigint(true, &[1, 0, 0]);
    let mut r = Reader::new(&w.buf).unwrap();
    assert_eq!(r.unsigned().unwrap(), u64::MAX);
    assert_eq!(r.integer().unwrap(), i64::MIN);
    assert!(
        Reader::raw(r.rest()).unsigned().is_err(),
        "-1 is not unsigned"
    );
    assert_eq!(r.integer().unwrap(), -1);
    assert_eq!(r.integer().unwrap(), -1);
    let mut r = Reader::raw(&[110, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert!(r.unsigned().is_err(), "2^64 does not fit");
}

#[test]
fn writer_writes_what_term_to_binary_does() {
    let mut w = Writer::new();
    w.int(255).int(256).int(-1).int(1 << 40).int(i64::MIN);
    assert_eq!(
        w.buf,
        [
            &[97, 255, 98, 0, 0, 1, 0, 98, 255, 255, 255, 255][..],
            &[110, 6, 0, 0, 0, 0, 0, 0, 1],
            &[110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128],
        ]
        .concat()
    );
    let mut w = Writer::new();
    w.bigint(false, &[5, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        .bigint(false, &[0; 9]);
    assert_eq!(w.buf, [97, 5, 97, 0], "small values as small integers");
    let mut w = Writer::new();
    w.float(f64::NAN).float(f64::NEG_INFINITY);
    assert_eq!(w.buf, [&atom("nan")[..], &atom("-inf")].concat());
    let mut w = Writer::new();
    w.atom(&"é".repeat(300));
    assert_eq!(
        &w.buf[..3],
        &[118, 1, 254],
        "cut to 255 characters, 510 bytes"
    );
    let mut w = Writer::new();
    w.tuple(256).tuple(2);
    assert_eq!(w.buf, [105, 0, 0, 1, 0, 104, 2]);
}

#[test]
fn errors_render_as_the_nif_renders_them() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let back = |e: &EtfError| {
            let r = reason(&c, py, e);
            c.decode(py, &r, &h).unwrap()
        };
        let e = EtfError::TooDeep {
            path: vec![PathElem::Index(3), PathElem::Key(atom("k"))],
        };
        check(py, &back(&e), "v == ('too_deep', [3, 'k'])");
        let e = EtfError::TooLarge {
            path: vec![PathElem::Name("base".into())],
        };
        check(py, &back(&e), "v == ('too_large', ['base'])");
        let e = EtfError::Cycle { path: vec![] };
        check(py, &back(&e), "v == ('cycle', [])");
        let e = EtfError::KeyCollision {
            path: vec![],
            key: vec![97, 1],
        };
        check(py, &back(&e), "v == ('key_collision', [], 1)");
        check(py, &back(&EtfError::NoHandle(7)), "v == ('no_handle', 7)");
        let e = EtfError::Malformed("truncated term".into());
        check(py, &back(&e), "v == ('bad_etf', 'truncated term')");
        let err = py.eval(c"1 // 0", None, None).unwrap_err();
        let pred = "v[:3] == ('python', 'builtins.ZeroDivisionError', 'integer division or modulo by zero') and v[3][-1] == 'ZeroDivisionError: integer division or modulo by zero'";
        check(py, &back(&EtfError::Python(err)), pred);

        // A Python culprit, and a Python key that does not convert, become handles.
        let obj = eval(py, "", "{('\\ud800',): 1}", None);
        let e = enc(&c, &obj).unwrap_err();
        let mut table = VecHandles::default();
        let mut w = Writer::term();
        assert!(w.error(&e, &c, py, &mut table), "a handle was written");
        assert_eq!(table.objs.len(), 2);
        let v = c.decode(py, &w.buf, &table).unwrap();
        check(
            py,
            &v,
            "v[0] == 'unsupported' and v[1] == [('\\ud800',), 0] and v[2] == '\\ud800'",
        );
        // A key that converts on its own is written as its term.
        let e = EtfError::Cycle {
            path: vec![PathElem::PyKey(eval(py, "", "(1, 'a')", None).unbind())],
        };
        check(py, &back(&e), "v == ('cycle', [(1, 'a')])");
        let mut w = Writer::term();
        assert!(!w.error_tagged(&EtfError::NoHandle(1), &c, py, &mut table));
        check(
            py,
            &c.decode(py, &w.buf, &h).unwrap(),
            "v == ('error', ('no_handle', 1))",
        );
    })
}
