"""WSGI hello app for Gunicorn sync workers; same paths and behaviour as node-app.mjs."""

import os
import time

HELLO = b'Hello, World!'
CHUNK = b'x' * 65536


def burn(ms):
    # Busy loop, like the Node apps: hold the CPU for `ms` milliseconds.
    end = time.perf_counter() + ms / 1000
    while time.perf_counter() < end:
        pass


def stream(total):
    left = total
    while left > 0:
        n = min(left, len(CHUNK))
        left -= n
        yield CHUNK if n == len(CHUNK) else CHUNK[:n]


def app(environ, start_response):
    path = environ.get('PATH_INFO', '/')
    text = [('Content-Type', 'text/plain')]
    if path == '/' or path == '/heavy':
        if path == '/heavy':
            burn(20)
        start_response('200 OK', text + [('Content-Length', '13')])
        return [HELLO]
    if path == '/upload':
        left = int(environ.get('CONTENT_LENGTH') or 0)
        body = environ['wsgi.input']
        got = 0
        while left > 0:
            chunk = body.read(min(left, 65536))
            if not chunk:
                break
            got += len(chunk)
            left -= len(chunk)
        out = str(got).encode()
        start_response('200 OK', text + [('Content-Length', str(len(out)))])
        return [out]
    if path == '/download':
        query = environ.get('QUERY_STRING', '')
        total = int(query[6:]) if query.startswith('bytes=') else 1024 * 1024
        start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(total))])
        return stream(total)
    if path == '/pid':
        out = str(os.getpid()).encode()
        start_response('200 OK', text + [('Content-Length', str(len(out)))])
        return [out]
    start_response('404 Not Found', [('Content-Length', '0')])
    return [b'']
