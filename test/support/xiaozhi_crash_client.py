"""Drives the real xiaozhi-sdk 0.5.1 through a worker crash mid-answer, for test/xiaozhi-crash.test.ts.

The device provisions and is bound as in xiaozhi_client.py, then asks one question and records
every frame it hears, as short labels, until the second `tts stop` (the spoken part closed, then
the recorded answer) and 1.5 s of silence after it. One JSON object a line on stdout:
  {"event": "provisioned", "code": "123456"}
  {"event": "waiting", "for_": "bound"}        the test binds the code, starts a worker, writes "bound\n"
  {"event": "connected", "session_id": ...}
  {"event": "spoken", "sentences": [...]}        two sentences heard: the test kills the worker now
  {"event": "heard", "frames": [...]}            everything heard for the question, in order

Usage: xiaozhi_crash_client.py <ota url> <mac> <question>
"""

import asyncio
import sys

from xiaozhi_client import Device, emit, unbound_round, wait_for

HEAR_TIMEOUT_S = 150
SILENCE_S = 1.5


def label(frame):
    """What the device hears, as the TypeScript crash test labels it; None for frames that are not the answer."""
    kind = frame.get("type")
    if kind in ("hello", "mcp"):
        return None
    if kind == "tts":
        text = frame.get("text")
        return "tts %s%s" % (frame.get("state"), " " + text if text else "")
    return kind


async def main(ota_url, mac, question):
    device = Device(ota_url, mac)
    await unbound_round(device)
    emit(event="waiting", for_="bound")
    await wait_for("bound")

    await device.connect()
    emit(event="connected", session_id=device.sdk.session_id)
    if not await device.sdk.send_text(question):
        raise RuntimeError("send_text failed")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HEAR_TIMEOUT_S
    heard, sentences, stops = [], [], 0
    while stops < 2:
        frame = await asyncio.wait_for(device.frames.get(), max(0.1, deadline - loop.time()))
        heard.append(label(frame))
        if frame.get("type") == "tts" and frame.get("state") == "sentence_start":
            sentences.append(frame.get("text"))
            if len(sentences) == 2 and stops == 0:
                emit(event="spoken", sentences=sentences)
        if frame.get("type") == "tts" and frame.get("state") == "stop":
            stops += 1
    try:
        while True:
            heard.append(label(await asyncio.wait_for(device.frames.get(), SILENCE_S)))
    except asyncio.TimeoutError:
        pass
    emit(event="heard", frames=[h for h in heard if h is not None])
    await device.close()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
