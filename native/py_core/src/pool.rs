//! Which context of a pool gets the next call.

/// Round robin from `start`, skipping dead slots.
pub fn round_robin(n: usize, start: usize, alive: impl Fn(usize) -> bool) -> Option<usize> {
    (0..n).map(|i| (start + i) % n.max(1)).find(|&i| alive(i))
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
        assert_eq!(round_robin(3, 0, |_| true), Some(0));
        assert_eq!(round_robin(3, 4, |_| true), Some(1));
        assert_eq!(round_robin(3, 1, |i| i != 1), Some(2));
        assert_eq!(round_robin(3, 2, |i| i == 0), Some(0));
        assert_eq!(round_robin(3, 0, |_| false), None);
        assert_eq!(round_robin(0, 0, |_| true), None);
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
