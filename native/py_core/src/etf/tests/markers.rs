//! Marker terms `{M, handle, Id}`, `{M, bytes, Bin}`, `{M, buffer, Bin}`, and handles
//! written for objects that are not data.
use super::*;

/// `{M, Kind, Value}` as raw ETF (no 131); `Value` raw too.
fn marker(kind: &str, value: &[u8]) -> Vec<u8> {
    [&[104, 3][..], MARKER, &atom(kind), value].concat()
}

fn with131(b: &[u8]) -> Vec<u8> {
    [&[131][..], b].concat()
}

#[test]
fn markers_decode_to_table_objects_bytes_and_buffers() {
    with_py(|py, types| {
        let c = codec(types);
        let mut h = VecHandles::default();
        let obj = eval(py, "", "object()", None);
        h.put(py, obj.clone().unbind());
        let v = c
            .decode(py, &with131(&marker("handle", &[97, 0])), &h)
            .unwrap();
        assert!(v.is(&obj), "the very object");
        match c.decode(py, &with131(&marker("handle", &[98, 0, 1, 0, 0])), &h) {
            Err(EtfError::NoHandle(65536)) => {}
            other => panic!("{other:?}"),
        }
        let bin = [109, 0, 0, 0, 2, 1, 255];
        let v = c.decode(py, &with131(&marker("bytes", &bin)), &h).unwrap();
        check(py, &v, "type(v) is bytes and v == b'\\x01\\xff'");
        let v = c.decode(py, &with131(&marker("buffer", &bin)), &h).unwrap();
        check(
            py,
            &v,
            "type(v) is memoryview and v.readonly and bytes(v) == b'\\x01\\xff'",
        );
        // Inside containers, where the path says.
        let body = [
            &[108, 0, 0, 0, 2, 97, 1][..],
            &marker("handle", &[97, 0]),
            &[106],
        ]
        .concat();
        let v = c.decode(py, &with131(&body), &h).unwrap();
        assert!(v.get_item(1).unwrap().is(&obj));
        // A tuple that starts with M but is no marker is unsupported, whole.
        for bad in [
            marker("other", &[97, 0]),
            marker("handle", &[98, 255, 255, 255, 255]),
            marker("bytes", &[97, 1]),
        ] {
            let body = [&[104, 2, 97, 1][..], &bad].concat();
            match c.decode(py, &with131(&body), &h) {
                Err(EtfError::Unsupported {
                    path,
                    what: Unsupported::Term(t),
                }) => {
                    assert_eq!(t, bad);
                    assert!(matches!(path[..], [PathElem::Index(1)]));
                }
                other => panic!("{other:?}"),
            }
        }
        // Without a marker, the same bytes are an ordinary tuple.
        let bare = Codec::new(types);
        let v = bare
            .decode(py, &with131(&marker("handle", &[97, 0])), &h)
            .unwrap();
        check(
            py,
            &v,
            "type(v) is tuple and type(v[0]) is Ref and v[1:] == ('handle', 0)",
        );
        // A 3-tuple that does not start with M is a tuple.
        let v = c
            .decode(py, &with131(&[104, 3, 97, 1, 97, 2, 97, 3]), &h)
            .unwrap();
        check(py, &v, "v == (1, 2, 3)");
    })
}

/// A table whose numbers are large, to see them written as ETF integers of every size.
struct Sparse(Vec<(u64, Py<PyAny>)>, u64);

impl Handles for Sparse {
    fn get(&self, py: Python<'_>, id: u64) -> Option<Py<PyAny>> {
        self.0.iter().find(|e| e.0 == id).map(|e| e.1.clone_ref(py))
    }
    fn put(&mut self, _py: Python<'_>, obj: Py<PyAny>) -> u64 {
        let id = self.1;
        self.1 = self.1.wrapping_mul(1 << 20).wrapping_add(7);
        self.0.push((id, obj));
        id
    }
}

#[test]
fn handles_of_any_number_go_and_come_back() {
    with_py(|py, types| {
        let c = codec(types);
        let mut h = Sparse(Vec::new(), 300);
        let obj = eval(py, "", "[object() for _ in range(4)]", None);
        let (bytes, handle) = c.encode_term(py, &obj, &mut h).unwrap();
        assert!(handle);
        let ids: Vec<u64> = h.0.iter().map(|e| e.0).collect();
        assert_eq!(ids.len(), 4);
        assert!(ids[3] > u32::MAX as u64, "{ids:?}");
        let back = c.decode(py, &bytes, &h).unwrap();
        for i in 0..4 {
            assert!(back.get_item(i).unwrap().is(obj.get_item(i).unwrap()));
        }
        // The numbers are plain integers for Reader too.
        let mut r = Reader::new(&bytes).unwrap();
        assert_eq!(r.list_header().unwrap(), (4, true));
        for id in ids {
            assert_eq!(r.tuple_arity().unwrap(), 3);
            assert_eq!(r.skip().unwrap(), MARKER);
            assert_eq!(r.atom().unwrap(), "handle");
            assert_eq!(r.unsigned().unwrap(), id);
        }
        r.nil().unwrap();
        assert!(r.rest().is_empty());
    })
}
