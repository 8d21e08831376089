"""Drives the real xiaozhi-sdk 0.5.1 with a device-side MCP tool, for test/xiaozhi-sdk-tools.test.ts.

The SDK's core class, headless (no audio device), with one tool registered the SDK's way
(`set_mcp_tool`): `self.light.set_brightness`, whose function records its arguments. The SDK
answers the gateway's `initialize`, `tools/list` and `tools/call` itself (xiaozhi_sdk/mcp.py).

One JSON object a line on stdout; the test answers on stdin:
  {"event": "provisioned", "code": "123456"}     after the SDK's OTA call (device not bound)
  {"event": "waiting", "for_": "bound"}            the test binds the code, then writes "bound\n"
  {"event": "connected", "session_id": ...}        bound and connected
  {"event": "waiting", "for_": "listed"}           the test waits for the tools to be listed, then writes "listed\n"
  {"event": "tool_called", "arguments": {...}}      each time the SDK runs the tool
  {"event": "answer", "question": ..., "sentences": [...]}
  {"event": "done"}

Usage: xiaozhi_tools_client.py <ota url> <mac> <question>
"""

import asyncio
import json
import sys

from xiaozhi_sdk import XiaoZhiWebsocket
from xiaozhi_sdk.ota import OtaDevice

ANSWER_TIMEOUT_S = 60


def emit(**fields):
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def set_brightness(arguments):
    emit(event="tool_called", arguments=arguments)
    return {"success": True, "brightness": arguments.get("brightness")}, False


TOOLS = [
    {
        "name": "self.light.set_brightness",
        "description": "Set the brightness of the light, 0 to 100",
        "inputSchema": {
            "type": "object",
            "properties": {"brightness": {"type": "integer", "minimum": 0, "maximum": 100}},
            "required": ["brightness"],
        },
        "tool_func": set_brightness,
    }
]


async def wait_for(word):
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if line.strip() != word:
        raise RuntimeError("expected %r on stdin, got %r" % (word, line))


async def connect(ota_url, mac, frames):
    async def on_message(frame):
        await frames.put(frame)

    sdk = XiaoZhiWebsocket(on_message, ota_url=ota_url)
    await sdk.set_mcp_tool(TOOLS)
    if not await sdk.init_connection(mac):
        raise RuntimeError("the SDK could not connect")
    return sdk


async def answer(frames, question):
    sentences = []
    while True:
        frame = await asyncio.wait_for(frames.get(), ANSWER_TIMEOUT_S)
        if frame.get("type") == "tts" and frame.get("state") == "sentence_start":
            sentences.append(frame["text"])
        elif frame.get("type") == "tts" and frame.get("state") == "stop":
            emit(event="answer", question=question, sentences=sentences)
            return


async def main(ota_url, mac, question):
    frames = asyncio.Queue()
    sdk = await connect(ota_url, mac, frames)
    info = await OtaDevice(mac, sdk.client_id, ota_url).activate_device()
    emit(event="provisioned", code=info["activation"]["code"])
    await answer(frames, "hi")
    await sdk.close()
    emit(event="waiting", for_="bound")
    await wait_for("bound")

    frames = asyncio.Queue()
    sdk = await connect(ota_url, mac, frames)
    emit(event="connected", session_id=sdk.session_id)
    emit(event="waiting", for_="listed")
    await wait_for("listed")
    if not await sdk.send_text(question):
        raise RuntimeError("send_text failed")
    await answer(frames, question)
    await sdk.close()
    emit(event="done")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
