//! The transport (docs/worker-protocol.md, "Transport"): packets of `{packet, 4}`, a
//! 4-byte big-endian length and a body, read from fd 3 and written to fd 4. Reads are
//! buffered (whatever is available, then framed); each packet goes out in one `write`.
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::sync::{Mutex, MutexGuard, OnceLock};

/// The fd packets come in on.
pub const IN_FD: i32 = 3;
/// The fd packets go out on.
pub const OUT_FD: i32 = 4;

/// First byte of a packet from the VM.
pub mod from_vm {
    pub const HELLO: u8 = 0;
    pub const JOB: u8 = 1;
    pub const REPLY: u8 = 2;
    pub const CANCEL: u8 = 3;
    pub const RELEASE: u8 = 4;
    pub const ACK: u8 = 5;
    /// A piece of a bigger packet: more pieces follow.
    pub const PIECE: u8 = super::PIECE_KIND;
    /// The last piece of a bigger packet: the pieces, joined, are read as one packet.
    pub const LAST_PIECE: u8 = super::LAST_PIECE;
}

/// First byte of a packet to the VM.
pub mod to_vm {
    pub const READY: u8 = 0;
    pub const RESULT: u8 = 1;
    pub const CALLBACK: u8 = 2;
    pub const OUTPUT: u8 = 3;
    pub const LOG: u8 = 4;
    pub const SEND: u8 = 5;
    pub const CAST: u8 = 6;
    pub const MEMORY: u8 = 7;
    pub const HANDLES: u8 = 8;
}

/// What a read buffer starts with; it grows to hold the largest packet seen.
const READ_CHUNK: usize = 64 * 1024;

/// Packets read from a byte stream: as many bytes as are there per `read`, then framed,
/// so a burst of small packets costs one system call.
pub struct PacketReader<R> {
    src: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// The VM's packets: fd 3, read by the main thread or the reader thread.
pub type Input = PacketReader<PollingFd>;

impl PacketReader<PollingFd> {
    /// Reads fd 3 (owned from now on).
    pub fn stdin3() -> Input {
        // SAFETY: fd 3 is ours by the protocol; nothing else reads or closes it.
        PacketReader::new(PollingFd::new(unsafe { File::from_raw_fd(IN_FD) }))
    }

    /// The next packet, the main thread's way: the pipe is polled for up to `spin`
    /// before the thread sleeps in `poll(2)`.
    pub fn next_polling(&mut self, spin: std::time::Duration) -> io::Result<Option<&[u8]>> {
        // Cleared by the read that finds data or gives up polling.
        self.src.polling_until = Some(std::time::Instant::now() + spin);
        self.next()
    }
}

/// fd 3, non-blocking: a read that finds nothing polls the pipe until `polling_until`
/// (the main thread between jobs), then sleeps in `poll(2)`. Waking a sleeping thread
/// costs 15-45 us on this kind of virtual machine when its CPU idles (a pipe ping-pong
/// between two processes that sleep takes 47 us, 17 us when one polls); a caller
/// making calls one after another sends the next within a few microseconds.
pub struct PollingFd {
    file: File,
    polling_until: Option<std::time::Instant>,
}

impl PollingFd {
    fn new(file: File) -> PollingFd {
        // SAFETY: fcntl on an fd this value owns. If it fails, reads simply block.
        unsafe {
            let fd = file.as_raw_fd();
            let flags = libc::fcntl(fd, libc::F_GETFL);
            if flags >= 0 {
                libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
        }
        PollingFd {
            file,
            polling_until: None,
        }
    }
}

impl AsRawFd for PollingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Read for PollingFd {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.file.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => {
                    self.polling_until = None;
                    return other;
                }
            }
            if self
                .polling_until
                .is_some_and(|t| std::time::Instant::now() < t)
            {
                std::hint::spin_loop();
                continue;
            }
            self.polling_until = None;
            let mut pfd = libc::pollfd {
                fd: self.file.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd; an interrupted poll is retried by the loop.
            unsafe { libc::poll(&mut pfd, 1, -1) };
        }
    }
}

