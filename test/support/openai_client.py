# The official openai Python SDK against Switchboard's /v1, for test/openai-python.test.ts.
# Reads OPENAI_BASE_URL and OPENAI_API_KEY (as the SDK does), runs one case named on the command
# line, and prints one JSON line with what it saw; an SDK error is printed as its class and fields,
# so the test asserts which of the SDK's own exceptions it raised.
import json
import sys

import openai
from openai import OpenAI


def error_of(exc):
    body = getattr(exc, "body", None)
    return {
        "error_class": type(exc).__name__,
        "status": getattr(exc, "status_code", None),
        "type": getattr(exc, "type", None),
        "code": getattr(exc, "code", None),
        "param": getattr(exc, "param", None),
        "retry_after": exc.response.headers.get("retry-after") if getattr(exc, "response", None) is not None else None,
        "body": body,
    }


def models(client, _args):
    return {"ids": [model.id for model in client.models.list()], "version": openai.__version__}


def embeddings(client, _args):
    client.embeddings.create(model="auto", input="hello")
    return {"unexpected": "no error"}


def chat(client, args):
    completion = client.chat.completions.create(model=args[0], messages=[{"role": "user", "content": args[1]}])
    choice = completion.choices[0]
    extra = completion.model_extra or {}
    return {
        "id": completion.id,
        "object": completion.object,
        "model": completion.model,
        "content": choice.message.content,
        "finish_reason": choice.finish_reason,
        "switchboard": extra.get("switchboard"),
    }


def chat_stream(client, args):
    stream = client.chat.completions.create(
        model=args[0],
        messages=[{"role": "user", "content": args[1]}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces = []
    chunks = 0
    finish_reason = None
    last_extra = None
    for chunk in stream:
        chunks += 1
        if chunk.model_extra and chunk.model_extra.get("switchboard"):
            last_extra = chunk.model_extra["switchboard"]
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finish_reason = choice.finish_reason
    return {"content": "".join(pieces), "chunks": chunks, "finish_reason": finish_reason, "switchboard": last_extra}


CASES = {"models": models, "embeddings": embeddings, "chat": chat, "chat_stream": chat_stream}


def main():
    case, args = sys.argv[1], sys.argv[2:]
    client = OpenAI(max_retries=0, timeout=60)
    try:
        result = CASES[case](client, args)
    except openai.APIStatusError as exc:
        result = error_of(exc)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
