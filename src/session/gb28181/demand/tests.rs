//! On-demand invites on a simulated clock (issue 17 item 14): the hub's viewer edges go in,
//! INVITEs and BYEs come out, no sockets.

use bytes::Bytes;

use super::super::tests::{
    config, events, invite_in, keepalive, method_of, peer, registered_with, request, send_catalog,
    sent, state, status, CHANNEL, DEVICE,
};
use super::super::*;

const GRACE: u64 = 10_000;

fn on_demand(grace_ms: u64) -> AgentConfig {
    AgentConfig {
        invite: InvitePolicy::OnDemand { grace_ms },
        ..config("")
    }
}

fn methods(out: &[SipMessage]) -> Vec<Method> {
    out.iter().filter_map(method_of).collect()
}

/// The offer's SSRC.
fn ssrc_of(invite: &SipMessage) -> u32 {
    let sdp = std::str::from_utf8(&invite.body).unwrap();
    let y = sdp.lines().find_map(|l| l.strip_prefix("y=")).unwrap();
    y.trim().parse().unwrap()
}

/// The camera answers `invite` with its own SSRC; returns it.
fn answer(a: &mut Agent, now: u64, invite: &SipMessage) -> u32 {
    let ssrc = ssrc_of(invite);
    let mut ok = invite.response_to(200, "OK", Some("cam"));
    ok.body = Bytes::from(format!(
        "v=0\r\ns=Play\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=video 1 TCP/RTP/AVP 96\r\n\
         y={ssrc:010}\r\n"
    ));
    a.handle_message(now, "d", peer(), ok);
    assert_eq!(methods(&sent(a)), [Method::Ack]);
    events(a);
    ssrc
}

/// The clock runs from `from` to `to` in one-second ticks, as the driver's, with a keepalive
/// from the device every 20 s and, given its SSRC, media (so the watchdogs stay quiet); the
/// requests we sent meanwhile.
fn run(a: &mut Agent, ssrc: Option<u32>, from: u64, to: u64) -> Vec<SipMessage> {
    let mut out = Vec::new();
    let mut now = from;
    while now < to {
        now = (now + 1_000).min(to);
        if now % 20_000 == 0 {
            let keepalive = request(Method::Message, "k", 4, &[], &keepalive());
            a.handle_message(now, "d", peer(), keepalive);
        }
        if let Some(ssrc) = ssrc {
            a.media_activity(now, ssrc);
        }
        a.handle_timeout(now);
        out.extend(sent(a).into_iter().filter(|m| method_of(m).is_some()));
    }
    out
}

fn on_demand_state(a: &Agent) -> Option<OnDemand> {
    a.devices()[0].channels[0].on_demand
}

/// A registered device with its catalog in at 100 ms, nobody watching: no INVITE; the clock
/// at 1 s.
fn quiet_device(grace_ms: u64) -> Agent {
    let mut a = registered_with(on_demand(grace_ms));
    let out = send_catalog(&mut a, 100);
    assert_eq!(
        methods(&out),
        Vec::<Method>::new(),
        "only the 200 to the catalog"
    );
    assert!(run(&mut a, None, 100, 1_000).is_empty());
    assert_eq!(state(&a), "idle");
    assert_eq!(on_demand_state(&a), Some(OnDemand::Unwatched));
    assert_eq!(
        a.poll_timeout(),
        Some(100 + 60_000 + 1),
        "the keepalive deadline"
    );
    a
}

#[test]
fn the_first_viewer_invites_and_the_last_one_leaving_hangs_up_after_the_grace() {
    let mut a = quiet_device(GRACE);
    assert!(
        run(&mut a, None, 1_000, 60_000).is_empty(),
        "nobody watches"
    );
    assert_eq!(state(&a), "idle");
    a.handle_viewers(60_000, CHANNEL, true);
    let invite = invite_in(&sent(&mut a));
    assert!(matches!(
        events(&mut a)[..],
        [AgentEvent::MediaOffer { .. }]
    ));
    assert_eq!(on_demand_state(&a), Some(OnDemand::Watched));
    // More viewers change nothing.
    a.handle_viewers(60_100, CHANNEL, true);
    assert!(sent(&mut a).is_empty());
    let ssrc = answer(&mut a, 60_500, &invite);
    assert_eq!(state(&a), "playing");
    assert!(run(&mut a, Some(ssrc), 60_500, 70_000).is_empty());

    // The last viewer leaves at 70 s: the call goes on until 80 s.
    a.handle_viewers(70_000, CHANNEL, false);
    assert!(sent(&mut a).is_empty());
    assert_eq!(
        on_demand_state(&a),
        Some(OnDemand::Grace { bye_at: 80_000 })
    );
    assert!(a.poll_timeout().is_some_and(|t| t <= 80_000));
    assert!(
        run(&mut a, Some(ssrc), 70_000, 79_999).is_empty(),
        "not before"
    );
    assert_eq!(state(&a), "playing");
    let out = run(&mut a, Some(ssrc), 79_999, 80_000);
    assert_eq!(methods(&out), [Method::Bye]);
    assert_eq!(out[0].call_id(), invite.call_id());
    assert_eq!(
        events(&mut a),
        [AgentEvent::MediaStop {
            ssrc,
            transport: MediaTransport::TcpPassive
        }]
    );
    assert_eq!(state(&a), "stopping");
    assert_eq!(on_demand_state(&a), Some(OnDemand::Unwatched));
    a.handle_message(80_100, "d", peer(), out[0].response_to(200, "OK", None));
    assert_eq!(state(&a), "idle");
    // Nobody watches: not invited again, not even past media_timeout.
    assert!(run(&mut a, None, 80_100, 110_000).is_empty());

    // A new viewer is a new request.
    a.handle_viewers(110_000, CHANNEL, true);
    let again = invite_in(&sent(&mut a));
    assert_ne!(again.call_id(), invite.call_id());
}