impl<R: AsRawFd> PacketReader<R> {
    /// The fd read from (to `poll` it).
    pub fn fd(&self) -> RawFd {
        self.src.as_raw_fd()
    }
}

impl<R: Read> PacketReader<R> {
    pub fn new(src: R) -> PacketReader<R> {
        PacketReader {
            src,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
        }
    }

    /// The next packet's body, or `None` at the end of input (a packet cut short by the
    /// end of input is the end of input too). Blocks until a whole packet is there.
    pub fn next(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            if let Some((at, len)) = self.frame() {
                return Ok(Some(&self.buf[at..at + len]));
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    /// The next packet's body if it has been read whole already (no system call).
    pub fn buffered(&mut self) -> Option<&[u8]> {
        let (at, len) = self.frame()?;
        Some(&self.buf[at..at + len])
    }

    /// Where the next whole packet's body is in the buffer, and takes it.
    fn frame(&mut self) -> Option<(usize, usize)> {
        let have = self.end - self.start;
        if have < 4 {
            return None;
        }
        let b = &self.buf[self.start..self.start + 4];
        let len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        if have < 4 + len {
            return None;
        }
        let body = self.start + 4;
        self.start = body + len;
        Some((body, len))
    }

    /// One read (blocking): `false` at the end of input.
    pub fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            // Nothing kept: the read starts at the front.
            self.start = 0;
            self.end = 0;
        }
        let have = self.end - self.start;
        let need = if have >= 4 {
            let b = &self.buf[self.start..self.start + 4];
            4 + u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize
        } else {
            4
        };
        if self.start + need > self.buf.len() {
            self.make_room(need);
        }
        loop {
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves what is kept to the front, and grows the buffer to hold `need` bytes.
    fn make_room(&mut self, need: usize) {
        self.buf.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.buf.len() < need {
            self.buf.resize(need.max(READ_CHUNK), 0);
        }
    }
}

/// One packet being built: the length is filled in by [`Packet::bytes`].
pub struct Packet(Vec<u8>);

impl Packet {
    pub fn new(kind: u8) -> Packet {
        Packet::reuse(Vec::with_capacity(64), kind)
    }

    /// A packet built in `buf` (emptied first), to spare an allocation per packet.
    pub fn reuse(mut buf: Vec<u8>, kind: u8) -> Packet {
        buf.clear();
        buf.extend_from_slice(&[0, 0, 0, 0, kind]);
        Packet(buf)
    }

    pub fn u8(&mut self, x: u8) -> &mut Self {
        self.0.push(x);
        self
    }

    pub fn u64(&mut self, x: u64) -> &mut Self {
        self.0.extend_from_slice(&x.to_be_bytes());
        self
    }

    pub fn extend(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }

    /// How many bytes the packet has (header included).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The whole packet, length filled in.
    pub fn bytes(&mut self) -> &[u8] {
        let len = (self.0.len() - 4) as u32;
        self.0[..4].copy_from_slice(&len.to_be_bytes());
        &self.0
    }

    /// The buffer, to go on writing ETF into (a `Writer`'s); [`Packet::from_buf`] takes
    /// it back.
    pub fn into_buf(self) -> Vec<u8> {
        self.0
    }

    /// A packet from what [`Packet::into_buf`] gave, with more written after it.
    pub fn from_buf(buf: Vec<u8>) -> Packet {
        debug_assert!(buf.len() >= 5);
        Packet(buf)
    }
}

/// Fd 4, shared by every thread that sends: a packet is written whole under the lock.
pub struct Out {
    file: Mutex<Box<dyn Write + Send>>,
}

static OUT: OnceLock<Out> = OnceLock::new();

/// The output, once [`init_out`] has run.
pub fn out() -> &'static Out {
    OUT.get_or_init(|| Out {
        // SAFETY: fd 4 is ours by the protocol; nothing else writes or closes it.
        file: Mutex::new(Box::new(unsafe { File::from_raw_fd(OUT_FD) })),
    })
}

impl Out {
    /// Holds the output: packets sent through the guard go out in this order, with no
    /// other thread's in between.
    pub fn lock(&self) -> OutGuard<'_> {
        OutGuard(self.file.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Sends one packet.
    pub fn send(&self, packet: &mut Packet) {
        self.lock().send(packet);
    }
}

pub struct OutGuard<'a>(MutexGuard<'a, Box<dyn Write + Send>>);

/// Packets with a body longer than this go out in pieces of [`PIECE`] bytes: the port
/// copies a packet into one binary on a VM scheduler once it has read it all, 16 ms for
/// 26 MB here, holding that scheduler. A piece costs it about a millisecond.
pub const WHOLE: usize = 2 * PIECE;
/// The size of a piece (kinds [`PIECE_KIND`] and [`LAST_PIECE`] in both directions).
pub const PIECE: usize = 1 << 20;
/// The first byte of a piece of a bigger packet, more pieces following.
pub const PIECE_KIND: u8 = 9;
/// The first byte of the last piece of a bigger packet.
pub const LAST_PIECE: u8 = 10;

impl OutGuard<'_> {
    /// Sends a packet, in pieces if it is bigger than [`WHOLE`]; under the guard, so
    /// the pieces of one packet go out one after another.
    pub fn send(&mut self, packet: &mut Packet) {
        let bytes = packet.bytes();
        let body = &bytes[4..];
        if body.len() <= WHOLE {
            self.write(bytes);
            return;
        }
        let mut chunks = body.chunks(PIECE).peekable();
        while let Some(chunk) = chunks.next() {
            let kind = if chunks.peek().is_some() {
                PIECE_KIND
            } else {
                LAST_PIECE
            };
            let mut head = [0u8; 5];
            head[..4].copy_from_slice(&(chunk.len() as u32 + 1).to_be_bytes());
            head[4] = kind;
            self.write(&head);
            self.write(chunk);
        }
    }

