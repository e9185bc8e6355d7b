#!/usr/bin/env python3
"""The benchmark's peer: the same anonymous read sweep, made with onvif-zeep-async (the ONVIF
client Home Assistant uses; zeep builds each request from the ONVIF WSDL).

    target/peers/venv/bin/python onvif_zeep_sweep.py PORT OPERATION...

Prints one JSON object: the operations that answered, and those that raised a SOAP fault
or HTTP error. Operations the WSDL does not know are listed under `unknown`.
"""

import asyncio
import json
import sys

from onvif import ONVIFCamera

# Arguments the sweep sends, as hopquy does.
ARGUMENTS = {
    "GetServices": {"IncludeCapability": False},
    "GetCapabilities": {"Category": "All"},
    "GetSystemLog": {"LogType": "System"},
}


async def sweep(port, operations):
    # No credentials: `authless_` calls go out without a WS-Security header.
    camera = ONVIFCamera("127.0.0.1", port, None, None)
    service = await camera.create_devicemgmt_service()
    answered, refused, unknown = [], [], []
    try:
        for name in operations:
            try:
                call = getattr(service, "authless_" + name)
            except AttributeError:
                unknown.append(name)
                continue
            try:
                await call(ARGUMENTS.get(name))
                answered.append(name)
            except Exception:  # zeep Fault, transport errors: not answered
                refused.append(name)
    finally:
        await service.close()
        await camera.close()
    return {"answered": answered, "not_answered": refused, "unknown": unknown}


def main():
    port = int(sys.argv[1])
    print(json.dumps(asyncio.run(sweep(port, sys.argv[2:]))))


if __name__ == "__main__":
    main()
