//! Malformed input (random bytes, truncations, flipped bytes) must give an error, never
//! a panic or a read out of bounds; random well-formed terms must go to Python and come
//! back as the same bytes. A seeded generator: every run tests the same inputs.
use super::golden::GOLDEN;
use super::*;

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}

const TAGS: &[u8] = &[
    70, 77, 82, 88, 89, 90, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
    112, 113, 114, 115, 116, 118, 119, 120,
];

/// Decodes `bytes` with every reader there is; only errors may come out.
fn survive(c: &Codec<'_>, py: Python<'_>, h: &VecHandles, bytes: &[u8]) -> bool {
    let ok = c.decode(py, bytes, h).is_ok();
    if let Ok(mut r) = Reader::new(bytes) {
        let _ = r.skip();
        let mut r = Reader::new(bytes).unwrap();
        if let Ok((n, _)) = r.list_header() {
            for _ in 0..n.min(64) {
                let _ = r.python(c, py, h);
            }
        }
    }
    ok
}

#[test]
fn random_bytes_are_errors_not_crashes() {
    with_py(|py, types| {
        let c = codec(types);
        let mut h = VecHandles::default();
        h.put(py, py.None());
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut decoded = 0;
        for _ in 0..30_000 {
            let len = rng.below(48);
            let mut b = vec![131];
            for _ in 0..len {
                // Mostly tags and small numbers, so that many inputs get somewhere.
                b.push(match rng.below(4) {
                    0 => TAGS[rng.below(TAGS.len())],
                    1 => rng.below(4) as u8,
                    _ => rng.byte(),
                });
            }
            decoded += survive(&c, py, &h, &b) as usize;
        }
        assert!(
            decoded > 20,
            "the generator makes some valid terms ({decoded})"
        );
    })
}

#[test]
fn truncated_and_damaged_terms_are_errors() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let mut rng = Rng(42);
        for (name, otp25, minor2) in GOLDEN {
            for full in [otp25, minor2] {
                for cut in 0..full.len() {
                    assert!(
                        c.decode(py, &full[..cut], &h).is_err(),
                        "{name} cut at {cut}"
                    );
                }
                if c.decode(py, full, &h).is_ok() {
                    let longer = [&full[..], &[0]].concat();
                    let e = c.decode(py, &longer, &h);
                    assert!(matches!(e, Err(EtfError::Malformed(_))), "{name}");
                }
                for _ in 0..200 {
                    let mut b = full.to_vec();
                    for _ in 0..1 + rng.below(3) {
                        let i = 1 + rng.below(b.len() - 1);
                        b[i] = rng.byte();
                    }
                    survive(&c, py, &h, &b);
                }
            }
        }
        // Lengths far beyond the input are refused before anything is allocated.
        for huge in [
            vec![131, 108, 255, 255, 255, 255, 106],
            vec![131, 116, 255, 255, 255, 255],
            vec![131, 105, 255, 255, 255, 255],
            vec![131, 109, 255, 255, 255, 255, 1],
            vec![131, 111, 255, 255, 255, 255, 0, 1],
            vec![131, 112, 255, 255, 255, 255, 1],
        ] {
            assert!(
                matches!(c.decode(py, &huge, &h), Err(EtfError::Malformed(_))),
                "{huge:?}"
            );
        }
        // Atom cache references never come from term_to_binary.
        assert!(matches!(
            c.decode(py, &[131, 82, 0], &h),
            Err(EtfError::Malformed(_))
        ));
    })
}

/// A random term as this codec writes it (so that it must come back byte for byte).
fn term(rng: &mut Rng, depth: usize, w: &mut Writer) {
    let kind = if depth > 4 {
        rng.below(6)
    } else {
        rng.below(10)
    };
    match kind {
        0 => {
            let v = rng.next() as i64 >> rng.below(64);
            w.int(v);
        }
        1 => {
            let n = 9 + rng.below(30);
            let mut mag: Vec<u8> = (0..n).map(|_| rng.byte()).collect();
            mag[n - 1] |= 1;
            w.bigint(rng.below(2) == 0, &mag);
        }
        2 => {
            let f = f64::from_bits(rng.next());
            w.float(if f.is_finite() { f } else { 0.25 });
        }
        3 => {
            let names = [
                "ok",
                "error",
                "true",
                "false",
                "undefined",
                "nan",
                "é",
                "Elixir.A",
            ];
            w.atom(names[rng.below(names.len())]);
        }
        4 => {
            let b: Vec<u8> = (0..rng.below(12)).map(|_| rng.byte()).collect();
            w.binary(&b);
        }
        5 => {
            w.raw(&[88, 119, 1, 110, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3]);
        }
        6 | 7 => {
            let n = rng.below(5);
            let items: Vec<Writer> = (0..n)
                .map(|_| {
                    let mut e = Writer::new();
                    term(rng, depth + 1, &mut e);
                    e
                })
                .collect();
            if n > 0 && items.iter().all(|e| e.buf.len() == 2 && e.buf[0] == 97) {
                w.raw(&[107, 0, n as u8]);
                items.iter().for_each(|e| w.buf.push(e.buf[1]));
            } else if n == 0 {
                w.nil();
            } else {
                w.list(n);
                items.iter().for_each(|e| w.buf.extend(&e.buf));
                w.nil();
            }
        }
        8 => {
            let n = rng.below(4);
            w.tuple(n);
            (0..n).for_each(|_| term(rng, depth + 1, w));
        }
        _ => {
            let n = rng.below(4);
            w.map(n);
            for i in 0..n {
                w.binary(format!("k{i}").as_bytes());
                term(rng, depth + 1, w);
            }
        }
    }
}

#[test]
fn random_terms_come_back_byte_for_byte() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let mut rng = Rng(7);
        for _ in 0..3000 {
            let mut w = Writer::term();
            term(&mut rng, 0, &mut w);
            let v = c
                .decode(py, &w.buf, &h)
                .unwrap_or_else(|e| panic!("{e}: {:?}", w.buf));
            let back = enc(&c, &v).unwrap();
            assert_eq!(back, w.buf, "{v:?}");
        }
    })
}