    /// Bytes that are part of the stream of packets.
    fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = self.0.write_all(bytes) {
            // The VM is gone (EPIPE) or the port is broken: nobody hears us any more.
            crate::exit_now(if e.kind() == io::ErrorKind::BrokenPipe {
                0
            } else {
                1
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives its bytes `step` at a time, as a pipe may.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.data.len() - self.pos);
            buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
            self.pos += n;
            Ok(n)
        }
    }

    fn framed(bodies: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for b in bodies {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
        out
    }

    #[test]
    fn frames_packets_whatever_the_reads_cut() {
        let bodies = vec![
            vec![1, 2, 3],
            vec![],
            vec![7; 200_000],
            (0..=255).collect::<Vec<u8>>(),
        ];
        for step in [1, 3, 4, 5, 4096, 1 << 20] {
            let mut r = PacketReader::new(Trickle {
                data: framed(&bodies),
                pos: 0,
                step,
            });
            for b in &bodies {
                assert_eq!(r.next().unwrap().unwrap(), &b[..], "step {step}");
            }
            assert!(r.next().unwrap().is_none());
        }
    }

    #[test]
    fn a_packet_cut_short_is_the_end_of_input() {
        let mut data = framed(&[vec![1, 2]]);
        data.extend_from_slice(&[0, 0, 0, 9, 1]);
        let mut r = PacketReader::new(Trickle {
            data,
            pos: 0,
            step: 2,
        });
        assert_eq!(r.next().unwrap().unwrap(), &[1, 2]);
        assert!(r.next().unwrap().is_none());
    }

    #[test]
    fn packets_carry_their_length() {
        let mut p = Packet::new(to_vm::RESULT);
        p.u64(5).u8(1).extend(&[131, 106]);
        assert_eq!(
            p.bytes(),
            &[0, 0, 0, 12, 1, 0, 0, 0, 0, 0, 0, 0, 5, 1, 131, 106]
        );
    }
}
