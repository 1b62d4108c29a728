//! The TCP options iterator on well-formed and malformed option bytes, and each option's emit.

extern crate std;

use std::vec::Vec;

use crate::wire::{Error, SeqNumber, TcpOption, TcpOptions};

fn walk(bytes: &[u8]) -> Vec<Result<TcpOption<'_>, Error>> {
    TcpOptions::new(bytes).collect()
}

use Error::Malformed;
use TcpOption::*;

#[test]
fn linux_syn_options() {
    let bytes = [
        2, 4, 5, 0xb4, 4, 2, 8, 10, 0xb2, 0x43, 0xce, 0x93, 0, 0, 0, 0, 1, 3, 3, 10,
    ];
    assert_eq!(
        walk(&bytes),
        [
            Ok(MaxSegmentSize(1460)),
            Ok(SackPermitted),
            Ok(Timestamps {
                tsval: 0xb243_ce93,
                tsecr: 0
            }),
            Ok(NoOperation),
            Ok(WindowScale(10)),
        ]
    );
}

#[test]
fn sack_blocks() {
    let bytes = [
        1, 1, 5, 18, 0, 0, 0x10, 0x0b, 0, 0, 0x10, 0x15, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0x10,
    ];
    let blocks = [
        Some((SeqNumber(0x100b), SeqNumber(0x1015))),
        Some((SeqNumber(0xffff_fff0), SeqNumber(0x10))),
        None,
        None,
    ];
    assert_eq!(
        walk(&bytes),
        [Ok(NoOperation), Ok(NoOperation), Ok(SackRange(blocks))]
    );
}

#[test]
fn end_of_list_stops_the_walk() {
    assert_eq!(
        walk(&[1, 0, 2, 4, 5, 0xb4]),
        [Ok(NoOperation), Ok(EndOfList)]
    );
    assert_eq!(walk(&[0, 0, 0, 0]), [Ok(EndOfList)]);
    assert_eq!(walk(&[]), []);
}

#[test]
fn unknown_options_are_kept() {
    // Multipath TCP's MP_CAPABLE (kind 30) and a TCP Fast Open cookie (kind 34).
    assert_eq!(
        walk(&[30, 4, 0x01, 0x81, 34, 2]),
        [
            Ok(Unknown {
                kind: 30,
                data: &[0x01, 0x81]
            }),
            Ok(Unknown {
                kind: 34,
                data: &[]
            })
        ]
    );
}

#[test]
fn unlocatable_options_end_the_walk() {
    // Length 0 and 1 cannot cover kind and length; the next option cannot be found.
    assert_eq!(walk(&[2, 0, 5, 0xb4, 1, 1]), [Err(Malformed)]);
    assert_eq!(walk(&[30, 1, 1, 1]), [Err(Malformed)]);
    // A length past the end of the options.
    assert_eq!(
        walk(&[1, 2, 10, 5, 0xb4]),
        [Ok(NoOperation), Err(Malformed)]
    );
    assert_eq!(walk(&[8, 10, 0, 0, 0, 1, 0, 0, 0]), [Err(Malformed)]);
    // A kind with no length byte.
    assert_eq!(
        walk(&[1, 1, 1, 3]),
        [
            Ok(NoOperation),
            Ok(NoOperation),
            Ok(NoOperation),
            Err(Malformed)
        ]
    );
}

#[test]
fn known_options_of_the_wrong_length_are_errors_and_the_walk_goes_on() {
    // MSS of length 3, then two NOPs.
    assert_eq!(
        walk(&[2, 3, 5, 1, 1]),
        [Err(Malformed), Ok(NoOperation), Ok(NoOperation)]
    );
    // MSS of length 5, window scale of length 2 and 4, SACK-permitted of length 3, timestamps of
    // length 9.
    assert_eq!(walk(&[2, 5, 0, 0, 0]), [Err(Malformed)]);
    assert_eq!(
        walk(&[3, 2, 3, 4, 7, 0, 1]),
        [Err(Malformed), Err(Malformed), Ok(NoOperation)]
    );
    assert_eq!(walk(&[4, 3, 0]), [Err(Malformed)]);
    assert_eq!(walk(&[8, 9, 0, 0, 0, 0, 0, 0, 0]), [Err(Malformed)]);
    // SACK with no block, with a partial block, and with five blocks.
    assert_eq!(walk(&[5, 2]), [Err(Malformed)]);
    assert_eq!(walk(&[5, 6, 0, 0, 0, 0]), [Err(Malformed)]);
    let mut five = [0u8; 42];
    five[..2].copy_from_slice(&[5, 42]);
    assert_eq!(walk(&five), [Err(Malformed)]);
}

#[test]
fn the_walk_is_fused() {
    let mut options = TcpOptions::new(&[2, 0, 1]);
    assert_eq!(options.next(), Some(Err(Malformed)));
    assert_eq!(options.next(), None);
    assert_eq!(options.next(), None);
}

#[test]
fn every_option_round_trips() {
    let options = [
        EndOfList,
        NoOperation,
        MaxSegmentSize(1460),
        WindowScale(14),
        SackPermitted,
        SackRange([Some((SeqNumber(1), SeqNumber(2))), None, None, None]),
        SackRange([Some((SeqNumber(1), SeqNumber(2))); 4]),
        Timestamps {
            tsval: u32::MAX,
            tsecr: 7,
        },
        Unknown {
            kind: 254,
            data: &[0xf9, 0x89],
        },
    ];
    for option in options {
        let mut out = [0u8; 40];
        let len = option.emit(&mut out);
        assert_eq!(len, option.buffer_len());
        assert_eq!(walk(&out[..len]), [Ok(option)]);
    }
    let mut out = [0u8; 10];
    Timestamps {
        tsval: 0x0102_0304,
        tsecr: 0x0506_0708,
    }
    .emit(&mut out);
    assert_eq!(out, [8, 10, 1, 2, 3, 4, 5, 6, 7, 8]);
}
