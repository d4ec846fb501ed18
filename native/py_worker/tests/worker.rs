//! The worker binary driven through its fds 3/4, as `py_worker.erl` drives it
//! (docs/worker-protocol.md).
mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn hello_then_ready_with_the_pid_and_version() {
    let mut w = Worker::spawn();
    w.send_hello(&hello(vec![]));
    let Pkt::Ready(T::Map(pairs)) = w.recv() else {
        panic!("no ready")
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == atom(k))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(get("pid"), Some(int(w.child.id() as i64)));
    match get("version") {
        Some(T::Bin(v)) => assert!(v.starts_with(b"3.11"), "{:?}", String::from_utf8_lossy(&v)),
        other => panic!("version {other:?}"),
    }
    assert!(matches!(get("executable"), Some(T::Bin(_))));
}

/// `_erlang` called while the worker starts (a `sitecustomize` does it here, as a
/// venv's `.pth` file could): an error in Python, or output dropped, never a panic;
/// the worker then starts and serves as usual.
#[test]
fn erlang_module_used_during_start_up() {
    let dir = std::env::temp_dir().join(format!("py_worker_early_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("sitecustomize.py"),
        [
            "import builtins, _erlang",
            "early = []",
            "for f in (lambda: _erlang.cast('m', 'f', []), lambda: _erlang.write(1, 'early')):",
            "    try:",
            "        early.append(repr(f()))",
            "    except Exception as e:",
            "        early.append(type(e).__name__ + ': ' + str(e))",
            "builtins._py_early = early",
            "",
        ]
        .join("\n"),
    )
    .unwrap();
    let mut w = Worker::spawn_env(&[("PYTHONPATH", dir.to_str().unwrap())]);
    w.send_hello(&hello(vec![]));
    // What it wrote before it was ready comes as output outside any job (job id 0).
    let mut early_output = String::new();
    loop {
        match w.recv() {
            Pkt::Ready(_) => break,
            Pkt::Output { id: 0, data, .. } => early_output.push_str(&data),
            other => panic!("before ready: {other:?}"),
        }
    }
    assert_eq!(early_output, "early");
    let r = w.run(eval(
        "__import__('builtins')._py_early",
        vec![],
        atom("undefined"),
    ));
    assert_eq!(
        r,
        ok(list(vec![
            bin("RuntimeError: the py worker is still starting: _erlang works once it has started"),
            bin("5"),
        ]))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_hello_is_an_error_and_exit_1() {
    let mut w = Worker::spawn();
    w.send_hello(&map(vec![
        (atom("marker"), marker()),
        (atom("venv"), bin("/nonexistent")),
    ]));
    match w.recv() {
        Pkt::Ready(T::Tuple(t)) => {
            assert_eq!(t[0], atom("error"));
            assert!(
                matches!(&t[1], T::Bin(m) if String::from_utf8_lossy(m).contains("not a virtualenv")),
                "{t:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let status = w.wait_exit(Duration::from_secs(5)).expect("exits");
    assert_eq!(status.code(), Some(1));
}

#[test]
fn end_of_input_ends_the_worker_with_status_0() {
    let mut w = Worker::start();
    w.close();
    let status = w
        .wait_exit(Duration::from_secs(5))
        .expect("exits at end of input");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn end_of_input_ends_the_worker_while_a_job_runs() {
    let mut w = Worker::start();
    w.job(call("time.sleep", vec![int(30)]), 0);
    std::thread::sleep(Duration::from_millis(20));
    w.close();
    let status = w
        .wait_exit(Duration::from_secs(5))
        .expect("exits at end of input");
    assert_eq!(status.code(), Some(0));
}

#[test]
fn call_operator_add() {
    let mut w = Worker::start();
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
    // {Owner, Attr} names, atoms, and the cache by the name's bytes.
    let pair = tuple(vec![
        atom("call"),
        tuple(vec![atom("math"), atom("pow")]),
        list(vec![int(2), int(10)]),
        nil(),
    ]);
    assert_eq!(w.run(pair.clone()), ok(T::Float(1024.0)));
    assert_eq!(w.run(pair), ok(T::Float(1024.0)));
    assert_eq!(w.run(call("len", vec![bin("abc")])), ok(int(3)));
    // Keyword arguments, as a map and as a list of pairs.
    let kw = |kw: T| tuple(vec![atom("call"), bin("int"), list(vec![bin("ff")]), kw]);
    assert_eq!(w.run(kw(map(vec![(atom("base"), int(16))]))), ok(int(255)));
    assert_eq!(
        w.run(kw(list(vec![tuple(vec![bin("base"), int(16)])]))),
        ok(int(255))
    );
    match w.run(kw(int(3))) {
        T::Tuple(e) => assert_eq!(e[1], tuple(vec![atom("bad_kwargs"), int(3)])),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_python_exception_is_type_message_and_traceback() {
    let mut w = Worker::start();
    let r = w.run(call("int", vec![bin("x")]));
    let (ty, msg, tb) = python_error(&r);
    assert_eq!(ty, "builtins.ValueError");
    assert_eq!(msg, "invalid literal for int() with base 10: 'x'");
    assert_eq!(
        tb.last().map(String::as_str),
        Some("ValueError: invalid literal for int() with base 10: 'x'")
    );
    let r = w.run(call("no_such_module_here.f", vec![]));
    assert_eq!(python_error(&r).0, "builtins.ModuleNotFoundError");
}

#[test]
fn malformed_jobs_are_bad_job_and_the_worker_carries_on() {
    let mut w = Worker::start();
    let job = tuple(vec![atom("frobnicate"), int(1)]);
    assert_eq!(
        w.run(job.clone()),
        tuple(vec![atom("error"), tuple(vec![atom("bad_job"), job])])
    );
    let job = tuple(vec![atom("call"), int(1), nil(), nil()]);
    assert_eq!(
        w.run(job.clone()),
        tuple(vec![atom("error"), tuple(vec![atom("bad_job"), job])])
    );
    // Not {Caller, Job}, not even a term.
    let mut p = vec![1];
    p.extend_from_slice(&77u64.to_be_bytes());
    p.extend_from_slice(&0u64.to_be_bytes());
    p.push(0);
    p.extend_from_slice(&[131, 104, 9]);
    w.send_raw(&p);
    match w.result(77) {
        T::Tuple(e) => assert_eq!(e[0], atom("error")),
        other => panic!("{other:?}"),
    }
    // Packets too short for their kind are dropped.
    w.send_raw(&[1, 0, 0]);
    w.send_raw(&[]);
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
}

#[test]
fn a_handle_then_a_method_on_it_then_release() {
    let mut w = Worker::start();
    let id = w.job(call("list", vec![list(vec![int(1), int(2)])]), 2);
    let (flags, reply) = match w.recv() {
        Pkt::Result {
            id: got,
            flags,
            reply,
        } if got == id => (flags, reply),
        other => panic!("{other:?}"),
    };
    assert_eq!(flags, 1, "the reply holds a handle");
    let T::Tuple(parts) = &reply else {
        panic!("{reply:?}")
    };
    let h = handle_of(&parts[1]).expect("a handle");
    let method = |name: &str, args: Vec<T>| {
        tuple(vec![
            atom("method"),
            handle(h),
            bin(name),
            list(args),
            nil(),
        ])
    };
    assert_eq!(w.run(method("append", vec![int(3)])), ok(atom("undefined")));
    assert_eq!(
        w.run(tuple(vec![atom("value"), handle(h)])),
        ok(list(vec![int(1), int(2), int(3)]))
    );
    // A bound method is not data: a handle comes back, flag set.
    let gid = w.job(tuple(vec![atom("getattr"), handle(h), bin("__len__")]), 0);
    let m = match w.recv() {
        Pkt::Result {
            id: got,
            flags: 1,
            reply: T::Tuple(r),
        } if got == gid => handle_of(&r[1]).expect("a handle"),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        w.run(tuple(vec![atom("call_obj"), handle(m), nil(), nil()])),
        ok(int(3))
    );
    w.release(&[m]);
    assert!(matches!(w.recv(), Pkt::Handles(1)));
    w.release(&[h]);
    assert!(matches!(w.recv(), Pkt::Handles(0)));
    let r = w.run(method("append", vec![int(4)]));
    assert_eq!(
        r,
        tuple(vec![
            atom("error"),
            tuple(vec![atom("no_handle"), int(h as i64)])
        ])
    );
    // A term result has flags 0.
    let id = w.job(call("operator.add", vec![int(1), int(1)]), 0);
    assert!(matches!(w.recv(), Pkt::Result { flags: 0, .. }), "job {id}");
}

#[test]
fn eval_and_exec_in_a_namespace_with_bindings_for_the_call() {
    let mut w = Worker::start();
    let ns = match w.run(tuple(vec![atom("namespace")])) {
        T::Tuple(t) => t[1].clone(),
        other => panic!("{other:?}"),
    };
    assert!(handle_of(&ns).is_some(), "{ns:?}");
    assert_eq!(
        w.run(exec(
            "x = 40\ndef f(a):\n    return a + x",
            vec![],
            ns.clone()
        )),
        ok(atom("undefined"))
    );
    assert_eq!(
        w.run(eval("f(y)", vec![(atom("y"), int(2))], ns.clone())),
        ok(int(42))
    );
    // The binding was for that call only.
    let (ty, _, _) = python_error(&w.run(eval("y", vec![], ns.clone())));
    assert_eq!(ty, "builtins.NameError");
    // A block: its last expression is the value.
    assert_eq!(w.run(eval("z = 1\nz + x", vec![], ns.clone())), ok(int(41)));
    // A binding the code assigns stays; one it leaves is restored.
    assert_eq!(
        w.run(exec("x = x + 1", vec![(atom("x"), int(1))], ns.clone())),
        ok(atom("undefined"))
    );
    assert_eq!(w.run(eval("x", vec![], ns.clone())), ok(int(2)));
    assert_eq!(
        w.run(eval("x", vec![(bin("x"), int(7))], ns.clone())),
        ok(int(7))
    );
    assert_eq!(w.run(eval("x", vec![], ns.clone())), ok(int(2)));
    // call_in: a name looked up in the namespace first.
    let call_in = tuple(vec![
        atom("call_in"),
        ns.clone(),
        bin("f"),
        list(vec![int(1)]),
        nil(),
    ]);
    assert_eq!(w.run(call_in), ok(int(3)));
    // undefined: a fresh namespace each time.
    assert_eq!(
        w.run(exec("q = 1", vec![], atom("undefined"))),
        ok(atom("undefined"))
    );
    let (ty, _, _) = python_error(&w.run(eval("q", vec![], atom("undefined"))));
    assert_eq!(ty, "builtins.NameError");
    // Two bindings that are one name.
    match w.run(eval("1", vec![(atom("a"), int(1)), (bin("a"), int(2))], ns)) {
        T::Tuple(e) => assert!(
            matches!(&e[1], T::Tuple(k) if k[0] == atom("key_collision")),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_callback_round_trip_with_a_nested_call_inside() {
    let mut w = Worker::start();
    let code = "import erlang\nerlang.call('erlang', 'abs', [-3]) + 1";
    let id = w.job(eval(code, vec![], atom("undefined")), 0);
    match w.recv() {
        Pkt::Callback { id: got, req } => {
            assert_eq!(got, id);
            assert_eq!(
                req,
                tuple(vec![bin("erlang"), bin("abs"), list(vec![int(-3)])])
            );
        }
        other => panic!("{other:?}"),
    }
    // While the job waits, the caller's nested call runs at once; another caller's
    // job waits until the stack unwinds.
    let other = w.job(call("operator.add", vec![int(10), int(10)]), 0);
    let nested = w.job_nested(call("operator.mul", vec![int(6), int(7)]), 0, id);
    assert_eq!(w.result(nested), ok(int(42)));
    w.reply(id, &ok(int(3)));
    assert_eq!(w.result(id), ok(int(4)));
    assert_eq!(w.result(other), ok(int(20)));
    // An Erlang error raises erlang.Error.
    let code = "import erlang\ntry:\n    erlang.call('m', 'f', [])\nexcept erlang.Error as e:\n    r = (e.class_, e.reason)\nr";
    let id = w.job(eval(code, vec![], atom("undefined")), 0);
    assert!(matches!(w.recv(), Pkt::Callback { .. }));
    w.reply(
        id,
        &tuple(vec![
            atom("error"),
            tuple(vec![atom("error"), atom("badarg"), nil()]),
        ]),
    );
    assert_eq!(w.result(id), ok(tuple(vec![atom("error"), atom("badarg")])));
    // erlang.self() is the caller.
    assert_eq!(
        w.run(eval(
            "__import__('erlang').self()",
            vec![],
            atom("undefined")
        )),
        ok(pid(100))
    );
}

#[test]
fn send_cast_and_log_packets() {
    let mut w = Worker::start();
    let code = "import erlang, logging\nerlang.send(erlang.self(), (erlang.Atom('hi'), 1))\nerlang.cast('m', 'f', [2])\nlogging.getLogger('t').warning('careful')";
    let id = w.job(exec(code, vec![], atom("undefined")), 0);
    assert!(
        matches!(w.recv(), Pkt::Send(t) if t == tuple(vec![pid(100), tuple(vec![atom("hi"), int(1)])]))
    );
    assert!(
        matches!(w.recv(), Pkt::Cast(t) if t == tuple(vec![bin("m"), bin("f"), list(vec![int(2)])]))
    );
    match w.recv() {
        Pkt::Log(t) => assert_eq!(t, tuple(vec![int(30), bin("t"), bin("careful")])),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.result(id), ok(atom("undefined")));
}

#[test]
fn output_goes_before_the_result_four_packets_in_flight_at_most() {
    let mut w = Worker::start();
    // print writes the text, then the newline: two writes, two packets.
    let id = w.job(exec("print('hello')", vec![], atom("undefined")), 0);
    for want in ["hello", "\n"] {
        match w.recv() {
            Pkt::Output {
                id: got,
                stream,
                data,
            } => assert_eq!((got, stream, data.as_str()), (id, 1, want)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(w.result(id), ok(atom("undefined")));

    // Ten writes, no acks: four packets, the rest coalesced and sent before the result.
    let id = w.job(
        exec(
            "import sys\nfor i in range(10): sys.stdout.write(str(i))\nsys.stderr.write('E')",
            vec![],
            atom("undefined"),
        ),
        0,
    );
    let mut got = Vec::new();
    loop {
        match w.recv() {
            Pkt::Output {
                id: got_id,
                stream,
                data,
            } if got_id == id => got.push((stream, data)),
            Pkt::Result {
                id: got_id, reply, ..
            } if got_id == id => {
                assert_eq!(reply, ok(atom("undefined")));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    let want: Vec<(u8, String)> = vec![
        (1, "0".into()),
        (1, "1".into()),
        (1, "2".into()),
        (1, "3".into()),
        (1, "456789".into()),
        (2, "E".into()),
    ];
    assert_eq!(got, want);

    // With acks, what was written meanwhile comes when the last packet in flight is acked.
    let code = "import sys, erlang\nfor i in range(6): sys.stdout.write(str(i))\nerlang.call('m', 'f', [])";
    let id = w.job(exec(code, vec![], atom("undefined")), 0);
    let mut outs = Vec::new();
    for _ in 0..4 {
        match w.recv() {
            Pkt::Output { data, .. } => outs.push(data),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(outs, vec!["0", "1", "2", "3"]);
    // The callback flushes what is pending first.
    match w.recv() {
        Pkt::Output { data, .. } => assert_eq!(data, "45"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(w.recv(), Pkt::Callback { .. }));
    w.reply(id, &ok(int(0)));
    assert_eq!(w.result(id), ok(atom("undefined")));
}

#[test]
fn acks_release_output_while_the_job_runs() {
    let mut w = Worker::start();
    let code = "import sys, time\nfor i in range(5): sys.stdout.write(str(i))\ntime.sleep(0.3)";
    let id = w.job(exec(code, vec![], atom("undefined")), 0);
    for want in ["0", "1", "2", "3"] {
        match w.recv() {
            Pkt::Output { data, .. } => assert_eq!(data, want),
            other => panic!("{other:?}"),
        }
    }
    for _ in 0..4 {
        w.ack(id);
    }
    // "4" comes on the last ack, while the job still sleeps.
    match w.recv_timeout(Duration::from_millis(200)) {
        Some(Pkt::Output { data, .. }) => assert_eq!(data, "4"),
        other => panic!("{other:?}"),
    }
    assert_eq!(w.result(id), ok(atom("undefined")));
}

#[test]
fn cancel_interrupts_a_sleep_within_100_ms() {
    let mut w = Worker::start();
    let id = w.job(
        exec(
            "import sys, time\nsys.stdout.write('go')\ntime.sleep(10)",
            vec![],
            atom("undefined"),
        ),
        0,
    );
    assert!(matches!(w.recv(), Pkt::Output { .. }));
    let t0 = Instant::now();
    w.cancel(id);
    assert_eq!(w.result(id), tuple(vec![atom("error"), atom("cancelled")]));
    let took = t0.elapsed();
    assert!(took < Duration::from_millis(100), "cancel took {took:?}");
    // The worker carries on, and a late or stray SIGINT does not hit the next job.
    unsafe { libc::kill(w.child.id() as i32, libc::SIGINT) };
    assert_eq!(
        w.run(exec(
            "import time\ntime.sleep(0.05)",
            vec![],
            atom("undefined")
        )),
        ok(atom("undefined"))
    );
    // A busy loop is interrupted too.
    let id = w.job(
        exec(
            "import sys\nsys.stdout.write('go')\nwhile True: pass",
            vec![],
            atom("undefined"),
        ),
        0,
    );
    assert!(matches!(w.recv(), Pkt::Output { .. }));
    w.cancel(id);
    assert_eq!(w.result(id), tuple(vec![atom("error"), atom("cancelled")]));
}

#[test]
fn cancel_of_a_queued_job_drops_it_and_of_a_waiting_one_wakes_it() {
    let mut w = Worker::start();
    let first = w.job(
        exec(
            "import sys, time\nsys.stdout.write('go')\ntime.sleep(0.2)",
            vec![],
            atom("undefined"),
        ),
        0,
    );
    let queued = w.job(exec("print('must not run')", vec![], atom("undefined")), 0);
    assert!(matches!(w.recv(), Pkt::Output { .. }));
    w.cancel(queued);
    assert_eq!(
        w.result(queued),
        tuple(vec![atom("error"), atom("cancelled")])
    );
    assert_eq!(w.result(first), ok(atom("undefined")));
    // A job waiting for a callback reply.
    let id = w.job(
        exec(
            "import erlang\nerlang.call('m', 'f', [])",
            vec![],
            atom("undefined"),
        ),
        0,
    );
    assert!(matches!(w.recv(), Pkt::Callback { .. }));
    w.cancel(id);
    assert_eq!(w.result(id), tuple(vec![atom("error"), atom("cancelled")]));
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
}

#[test]
fn deep_recursion_is_a_recursion_error_not_a_crash() {
    let mut w = Worker::start();
    let ns = match w.run(tuple(vec![atom("namespace")])) {
        T::Tuple(t) => t[1].clone(),
        other => panic!("{other:?}"),
    };
    // The default limit of 1000 raised by user code. `k` recurses through `sorted`,
    // whose C frame is several KiB: 3000 levels overflow a default 8 MiB stack.
    let code = "import sys\nsys.setrecursionlimit(10000)\n\
                def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\n\
                def g(n):\n    return 0 if n == 0 else 1 + sum(map(g, [n - 1]))\n\
                def k(n):\n    return 0 if n == 0 else sorted([n - 1], key=k)[0] + 1\n";
    assert_eq!(w.run(exec(code, vec![], ns.clone())), ok(atom("undefined")));
    assert_eq!(w.run(eval("f(5000)", vec![], ns.clone())), ok(int(5000)));
    assert_eq!(w.run(eval("g(5000)", vec![], ns.clone())), ok(int(5000)));
    assert_eq!(w.run(eval("k(3000)", vec![], ns.clone())), ok(int(3000)));
    // The stack limit is back to what it was: processes Python starts inherit it.
    let mut lim: libc::rlimit = unsafe { std::mem::zeroed() };
    unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut lim) };
    let soft = match lim.rlim_cur {
        libc::RLIM_INFINITY => -1,
        n => n as i64,
    };
    assert_eq!(
        w.run(eval(
            "__import__('resource').getrlimit(__import__('resource').RLIMIT_STACK)[0]",
            vec![],
            atom("undefined")
        )),
        ok(int(soft))
    );
    for code in ["f(100000)", "g(100000)", "k(5000)", "k(100000)"] {
        let (ty, _, _) = python_error(&w.run(eval(code, vec![], ns.clone())));
        assert_eq!(ty, "builtins.RecursionError", "{code}");
    }
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
}

#[test]
fn value_to_binary_import_const() {
    let mut w = Worker::start();
    let id = w.job(call("range", vec![int(3)]), 0);
    let r = w.result(id);
    let T::Tuple(parts) = &r else { panic!("{r:?}") };
    let h = handle_of(&parts[1]).expect("a range is a handle");
    assert_eq!(
        w.run(tuple(vec![atom("value"), handle(h)])),
        ok(list(vec![int(0), int(1), int(2)]))
    );
    match w.run(tuple(vec![atom("value"), int(3)])) {
        T::Tuple(e) => assert_eq!(e[1], tuple(vec![atom("not_a_handle"), int(3)])),
        other => panic!("{other:?}"),
    }
    let id = w.job(
        call(
            "bytearray",
            vec![tuple(vec![marker(), atom("bytes"), bin("abc")])],
        ),
        0,
    );
    let r = w.result(id);
    assert_eq!(r, ok(bin("abc")), "a bytearray is a binary");
    let id = w.job(
        call(
            "memoryview",
            vec![tuple(vec![marker(), atom("bytes"), bin("xyz")])],
        ),
        2,
    );
    let r = w.result(id);
    let T::Tuple(parts) = &r else { panic!("{r:?}") };
    let mv = handle_of(&parts[1]).expect("a handle");
    assert_eq!(
        w.run(tuple(vec![atom("to_binary"), handle(mv)])),
        ok(bin("xyz"))
    );
    let r = w.run(tuple(vec![atom("const"), bin("math.pi")]));
    assert_eq!(r, ok(T::Float(std::f64::consts::PI)));
    let id = w.job(tuple(vec![atom("import"), bin("json")]), 0);
    let r = w.result(id);
    assert!(
        matches!(&r, T::Tuple(t) if handle_of(&t[1]).is_some()),
        "{r:?}"
    );
    // The module is in the table now: the count of live objects follows the result.
    assert!(matches!(w.recv(), Pkt::Handles(n) if n >= 1));
    // None as nil (return mode 1) and as undefined (0).
    let id = w.job(call("print", vec![]), 1);
    assert!(matches!(w.recv(), Pkt::Output { .. }));
    assert_eq!(w.result(id), ok(atom("nil")));
}

#[test]
fn numpy_arrays_both_ways() {
    let mut w = Worker::start();
    let r = w.run(call("importlib.util.find_spec", vec![bin("numpy")]));
    if r == ok(atom("undefined")) {
        eprintln!("numpy is not installed: skipped");
        return;
    }
    let code = "__import__('numpy').arange(6, dtype='float64').reshape(2, 3)[:, ::2]";
    let id = w.job(eval(code, vec![], atom("undefined")), 2);
    let r = w.result(id);
    let T::Tuple(parts) = &r else { panic!("{r:?}") };
    let a = handle_of(&parts[1]).expect("a handle");
    let r = w.run(tuple(vec![atom("array"), handle(a)]));
    let data: Vec<u8> = [0.0f64, 2.0, 3.0, 5.0]
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let T::Tuple(parts) = &r else { panic!("{r:?}") };
    let T::Map(pairs) = &parts[1] else {
        panic!("{r:?}")
    };
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| *key == atom(k))
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    assert_eq!(get("shape"), list(vec![int(2), int(2)]));
    assert_eq!(get("dtype"), bin("<f8"));
    assert_eq!(get("data"), T::Bin(data.clone()));
    let nd = tuple(vec![
        atom("ndarray"),
        T::Bin(data),
        list(vec![int(4)]),
        bin("<f8"),
        atom("false"),
    ]);
    let id = w.job(nd, 2);
    let r = w.result(id);
    let T::Tuple(parts) = &r else { panic!("{r:?}") };
    let b = handle_of(&parts[1]).expect("a handle");
    assert_eq!(
        w.run(tuple(vec![atom("value"), handle(b)])),
        ok(list(vec![
            T::Float(0.0),
            T::Float(2.0),
            T::Float(3.0),
            T::Float(5.0)
        ]))
    );
    let bad = tuple(vec![
        atom("ndarray"),
        bin("abc"),
        list(vec![int(4)]),
        bin("<f8"),
        atom("false"),
    ]);
    match w.run(bad) {
        T::Tuple(e) => assert!(
            matches!(&e[1], T::Tuple(b) if b[0] == atom("bad_array") && b[1] == atom("data")),
            "{e:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[test]
fn memory_error_with_max_memory_is_announced_before_the_result() {
    let mut w = Worker::start_with(vec![(atom("max_memory"), int(1 << 30))]);
    let id = w.job(eval("bytearray(4 << 30)", vec![], atom("undefined")), 0);
    match w.recv() {
        Pkt::Memory(got) => assert_eq!(got, id),
        other => panic!("{other:?}"),
    }
    let (ty, _, _) = python_error(&w.result(id));
    assert_eq!(ty, "builtins.MemoryError");
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
}

#[test]
fn output_outside_any_job_goes_with_job_id_0() {
    let mut w = Worker::start();
    let code = "import threading, sys, time\n\
                def later():\n    time.sleep(0.05)\n    sys.stdout.write('from a thread')\n\
                threading.Thread(target=later).start()";
    assert_eq!(
        w.run(exec(code, vec![], atom("undefined"))),
        ok(atom("undefined"))
    );
    match w.recv() {
        Pkt::Output { id, stream, data } => {
            assert_eq!((id, stream, data.as_str()), (0, 1, "from a thread"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_writer_held_back_by_missing_acks_is_cancelled_all_the_same() {
    let mut w = Worker::start();
    // Far more than the 1 MiB that may wait for acks: the writer waits, and no ack comes.
    let code = "import sys\nwhile True: sys.stdout.write('x' * 65536)";
    let id = w.job(exec(code, vec![], atom("undefined")), 0);
    for _ in 0..4 {
        assert!(matches!(w.recv(), Pkt::Output { .. }));
    }
    assert!(
        w.recv_timeout(Duration::from_millis(100)).is_none(),
        "nothing more without acks"
    );
    w.cancel(id);
    // What was pending goes out before the result.
    loop {
        match w.recv() {
            Pkt::Output { .. } => {}
            Pkt::Result { id: got, reply, .. } => {
                assert_eq!(got, id);
                assert_eq!(reply, tuple(vec![atom("error"), atom("cancelled")]));
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
}

#[test]
fn a_packet_in_pieces_is_read_as_one_whole_packet() {
    let mut w = Worker::start();
    // A job whose bytes are cut into three pieces (kinds 9, 9, 10), one cut inside the
    // header and one inside the term: the worker joins them before it reads the job.
    let big = T::Bin(vec![b'x'; 300_000]);
    let mut whole = vec![1];
    whole.extend_from_slice(&41u64.to_be_bytes());
    whole.extend_from_slice(&0u64.to_be_bytes());
    whole.push(0);
    whole.extend(etf(&tuple(vec![pid(100), call("len", vec![big])])));
    let cuts = [5, 150_000];
    let mut at = 0;
    for cut in cuts {
        let mut piece = vec![9];
        piece.extend_from_slice(&whole[at..cut]);
        w.send_raw(&piece);
        at = cut;
    }
    let mut last = vec![10];
    last.extend_from_slice(&whole[at..]);
    w.send_raw(&last);
    assert_eq!(w.result(41), ok(int(300_000)));
    // The pieces are gone once read: a whole packet after them is read as it comes.
    assert_eq!(
        w.run(call("operator.add", vec![int(1), int(2)])),
        ok(int(3))
    );
    // The way back: a result over 2 MiB comes in pieces of 1 MiB, a smaller one whole.
    let big = |n: i64| {
        tuple(vec![
            atom("eval"),
            bin("b'y' * n"),
            map(vec![(atom("n"), int(n))]),
            atom("undefined"),
        ])
    };
    let before = w.pieces.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(w.run(big(2_000_000)), ok(T::Bin(vec![b'y'; 2_000_000])));
    assert_eq!(w.pieces.load(std::sync::atomic::Ordering::SeqCst), before);
    assert_eq!(w.run(big(5_000_000)), ok(T::Bin(vec![b'y'; 5_000_000])));
    // 5,000,000 bytes of data, the result's header and ETF around them: 5 pieces.
    assert_eq!(
        w.pieces.load(std::sync::atomic::Ordering::SeqCst),
        before + 5
    );
    // Pieces that join into another piece are dropped, and so is a last piece alone
    // whose bytes are no packet; the worker carries on.
    w.send_raw(&[10, 9, 1, 2, 3]);
    w.send_raw(&[10]);
    assert_eq!(
        w.run(call("operator.add", vec![int(2), int(2)])),
        ok(int(4))
    );
}
