#!/usr/bin/python3
"""A test IP camera: GStreamer's RTSP server with H.264 video and AAC audio.

Usage: rtsp_camera.py PORT [--path /cam] [--digest USER:PASSWORD] [--h265] [--tcp-only]
                      [--latm] [--opus] [--file CAMERA.mp4]
--h265 sends H.265 (x265enc, rtph265pay) instead of H.264.
--latm sends the AAC as MP4A-LATM (rtpmp4apay, cpresent=0) instead of mpeg4-generic.
--opus sends a 440 Hz tone as Opus (opusenc, rtpopuspay: opus/48000/2) instead of AAC.
--tcp-only offers RTP over the RTSP connection only (GstRTSPMediaFactory protocols): a SETUP
asking for UDP gets 461 Unsupported Transport, as from a camera behind a firewall.
Without it, UDP unicast and TCP interleaved are both served.
--file serves an MP4 file's H.264 and AAC as they are (no encoding: ci/measure-rtsp-ingest
compares the same bytes pulled over RTSP and published over RTMP), paced in real time, once.
Prints "listening", then "client connected" / "client closed" per RTSP connection and
"teardown" per TEARDOWN request (flushed), so a test can count the camera's clients. Runs
until killed.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

VIDEO = "videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=25/1 ! "
H264 = "x264enc key-int-max=50 tune=zerolatency speed-preset=ultrafast ! rtph264pay name=pay0 pt=96 "
H265 = "x265enc key-int-max=50 tune=zerolatency speed-preset=ultrafast ! rtph265pay name=pay0 pt=96 "
AUDIO = (
    "audiotestsrc is-live=true ! audio/x-raw,rate=44100,channels=1 ! avenc_aac "
    "! rtpmp4gpay name=pay1 pt=97"
)
LATM = (
    "audiotestsrc is-live=true ! audio/x-raw,rate=44100,channels=1 ! avenc_aac "
    "! aacparse ! rtpmp4apay name=pay1 pt=97"
)

OPUS = (
    "audiotestsrc is-live=true freq=440 ! audio/x-raw,rate=48000,channels=1 ! opusenc bitrate=64000 "
    "! rtpopuspay name=pay1 pt=97"
)


def say(line):
    print(line, flush=True)


def main():
    args = sys.argv[1:]
    port, path, digest, video, audio, tcp_only, launch = (
        args[0], "/cam", None, H264, AUDIO, False, None
    )
    i = 1
    while i < len(args):
        if args[i] == "--path":
            path, i = args[i + 1], i + 2
        elif args[i] == "--digest":
            digest, i = args[i + 1], i + 2
        elif args[i] == "--h265":
            video, i = H265, i + 1
        elif args[i] == "--latm":
            audio, i = LATM, i + 1
        elif args[i] == "--opus":
            audio, i = OPUS, i + 1
        elif args[i] == "--tcp-only":
            tcp_only, i = True, i + 1
        elif args[i] == "--file":
            launch = (
                "filesrc location=" + args[i + 1] + " ! qtdemux name=d "
                "d.video_0 ! queue ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 "
                "d.audio_0 ! queue ! aacparse ! rtpmp4gpay name=pay1 pt=97"
            )
            i += 2
        else:
            sys.exit("unknown argument " + args[i])
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch("( " + (launch or VIDEO + video + audio) + " )")
    factory.set_shared(True)
    if tcp_only:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    if digest:
        user, password = digest.split(":", 1)
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_digest(user, password, token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.from_string(
                "user, media.factory.access=(boolean)true, "
                "media.factory.construct=(boolean)true"
            )[0]
        )
    server.get_mount_points().add_factory(path, factory)

    def on_client(_server, client):
        say("client connected")
        client.connect("closed", lambda _c: say("client closed"))
        client.connect("teardown-request", lambda _c, _ctx: say("teardown"))

    server.connect("client-connected", on_client)
    if server.attach(None) == 0:
        sys.exit("cannot listen on port " + port)
    say("listening")
    GLib.MainLoop().run()


main()