#[test]
fn a_viewer_back_within_the_grace_cancels_the_bye() {
    let mut a = quiet_device(GRACE);
    a.handle_viewers(1_000, CHANNEL, true);
    let invite = invite_in(&sent(&mut a));
    events(&mut a);
    let ssrc = answer(&mut a, 1_200, &invite);
    a.handle_viewers(5_000, CHANNEL, false);
    assert!(run(&mut a, Some(ssrc), 5_000, 14_000).is_empty());
    a.handle_viewers(14_000, CHANNEL, true);
    assert!(sent(&mut a).is_empty(), "the call is up: no new INVITE");
    assert_eq!(on_demand_state(&a), Some(OnDemand::Watched));
    assert!(
        run(&mut a, Some(ssrc), 14_000, 40_000).is_empty(),
        "no BYE at 15 s or later"
    );
    assert_eq!(state(&a), "playing");
    // Leaving again starts a new grace, from then.
    a.handle_viewers(40_000, CHANNEL, false);
    assert!(run(&mut a, Some(ssrc), 40_000, 49_999).is_empty());
    assert_eq!(
        methods(&run(&mut a, Some(ssrc), 49_999, 50_000)),
        [Method::Bye]
    );
}

#[test]
fn viewers_waiting_before_the_device_comes_get_it_invited() {
    let mut a = Agent::new(on_demand(GRACE), 42);
    a.handle_viewers(0, CHANNEL, true);
    a.handle_viewers(10, "34020000001310000099", true);
    assert!(sent(&mut a).is_empty() && events(&mut a).is_empty());
    assert_eq!(a.viewers(CHANNEL), Some(Watch::Watched));
    a.handle_message(
        5_000,
        "d",
        peer(),
        request(Method::Register, "r1", 1, &[("Expires", "3600")], ""),
    );
    assert_eq!(status(&sent(&mut a)[0]), Some(200));
    let out = send_catalog(&mut a, 5_100);
    let invite = invite_in(&out);
    assert!(invite.request_uri().unwrap().contains(CHANNEL));
    assert_eq!(on_demand_state(&a), Some(OnDemand::Watched));
}

#[test]
fn a_failed_invite_is_retried_while_watched_and_not_once_nobody_watches() {
    let mut a = quiet_device(GRACE);
    a.handle_viewers(1_000, CHANNEL, true);
    let invite = invite_in(&sent(&mut a));
    a.handle_message(1_100, "d", peer(), invite.response_to(486, "Busy", None));
    assert_eq!(state(&a), "idle");
    // Retried after media_timeout (10 s).
    assert!(run(&mut a, None, 1_100, 11_000).is_empty());
    let retry = invite_in(&run(&mut a, None, 11_000, 12_000));
    a.handle_message(12_100, "d", peer(), retry.response_to(486, "Busy", None));
    // Everyone leaves: the retry due at 22 s is not made.
    a.handle_viewers(13_000, CHANNEL, false);
    assert!(run(&mut a, None, 13_000, 40_000).is_empty());
}

#[test]
fn without_grace_the_bye_goes_when_the_last_viewer_leaves() {
    let mut a = quiet_device(0);
    a.handle_viewers(1_000, CHANNEL, true);
    let invite = invite_in(&sent(&mut a));
    answer(&mut a, 1_100, &invite);
    a.handle_viewers(2_000, CHANNEL, false);
    assert_eq!(methods(&sent(&mut a)), [Method::Bye]);
}

