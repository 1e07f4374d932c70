"""Agent frames: what decodes, what is refused, and the spellings accepted alike."""

from uuid import uuid4

import msgspec
import pytest

from nodebyte_node_agent_gateway.protocol import (
    ConsoleOutput,
    HealthReport,
    ProtocolError,
    ResourceStats,
    decode_agent_message,
    decode_handshake,
)

SERVER = str(uuid4())


@pytest.mark.parametrize("key", ["serverId", "serverUuid"])
def test_either_server_spelling_names_the_server(key: str) -> None:
    frame = decode_agent_message(f'{{"type":"console_output","{key}":"{SERVER}","data":"hi"}}')
    assert isinstance(frame, ConsoleOutput)
    assert str(frame.server()) == SERVER
    assert frame.stream == "stdout"


def test_both_server_spellings_must_agree() -> None:
    same = decode_agent_message(
        f'{{"type":"server_state_update","serverId":"{SERVER}","serverUuid":"{SERVER}",'
        '"state":"running"}'
    )
    assert str(same.server()) == SERVER  # type: ignore[union-attr]
    different = decode_agent_message(
        f'{{"type":"server_state_update","serverId":"{SERVER}","serverUuid":"{uuid4()}",'
        '"state":"running"}'
    )
    with pytest.raises(ProtocolError):
        different.server()  # type: ignore[union-attr]


def test_a_frame_without_a_valid_server_id_is_refused() -> None:
    for body in (
        '{"type":"console_output","data":"x"}',
        '{"type":"console_output","serverId":"srv-1","data":"x"}',
    ):
        with pytest.raises(ProtocolError):
            decode_agent_message(body).server()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("stats", "cpu", "memory"),
    [
        ('"cpu":45.2,"memoryMb":2048', 45.2, 2048),
        ('"cpuPercent":45.2,"memoryUsageMb":2048', 45.2, 2048),
        ('"cpu":45.2,"cpuPercent":45.2,"memoryMb":1', 45.2, 1),
    ],
)
def test_cpu_and_cpu_percent_are_accepted_alike(stats: str, cpu: float, memory: float) -> None:
    frame = decode_agent_message(f'{{"type":"resource_stats","serverId":"{SERVER}",{stats}}}')
    assert isinstance(frame, ResourceStats)
    assert (frame.cpu_value(), frame.memory_value()) == (cpu, memory)


def test_contradicting_or_missing_cpu_is_refused() -> None:
    frame = decode_agent_message(
        f'{{"type":"resource_stats","serverId":"{SERVER}","cpu":1,"cpuPercent":2,"memoryMb":1}}'
    )
    with pytest.raises(ProtocolError):
        frame.cpu_value()  # type: ignore[union-attr]
    report = decode_agent_message(
        '{"type":"health_report","memoryUsageMb":1,"memoryTotalMb":2,"diskUsageMb":1,'
        '"diskTotalMb":2}'
    )
    assert isinstance(report, HealthReport)
    with pytest.raises(ProtocolError):
        report.cpu_value()


@pytest.mark.parametrize(
    "body",
    [
        "{not json",
        "[]",
        '{"type":"teleport"}',
        '{"no":"type"}',
        f'{{"type":"server_state_update","serverId":"{SERVER}","state":"exploded"}}',
        f'{{"type":"console_output","serverId":"{SERVER}","stream":"stdin","data":"x"}}',
        '{"type":"health_report","cpuPercent":-1,"memoryUsageMb":1,"memoryTotalMb":1,'
        '"diskUsageMb":1,"diskTotalMb":1}',
        f'{{"type":"backup_complete","serverId":"{SERVER}","backupName":"b","sizeMb":-3}}',
        '{"type":"node_handshake","nodeId":"n"}',
        '{"type":"node_handshake","nodeId":"n","token":"' + "t" * 600 + '"}',
    ],
    ids=[
        "not json",
        "array",
        "unknown type",
        "no type",
        "bad state",
        "bad stream",
        "negative cpu",
        "negative size",
        "no token",
        "token too long",
    ],
)
def test_invalid_frames_do_not_decode(body: str) -> None:
    with pytest.raises((msgspec.ValidationError, msgspec.DecodeError)):
        decode_agent_message(body)


def test_unknown_fields_are_ignored_for_newer_agents() -> None:
    frame = decode_agent_message('{"type":"heartbeat","sequence":12,"agentTime":"now"}')
    assert type(frame).__name__ == "Heartbeat"


def test_the_handshake_decoder_takes_only_a_handshake() -> None:
    handshake = decode_handshake(
        '{"type":"node_handshake","nodeId":"n","token":"t","features":["command_ack"]}'
    )
    assert handshake.features == ["command_ack"]
    with pytest.raises(msgspec.ValidationError):
        decode_handshake('{"type":"heartbeat"}')
