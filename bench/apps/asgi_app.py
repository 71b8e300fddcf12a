"""ASGI hello app for uvicorn; same paths and behaviour as node-app.mjs."""

import os
import time

HELLO = b'Hello, World!'
CHUNK = b'x' * 65536
TEXT = [(b'content-type', b'text/plain')]


def burn(ms):
    # Busy loop on purpose: it blocks the event loop exactly like a CPU-heavy handler would.
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


async def respond(send, body, headers=TEXT, status=200):
    headers = headers + [(b'content-length', str(len(body)).encode())]
    await send({'type': 'http.response.start', 'status': status, 'headers': headers})
    await send({'type': 'http.response.body', 'body': body})


async def app(scope, receive, send):
    if scope['type'] != 'http':
        return  # lifespan events: nothing to set up
    path = scope['path']
    if path == '/':
        return await respond(send, HELLO)
    if path == '/heavy':
        burn(20)
        return await respond(send, HELLO)
    if path == '/upload':
        got = 0
        more = True
        while more:
            message = await receive()
            got += len(message.get('body', b''))
            more = message.get('more_body', False)
        return await respond(send, str(got).encode())
    if path == '/download':
        query = scope.get('query_string', b'').decode()
        left = int(query[6:]) if query.startswith('bytes=') else 1024 * 1024
        headers = [(b'content-type', b'application/octet-stream'), (b'content-length', str(left).encode())]
        await send({'type': 'http.response.start', 'status': 200, 'headers': headers})
        # uvicorn's send() waits while the transport is paused, so this loop respects back-pressure.
        while left > 0:
            n = min(left, len(CHUNK))
            left -= n
            await send({'type': 'http.response.body', 'body': CHUNK[:n], 'more_body': left > 0})
        return
    if path == '/pid':
        return await respond(send, str(os.getpid()).encode())
    return await respond(send, b'', status=404)
