//! The transition table, state by state, and the timers on a simulated clock.

use super::*;

const MEDIA_TIMEOUT: u64 = 10_000;

fn dialog() -> Dialog {
    Dialog {
        call_id: "c1".into(),
        from_tag: "f1".into(),
        ssrc: 200_000_001,
        transport: MediaTransport::Udp { port: 30000 },
    }
}

fn invite(now: u64) -> CallEvent {
    CallEvent::Invite {
        dialog: dialog(),
        request: Bytes::from_static(b"INVITE"),
        now,
    }
}

fn inviting(now: u64) -> CallState {
    let mut s = CallState::Idle {
        resume: Resume::At(0),
    };
    s.on(invite(now)).unwrap();
    s
}

fn answered(now: u64) -> CallEvent {
    CallEvent::Answered {
        to_tag: "t1".into(),
        ssrc: 200_000_099,
        now,
    }
}

fn up(now: u64) -> CallState {
    let mut s = inviting(0);
    s.on(answered(now)).unwrap();
    s
}

fn stopping(retry_at: u64) -> CallState {
    let mut s = up(0);
    s.on(CallEvent::Hangup {
        now: 100,
        resume: Resume::At(retry_at),
    })
    .unwrap();
    s
}

/// Applies `event`, asserting it is legal; returns the new state and what ended.
fn step(mut s: CallState, event: CallEvent) -> (CallState, Option<Ended>) {
    let before = s.clone();
    let ended = s
        .on(event.clone())
        .unwrap_or_else(|e| panic!("{event:?} in {before:?}: {e}"));
    (s, ended)
}

#[test]
fn invite_starts_a_call_from_idle_or_over_a_stopping_one() {
    for from in [
        CallState::Idle {
            resume: Resume::At(0),
        },
        stopping(0),
    ] {
        let (s, ended) = step(from, invite(1_000));
        assert_eq!(ended, None);
        let CallState::Inviting {
            dialog: d, timer, ..
        } = &s
        else {
            panic!("{s:?}");
        };
        assert_eq!(d, &dialog());
        assert_eq!(timer.next_at, 1_000 + INVITE_RETRY_MS);
        assert_eq!(timer.tries_left, INVITE_TRIES - 1);
        assert_eq!((s.as_str(), s.call_id()), ("inviting", Some("c1")));
    }
}

#[test]
fn provisional_responses_stop_retransmission_and_keep_the_deadline() {
    let give_up = 1_000 + u64::from(INVITE_TRIES) * INVITE_RETRY_MS;
    let trying = CallState::Trying {
        dialog: dialog(),
        give_up_at: give_up,
    };
    let ringing = CallState::Ringing {
        dialog: dialog(),
        give_up_at: give_up,
    };
    let p = |status| CallEvent::Provisional { status };
    assert_eq!(step(inviting(1_000), p(100)).0, trying);
    assert_eq!(step(inviting(1_000), p(181)).0, trying, "other 1xx: trying");
    assert_eq!(step(inviting(1_000), p(180)).0, ringing);
    assert_eq!(step(inviting(1_000), p(183)).0, ringing);
    assert_eq!(step(trying.clone(), p(100)).0, trying);
    assert_eq!(step(trying.clone(), p(180)).0, ringing);
    assert_eq!(step(ringing.clone(), p(100)).0, ringing, "a late 100");
    assert_eq!(step(ringing.clone(), p(180)).0, ringing);
    assert_eq!(trying.as_str(), "inviting");
    assert_eq!(ringing.as_str(), "inviting");
}

#[test]
fn an_answer_brings_the_call_up_with_the_answered_ssrc() {
    let trying = step(inviting(0), CallEvent::Provisional { status: 100 }).0;
    let ringing = step(inviting(0), CallEvent::Provisional { status: 180 }).0;
    for from in [inviting(0), trying, ringing] {
        let (s, ended) = step(from, answered(500));
        assert_eq!(ended, None);
        let mut want = dialog();
        want.ssrc = 200_000_099;
        assert_eq!(
            s,
            CallState::Up {
                dialog: want,
                to_tag: "t1".into(),
                last_media: 500,
            }
        );
        assert_eq!(s.as_str(), "playing");
    }
}

