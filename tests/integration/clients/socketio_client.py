"""A Socket.IO client as the OpenHands 0.x frontend uses one: WebSocket transport only,
no long-polling. Connects to https://DOMAIN:PORT trusting only CA_FILE, with DOMAIN
mapped to 127.0.0.1 in this process, emits `ping` and waits for `pong`, then makes a call
that the server acknowledges. Prints one JSON line with what happened.

usage: socketio_client.py DOMAIN PORT CA_FILE
"""

import json
import socket
import sys
import threading

domain, port, ca_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]

# The domain is not in any resolver here; send it to this machine, as a hosts line would.
_real_getaddrinfo = socket.getaddrinfo


def _mapped(host, *args, **kwargs):
    return _real_getaddrinfo("127.0.0.1" if host == domain else host, *args, **kwargs)


socket.getaddrinfo = _mapped

import requests  # noqa: E402
import socketio  # noqa: E402

session = requests.Session()
session.verify = ca_file  # engineio hands this file to websocket-client as its only CA
client = socketio.Client(http_session=session, reconnection=False)
pong = threading.Event()
received = {}


@client.on("pong")
def on_pong(*args):
    # The call below is a `ping` too and gets its own `pong`; keep the first.
    received.setdefault("pong", list(args))
    pong.set()


client.connect(
    f"https://{domain}:{port}", transports=["websocket"], wait_timeout=10
)
token = "from-python-socketio"
client.emit("ping", token)
got_pong = pong.wait(10)
ack = client.call("ping", {"n": 1}, timeout=10)
result = {
    "transport": client.transport(),
    "sid": client.sid,
    "pong": received.get("pong"),
    "got_pong": got_pong,
    "ack": ack,
}
client.disconnect()
print(json.dumps(result))
