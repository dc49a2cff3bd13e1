//! Tests of the per-source rate limit: one input, the exact answer.

use super::*;

const T0: Time = Time(1_000_000);

fn ip(last: u8) -> IpAddr {
    IpAddr::from([10, 0, 0, last])
}

#[test]
fn a_source_gets_its_burst_then_one_token_per_refill() {
    let mut r = RateLimit::new(2, Duration::from_millis(100), 16);
    assert!(r.take(T0, ip(1)));
    assert!(r.take(T0, ip(1)));
    assert!(!r.take(T0, ip(1)), "the burst is spent");
    assert!(r.take(T0, ip(2)), "another source has its own bucket");
    assert!(!r.take(T0 + Duration::from_millis(99), ip(1)));
    assert!(
        r.take(T0 + Duration::from_millis(199), ip(1)),
        "refilled (99 ms + 100 ms)"
    );
    assert!(!r.take(T0 + Duration::from_millis(199), ip(1)));
}

#[test]
fn no_more_sources_than_the_bound_are_tracked_and_full_buckets_go_first() {
    let mut r = RateLimit::new(1, Duration::from_secs(1), 2);
    assert!(r.take(T0, ip(1)));
    assert!(r.take(T0, ip(2)));
    assert!(
        !r.take(T0, ip(3)),
        "two tracked, neither full again: a third gets nothing"
    );
    // A second later both buckets are full again: they are forgotten for the newcomer.
    assert!(r.take(T0 + Duration::from_secs(1), ip(3)));
    assert_eq!(r.buckets.len(), 1);
}
