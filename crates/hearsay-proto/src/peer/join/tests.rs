use super::*;

const T: Time = Time(50_000);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn join() -> Join {
    Join::new(T, secs(0.5), secs(10.0))
}

#[test]
fn refusals_back_off_one_wait_at_a_time() {
    let mut j = join();
    assert_eq!(j.again(), None);
    j.refused(T, "busy");
    assert_eq!(j.again(), Some(T + secs(1.0)));
    // Another seed's refusal of the same round waits for the same try.
    j.refused(T + secs(0.1), "busy");
    assert_eq!(j.again(), Some(T + secs(1.0)));
    j.no_retry();
    j.refused(T + secs(2.0), "busy");
    assert_eq!(j.again(), Some(T + secs(4.0)));
    j.no_retry();
    assert_eq!(j.again(), None);
}

#[test]
fn the_peer_gives_up_at_the_join_timeout_of_its_incarnation_unless_admitted() {
    let mut j = join();
    assert_eq!(j.deadline(false), Some(T + secs(10.0)));
    assert_eq!(j.deadline(true), None);
    j.restart(T + secs(30.0));
    assert_eq!(j.deadline(false), Some(T + secs(40.0)));
    assert_eq!(j.took(T + secs(31.5)), secs(1.5));
}

#[test]
fn the_sentence_it_gives_up_with_names_what_went_wrong() {
    let mut j = join();
    let at = T + secs(10.0);
    assert_eq!(
        j.why(at, (3, 2, 2)),
        "could not register within 10s: no certificate came back"
    );
    assert_eq!(
        j.why(at, (3, 2, 1)),
        "could not register: reached 1 of 3 seeds in 10s, and a quorum needs 2"
    );
    j.seed_problem("10.0.0.1:6000: bad magic".into());
    assert_eq!(
        j.why(at, (3, 2, 1)),
        "could not register: reached 1 of 3 seeds in 10s, and a quorum needs 2: 10.0.0.1:6000: bad magic"
    );
    j.refused(T, "rate limit");
    assert_eq!(
        j.why(T + secs(10.5), (3, 2, 3)),
        "could not register within 10.5s: the seeds refused (rate limit)"
    );
    j.rejected("admission certificate rejected: too few signers".into());
    assert_eq!(
        j.why(at, (3, 2, 3)),
        "could not register within 10s: admission certificate rejected: too few signers"
    );
}

#[test]
fn an_admission_is_held_once_until_taken() {
    let mut j = join();
    assert!(j.take_held().is_none());
    let cert = Certificate::from_votes(
        crate::cert::Change {
            op: crate::cert::Op::Add,
            peer: crate::id::Keypair::from_secret([1; 32]).id(),
            addr: "10.0.0.9:7000".parse().unwrap(),
            incarnation: 1,
        },
        &[],
    );
    j.hold(cert.clone(), LinkId(4));
    assert_eq!(j.take_held(), Some((cert, LinkId(4))));
    assert!(j.take_held().is_none());
}
