#!/usr/bin/env python3
"""py_client.py - a WebSocket client no one here wrote: the Python `websockets` package
(Debian's python3-websockets), against test/ws/interop-app.ts's /echo.

It sends text and binary messages of several sizes and reads each echo, pings with a
payload and waits for the matching pong, then closes with 1000. It prints one JSON object
with what it saw; test/ws-interop.test.ts decides whether that is right.

Usage: python3 test/ws/py_client.py ws://127.0.0.1:PORT/echo deflate|none
"""
import asyncio
import hashlib
import json
import os
import sys

import websockets

SIZES = [0, 1, 125, 126, 127, 65535, 65536, 1 << 20]
TIMEOUT_S = 10


def digest(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha256(data).hexdigest()


def text_of(size):
    """Exactly `size` bytes of UTF-8, with 1-, 2-, 3- and 4-byte code points."""
    unit = "aé€😀"  # 1 + 2 + 3 + 4 bytes
    return unit * (size // 10) + "a" * (size % 10)


async def session(url, compression):
    out = {"websockets": websockets.version.version, "cases": []}
    async with websockets.connect(
        url,
        compression=compression,
        max_size=2 << 20,
        open_timeout=TIMEOUT_S,
        close_timeout=TIMEOUT_S,
        ping_interval=None,  # only our own ping below
    ) as ws:
        out["extensions"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        for size in SIZES:
            for kind in ("text", "binary"):
                sent = text_of(size) if kind == "text" else os.urandom(size)
                await ws.send(sent)
                got = await ws.recv()
                out["cases"].append(
                    {
                        "kind": kind,
                        "size": len(sent.encode("utf-8")) if kind == "text" else len(sent),
                        "gotType": type(got).__name__,
                        "sentSha": digest(sent),
                        "gotSha": digest(got),
                    }
                )
        # The future resolves only on a pong carrying this payload.
        pong = await ws.ping(b"py-ping-payload")
        await pong
        out["pong"] = True
        await ws.close(code=1000, reason="py done")
        out["closeCode"] = ws.close_code
        out["closeReason"] = ws.close_reason
    return out


def main():
    if len(sys.argv) != 3 or sys.argv[2] not in ("deflate", "none"):
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    compression = "deflate" if sys.argv[2] == "deflate" else None
    out = asyncio.run(asyncio.wait_for(session(sys.argv[1], compression), 4 * TIMEOUT_S))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
