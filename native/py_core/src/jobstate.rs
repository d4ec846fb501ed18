//! The life of one job, shared by the thread that runs it, the caller that may cancel it
//! and the callbacks that may abort it. The rule it keeps: once a cancel has been
//! answered `ok`, the caller is sent nothing more for that job; once it was answered
//! `sent`, the final reply is (or is about to be) in the caller's mailbox.
use std::sync::{Mutex, MutexGuard};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum State {
    Queued,
    Running,
    /// The final reply is being built and sent, outside the lock (it may be large).
    Sending,
    /// The final reply was sent (by the runner, or by an abort on its behalf).
    Done,
    /// No final reply will ever be sent.
    Cancelled,
}

pub struct JobState(Mutex<State>);

impl Default for JobState {
    fn default() -> Self {
        JobState(Mutex::new(State::Queued))
    }
}

impl JobState {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self) -> State {
        *self.lock()
    }

    /// Queued -> Running; false if the job was cancelled before it started.
    pub fn start(&self) -> bool {
        let mut st = self.lock();
        let ok = *st == State::Queued;
        if ok {
            *st = State::Running;
        }
        ok
    }

    /// Runs `send` (an intermediate message) only while the job runs, under the lock, so
    /// that a cancel cannot slip in between the check and the send.
    pub fn while_running(&self, send: impl FnOnce()) -> bool {
        let st = self.lock();
        let ok = *st == State::Running;
        if ok {
            send();
        }
        ok
    }

    /// Running -> Sending: the caller of `cancel` will be told `sent` from now on.
    pub fn begin_send(&self) -> bool {
        let mut st = self.lock();
        let ok = *st == State::Running;
        if ok {
            *st = State::Sending;
        }
        ok
    }

    pub fn end_send(&self) {
        *self.lock() = State::Done;
    }

    /// Stops a job that has not replied yet. With `final_reply`, the job is answered on
    /// the spot (an error: its context went down) and ends Done; without, Cancelled.
    /// Returns the state it was in.
    pub fn stop(&self, final_reply: Option<&mut dyn FnMut()>) -> State {
        let mut st = self.lock();
        let before = *st;
        if matches!(before, State::Queued | State::Running) {
            *st = match final_reply {
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
        let ok = *st == State::Running;
        *st = State::Done;
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_life() {
        let s = JobState::default();
        assert_eq!(s.get(), State::Queued);
        assert!(s.start());
        assert!(!s.start(), "starts once");
        let mut sent = 0;
        assert!(s.while_running(|| sent += 1));
        assert!(s.begin_send());
        assert!(
            !s.while_running(|| sent += 1),
            "nothing after the final reply began"
        );
        s.end_send();
        assert_eq!((s.get(), sent), (State::Done, 1));
    }

    #[test]
    fn cancel_before_start_means_never_run() {
        let s = JobState::default();
        assert_eq!(s.stop(None), State::Queued);
        assert_eq!(s.get(), State::Cancelled);
        assert!(!s.start());
        assert_eq!(s.stop(None), State::Cancelled, "twice is harmless");
    }

    #[test]
    fn cancel_while_running_silences_the_job() {
        let s = JobState::default();
        s.start();
        assert_eq!(s.stop(None), State::Running);
        assert!(!s.while_running(|| panic!("no message after a cancel")));
        assert!(!s.begin_send(), "the final reply is dropped");
    }

    #[test]
    fn cancel_during_the_final_reply_reports_it() {
        let s = JobState::default();
        s.start();
        s.begin_send();
        assert_eq!(s.stop(None), State::Sending);
        assert_eq!(
            s.get(),
            State::Sending,
            "untouched: the reply is on its way"
        );
    }

    #[test]
    fn abort_answers_in_place_of_the_runner() {
        let s = JobState::default();
        s.start();
        let mut answered = false;
        assert_eq!(s.stop(Some(&mut || answered = true)), State::Running);
        assert!(answered);
        assert_eq!(s.get(), State::Done);
        assert!(!s.begin_send(), "the runner's late reply is dropped");
        assert_eq!(s.stop(None), State::Done, "a cancel now says sent");
    }

    #[test]
    fn complete_tells_whether_a_deadline_won() {
        let s = JobState::default();
        s.start();
        assert!(s.complete());
        let t = JobState::default();
        t.start();
        t.stop(None);
        assert!(!t.complete(), "expired first");
    }
}
