"""The SSE decoder against the standard's parsing rules, with chunks split at awkward places."""

from __future__ import annotations

from livesight.sdk._sse import ServerSentEvent, SSEDecoder


def decode(*chunks: bytes) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events, decoder


def test_fields_comments_multiline_data_and_retry() -> None:
    stream = (
        b': keep-alive\n\nretry: 2000\n\nevent: started\ndata: {"a":\ndata: 1}\nid: 1\n\n'
        b"data:no space\nid: 1.1\n\nevent: odd\ndata\n\n"
    )
    events, decoder = decode(stream)
    assert [(e.event, e.data, e.id) for e in events] == [
        ("started", '{"a":\n1}', "1"),
        ("message", "no space", "1.1"),
        ("odd", "", "1.1"),  # "data" without a colon is an empty data line; the id carries over
    ]
    assert decoder.retry == 2000 and decoder.last_event_id == "1.1"
    assert events[0].to_monitor_event().data == {"a": 1}
    assert events[1].to_monitor_event().data == {"value": "no space"}


def test_line_endings_and_characters_split_across_chunks() -> None:
    body = 'event: triggered\r\ndata: {"note": "caf\u00e9"}\rid: 7\r\n\r\n'.encode()
    whole, _ = decode(body)
    pieces, _ = decode(*(body[i : i + 1] for i in range(len(body))))  # one byte at a time: "\r" | "\n", "é" split
    assert whole == pieces and len(whole) == 1
    assert whole[0].to_monitor_event().data == {"note": "caf\u00e9"} and whole[0].id == "7"


def test_an_unfinished_event_is_never_dispatched() -> None:
    events, decoder = decode(b'\xef\xbb\xbfid: 3\nevent: stopped\ndata: {}\n\nevent: triggered\ndata: {"x"')
    assert [e.event for e in events] == ["stopped"]  # the BOM is dropped; the cut-off event is not returned
    assert decoder.last_event_id == "3"


def test_ignored_lines() -> None:
    events, decoder = decode(b"retry: soon\nid: a\x00b\nunknown: x\ndata: ok\n\n")
    assert [(e.data, e.id) for e in events] == [("ok", None)] and decoder.retry is None
