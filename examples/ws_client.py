"""A WebSocket client for cer-desktop's stream: prints each face's label as it changes.

    cer-desktop --ws 127.0.0.1:8765        # in one terminal
    python examples/ws_client.py           # in another (pip install websockets)

For a server on another address: CER_STREAM_TOKEN=... python examples/ws_client.py HOST:PORT
(the same token the server was started with). The messages are described in docs/streams.md.
"""

from __future__ import annotations

import json
import os
import sys

from websockets.sync.client import connect


def main() -> None:
    address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:8765"
    token = os.environ.get("CER_STREAM_TOKEN", "")
    headers = {"Authorization": f"Bearer {token}"} if token else None
    labels: dict[int, str] = {}
    with connect(f"ws://{address}/", additional_headers=headers) as ws:
        for text in ws:
            message = json.loads(text)
            if message["type"] == "marker":
                print(f"marker: {message['text']}")
                continue
            for face in message["faces"]:
                if face["label"] and labels.get(face["slot"]) != face["label"]:
                    labels[face["slot"]] = face["label"]
                    p = face["probs"].get(face["label"])
                    print(f"frame {message['frame_id']}: face {face['slot']} {face['label']} ({p})")


if __name__ == "__main__":
    main()
