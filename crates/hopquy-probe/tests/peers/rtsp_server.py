#!/usr/bin/python3
"""A GStreamer RTSP server for hopquy's peer tests (gst-rtsp-server through PyGObject).

Run with Debian's /usr/bin/python3 (the one that has `gi`):

    RTSP_PASSWORD=secret /usr/bin/python3 rtsp_server.py --port 8554 --user camtest --path /stream1

Serves a small MJPEG test pattern at --path on 127.0.0.1 only, with Digest authentication
for --user (password from $RTSP_PASSWORD; without it, no authentication at all). Prints
`READY <port>` on stdout once it listens, and exits when stdin closes so a test that dies
never leaves it behind.
"""

import argparse
import os
import sys
import threading

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true ! video/x-raw,format=I420,width=160,height=120,framerate=5/1 "
    "! jpegenc ! rtpjpegpay name=pay0 pt=26 )"
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", default="camtest")
    parser.add_argument("--path", action="append", default=[])
    args = parser.parse_args()
    password = os.environ.get("RTSP_PASSWORD")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))

    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)

    if password:
        auth = GstRtspServer.RTSPAuth()
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        auth.add_digest(args.user, password, token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("user", "media.factory.access", True)
        permissions.add_permission_for_role("user", "media.factory.construct", True)
        factory.set_permissions(permissions)

    mounts = server.get_mount_points()
    for path in args.path or ["/stream1"]:
        mounts.add_factory(path, factory)

    if server.attach(None) == 0:
        print("FAILED to listen", flush=True)
        return 1
    loop = GLib.MainLoop()

    def watch_stdin() -> None:
        sys.stdin.read()
        loop.quit()

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(f"READY {args.port}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
