//! Drives the built worker as the VM would: a child process with pipes on fds 3 (in) and
//! 4 (out), `{packet, 4}` framing, and terms built and read by hand (a small term model
//! of its own, so that the worker's codec is not checked against itself).
#![allow(dead_code)]
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A term, as the tests write and read them.
#[derive(Clone, Debug, PartialEq)]
pub enum T {
    Atom(String),
    Int(i64),
    Float(f64),
    Bin(Vec<u8>),
    Tuple(Vec<T>),
    List(Vec<T>),
    Map(Vec<(T, T)>),
    /// A pid, reference, port or fun: its raw ETF bytes (no 131).
    Opaque(Vec<u8>),
}

pub fn atom(s: &str) -> T {
    T::Atom(s.to_string())
}
pub fn bin(s: &str) -> T {
    T::Bin(s.as_bytes().to_vec())
}
pub fn tuple(items: Vec<T>) -> T {
    T::Tuple(items)
}
pub fn list(items: Vec<T>) -> T {
    T::List(items)
}
pub fn nil() -> T {
    T::List(vec![])
}
pub fn int(i: i64) -> T {
    T::Int(i)
}
pub fn ok(t: T) -> T {
    tuple(vec![atom("ok"), t])
}
pub fn map(pairs: Vec<(T, T)>) -> T {
    T::Map(pairs)
}

fn put(t: &T, out: &mut Vec<u8>) {
    match t {
        T::Atom(s) => {
            out.extend_from_slice(&[119, s.len() as u8]);
            out.extend_from_slice(s.as_bytes());
        }
        T::Int(i) if (0..256).contains(i) => out.extend_from_slice(&[97, *i as u8]),
        T::Int(i) if i32::try_from(*i).is_ok() => {
            out.push(98);
            out.extend_from_slice(&(*i as i32).to_be_bytes());
        }
        T::Int(i) => {
            out.extend_from_slice(&[110, 8, (*i < 0) as u8]);
            out.extend_from_slice(&i.unsigned_abs().to_le_bytes());
        }
        T::Float(f) => {
            out.push(70);
            out.extend_from_slice(&f.to_bits().to_be_bytes());
        }
        T::Bin(b) => {
            out.push(109);
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        T::Tuple(items) => {
            out.extend_from_slice(&[104, items.len() as u8]);
            items.iter().for_each(|i| put(i, out));
        }
        T::List(items) if items.is_empty() => out.push(106),
        T::List(items) => {
            out.push(108);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            items.iter().for_each(|i| put(i, out));
            out.push(106);
        }
        T::Map(pairs) => {
            out.push(116);
            out.extend_from_slice(&(pairs.len() as u32).to_be_bytes());
            for (k, v) in pairs {
                put(k, out);
                put(v, out);
            }
        }
        T::Opaque(raw) => out.extend_from_slice(raw),
    }
}

pub fn etf(t: &T) -> Vec<u8> {
    let mut out = vec![131];
    put(t, &mut out);
    out
}

struct Cur<'a>(&'a [u8], usize);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.0[self.1..self.1 + n];
        self.1 += n;
        s
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> usize {
        u16::from_be_bytes(self.take(2).try_into().unwrap()) as usize
    }
    fn u32(&mut self) -> usize {
        u32::from_be_bytes(self.take(4).try_into().unwrap()) as usize
    }
    fn atom_name(&mut self) -> String {
        match self.u8() {
            118 | 100 => {
                let n = self.u16();
                String::from_utf8_lossy(self.take(n)).into_owned()
            }
            119 | 115 => {
                let n = self.u8() as usize;
                String::from_utf8_lossy(self.take(n)).into_owned()
            }
            t => panic!("not an atom: tag {t}"),
        }
    }
    fn term(&mut self) -> T {
        let start = self.1;
        match self.u8() {
            97 => T::Int(self.u8() as i64),
            98 => T::Int(i32::from_be_bytes(self.take(4).try_into().unwrap()) as i64),
            110 => {
                let n = self.u8() as usize;
                let neg = self.u8() != 0;
                let mag = self.take(n);
                assert!(n <= 8, "bignum in a test");
                let mut v: u64 = 0;
                for (i, b) in mag.iter().enumerate() {
                    v |= (*b as u64) << (8 * i);
                }
                T::Int(if neg { -(v as i64) } else { v as i64 })
            }
            70 => T::Float(f64::from_bits(u64::from_be_bytes(
                self.take(8).try_into().unwrap(),
            ))),
            118 | 100 | 119 | 115 => {
                self.1 = start;
                T::Atom(self.atom_name())
            }
            109 => {
                let n = self.u32();
                T::Bin(self.take(n).to_vec())
            }
            104 => {
                let n = self.u8() as usize;
                T::Tuple((0..n).map(|_| self.term()).collect())
            }
            105 => {
                let n = self.u32();
                T::Tuple((0..n).map(|_| self.term()).collect())
            }
            106 => T::List(vec![]),
            107 => {
                let n = self.u16();
                T::List(self.take(n).iter().map(|b| T::Int(*b as i64)).collect())
            }
            108 => {
                let n = self.u32();
                let items = (0..n).map(|_| self.term()).collect();
                assert_eq!(self.u8(), 106, "an improper list");
                T::List(items)
            }
            116 => {
                let n = self.u32();
                T::Map((0..n).map(|_| (self.term(), self.term())).collect())
            }
            88 => {
                self.atom_name();
                self.take(12);
                T::Opaque(self.0[start..self.1].to_vec())
            }
            90 => {
                let n = self.u16();
                self.atom_name();
                self.take(4 + 4 * n);
                T::Opaque(self.0[start..self.1].to_vec())
            }
            t => panic!("tag {t} in a test reply"),
        }
    }
}

