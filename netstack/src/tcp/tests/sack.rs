//! The SACK scoreboard with literal sequence numbers: block validation, marking, `pipe`,
//! IsLost, NextSeg, RACK, the bound, timeouts.

use core::time::Duration;

use morgana_executor::Instant;

use crate::tcp::sack::{DUP_THRESH, Scoreboard};
use crate::wire::SeqNumber;

const MSS: usize = 1000;

fn t(ms: u64) -> Instant {
    Instant::from_nanos(1_000_000_000 + ms * 1_000_000)
}

fn s(n: u32) -> SeqNumber {
    SeqNumber(n)
}

/// Ten records of 1000 bytes, `[1000, 11000)`, sent at t = 0 ms.
fn ten() -> Scoreboard {
    let mut sb = Scoreboard::new(64);
    for i in 1..=10u32 {
        sb.on_send(s(i * 1000), s(i * 1000 + 1000), t(0));
    }
    sb
}

fn block(l: u32, r: u32) -> Option<(SeqNumber, SeqNumber)> {
    Some((s(l), s(r)))
}

#[test]
fn blocks_outside_una_max_are_rejected() {
    let mut sb = ten();
    let una = s(1000);
    let max = s(11000);
    // Beyond SND.MAX, straddling SND.UNA, inverted.
    let up = sb.on_sack(
        &[block(10000, 12000), block(500, 2000), block(5000, 4000)],
        una,
        max,
        t(20),
    );
    assert_eq!(up.rejected, 3);
    assert_eq!(up.newly_sacked, 0);
    assert_eq!(sb.sacked_bytes(), 0);
    // Exactly at SND.UNA: nothing to SACK there (it would be cumulative).
    let up = sb.on_sack(&[None, block(1000, 2000), None], una, max, t(20));
    assert_eq!(up.rejected, 1);
    // 2^31 apart: incomparable, rejected.
    let up = sb.on_sack(
        &[None, block(3000, 3000 + (1 << 31)), None],
        una,
        max,
        t(20),
    );
    assert_eq!(up.rejected, 1);
    assert!(sb.check(una, max).is_ok());
}

#[test]
fn dsack_is_recognised_below_the_ack_or_inside_the_second_block() {
    let mut sb = ten();
    let up = sb.on_sack(&[block(500, 1000), None, None], s(1000), s(11000), t(20));
    assert_eq!(up.dsack, Some((s(500), s(1000))));
    assert_eq!(up.rejected, 0);
    let up = sb.on_sack(
        &[block(4000, 5000), block(3000, 6000), None],
        s(1000),
        s(11000),
        t(20),
    );
    assert_eq!(up.dsack, Some((s(4000), s(5000))));
    assert_eq!(up.newly_sacked, 3000, "the second block still counts");
}

#[test]
fn only_whole_records_are_marked_and_pipe_excludes_them() {
    let mut sb = ten();
    assert_eq!(sb.pipe(), 10_000);
    // [3500, 6000) covers records 4000 and 5000 wholly, 3000 partly.
    let up = sb.on_sack(&[block(3500, 6000), None, None], s(1000), s(11000), t(20));
    assert_eq!(up.newly_sacked, 2000);
    assert_eq!(sb.sacked_bytes(), 2000);
    assert_eq!(sb.pipe(), 8000);
    // The same block again marks nothing new.
    let up = sb.on_sack(&[block(3500, 6000), None, None], s(1000), s(11000), t(21));
    assert_eq!(up.newly_sacked, 0);
    assert!(sb.check(s(1000), s(11000)).is_ok());
}

#[test]
fn is_lost_needs_dupthresh_segments_above() {
    let mut sb = ten();
    // Hole at 1000; SACKed 2000..4000 (two records): not yet lost.
    sb.on_sack(&[block(2000, 4000), None, None], s(1000), s(11000), t(20));
    let (lost, _) = sb.detect_loss(t(20), MSS, false, None);
    assert_eq!(lost, 0);
    assert_eq!(sb.next_lost(), None);
    // A third record above: DupThresh = 3 reached.
    sb.on_sack(&[block(2000, 5000), None, None], s(1000), s(11000), t(20));
    assert_eq!(DUP_THRESH, 3);
    let (lost, _) = sb.detect_loss(t(20), MSS, false, None);
    assert_eq!(lost, 1);
    assert_eq!(sb.next_lost(), Some((s(1000), s(2000))));
    // pipe: 10 records, 3 SACKed, 1 lost.
    assert_eq!(sb.pipe(), 6000);
    // Retransmitted: in flight again, no longer next.
    sb.on_retransmit(s(1000), s(2000), t(21));
    assert_eq!(sb.pipe(), 7000);
    assert_eq!(sb.next_lost(), None);
}

