#!/usr/bin/env python3
"""A tiny ONVIF device-service responder for hopquy's peer tests (Python stdlib only).

Written from the ONVIF Core specification and the WS-Security UsernameToken Profile 1.0,
not from hopquy's code, so the two check each other:

* POST /onvif/device_service, SOAP 1.2.
* PRE_AUTH operations (GetSystemDateAndTime, GetCapabilities, GetServices,
  GetServiceCapabilities, GetWsdlUrl, GetHostname, GetEndpointReference) answer anyone.
* Every other operation needs a WS-UsernameToken: PasswordDigest =
  Base64(SHA-1(nonce || Created || password)), with both Nonce and Created present
  ("the server shall reject any Username Token not using both"), Created within five
  minutes of the device clock, and a nonce not seen before. This device supports
  UsernameToken only, so a refusal is HTTP 400 with env:Sender / ter:NotAuthorized.

    ONVIF_PASSWORD=secret python3 onvif_server.py --port 0 --user admin [--leaky] [--lax-token] [--clock-offset S]

--leaky        every operation answers without credentials (the XM530 pattern).
--lax-token    accept tokens without Nonce/Created (digest over the password alone), stale
               Created and replayed nonces.
--clock-offset the device clock runs this many seconds ahead of real time (negative: behind).

Listens on 127.0.0.1 only, prints `READY <port>` once listening, and exits when stdin
closes so a test that dies never leaves it behind.
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import os
import sys
import threading
import xml.etree.ElementTree as ET
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NS_SOAP = "http://www.w3.org/2003/05/soap-envelope"
NS_WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
NS_WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
NS_TDS = "http://www.onvif.org/ver10/device/wsdl"
DIGEST_TYPE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest"

PRE_AUTH = {
    "GetSystemDateAndTime",
    "GetCapabilities",
    "GetServices",
    "GetServiceCapabilities",
    "GetWsdlUrl",
    "GetHostname",
    "GetEndpointReference",
}

IDENTITY = {
    "Manufacturer": "PyPeer Optics",
    "Model": "PP-ONVIF-1",
    "FirmwareVersion": "0.9.1",
    "SerialNumber": "PYPEER0001",
    "HardwareId": "pp-hw-7",
}

MAX_BODY = 256 * 1024
FRESHNESS = datetime.timedelta(minutes=5)


class Device:
    def __init__(self, args, password):
        self.user = args.user
        self.password = password
        self.leaky = args.leaky
        self.lax_token = args.lax_token
        self.offset = datetime.timedelta(seconds=args.clock_offset)
        self.seen_nonces = {}
        self.lock = threading.Lock()

    def now(self):
        return datetime.datetime.now(datetime.timezone.utc) + self.offset

    def token_ok(self, header):
        """True when the SOAP header carries a valid UsernameToken for our user."""
        if header is None:
            return False
        token = header.find(f"{{{NS_WSSE}}}Security/{{{NS_WSSE}}}UsernameToken")
        if token is None:
            return False
        username = token.findtext(f"{{{NS_WSSE}}}Username", default="").strip()
        password_el = token.find(f"{{{NS_WSSE}}}Password")
        nonce_text = token.findtext(f"{{{NS_WSSE}}}Nonce")
        created = token.findtext(f"{{{NS_WSU}}}Created")
        if username != self.user or password_el is None:
            return False
        if password_el.get("Type", DIGEST_TYPE) != DIGEST_TYPE:
            return False
        if nonce_text is None or created is None:
            if not self.lax_token:
                return False
            nonce, created = b"", ""
        else:
            try:
                nonce = base64.b64decode(nonce_text.strip(), validate=True)
            except (ValueError, TypeError):
                return False
            created = created.strip()
            if not self.lax_token and not self.fresh(created):
                return False
        expected = base64.b64encode(
            hashlib.sha1(nonce + created.encode() + self.password.encode()).digest()
        ).decode()
        if not hmac.compare_digest(expected, (password_el.text or "").strip()):
            return False
        if nonce and not self.lax_token:
            with self.lock:
                if nonce in self.seen_nonces:
                    return False
                self.seen_nonces[nonce] = self.now()
        return True

    def fresh(self, created):
        try:
            when = datetime.datetime.strptime(created.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return False
        when = when.replace(tzinfo=datetime.timezone.utc)
        return abs(self.now() - when) <= FRESHNESS

    def answer(self, operation):
        """Body content for an implemented operation, or None."""
        t = self.now()
        if operation == "GetSystemDateAndTime":
            stamp = (
                f"<tt:Time><tt:Hour>{t.hour}</tt:Hour><tt:Minute>{t.minute}</tt:Minute>"
                f"<tt:Second>{t.second}</tt:Second></tt:Time><tt:Date><tt:Year>{t.year}</tt:Year>"
                f"<tt:Month>{t.month}</tt:Month><tt:Day>{t.day}</tt:Day></tt:Date>"
            )
            return (
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
                "<tt:DateTimeType>Manual</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
                f"<tt:UTCDateTime>{stamp}</tt:UTCDateTime></tds:SystemDateAndTime>"
                "</tds:GetSystemDateAndTimeResponse>"
            )
        if operation == "GetCapabilities":
            return (
                "<tds:GetCapabilitiesResponse><tds:Capabilities><tt:Device>"
                "<tt:XAddr>http://127.0.0.1/onvif/device_service</tt:XAddr></tt:Device>"
                "</tds:Capabilities></tds:GetCapabilitiesResponse>"
            )
        if operation == "GetServices":
            return (
                "<tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/device/wsdl"
                "</tds:Namespace><tds:XAddr>http://127.0.0.1/onvif/device_service</tds:XAddr>"
                "<tds:Version><tt:Major>2</tt:Major><tt:Minor>0</tt:Minor></tds:Version></tds:Service>"
                "</tds:GetServicesResponse>"
            )
        if operation == "GetServiceCapabilities":
            return (
                "<tds:GetServiceCapabilitiesResponse><tds:Capabilities>"
                '<tds:Security UsernameToken="true" HttpDigest="false"/></tds:Capabilities>'
                "</tds:GetServiceCapabilitiesResponse>"
            )
        if operation == "GetWsdlUrl":
            return "<tds:GetWsdlUrlResponse><tds:WsdlUrl>http://www.onvif.org/</tds:WsdlUrl></tds:GetWsdlUrlResponse>"
        if operation == "GetHostname":
            return (
                "<tds:GetHostnameResponse><tds:HostnameInformation><tt:FromDHCP>false</tt:FromDHCP>"
                "<tt:Name>pypeer</tt:Name></tds:HostnameInformation></tds:GetHostnameResponse>"
            )
        if operation == "GetEndpointReference":
            return (
                "<tds:GetEndpointReferenceResponse><tds:GUID>urn:uuid:00000000-0000-4000-8000-000000000001"
                "</tds:GUID></tds:GetEndpointReferenceResponse>"
            )
        if operation == "GetDeviceInformation":
            fields = "".join(f"<tds:{k}>{v}</tds:{k}>" for k, v in IDENTITY.items())
            return f"<tds:GetDeviceInformationResponse>{fields}</tds:GetDeviceInformationResponse>"
        if operation == "GetUsers":
            return (
                f"<tds:GetUsersResponse><tds:User><tt:Username>{self.user}</tt:Username>"
                "<tt:UserLevel>Administrator</tt:UserLevel></tds:User></tds:GetUsersResponse>"
            )
        if operation == "GetScopes":
            return (
                "<tds:GetScopesResponse><tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef>"
                "<tt:ScopeItem>onvif://www.onvif.org/name/pypeer</tt:ScopeItem></tds:Scopes>"
                "</tds:GetScopesResponse>"
            )
        if operation == "GetNetworkInterfaces":
            return (
                '<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token="eth0">'
                "<tt:Enabled>true</tt:Enabled></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>"
            )
        if operation == "GetSystemLog":
            return (
                "<tds:GetSystemLogResponse><tds:SystemLog><tt:String>boot ok</tt:String>"
                "</tds:SystemLog></tds:GetSystemLogResponse>"
            )
        return None


def envelope(content):
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<SOAP-ENV:Envelope xmlns:SOAP-ENV="{NS_SOAP}" xmlns:tds="{NS_TDS}" '
        'xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:ter="http://www.onvif.org/ver10/error">'
        f"<SOAP-ENV:Body>{content}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


def fault(code, subcode, reason):
    return envelope(
        f"<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:{code}</SOAP-ENV:Value>"
        f"<SOAP-ENV:Subcode><SOAP-ENV:Value>{subcode}</SOAP-ENV:Value></SOAP-ENV:Subcode>"
        f"</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">{reason}</SOAP-ENV:Text>"
        "</SOAP-ENV:Reason></SOAP-ENV:Fault>"
    )


def make_handler(device):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "PyPeerONVIF/1.0"

        def log_message(self, *args):
            pass

        def send(self, status, body):
            self.send_response(status)
            self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self.send_error(405)

        def do_POST(self):
            if self.path != "/onvif/device_service":
                self.send_error(404)
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY:
                self.send_error(413)
                return
            raw = self.rfile.read(length)
            if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
                self.send(400, fault("Sender", "ter:WellFormed", "DTD not allowed"))
                return
            try:
                root = ET.fromstring(raw)
            except ET.ParseError:
                self.send(400, fault("Sender", "ter:WellFormed", "XML not well-formed"))
                return
            body = root.find(f"{{{NS_SOAP}}}Body")
            if root.tag != f"{{{NS_SOAP}}}Envelope" or body is None or len(body) == 0:
                self.send(400, fault("Sender", "ter:WellFormed", "not a SOAP 1.2 envelope"))
                return
            operation = body[0].tag.rsplit("}", 1)[-1]
            header = root.find(f"{{{NS_SOAP}}}Header")
            allowed = operation in PRE_AUTH or device.leaky or device.token_ok(header)
            if not allowed:
                self.send(400, fault("Sender", "ter:NotAuthorized", "Sender not Authorized"))
                return
            content = device.answer(operation)
            if content is None:
                self.send(500, fault("Receiver", "ter:ActionNotSupported", "Optional Action Not Implemented"))
                return
            self.send(200, envelope(content))

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user", default="admin")
    parser.add_argument("--leaky", action="store_true")
    parser.add_argument("--lax-token", action="store_true")
    parser.add_argument("--clock-offset", type=int, default=0)
    args = parser.parse_args()
    password = os.environ.get("ONVIF_PASSWORD", "")
    if not password:
        print("ONVIF_PASSWORD must be set", file=sys.stderr)
        return 2
    device = Device(args, password)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(device))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    # Exit when the test that started us closes our stdin (or dies).
    sys.stdin.read()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