/// The hub's whole list, once a second, mends an edge that got lost.
#[test]
fn the_periodic_list_of_watched_streams_mends_lost_events() {
    let mut a = quiet_device(GRACE);
    a.sync_viewers(1_000, ["some-rtmp-stream", CHANNEL]);
    let invite = invite_in(&sent(&mut a));
    let ssrc = answer(&mut a, 1_100, &invite);
    a.sync_viewers(2_000, ["some-rtmp-stream", CHANNEL]);
    assert!(sent(&mut a).is_empty());
    a.sync_viewers(3_000, ["some-rtmp-stream"]);
    assert_eq!(
        on_demand_state(&a),
        Some(OnDemand::Grace { bye_at: 13_000 })
    );
    assert_eq!(
        methods(&run(&mut a, Some(ssrc), 3_000, 13_000)),
        [Method::Bye]
    );
}

/// An API stop while watched holds until everyone has left and a viewer comes again.
#[test]
fn an_api_bye_holds_until_a_new_viewer() {
    let mut a = quiet_device(GRACE);
    a.handle_viewers(1_000, CHANNEL, true);
    let invite = invite_in(&sent(&mut a));
    let ssrc = answer(&mut a, 1_100, &invite);
    assert!(a.bye(2_000, DEVICE, CHANNEL));
    assert_eq!(methods(&sent(&mut a)), [Method::Bye]);
    assert!(run(&mut a, Some(ssrc), 2_000, 30_000).is_empty());
    a.handle_viewers(30_000, CHANNEL, false);
    assert!(run(&mut a, None, 30_000, 45_000).is_empty());
    a.handle_viewers(45_000, CHANNEL, true);
    invite_in(&sent(&mut a));
}

#[test]
fn under_device_naming_one_channel_feeds_the_device_stream() {
    let mut a = registered_with(AgentConfig {
        naming: StreamNaming::Device,
        ..on_demand(GRACE)
    });
    let items: String = [
        ("34020000001310000001", "OFF"),
        ("34020000001310000002", "ON"),
    ]
    .iter()
    .map(|(id, status)| {
        format!("<Item>\r\n<DeviceID>{id}</DeviceID>\r\n<Status>{status}</Status>\r\n</Item>\r\n")
    })
    .collect();
    let catalog = format!(
        "<?xml version=\"1.0\"?>\r\n<Response>\r\n<CmdType>Catalog</CmdType>\r\n<SN>1</SN>\r\n\
         <DeviceID>{DEVICE}</DeviceID>\r\n<SumNum>2</SumNum>\r\n<DeviceList Num=\"2\">\r\n\
         {items}</DeviceList>\r\n</Response>\r\n"
    );
    a.handle_message(
        100,
        "d",
        peer(),
        request(Method::Message, "m1", 3, &[], &catalog),
    );
    sent(&mut a);
    // A viewer of a channel's id is nobody's under device naming.
    a.handle_viewers(1_000, "34020000001310000002", true);
    assert!(sent(&mut a).is_empty());
    a.handle_viewers(1_000, DEVICE, true);
    let out = sent(&mut a);
    assert_eq!(methods(&out), [Method::Invite], "one channel");
    assert!(out[0]
        .request_uri()
        .unwrap()
        .contains("34020000001310000002"));
    // A failure is retried on that same channel only.
    a.handle_message(1_100, "d", peer(), out[0].response_to(486, "Busy", None));
    let retry = run(&mut a, None, 1_100, 12_000);
    assert_eq!(methods(&retry), [Method::Invite]);
    assert!(retry[0]
        .request_uri()
        .unwrap()
        .contains("34020000001310000002"));
}

#[test]
fn invite_always_ignores_viewers() {
    let mut a = registered_with(config(""));
    invite_in(&send_catalog(&mut a, 100));
    a.handle_viewers(1_000, CHANNEL, false);
    a.handle_viewers(1_000, CHANNEL, true);
    a.sync_viewers(1_000, [CHANNEL]);
    assert!(sent(&mut a).is_empty());
    assert_eq!(a.viewers(CHANNEL), None);
    assert_eq!(on_demand_state(&a), None);
}

#[test]
fn the_watched_streams_are_bounded() {
    let mut a = Agent::new(on_demand(GRACE), 1);
    for i in 0..MAX_WATCHED {
        a.handle_viewers(0, &i.to_string(), true);
    }
    a.handle_viewers(0, CHANNEL, true);
    assert_eq!(a.viewers(CHANNEL), None, "one more is not tracked");
    a.handle_viewers(1, "0", false);
    a.handle_viewers(2, "0", true);
    assert_eq!(
        a.viewers("0"),
        Some(Watch::Watched),
        "a known one comes back"
    );
}
