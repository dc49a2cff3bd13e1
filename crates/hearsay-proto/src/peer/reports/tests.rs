use super::*;

const T: Time = Time(2_000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn numbers_start_above_any_an_earlier_run_used_and_rise() {
    let mut r = Reports::new(T, ms(500));
    assert_eq!(r.next_seq(), 2_000_001);
    assert_eq!(r.next_seq(), 2_000_002);
    let later = Reports::new(T + ms(1), ms(500)).next_seq();
    assert!(later > 2_000_002 + 900, "{later}");
}

#[test]
fn a_report_made_is_remembered_whether_or_not_it_went_to_every_seed() {
    let mut r = Reports::new(T, ms(500));
    assert!(!r.reported());
    r.next_seq();
    assert!(r.reported(), "one to a single seed counts");
}

#[test]
fn a_change_is_reported_at_once_then_at_most_once_per_interval() {
    let mut r = Reports::new(T, ms(500));
    assert!(r.changed(T), "the first change goes at once");
    r.sent(T);
    assert_eq!(r.deadline(), None);
    // Within the interval: one report waits for its end, whatever else changes.
    assert!(!r.changed(T + ms(100)));
    assert_eq!(r.deadline(), Some(T + ms(500)));
    assert!(!r.changed(T + ms(600)), "already due");
    assert_eq!(r.deadline(), Some(T + ms(500)));
    r.sent(T + ms(500));
    assert_eq!(r.deadline(), None);
    // Past the interval: at once.
    assert!(r.changed(T + ms(1000)));
}
