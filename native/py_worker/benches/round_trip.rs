//! How much a trivial job costs: `cargo bench -p py_worker`. Prints, judges nothing
//! (the machine is shared and noisy); `make bench` has the figures next to contexts.
#[path = "../tests/common/mod.rs"]
mod common;
use common::*;
use std::time::Instant;

/// utime + stime of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn main() {
    let mut w = Worker::start();
    let job = call("operator.add", vec![int(1), int(2)]);
    for _ in 0..2000 {
        w.run(job.clone());
    }
    let tick = 1e6 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let n = 50_000;
    let (c0, t0) = (cpu_ticks(w.child.id()), Instant::now());
    for _ in 0..n {
        assert_eq!(w.run(job.clone()), ok(int(3)));
    }
    let wall = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    let cpu = (cpu_ticks(w.child.id()) - c0) as f64 * tick / n as f64;
    println!("one at a time: {wall:.1} us round trip, {cpu:.2} us worker CPU per job");

    // Pipelined: many jobs in flight, so the worker's cost shows without the round trip.
    let n = 200_000;
    let (c0, t0) = (cpu_ticks(w.child.id()), Instant::now());
    let batch = 1000;
    for _ in 0..n / batch {
        let ids: Vec<u64> = (0..batch).map(|_| w.job(job.clone(), 0)).collect();
        for id in ids {
            assert_eq!(w.result(id), ok(int(3)));
        }
    }
    let wall = t0.elapsed().as_secs_f64() * 1e6 / n as f64;
    let cpu = (cpu_ticks(w.child.id()) - c0) as f64 * tick / n as f64;
    println!("pipelined:     {wall:.2} us per job, {cpu:.2} us worker CPU per job");
    w.close();
    w.wait_exit(std::time::Duration::from_secs(10));
}
