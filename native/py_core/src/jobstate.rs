//! The life of one job, shared by the thread that runs it, the caller that may cancel it
//! and the callbacks that may abort it. The rule it keeps: once a cancel has been
//! answered `ok`, the caller is sent nothing more for that job; once it was answered
//! `sent`, the final reply is (or is about to be) in the caller's mailbox.
//!
//! A caller may also wait for a short job inside the NIF that submitted it (see
//! `wait_direct`): then the final reply `R` is handed over through the state instead
//! of sent, unless the job sent anything else first (output, a callback request),
//! which must be read before the reply and so makes the reply a message too.
use std::sync::{Mutex, MutexGuard};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Queued,
    Running,
    /// The final reply is being built and sent, outside the lock (it may be large).
    Sending,
    /// The final reply is built and waits to be taken by the caller that waits for it
    /// in the NIF (no message is sent).
    Ready,
    /// The final reply was sent or taken (by the runner, or by an abort on its behalf).
    Done,
    /// No final reply will ever be sent.
    Cancelled,
}

/// What the runner does with its final reply (`JobState::finish`).
#[derive(Debug, PartialEq, Eq)]
pub enum Finish<R> {
    /// Send it as a message, then call `end_send`.
    Send(R),
    /// Nothing: the waiting caller takes it from the state.
    Handed,
    /// Nothing: the job was cancelled or aborted meanwhile.
    Dropped(R),
}

/// What a caller waiting in the NIF sees (`JobState::poll`).
#[derive(Debug, PartialEq, Eq)]
pub enum Poll<R> {
    Ready(R),
    Pending,
    /// Not coming this way: the reply is (or will be) a message, or there is none.
    Gone,
}

struct Inner<R> {
    state: State,
    /// The caller waits in the NIF: the final reply may be handed over.
    direct: bool,
    reply: Option<R>,
}

pub struct JobState<R>(Mutex<Inner<R>>);

impl<R> Default for JobState<R> {
    fn default() -> Self {
        JobState(Mutex::new(Inner {
            state: State::Queued,
            direct: false,
            reply: None,
        }))
    }
}

