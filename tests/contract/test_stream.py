"""The live stream's contract: one code and one reason per way a stream ends, and its URL
(ser_contract.stream)."""

from __future__ import annotations

from ser_contract.stream import CLOSES, DONE, stream_url


def test_every_close_has_its_own_code_and_reason_in_a_valid_range() -> None:
    assert len({c.code for c in CLOSES}) == len({c.reason for c in CLOSES}) == len(CLOSES)
    for close in CLOSES:
        # RFC 6455 §7.4: 1000-1015 defined by the protocol (1004-1006 and 1015 never sent
        # on the wire), 4000-4999 for applications.
        assert close.code in {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012,
                              1013, 1014} or 4000 <= close.code <= 4999, close  # fmt: skip
    assert DONE.code == 1000


def test_the_stream_url_keeps_the_scheme_family_and_encodes_the_query() -> None:
    assert stream_url("http://h:1/", sample_rate=8000) == "ws://h:1/stream?sample_rate=8000"
    assert stream_url("https://h", api_key="a b&c") == "wss://h/stream?api_key=a+b%26c"
    assert stream_url("ws://h") == "ws://h/stream"
