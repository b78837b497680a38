//! Thread priority of the picture pass while speech is recognised beside it.
//!
//! On a voice video whisper's thread is the verification's critical path (its model load,
//! encoder and decoder in turn on one core), while the picture pass (decoder, tracker and
//! reader threads) has time to spare. The picture threads therefore run at a lower priority
//! (a higher nice value) than the speech thread: the scheduler gives whisper a core whenever
//! it can run and the picture pass takes the rest, so the two finish closer together. Raising
//! a thread's own nice value needs no privilege; it only orders this process's threads (and
//! yields to other processes, such as the service's HTTP threads).

/// How much the picture pass's threads lower their priority while speech runs beside them
/// (nice values: 0 is the default, 19 the lowest). Measured on a 2-core machine, 12
/// alternating runs of a 5 s recital: median 0.615 s at 0, 0.581 s at 5, 0.588 s at 10.
pub(super) const PICTURE_NICE: i32 = 10;

/// Lowers the calling thread's priority by `by` nice steps (at most to 19); threads it
/// spawns afterwards inherit the lower priority. Returns whether the priority was changed:
/// where the system refuses, the thread keeps its priority, which only costs speed.
pub(super) fn lower_this_thread(by: i32) -> bool {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; errno is cleared first
        // because -1 is a valid nice value.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            *libc::__errno_location() = 0;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            if now == -1 && *libc::__errno_location() != 0 {
                return false;
            }
            let lower = (now + by.max(0)).min(19);
            lower != now && libc::setpriority(libc::PRIO_PROCESS, tid, lower) == 0
        }
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = by;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of_this_thread() -> i32 {
        // SAFETY: as in lower_this_thread.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn lowers_only_the_calling_thread_and_what_it_spawns() {
        let caller = nice_of_this_thread();
        let (lowered, mine, spawned) = std::thread::spawn(|| {
            let before = nice_of_this_thread();
            let changed = lower_this_thread(PICTURE_NICE);
            let child = std::thread::spawn(nice_of_this_thread).join().unwrap();
            ((before, changed), nice_of_this_thread(), child)
        })
        .join()
        .unwrap();
        let (before, changed) = lowered;
        let expected = (before + PICTURE_NICE).min(19);
        assert_eq!(changed, expected != before);
        assert_eq!(mine, expected);
        assert_eq!(
            spawned, expected,
            "threads spawned after it inherit the priority"
        );
        assert_eq!(
            nice_of_this_thread(),
            caller,
            "the other threads keep theirs"
        );
        // Already at the lowest priority: nothing to change.
        let at_lowest = std::thread::spawn(|| {
            lower_this_thread(19);
            lower_this_thread(PICTURE_NICE)
        })
        .join()
        .unwrap();
        assert!(!at_lowest);
    }
}