impl<R> JobState<R> {
    fn lock(&self) -> MutexGuard<'_, Inner<R>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self) -> State {
        self.lock().state
    }

    /// Queued -> Running; false if the job was cancelled before it started.
    pub fn start(&self) -> bool {
        let mut st = self.lock();
        let ok = st.state == State::Queued;
        if ok {
            st.state = State::Running;
        }
        ok
    }

    /// Runs `send` (an intermediate message) only while the job runs, under the lock, so
    /// that a cancel cannot slip in between the check and the send. The final reply then
    /// comes as a message too, after this one.
    pub fn while_running(&self, send: impl FnOnce()) -> bool {
        let mut st = self.lock();
        let ok = st.state == State::Running;
        if ok {
            st.direct = false;
            send();
        }
        ok
    }

    /// The caller will wait for the final reply in the NIF (set before the job is queued).
    pub fn wait_direct(&self) {
        self.lock().direct = true;
    }

    /// The waiting caller's look: the handed-over reply (Ready -> Done), or whether it is
    /// still worth waiting for (not answered yet, and nothing sent meanwhile).
    pub fn poll(&self) -> Poll<R> {
        let mut st = self.lock();
        match st.state {
            State::Ready => {
                st.state = State::Done;
                st.reply.take().map_or(Poll::Gone, Poll::Ready)
            }
            State::Queued | State::Running if st.direct => Poll::Pending,
            _ => Poll::Gone,
        }
    }

    /// The waiting caller gives up waiting: the reply, if it was handed over just now;
    /// otherwise it will come as a message.
    pub fn stop_waiting(&self) -> Option<R> {
        let mut st = self.lock();
        st.direct = false;
        if st.state != State::Ready {
            return None;
        }
        st.state = State::Done;
        st.reply.take()
    }

    /// The runner's final reply: Running -> Ready (handed over to a caller that waits for
    /// it) or Running -> Sending (the caller of `cancel` will be told `sent` from now on).
    pub fn finish(&self, reply: R) -> Finish<R> {
        let mut st = self.lock();
        match st.state {
            State::Running if st.direct => {
                st.state = State::Ready;
                st.reply = Some(reply);
                Finish::Handed
            }
            State::Running => {
                st.state = State::Sending;
                Finish::Send(reply)
            }
            _ => Finish::Dropped(reply),
        }
    }

    pub fn end_send(&self) {
        self.lock().state = State::Done;
    }

    /// Stops a job that has not replied yet. With `final_reply`, the job is answered on
    /// the spot (an error: its context went down) and ends Done; without, Cancelled.
    /// Returns the state it was in.
    pub fn stop(&self, final_reply: Option<&mut dyn FnMut()>) -> State {
        let mut st = self.lock();
        let before = st.state;
        if matches!(before, State::Queued | State::Running) {
            st.direct = false;
            st.state = match final_reply {
                Some(send) => {
                    send();
                    State::Done
                }
                None => State::Cancelled,
            };
        }
        before
    }

    /// For a call that answers by returning (the dirty path): Running -> Done, true if
    /// it was still running (not expired meanwhile).
    pub fn complete(&self) -> bool {
        let mut st = self.lock();
        let ok = st.state == State::Running;
        st.state = State::Done;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_life() {
        let s: JobState<()> = JobState::default();
        assert_eq!(s.get(), State::Queued);
        assert!(s.start());
        assert!(!s.start(), "starts once");
        let mut sent = 0;
        assert!(s.while_running(|| sent += 1));
        assert_eq!(s.finish(()), Finish::Send(()));
        assert!(
            !s.while_running(|| sent += 1),
            "nothing after the final reply began"
        );
        s.end_send();
        assert_eq!((s.get(), sent), (State::Done, 1));
    }

    #[test]
    fn cancel_before_start_means_never_run() {
        let s: JobState<()> = JobState::default();
        assert_eq!(s.stop(None), State::Queued);
        assert_eq!(s.get(), State::Cancelled);
        assert!(!s.start());
        assert_eq!(s.stop(None), State::Cancelled, "twice is harmless");
    }

    #[test]
    fn cancel_while_running_silences_the_job() {
        let s: JobState<()> = JobState::default();
        s.start();
        assert_eq!(s.stop(None), State::Running);
        assert!(!s.while_running(|| panic!("no message after a cancel")));
        assert_eq!(
            s.finish(()),
            Finish::Dropped(()),
            "the final reply is dropped"
        );
    }

    #[test]
    fn cancel_during_the_final_reply_reports_it() {
        let s: JobState<()> = JobState::default();
        s.start();
        s.finish(());
        assert_eq!(s.stop(None), State::Sending);
        assert_eq!(
            s.get(),
            State::Sending,
            "untouched: the reply is on its way"
        );
    }

    #[test]
    fn abort_answers_in_place_of_the_runner() {
        let s: JobState<()> = JobState::default();
        s.start();
        let mut answered = false;
        assert_eq!(s.stop(Some(&mut || answered = true)), State::Running);
        assert!(answered);
        assert_eq!(s.get(), State::Done);
        assert_eq!(
            s.finish(()),
            Finish::Dropped(()),
            "the runner's late reply is dropped"
        );
        assert_eq!(s.stop(None), State::Done, "a cancel now says sent");
    }

    #[test]
    fn complete_tells_whether_a_deadline_won() {
        let s: JobState<()> = JobState::default();
        s.start();
        assert!(s.complete());
        let t: JobState<()> = JobState::default();
        t.start();
        t.stop(None);
        assert!(!t.complete(), "expired first");
    }

    #[test]
    fn a_waiting_caller_takes_the_reply() {
        let s: JobState<u32> = JobState::default();
        s.wait_direct();
        assert_eq!(
            s.poll(),
            Poll::Pending,
            "nothing before the runner finished"
        );
        s.start();
        assert_eq!(s.poll(), Poll::Pending);
        assert_eq!(s.finish(7), Finish::Handed);
        assert_eq!(s.get(), State::Ready);
        assert_eq!(s.stop(None), State::Ready, "a cancel now says sent");
        assert_eq!(s.poll(), Poll::Ready(7));
        assert_eq!((s.get(), s.poll()), (State::Done, Poll::Gone), "taken once");
    }

    #[test]
    fn a_job_nobody_waits_for_is_never_handed_over() {
        let s: JobState<u32> = JobState::default();
        s.start();
        assert_eq!(s.poll(), Poll::Gone);
        assert_eq!(s.finish(7), Finish::Send(7));
    }

    #[test]
    fn a_caller_that_stopped_waiting_gets_a_message() {
        let s: JobState<u32> = JobState::default();
        s.wait_direct();
        s.start();
        assert_eq!(s.stop_waiting(), None);
        assert_eq!(s.poll(), Poll::Gone);
        assert_eq!(s.finish(7), Finish::Send(7));
        assert_eq!(s.get(), State::Sending);
    }

    #[test]
    fn giving_up_just_after_the_hand_over_still_gets_the_reply() {
        let s: JobState<u32> = JobState::default();
        s.wait_direct();
        s.start();
        assert_eq!(s.finish(7), Finish::Handed);
        assert_eq!(s.stop_waiting(), Some(7));
        assert_eq!(s.get(), State::Done);
    }

    #[test]
    fn an_intermediate_message_makes_the_reply_a_message() {
        // Output or a callback request sent first must be read first: the final reply
        // cannot overtake it by being handed over.
        let s: JobState<u32> = JobState::default();
        s.wait_direct();
        s.start();
        assert!(s.while_running(|| ()));
        assert_eq!(
            s.poll(),
            Poll::Gone,
            "the caller stops waiting and reads its mailbox"
        );
        assert_eq!(s.finish(7), Finish::Send(7));
    }

    #[test]
    fn an_abort_ends_the_wait() {
        let s: JobState<u32> = JobState::default();
        s.wait_direct();
        s.start();
        assert_eq!(s.stop(Some(&mut || ())), State::Running);
        assert_eq!(s.poll(), Poll::Gone);
        assert_eq!(s.finish(7), Finish::Dropped(7));
        assert_eq!(s.stop_waiting(), None, "the abort's message is the reply");
    }

    #[test]
    fn a_waiting_caller_sees_the_hand_over_from_another_thread() {
        let s = std::sync::Arc::new(JobState::<u32>::default());
        s.wait_direct();
        let runner = {
            let s = s.clone();
            std::thread::spawn(move || {
                assert!(s.start());
                s.finish(42)
            })
        };
        let got = loop {
            match s.poll() {
                Poll::Ready(r) => break Some(r),
                Poll::Gone => break None,
                Poll::Pending => std::thread::yield_now(),
            }
        };
        assert_eq!(runner.join().ok(), Some(Finish::Handed));
        assert_eq!(got, Some(42));
    }
}