#[test]
fn an_offer_that_fails_or_is_hung_up_ends_with_its_dialog() {
    let offers = || {
        [
            inviting(0),
            step(inviting(0), CallEvent::Provisional { status: 100 }).0,
            step(inviting(0), CallEvent::Provisional { status: 180 }).0,
        ]
    };
    let ends = [
        CallEvent::Failed { retry_at: 7 },
        CallEvent::Hangup {
            now: 1,
            resume: Resume::At(7),
        },
        CallEvent::Gone {
            resume: Resume::At(7),
        },
    ];
    for event in ends {
        for from in offers() {
            let (s, ended) = step(from, event.clone());
            assert_eq!(
                s,
                CallState::Idle {
                    resume: Resume::At(7)
                }
            );
            assert_eq!(ended, Some(Ended::Offer { dialog: dialog() }));
        }
    }
}

#[test]
fn an_up_call_counts_media_and_ends_by_either_side() {
    let (s, _) = step(up(0), CallEvent::Media { now: 4_000 });
    assert!(matches!(
        s,
        CallState::Up {
            last_media: 4_000,
            ..
        }
    ));
    let (late, _) = step(s.clone(), CallEvent::Media { now: 3_000 });
    assert_eq!(late, s, "media time does not go back");

    let (s, ended) = step(
        up(0),
        CallEvent::Hangup {
            now: 100,
            resume: Resume::At(9),
        },
    );
    assert_eq!(
        s,
        CallState::Stopping {
            call_id: "c1".into(),
            resume: Resume::At(9),
            give_up_at: 100 + BYE_TIMEOUT_MS,
        }
    );
    assert!(matches!(ended, Some(Ended::Media { ref to_tag, .. }) if to_tag == "t1"));
    assert_eq!(
        (s.as_str(), s.call_id(), s.dialog()),
        ("stopping", Some("c1"), None)
    );

    let (s, ended) = step(
        up(0),
        CallEvent::Gone {
            resume: Resume::At(9),
        },
    );
    assert_eq!(
        s,
        CallState::Idle {
            resume: Resume::At(9)
        }
    );
    assert!(matches!(ended, Some(Ended::Media { .. })));
}

#[test]
fn a_stopping_call_ends_on_the_bye_answer_or_the_device_leaving() {
    for event in [
        CallEvent::ByeDone,
        CallEvent::Gone {
            resume: Resume::At(1),
        },
    ] {
        let (s, ended) = step(stopping(42), event);
        assert_eq!(
            (s, ended),
            (
                CallState::Idle {
                    resume: Resume::At(42)
                },
                None
            )
        );
    }
}

/// Issue 17 item 9: the device's BYE crossing ours keeps whichever side waits longer: a
/// media timeout's retry yields to the device's wish, an API stop stays a stop.
#[test]
fn a_device_bye_over_our_stopping_call_keeps_the_longer_wait() {
    let gone = CallEvent::Gone {
        resume: Resume::OnRegister,
    };
    let (s, _) = step(stopping(42), gone.clone());
    assert_eq!(
        s,
        CallState::Idle {
            resume: Resume::OnRegister
        }
    );
    let mut api_stopped = up(0);
    api_stopped
        .on(CallEvent::Hangup {
            now: 100,
            resume: Resume::OnRequest,
        })
        .unwrap();
    let (s, _) = step(api_stopped, gone);
    assert_eq!(
        s,
        CallState::Idle {
            resume: Resume::OnRequest
        }
    );
    assert!(Resume::At(u64::MAX) < Resume::OnRegister);
}

#[test]
fn illegal_transitions_are_refused_and_change_nothing() {
    let cases = [
        (
            CallState::Idle {
                resume: Resume::At(0),
            },
            answered(1),
        ),
        (
            CallState::Idle {
                resume: Resume::At(0),
            },
            CallEvent::Hangup {
                now: 1,
                resume: Resume::At(1),
            },
        ),
        (
            CallState::Idle {
                resume: Resume::At(0),
            },
            CallEvent::Media { now: 1 },
        ),
        (
            CallState::Idle {
                resume: Resume::At(0),
            },
            CallEvent::ByeDone,
        ),
        (inviting(0), invite(1)),
        (inviting(0), CallEvent::Media { now: 1 }),
        (inviting(0), CallEvent::ByeDone),
        (
            step(inviting(0), CallEvent::Provisional { status: 100 }).0,
            CallEvent::Retransmit { now: 1 },
        ),
        (up(0), answered(1)),
        (up(0), invite(1)),
        (up(0), CallEvent::Provisional { status: 180 }),
        (up(0), CallEvent::Failed { retry_at: 1 }),
        (
            stopping(0),
            CallEvent::Hangup {
                now: 1,
                resume: Resume::At(1),
            },
        ),
        (stopping(0), answered(1)),
    ];
    for (state, event) in cases {
        let mut s = state.clone();
        let e = s
            .on(event.clone())
            .expect_err(&format!("{event:?} in {state:?}"));
        assert_eq!(s, state);
        assert_eq!((e.state, e.event), (state.name(), event.name()));
    }
    // The last retransmission is spent: the timer gives up instead.
    let mut s = inviting(0);
    for now in 1..INVITE_TRIES as u64 {
        s.on(CallEvent::Retransmit { now }).unwrap();
    }
    assert!(s.on(CallEvent::Retransmit { now: 9 }).is_err());
    assert_eq!(
        IllegalTransition {
            state: "up",
            event: "answer"
        }
        .to_string(),
        "answer while up"
    );
}