#[test]
fn several_holes_are_chosen_in_order() {
    let mut sb = ten();
    // Holes at 1000, 3000, 5000; SACKed 2000, 4000, 6000..9000.
    sb.on_sack(
        &[block(6000, 9000), block(4000, 5000), block(2000, 3000)],
        s(1000),
        s(11000),
        t(20),
    );
    let (lost, _) = sb.detect_loss(t(20), MSS, false, None);
    assert_eq!(lost, 3, "every hole has three SACKed records above it");
    assert_eq!(sb.next_lost(), Some((s(1000), s(2000))));
    sb.on_retransmit(s(1000), s(2000), t(21));
    assert_eq!(sb.next_lost(), Some((s(3000), s(4000))));
    sb.on_retransmit(s(3000), s(4000), t(21));
    assert_eq!(sb.next_lost(), Some((s(5000), s(6000))));
    // Records 9000 and 10000 have nothing SACKed above: in flight, not lost.
    sb.on_retransmit(s(5000), s(6000), t(21));
    assert_eq!(sb.next_lost(), None);
    assert_eq!(sb.pipe(), 5000);
    // The cumulative ACK to 6000 drops the records below it and their SACKed bytes.
    sb.on_cumulative_ack(s(6000), t(40));
    assert_eq!(sb.sacked_bytes(), 3000);
    assert!(sb.check(s(6000), s(11000)).is_ok());
    assert!(
        sb.check(s(1000), s(10000)).is_err(),
        "a record past SND.MAX is caught"
    );
}

#[test]
fn a_late_segment_is_reordering_and_rack_waits_a_quarter_rtt() {
    let mut sb = ten();
    // 2000 SACKed at 20 ms, then 1000 arrives (not retransmitted): delivered below RACK.fack.
    sb.on_sack(&[block(2000, 3000), None, None], s(1000), s(11000), t(20));
    assert!(!sb.reordering_seen());
    sb.on_cumulative_ack(s(3000), t(22));
    assert!(sb.reordering_seen());
    // With reordering seen, DupThresh is off: three records above 3000 make it not lost...
    sb.on_sack(&[block(4000, 7000), None, None], s(3000), s(11000), t(23));
    let (lost, timer) = sb.detect_loss(t(23), MSS, false, Some(Duration::from_millis(20)));
    assert_eq!(lost, 0);
    // ... until RACK: sent at 0, RACK.rtt 23 ms, reo_wnd = min_rtt (20) / 4 = 5 ms.
    assert_eq!(timer, Some(t(28)));
    let (lost, _) = sb.detect_loss(t(28), MSS, false, Some(Duration::from_millis(20)));
    assert_eq!(lost, 1);
    assert_eq!(sb.next_lost(), Some((s(3000), s(4000))));
}

#[test]
fn records_are_bounded() {
    let mut sb = Scoreboard::new(4);
    for i in 0..10u32 {
        sb.on_send(s(i * 100), s(i * 100 + 100), t(u64::from(i)));
    }
    assert_eq!(sb.records().count(), 4, "new data joins the last record");
    assert!(sb.check(s(0), s(1000)).is_ok());
    assert!(!sb.is_full());
    // A SACKed last record cannot grow: the scoreboard is full.
    sb.on_sack(&[block(300, 1000), None, None], s(0), s(1000), t(20));
    assert!(sb.is_full());
    sb.on_send(s(1000), s(1100), t(21));
    assert_eq!(sb.records().count(), 4);
    assert!(sb.check(s(0), s(1000)).is_ok());
}

#[test]
fn a_timeout_marks_every_unsacked_record_and_reneging_clears_sacks() {
    let mut sb = ten();
    sb.on_sack(&[block(5000, 7000), None, None], s(1000), s(11000), t(20));
    sb.on_timeout();
    assert_eq!(sb.pipe(), 0);
    assert_eq!(sb.next_lost(), Some((s(1000), s(2000))));
    let lost = sb.records().filter(|r| r.lost).count();
    assert_eq!(lost, 8);
    sb.clear_sacked();
    assert_eq!(sb.sacked_bytes(), 0);
    sb.on_timeout();
    assert_eq!(sb.records().filter(|r| r.lost).count(), 10);
    sb.undo_lost();
    assert_eq!(sb.pipe(), 10_000);
    assert!(sb.check(s(1000), s(11000)).is_ok());
}

#[test]
fn a_shorter_retransmission_splits_its_record() {
    let mut sb = ten();
    sb.on_timeout();
    sb.on_retransmit(s(1000), s(1400), t(30));
    let first: alloc::vec::Vec<_> = sb
        .records()
        .take(2)
        .map(|r| (r.start, r.end, r.lost))
        .collect();
    assert_eq!(first, [(s(1000), s(1400), false), (s(1400), s(2000), true)]);
    assert_eq!(sb.next_lost(), Some((s(1400), s(2000))));
    assert!(sb.check(s(1000), s(11000)).is_ok());
}
