//! Which context of a pool gets the next call.

/// How ready a context is for a call, best first.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub enum Readiness {
    /// Idle and awake (polling its queue): the call starts without a wake-up.
    Awake,
    /// Idle, parked.
    Idle,
    /// Running a job, or with jobs queued; possibly stuck in C code after a timeout.
    Busy,
}

/// Round robin from `start` among the readiest live slots: an idle context is chosen
/// before a busy one (so a context still blocked in C after a timeout does not get new
/// calls while another is free), and an awake one before a parked one. Under load every
/// context is busy and this is plain round robin.
pub fn round_robin_ready(
    n: usize,
    start: usize,
    readiness: impl Fn(usize) -> Option<Readiness>,
) -> Option<usize> {
    // One pass, each slot's readiness read once (it reads atomics other threads write).
    let mut best: Option<(Readiness, usize)> = None;
    for i in (0..n).map(|k| (start + k) % n) {
        match readiness(i) {
            Some(Readiness::Awake) => return Some(i),
            Some(r) if best.is_none_or(|(b, _)| r < b) => best = Some((r, i)),
            _ => {}
        }
    }
    best.map(|(_, i)| i)
}

/// The live slot with the least load (queued jobs plus the running one); ties go to
/// the lowest index.
pub fn least_busy(loads: impl IntoIterator<Item = Option<usize>>) -> Option<usize> {
    loads
        .into_iter()
        .enumerate()
        .filter_map(|(i, l)| l.map(|l| (l, i)))
        .min()
        .map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_robin_turns_and_skips_the_dead() {
        use Readiness::Busy;
        let alive = |f: fn(usize) -> bool| move |i: usize| f(i).then_some(Busy);
        assert_eq!(round_robin_ready(3, 0, alive(|_| true)), Some(0));
        assert_eq!(round_robin_ready(3, 4, alive(|_| true)), Some(1));
        assert_eq!(round_robin_ready(3, 1, alive(|i| i != 1)), Some(2));
        assert_eq!(round_robin_ready(3, 2, alive(|i| i == 0)), Some(0));
        assert_eq!(round_robin_ready(3, 0, alive(|_| false)), None);
        assert_eq!(round_robin_ready(0, 0, alive(|_| true)), None);
    }

    #[test]
    fn ready_contexts_first_then_in_turn() {
        use Readiness::*;
        let r = |v: Vec<Option<Readiness>>| move |i: usize| v[i];
        // One busy (say, stuck in C after a timeout), one idle: the idle one, every time.
        for start in 0..4 {
            assert_eq!(
                round_robin_ready(2, start, r(vec![Some(Busy), Some(Idle)])),
                Some(1)
            );
        }
        // Awake before parked.
        assert_eq!(
            round_robin_ready(3, 0, r(vec![Some(Idle), Some(Busy), Some(Awake)])),
            Some(2)
        );
        // All busy: plain round robin.
        assert_eq!(
            round_robin_ready(3, 1, r(vec![Some(Busy), Some(Busy), Some(Busy)])),
            Some(1)
        );
        assert_eq!(
            round_robin_ready(3, 2, r(vec![Some(Busy), Some(Busy), Some(Busy)])),
            Some(2)
        );
        // Equally ready: in turn.
        assert_eq!(
            round_robin_ready(2, 0, r(vec![Some(Idle), Some(Idle)])),
            Some(0)
        );
        assert_eq!(
            round_robin_ready(2, 1, r(vec![Some(Idle), Some(Idle)])),
            Some(1)
        );
        // Dead slots never.
        assert_eq!(round_robin_ready(2, 0, r(vec![None, None])), None);
    }

    #[test]
    fn least_busy_prefers_short_queues_then_low_index() {
        assert_eq!(least_busy([Some(2), Some(0), Some(1)]), Some(1));
        assert_eq!(least_busy([Some(1), Some(1)]), Some(0));
        assert_eq!(
            least_busy([None, Some(5)]),
            Some(1),
            "dead slots are skipped"
        );
        assert_eq!(least_busy([None, None]), None);
    }
}