/// Reads a whole ETF binary.
pub fn parse(b: &[u8]) -> T {
    assert_eq!(b.first(), Some(&131), "no version byte");
    let mut c = Cur(b, 1);
    let t = c.term();
    assert_eq!(c.1, b.len(), "bytes after the term");
    t
}

fn node() -> Vec<u8> {
    let name = b"nonode@nohost";
    let mut v = vec![119, name.len() as u8];
    v.extend_from_slice(name);
    v
}

/// A reference (NEWER_REFERENCE_EXT), as the VM makes the marker.
pub fn reference(n: u32) -> T {
    let mut v = vec![90, 0, 3];
    v.extend(node());
    v.extend_from_slice(&0u32.to_be_bytes());
    for w in [n, 7, 9] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    T::Opaque(v)
}

/// A pid (NEW_PID_EXT).
pub fn pid(n: u32) -> T {
    let mut v = vec![88];
    v.extend(node());
    for w in [n, 0, 0] {
        v.extend_from_slice(&w.to_be_bytes());
    }
    T::Opaque(v)
}

pub fn marker() -> T {
    reference(4242)
}

pub fn handle(id: u64) -> T {
    tuple(vec![marker(), atom("handle"), int(id as i64)])
}

/// The id of `{M, handle, Id}`.
pub fn handle_of(t: &T) -> Option<u64> {
    match t {
        T::Tuple(items)
            if items.len() == 3 && items[0] == marker() && items[1] == atom("handle") =>
        {
            match items[2] {
                T::Int(i) => Some(i as u64),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A packet from the worker.
#[derive(Debug)]
pub enum Pkt {
    Ready(T),
    Result { id: u64, flags: u8, reply: T },
    Callback { id: u64, req: T },
    Output { id: u64, stream: u8, data: String },
    Log(T),
    Send(T),
    Cast(T),
    Memory(u64),
    Handles(u64),
}

fn be64(b: &[u8]) -> u64 {
    u64::from_be_bytes(b[..8].try_into().unwrap())
}

fn decode_packet(p: &[u8]) -> Pkt {
    let body = &p[1..];
    match p[0] {
        0 => Pkt::Ready(parse(body)),
        1 => Pkt::Result {
            id: be64(body),
            flags: body[8],
            reply: parse(&body[9..]),
        },
        2 => Pkt::Callback {
            id: be64(body),
            req: parse(&body[8..]),
        },
        3 => Pkt::Output {
            id: be64(body),
            stream: body[8],
            data: String::from_utf8(body[9..].to_vec()).unwrap(),
        },
        4 => Pkt::Log(parse(body)),
        5 => Pkt::Send(parse(body)),
        6 => Pkt::Cast(parse(body)),
        7 => Pkt::Memory(be64(body)),
        8 => Pkt::Handles(be64(body)),
        k => panic!("packet kind {k}"),
    }
}

pub struct Worker {
    pub child: Child,
    to: Option<std::fs::File>,
    from: mpsc::Receiver<Vec<u8>>,
    next_id: u64,
    /// How many pieces (kinds 9 and 10) came, of packets the worker wrote in pieces;
    /// `recv` gives such a packet whole, as the owner does.
    pub pieces: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

pub fn repo() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The hello map the tests start workers with: the repo's `erlang` package, and the
/// repo's venv when it has one (numpy).
pub fn hello(extra: Vec<(T, T)>) -> T {
    let repo = repo();
    let mut pairs = vec![
        (atom("marker"), marker()),
        (
            atom("python_pkg"),
            bin(repo.join("python").to_str().unwrap()),
        ),
        (atom("path"), nil()),
    ];
    let venv = repo.join(".venv");
    if venv.join("pyvenv.cfg").is_file() {
        pairs.push((
            atom("venv"),
            bin(venv.canonicalize().unwrap().to_str().unwrap()),
        ));
    }
    pairs.extend(extra);
    map(pairs)
}

impl Worker {
    /// A worker, not yet greeted.
    pub fn spawn() -> Worker {
        Worker::spawn_env(&[])
    }

    /// A worker with these environment variables, not yet greeted.
    pub fn spawn_env(envs: &[(&str, &str)]) -> Worker {
        let (in_r, in_w) = pipe();
        let (out_r, out_w) = pipe();
        use std::os::fd::AsRawFd;
        let (a, b) = (in_r.as_raw_fd(), out_w.as_raw_fd());
        // PY_WORKER_WRAPPER="strace -f -c -o /tmp/s.txt" runs the worker under a tool.
        let exe = env!("CARGO_BIN_EXE_py_worker");
        let mut cmd = match std::env::var("PY_WORKER_WRAPPER") {
            Ok(wrapper) if !wrapper.is_empty() => {
                let mut parts = wrapper.split_whitespace();
                let mut cmd = Command::new(parts.next().unwrap());
                cmd.args(parts).arg(exe);
                cmd
            }
            _ => Command::new(exe),
        };
        cmd.envs(envs.iter().copied());
        unsafe {
            cmd.pre_exec(move || {
                // Out of the way of 3 and 4 first, then onto them (dup2 clears CLOEXEC).
                let a = libc::fcntl(a, libc::F_DUPFD_CLOEXEC, 10);
                let b = libc::fcntl(b, libc::F_DUPFD_CLOEXEC, 10);
                if a < 0 || b < 0 || libc::dup2(a, 3) < 0 || libc::dup2(b, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn py_worker");
        drop(in_r);
        drop(out_w);
        let (tx, rx) = mpsc::channel();
        let mut from = std::fs::File::from(out_r);
        let pieces = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = pieces.clone();
        std::thread::spawn(move || {
            let mut joined = Vec::new();
            loop {
                let mut len = [0u8; 4];
                if from.read_exact(&mut len).is_err() {
                    return;
                }
                let mut body = vec![0; u32::from_be_bytes(len) as usize];
                if from.read_exact(&mut body).is_err() {
                    return;
                }
                let whole = match body.first() {
                    Some(9 | 10) => {
                        assert!(
                            body.len() <= (1 << 20) + 1,
                            "a piece of {} bytes",
                            body.len()
                        );
                        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        joined.extend_from_slice(&body[1..]);
                        if body[0] == 9 {
                            continue;
                        }
                        std::mem::take(&mut joined)
                    }
                    _ => {
                        assert!(joined.is_empty(), "a packet between the pieces of another");
                        body
                    }
                };
                if tx.send(whole).is_err() {
                    return;
                }
            }
        });
        Worker {
            child,
            to: Some(std::fs::File::from(in_w)),
            from: rx,
            next_id: 1,
            pieces,
        }
    }

    /// A worker that has answered `ready`.
    pub fn start() -> Worker {
        Worker::start_with(vec![])
    }

    pub fn start_with(extra: Vec<(T, T)>) -> Worker {
        let mut w = Worker::spawn();
        w.send_hello(&hello(extra));
        match w.recv() {
            Pkt::Ready(T::Map(_)) => w,
            other => panic!("not ready: {other:?}"),
        }
    }

    pub fn send_raw(&mut self, body: &[u8]) {
        let mut p = (body.len() as u32).to_be_bytes().to_vec();
        p.extend_from_slice(body);
        self.to.as_mut().unwrap().write_all(&p).unwrap();
    }

    pub fn send_hello(&mut self, hello: &T) {
        let mut p = vec![0];
        p.extend(etf(hello));
        self.send_raw(&p);
    }

    /// Sends a job of `caller` (pid 100 unless given); returns its id.
    pub fn job(&mut self, job: T, ret: u8) -> u64 {
        self.job_nested(job, ret, 0)
    }

    pub fn job_nested(&mut self, job: T, ret: u8, parent: u64) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut p = vec![1];
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&parent.to_be_bytes());
        p.push(ret);
        p.extend(etf(&tuple(vec![pid(100), job])));
        self.send_raw(&p);
        id
    }

    pub fn reply(&mut self, id: u64, reply: &T) {
        let mut p = vec![2];
        p.extend_from_slice(&id.to_be_bytes());
        p.extend(etf(reply));
        self.send_raw(&p);
    }

    pub fn cancel(&mut self, id: u64) {
        let mut p = vec![3];
        p.extend_from_slice(&id.to_be_bytes());
        self.send_raw(&p);
    }

    pub fn release(&mut self, ids: &[u64]) {
        let mut p = vec![4];
        p.extend_from_slice(&(ids.len() as u32).to_be_bytes());
        for id in ids {
            p.extend_from_slice(&id.to_be_bytes());
        }
        self.send_raw(&p);
    }

    pub fn ack(&mut self, id: u64) {
        let mut p = vec![5];
        p.extend_from_slice(&id.to_be_bytes());
        self.send_raw(&p);
    }

    /// Closes the worker's input.
    pub fn close(&mut self) {
        self.to = None;
    }

    pub fn recv_timeout(&mut self, t: Duration) -> Option<Pkt> {
        self.from.recv_timeout(t).ok().map(|b| decode_packet(&b))
    }

    pub fn recv(&mut self) -> Pkt {
        match self.from.recv_timeout(Duration::from_secs(20)) {
            Ok(b) => decode_packet(&b),
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no packet from the worker within 20 s"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = self.wait_exit(Duration::from_secs(5));
                panic!("the worker closed its output (exit status {status:?})")
            }
        }
    }

    /// The result of job `id` (any other packet before it is a failure, but for the
    /// count of live objects that follows a result that made handles).
    pub fn result(&mut self, id: u64) -> T {
        loop {
            match self.recv() {
                Pkt::Result { id: got, reply, .. } if got == id => return reply,
                Pkt::Handles(_) => continue,
                other => panic!("expected the result of job {id}, got {other:?}"),
            }
        }
    }

    /// Runs a job and gives its result.
    pub fn run(&mut self, job: T) -> T {
        let id = self.job(job, 0);
        self.result(id)
    }

    /// Waits for the process to end, for at most `t`.
    pub fn wait_exit(&mut self, t: Duration) -> Option<std::process::ExitStatus> {
        let until = Instant::now() + t;
        while Instant::now() < until {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `{call, Name, Args, Kwargs}`.
pub fn call(name: &str, args: Vec<T>) -> T {
    tuple(vec![atom("call"), bin(name), list(args), nil()])
}

/// `{eval, Code, Bindings, Ns}` / `{exec, ...}`.
pub fn eval(code: &str, bindings: Vec<(T, T)>, ns: T) -> T {
    let b = if bindings.is_empty() {
        nil()
    } else {
        map(bindings)
    };
    tuple(vec![atom("eval"), bin(code), b, ns])
}
pub fn exec(code: &str, bindings: Vec<(T, T)>, ns: T) -> T {
    let b = if bindings.is_empty() {
        nil()
    } else {
        map(bindings)
    };
    tuple(vec![atom("exec"), bin(code), b, ns])
}

/// `{error, {python, Type, Msg, Tb}}` -> (Type, Msg, Tb lines).
pub fn python_error(t: &T) -> (String, String, Vec<String>) {
    let text = |t: &T| match t {
        T::Bin(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a binary: {other:?}"),
    };
    match t {
        T::Tuple(e) if e.len() == 2 && e[0] == atom("error") => match &e[1] {
            T::Tuple(p) if p.len() == 4 && p[0] == atom("python") => {
                let tb = match &p[3] {
                    T::List(l) => l.iter().map(text).collect(),
                    other => panic!("traceback {other:?}"),
                };
                (text(&p[1]), text(&p[2]), tb)
            }
            other => panic!("not a python error: {other:?}"),
        },
        other => panic!("not an error: {other:?}"),
    }
}
