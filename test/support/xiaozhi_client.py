"""Drives the real xiaozhi-sdk 0.5.1 (PyPI; installed by `node scripts/setup.mjs --tool xiaozhi-sdk`)
against Switchboard, in text mode, for test/xiaozhi-sdk.test.ts.

Headless: the SDK's core class (XiaoZhiWebsocket) does its OTA call, activation polling and socket
itself; only its audio devices (sounddevice, used by its CLI alone) are left out. Text questions go
through its own send_text (a `listen` `detect` frame), answers come through its message callback.

One JSON object a line on stdout; the test answers on stdin:
  {"event": "provisioned", "code": "123456"}          after the SDK's OTA call (device not bound)
  {"event": "answer", "question": ..., "sentences": [...], "session_id": ...}
  {"event": "waiting", "for_": "bound"}                 the test binds the code, then writes "bound\n"
  {"event": "connected", "session_id": ...}             after each (re)connection once bound
  {"event": "waiting", "for_": "unbound"}               the test unbinds the device, then writes "unbound\n"
  {"event": "done"}                                     after a last unbound round (a new code)

Usage: xiaozhi_client.py <ota url> <mac> <question> [<question> ...]
The last question is asked again after a reconnection.
"""

import asyncio
import json
import sys

from xiaozhi_sdk import XiaoZhiWebsocket
from xiaozhi_sdk.ota import OtaDevice

ANSWER_TIMEOUT_S = 60


def emit(**fields):
    print(json.dumps(fields, ensure_ascii=False), flush=True)


class Device:
    def __init__(self, ota_url, mac):
        self.ota_url = ota_url
        self.mac = mac
        self.frames = asyncio.Queue()
        self.sdk = None

    async def on_message(self, frame):
        await self.frames.put(frame)

    async def connect(self):
        # A new SDK object per connection, as an application restarting would make it.
        self.sdk = XiaoZhiWebsocket(self.on_message, ota_url=self.ota_url)
        if not await self.sdk.init_connection(self.mac):
            raise RuntimeError("the SDK could not connect")
        return self.sdk

    async def ask(self, question, send=True):
        """The sentences of one answer: tts sentence_start frames until tts stop."""
        if send and not await self.sdk.send_text(question):
            raise RuntimeError("send_text failed")
        sentences = []
        while True:
            frame = await asyncio.wait_for(self.frames.get(), ANSWER_TIMEOUT_S)
            if frame.get("type") == "tts" and frame.get("state") == "sentence_start":
                sentences.append(frame["text"])
            elif frame.get("type") == "tts" and frame.get("state") == "stop":
                emit(event="answer", question=question, sentences=sentences, session_id=self.sdk.session_id)
                return sentences

    async def close(self):
        await self.sdk.close()
        self.sdk = None
        while not self.frames.empty():
            self.frames.get_nowait()


async def unbound_round(device):
    """Unbound: the SDK provisions (OTA), connects with the token it got and says "hi" by itself; the
    answer is the activation code. The code is read the SDK's way, by a second OTA call (the same
    pending code comes back)."""
    await device.connect()
    probe = OtaDevice(device.mac, device.sdk.client_id, device.ota_url)
    info = await probe.activate_device()
    emit(event="provisioned", code=info["activation"]["code"])
    await device.ask("hi", send=False)
    await device.close()


async def wait_for(word):
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != word:
        raise RuntimeError("expected %r on stdin, got %r" % (word, line))


async def main(ota_url, mac, questions):
    device = Device(ota_url, mac)
    await unbound_round(device)
    emit(event="waiting", for_="bound")
    await wait_for("bound")

    # Bound: the next OTA call has no activation, and the socket reaches the device's session.
    await device.connect()
    emit(event="connected", session_id=device.sdk.session_id)
    for question in questions:
        await device.ask(question)
    await device.close()

    await device.connect()
    emit(event="connected", session_id=device.sdk.session_id)
    await device.ask(questions[-1])
    await device.close()

    # Unbound by its user: the SDK's next start provisions afresh and hears a new code.
    emit(event="waiting", for_="unbound")
    await wait_for("unbound")
    await unbound_round(device)
    emit(event="done")


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))
