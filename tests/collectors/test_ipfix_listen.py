"""The listeners on loopback: IPFIX over TCP, garbage over UDP, stopping, and their URLs."""

from __future__ import annotations

import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collectors import FlowListener, IpfixEncoder, ListenOptions, is_flow_url
from collectors._flowurl import parse_flow_url
from policies import CaptureError, ConfigError
from tests.collectors.ipfix_messages import BIFLOW4, a_set, biflow4, ipfix, template
from tests.collectors.test_ipfix_export import GOLDEN, PCAPS, _collect

VALID = ipfix([a_set(2, template(256, BIFLOW4)), a_set(256, biflow4("192.0.2.1", "198.51.100.2", 1, 2, 17))])


def _run(listener: FlowListener) -> tuple[threading.Thread, list[pa.Table]]:
    tables: list[pa.Table] = []
    thread = threading.Thread(target=lambda: tables.extend(listener.tables()))
    thread.start()
    return thread, tables


def test_ipfix_over_tcp_stream_split_anywhere(tmp_path: Path) -> None:
    flows = pa.concat_tables([_collect(name, tmp_path) for name in GOLDEN])
    stream = b"".join(IpfixEncoder().encode(flows))
    listener = FlowListener("ipfix+tcp://127.0.0.1:0", ListenOptions(stop_when_idle=2.0))
    thread, tables = _run(listener)
    with socket.create_connection(("127.0.0.1", listener.address[1])) as conn:
        for at in range(0, len(stream), 333):  # message boundaries fall inside the pieces
            conn.sendall(stream[at : at + 333])
            time.sleep(0.001)
    thread.join(timeout=60)
    assert not thread.is_alive()
    got = pa.concat_tables(tables)
    assert sorted(got["flow_id"].to_pylist()) == sorted(flows["flow_id"].to_pylist())
    assert listener.stats.lost_records == 0 and not listener.stats.problems


def test_tcp_stream_of_no_ipfix_is_closed_and_the_listener_goes_on() -> None:
    listener = FlowListener("ipfix+tcp://127.0.0.1:0", ListenOptions(stop_when_idle=2.0))
    thread, tables = _run(listener)
    with socket.create_connection(("127.0.0.1", listener.address[1])) as bad:
        bad.sendall(struct.pack("!HH", 9, 20) + bytes(16))
        bad.settimeout(10)
        assert bad.recv(10) == b""  # closed by the listener
    with socket.create_connection(("127.0.0.1", listener.address[1])) as good:
        good.sendall(VALID)
    thread.join(timeout=60)
    assert sum(t.num_rows for t in tables) == 1
    assert listener.stats.problems["bad_stream"] == 1


@settings(max_examples=20, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(min_size=0, max_size=300), min_size=1, max_size=20))
def test_garbage_datagrams_never_stop_the_udp_listener(garbage: list[bytes]) -> None:
    listener = FlowListener("netflow://127.0.0.1:0", ListenOptions(stop_after_messages=len(garbage) + 1))
    thread, tables = _run(listener)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as router:
        for datagram in [*garbage, VALID]:
            router.sendto(datagram, ("127.0.0.1", listener.address[1]))
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert listener.messages == len(garbage) + 1
    assert sum(t.num_rows for t in tables) >= 1  # the valid message at the end was read
    assert "undecodable" not in listener.stats.problems


def test_stop_makes_a_quiet_listener_return() -> None:
    listener = FlowListener("ipfix://127.0.0.1:0")
    thread, tables = _run(listener)
    time.sleep(0.3)
    listener.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and tables == []


def test_urls() -> None:
    assert is_flow_url("ipfix://127.0.0.1:4739") and is_flow_url("netflow://[::1]:2055")
    assert not is_flow_url("capture.pcap") and not is_flow_url("ipfix")
    assert parse_flow_url("ipfix+tcp://[::1]:4739") == ("ipfix+tcp", "::1", 4739)
    for bad in ("ipfix://127.0.0.1", "ipfix://:4739", "ipfix://127.0.0.1:99999", "ipfix://h:1/path"):
        with pytest.raises(ConfigError):
            parse_flow_url(bad)


def test_a_taken_port_is_a_capture_error_naming_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        spec = f"ipfix://127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(CaptureError, match=r"cannot listen on ipfix://127\.0\.0\.1"):
            FlowListener(spec)
        done = subprocess.run([sys.executable, "-m", "metagate", "collect", spec, "-o", "-"],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 4 and spec in done.stderr


def test_collect_rejects_an_export_that_is_not_ipfix_over_udp() -> None:
    args = ["collect", str(PCAPS / "icmp.pcap"), "--export", "ipfix+tcp://127.0.0.1:4739", "-o", "-"]
    done = subprocess.run([sys.executable, "-m", "metagate", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "export" in done.stderr
