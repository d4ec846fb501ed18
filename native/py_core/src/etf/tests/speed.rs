//! Timings of the conversions that must be fast, printed (`cargo test --release -p
//! py_core speed -- --nocapture`); what is asserted is only that they are right.
use super::*;
use std::time::{Duration, Instant};

/// The best of `n` runs of `f`.
fn best<T>(n: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..n {
        let start = Instant::now();
        let v = f();
        best = best.min(start.elapsed());
        last = Some(v);
    }
    (best, last.expect("n > 0"))
}

#[test]
fn speed_of_big_lists_and_binaries() {
    with_py(|py, types| {
        let c = codec(types);
        let h = VecHandles::default();
        let cases = [
            ("100,000 ints", "[i * 7919 - 10**6 for i in range(100000)]"),
            ("100,000 floats", "[i / 7 for i in range(100000)]"),
            ("1 MiB str (ASCII)", "'x' * (1 << 20)"),
            ("1 MiB str (UTF-8)", "'é' * (1 << 19)"),
            ("10,000-key dict", "{str(i): i for i in range(10000)}"),
        ];
        for (name, expr) in cases {
            let obj = eval(py, "", expr, None);
            let mut out = Vec::new();
            let (te, _) = best(5, || {
                out.clear();
                out.push(131);
                let mut hh = VecHandles::default();
                c.encode(py, &obj, &mut out, &mut hh).unwrap()
            });
            let (td, back) = best(5, || c.decode(py, &out, &h).unwrap());
            assert!(back.eq(&obj).unwrap(), "{name}");
            println!(
                "etf {name}: encode {:.3} ms, decode {:.3} ms ({} bytes)",
                te.as_secs_f64() * 1e3,
                td.as_secs_f64() * 1e3,
                out.len()
            );
        }
    })
}