/// Runs a call's timers on a simulated clock, one tick a second as the driver does, firing
/// what is due; returns the times of the INVITE sends and when it gave up.
fn run_invite_timers(start: u64, until: u64) -> (Vec<u64>, Option<u64>) {
    let mut s = inviting(start);
    let mut sends = vec![start];
    let mut gave_up = None;
    let mut now = start;
    while now <= until && gave_up.is_none() {
        now += 1_000;
        match s.due(now, MEDIA_TIMEOUT) {
            Some(Due::Retransmit) => {
                sends.push(now);
                s.on(CallEvent::Retransmit { now }).unwrap();
            }
            Some(Due::NoAnswer) => {
                gave_up = Some(now);
                let ended = s.on(CallEvent::Failed { retry_at: now }).unwrap();
                assert!(matches!(ended, Some(Ended::Offer { .. })));
            }
            Some(other) => panic!("{other:?}"),
            None => {}
        }
        if gave_up.is_none() {
            assert!(s.poll_timeout(MEDIA_TIMEOUT).unwrap() > now);
        }
    }
    (sends, gave_up)
}

#[test]
fn an_unanswered_invite_is_sent_every_interval_then_given_up() {
    let (sends, gave_up) = run_invite_timers(10_000, 60_000);
    assert_eq!(sends.len(), INVITE_TRIES as usize);
    for pair in sends.windows(2) {
        assert_eq!(pair[1] - pair[0], INVITE_RETRY_MS);
    }
    assert_eq!(
        gave_up,
        Some(10_000 + u64::from(INVITE_TRIES) * INVITE_RETRY_MS)
    );
}

#[test]
fn after_a_provisional_response_nothing_is_sent_but_the_deadline_holds() {
    let mut s = inviting(0);
    s.on(CallEvent::Retransmit {
        now: INVITE_RETRY_MS,
    })
    .unwrap();
    s.on(CallEvent::Provisional { status: 180 }).unwrap();
    let give_up = u64::from(INVITE_TRIES) * INVITE_RETRY_MS;
    assert_eq!(s.poll_timeout(MEDIA_TIMEOUT), Some(give_up));
    assert_eq!(s.due(give_up - 1, MEDIA_TIMEOUT), None);
    assert_eq!(s.due(give_up, MEDIA_TIMEOUT), Some(Due::NoAnswer));
}

#[test]
fn up_and_stopping_timers() {
    let s = up(1_000);
    assert_eq!(
        s.poll_timeout(MEDIA_TIMEOUT),
        Some(1_000 + MEDIA_TIMEOUT + 1)
    );
    assert_eq!(s.due(1_000 + MEDIA_TIMEOUT, MEDIA_TIMEOUT), None);
    assert_eq!(
        s.due(1_001 + MEDIA_TIMEOUT, MEDIA_TIMEOUT),
        Some(Due::MediaTimeout)
    );
    let s = stopping(0);
    assert_eq!(s.poll_timeout(MEDIA_TIMEOUT), Some(100 + BYE_TIMEOUT_MS));
    assert_eq!(
        s.due(100 + BYE_TIMEOUT_MS, MEDIA_TIMEOUT),
        Some(Due::ByeUnanswered)
    );
    assert_eq!(
        CallState::Idle {
            resume: Resume::At(5)
        }
        .poll_timeout(MEDIA_TIMEOUT),
        None
    );
    assert_eq!(
        CallState::Idle {
            resume: Resume::At(5)
        }
        .due(9, MEDIA_TIMEOUT),
        None
    );
}
