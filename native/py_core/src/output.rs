//! Back-pressure for Python's output. Each `print` used to become a message at once, so
//! a loop of two million prints filled the caller's mailbox with millions of messages
//! (3 GB). Now a reader (the calling process, or the py server) has at most
//! `MAX_IN_FLIGHT` output messages unread; what Python writes meanwhile is coalesced,
//! and handed to the reader when it acknowledges a message (`ack`), in the same order.
//! A writer that gets `MAX_PENDING` bytes ahead of its reader waits, without the GIL.
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Output messages a reader may have unread.
const MAX_IN_FLIGHT: usize = 4;
/// Bytes coalesced while the reader is behind, before the writer waits.
const MAX_PENDING: usize = 1 << 20;
/// How often a waiting writer checks that its reader is still there.
const RECHECK: Duration = Duration::from_millis(50);

/// Written text, in order; adjacent writes to one stream are merged.
pub struct Chunk {
    pub stderr: bool,
    pub data: Vec<u8>,
}

struct State {
    in_flight: usize,
    pending: Vec<Chunk>,
    pending_bytes: usize,
}

/// One reader's output: its messages in flight and what waits for them.
pub struct Sink {
    state: Mutex<State>,
    room: Condvar,
}

impl Default for Sink {
    fn default() -> Self {
        Sink::new()
    }
}

