use super::*;

const T: Time = Time(5_000);
const EVERY: Duration = Duration::from_secs(2);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn rounds_come_every_interval_from_the_last() {
    let mut a = Agreement::new(T, EVERY);
    assert_eq!(a.deadline(), T + EVERY);
    a.round(T + ms(2500));
    assert_eq!(a.deadline(), T + ms(4500));
}

#[test]
fn an_answer_counts_only_after_what_asked_for_it_and_only_once() {
    let mut a = Agreement::new(T, EVERY);
    let (l, other) = (LinkId(1), LinkId(2));
    assert!(!a.answered(l, Exchange::RootSent), "nothing asked");
    a.root_sent(l, T);
    assert!(
        !a.answered(other, Exchange::RootSent),
        "asked on another link"
    );
    assert!(
        !a.answered(l, Exchange::BucketsSent),
        "asked for something else"
    );
    assert!(a.answered(l, Exchange::RootSent));
    assert!(!a.answered(l, Exchange::RootSent), "answered once");
    a.root_sent(l, T);
    a.forget(l);
    assert!(!a.answered(l, Exchange::RootSent), "the link went down");
}

#[test]
fn bucket_hashes_go_at_most_once_per_link_and_interval() {
    let mut a = Agreement::new(T, EVERY);
    let l = LinkId(1);
    assert!(a.send_buckets(l, T));
    assert!(!a.send_buckets(l, T + ms(1999)));
    assert!(a.send_buckets(LinkId(2), T + ms(1)), "another link");
    assert!(a.send_buckets(l, T + EVERY));
    // Asked for buckets after its hashes: the exchange is over, and a new one may start.
    assert!(a.answered(l, Exchange::BucketsSent));
    assert!(a.send_buckets(l, T + EVERY + ms(1)));
}

#[test]
fn agreeing_with_a_seed_is_remembered_and_ends_rebuilding_once() {
    let mut a = Agreement::new(T, EVERY);
    assert!(!a.rebuilding());
    assert!(!a.agreed(Some(1), T), "not rebuilding: nothing ended");
    assert_eq!(a.agreed_at(1), Some(T));
    a.rebuild();
    assert!(a.rebuilding());
    assert!(a.agreed(None, T + ms(5)));
    assert!(!a.rebuilding());
    assert_eq!((a.agreed_at(1), a.agreed_at(2)), (Some(T), None));
    assert!(!a.agreed(Some(2), T + ms(9)));
    assert_eq!(a.agreed_at(2), Some(T + ms(9)));
}