impl Sink {
    pub const fn new() -> Sink {
        Sink {
            state: Mutex::new(State {
                in_flight: 0,
                pending: Vec::new(),
                pending_bytes: 0,
            }),
            room: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offers written text. `Some`: send it now as a message (a credit is taken);
    /// `None`: it was queued behind the messages in flight.
    pub fn offer(&self, stderr: bool, data: Vec<u8>) -> Option<Chunk> {
        let mut st = self.lock();
        if st.in_flight < MAX_IN_FLIGHT && st.pending.is_empty() {
            st.in_flight += 1;
            return Some(Chunk { stderr, data });
        }
        st.pending_bytes += data.len();
        match st.pending.last_mut() {
            Some(last) if last.stderr == stderr => last.data.extend_from_slice(&data),
            _ => st.pending.push(Chunk { stderr, data }),
        }
        None
    }

    /// Waits (the caller has released the GIL) while too much is pending and the reader
    /// is still there.
    pub fn wait_for_room(&self, reader_alive: impl Fn() -> bool) {
        let mut st = self.lock();
        while st.pending_bytes > MAX_PENDING && reader_alive() {
            st = self
                .room
                .wait_timeout(st, RECHECK)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }

    /// Whether a writer must wait for room (checked before releasing the GIL).
    pub fn full(&self) -> bool {
        self.lock().pending_bytes > MAX_PENDING
    }

    /// The reader has handled one message. When that was the last one in flight, what
    /// was written meanwhile, for it to handle at once (it is not counted in flight: the
    /// reader writes it before it reads another message). While others are in flight
    /// nothing: they were written earlier and must be handled first.
    pub fn ack(&self) -> Vec<Chunk> {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if st.in_flight > 0 {
            return Vec::new();
        }
        self.take(&mut st)
    }

    /// The reader has handled one message, and what it is handed is sent as messages
    /// of their own (a worker's output packets, each acknowledged in turn): as `ack`, but
    /// the chunks count as in flight.
    pub fn ack_for_send(&self) -> Vec<Chunk> {
        let mut st = self.lock();
        st.in_flight = st.in_flight.saturating_sub(1);
        if st.in_flight > 0 {
            return Vec::new();
        }
        let chunks = self.take(&mut st);
        st.in_flight = chunks.len();
        chunks
    }

    /// Everything pending, to be sent as messages before a message that must come
    /// after it (a final reply, a callback request); each counts as in flight.
    pub fn take_for_send(&self) -> Vec<Chunk> {
        let mut st = self.lock();
        let chunks = self.take(&mut st);
        st.in_flight += chunks.len();
        chunks
    }

    /// A new reader (a restarted py server): nothing is in flight to it.
    pub fn reset(&self) -> Vec<Chunk> {
        let mut st = self.lock();
        st.in_flight = 0;
        let chunks = self.take(&mut st);
        st.in_flight = chunks.len();
        chunks
    }

    fn take(&self, st: &mut State) -> Vec<Chunk> {
        if st.pending.is_empty() {
            // The common case, at the end of every job: nothing written, nobody
            // waiting. `notify_all` is a system call even without waiters.
            return Vec::new();
        }
        st.pending_bytes = 0;
        let chunks = std::mem::take(&mut st.pending);
        self.room.notify_all();
        chunks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(chunks: &[Chunk]) -> Vec<(bool, String)> {
        chunks
            .iter()
            .map(|c| (c.stderr, String::from_utf8_lossy(&c.data).into_owned()))
            .collect()
    }

    #[test]
    fn sends_until_the_reader_is_behind_then_coalesces_in_order() {
        let sink = Sink::default();
        for i in 0..MAX_IN_FLIGHT {
            assert!(sink.offer(false, format!("{i}").into_bytes()).is_some());
        }
        assert!(sink.offer(false, b"a".to_vec()).is_none());
        assert!(sink.offer(false, b"b".to_vec()).is_none());
        assert!(sink.offer(true, b"E".to_vec()).is_none());
        assert!(sink.offer(false, b"c".to_vec()).is_none());
        for _ in 1..MAX_IN_FLIGHT {
            assert!(sink.ack().is_empty(), "earlier messages are read first");
        }
        assert!(
            sink.offer(false, b"d".to_vec()).is_none(),
            "behind what is pending"
        );
        let handed = sink.ack();
        assert_eq!(
            text(&handed),
            vec![
                (false, "ab".to_string()),
                (true, "E".to_string()),
                (false, "cd".to_string())
            ]
        );
        // Every message was read and the rest handed over: messages go out again.
        assert!(sink.offer(false, b"e".to_vec()).is_some());
    }

    #[test]
    fn nothing_pending_overtakes_a_later_send() {
        let sink = Sink::default();
        for _ in 0..MAX_IN_FLIGHT {
            sink.offer(false, b"x".to_vec());
        }
        sink.offer(false, b"late".to_vec());
        // Before a final reply, what is pending goes out first and counts in flight.
        let sent = sink.take_for_send();
        assert_eq!(text(&sent), vec![(false, "late".to_string())]);
        assert!(sink.ack().is_empty());
        assert!(
            sink.offer(false, b"y".to_vec()).is_none(),
            "still 4 in flight"
        );
        for _ in 0..MAX_IN_FLIGHT - 1 {
            assert!(sink.ack().is_empty());
        }
        assert_eq!(text(&sink.ack()), vec![(false, "y".to_string())]);
    }

    #[test]
    fn a_writer_far_ahead_waits_until_the_reader_acks_or_leaves() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;
        let sink = Arc::new(Sink::default());
        for _ in 0..MAX_IN_FLIGHT {
            sink.offer(false, b"x".to_vec());
        }
        sink.offer(false, vec![b'p'; MAX_PENDING + 1]);
        assert!(sink.full());
        let alive = Arc::new(AtomicBool::new(true));
        let (s, a) = (sink.clone(), alive.clone());
        let writer = std::thread::spawn(move || s.wait_for_room(|| a.load(Ordering::SeqCst)));
        std::thread::sleep(Duration::from_millis(30));
        assert!(!writer.is_finished(), "the writer waits for the reader");
        for _ in 1..MAX_IN_FLIGHT {
            sink.ack();
        }
        assert_eq!(sink.ack()[0].data.len(), MAX_PENDING + 1);
        writer.join().unwrap();
        // A reader that leaves releases a waiting writer too.
        sink.offer(false, vec![b'p'; MAX_PENDING + 1]);
        let (s, a) = (sink.clone(), alive.clone());
        let writer = std::thread::spawn(move || s.wait_for_room(|| a.load(Ordering::SeqCst)));
        alive.store(false, Ordering::SeqCst);
        writer.join().unwrap();
    }

    #[test]
    fn what_an_ack_hands_over_to_be_sent_counts_in_flight() {
        let sink = Sink::default();
        for _ in 0..MAX_IN_FLIGHT {
            assert!(sink.offer(false, b"x".to_vec()).is_some());
        }
        sink.offer(false, b"a".to_vec());
        sink.offer(true, b"b".to_vec());
        for _ in 1..MAX_IN_FLIGHT {
            assert!(sink.ack_for_send().is_empty());
        }
        let sent = sink.ack_for_send();
        assert_eq!(
            text(&sent),
            vec![(false, "a".to_string()), (true, "b".to_string())]
        );
        // Two in flight now: two more go out at once, the next one waits.
        assert!(sink.offer(false, b"c".to_vec()).is_some());
        assert!(sink.offer(false, b"d".to_vec()).is_some());
        assert!(sink.offer(false, b"e".to_vec()).is_none());
    }

    #[test]
    fn a_new_reader_starts_with_nothing_in_flight() {
        let sink = Sink::default();
        for _ in 0..MAX_IN_FLIGHT {
            sink.offer(false, b"x".to_vec());
        }
        sink.offer(true, b"lost reader".to_vec());
        let resent = sink.reset();
        assert_eq!(text(&resent), vec![(true, "lost reader".to_string())]);
        for _ in 1..MAX_IN_FLIGHT {
            assert!(sink.offer(false, b"y".to_vec()).is_some());
        }
        assert!(sink.offer(false, b"z".to_vec()).is_none());
    }
}
