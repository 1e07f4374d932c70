"""The agent WebSocket protocol (the reference's "WebSocket Protocol"), validated by msgspec.

Every frame an agent sends decodes into one of these Structs by its `type`, or
is refused. Agents in the wild name the same thing differently (`serverId` or
`serverUuid`, `cpu` or `cpuPercent`); both spellings are accepted and must agree
when both are sent. Unknown fields are ignored so newer agents still talk to us.
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

import msgspec

ServerState = Literal[
    "stopped", "installing", "starting", "running", "stopping", "crashed", "restoring", "suspended"
]
Stream = Literal["stdout", "stderr", "system"]

Count = Annotated[int, msgspec.Meta(ge=0, le=2**53)]
Megabytes = Annotated[float, msgspec.Meta(ge=0, le=2**40)]
Percent = Annotated[float, msgspec.Meta(ge=0, le=100_000)]  # a container may use N cores
ShortText = Annotated[str, msgspec.Meta(max_length=512)]

# Features an agent may announce in its handshake.
FEATURE_COMMAND_ACK = "command_ack"


class ProtocolError(ValueError):
    """A frame that decodes but means nothing valid (ids that disagree, bad ids)."""


def parse_uuid(value: str, what: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise ProtocolError(f"{what} is not a valid id") from None


class _Message(msgspec.Struct, tag_field="type", rename="camel", kw_only=True, frozen=True):
    pass


class _AboutServer(_Message, kw_only=True, frozen=True):
    server_id: ShortText | None = None
    server_uuid: ShortText | None = None

    def server(self) -> UUID:
        """The server the frame is about, from whichever spelling was sent."""
        ids = {parse_uuid(v, "serverId") for v in (self.server_id, self.server_uuid) if v}
        if len(ids) != 1:
            raise ProtocolError("serverId/serverUuid missing or contradictory")
        return ids.pop()


class NodeHandshake(_Message, tag="node_handshake", kw_only=True, frozen=True):
    node_id: ShortText
    token: ShortText
    features: Annotated[list[ShortText], msgspec.Meta(max_length=32)] = []
    agent_version: ShortText | None = None


class Heartbeat(_Message, tag="heartbeat", kw_only=True, frozen=True):
    pass


class ServerStateUpdate(_AboutServer, tag="server_state_update", kw_only=True, frozen=True):
    state: ServerState
    message: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    exit_code: int | None = None


class ConsoleOutput(_AboutServer, tag="console_output", kw_only=True, frozen=True):
    stream: Stream = "stdout"
    data: str


class BackupComplete(_AboutServer, tag="backup_complete", kw_only=True, frozen=True):
    backup_name: ShortText
    backup_id: ShortText | None = None
    backup_path: Annotated[str, msgspec.Meta(max_length=4096)] | None = None
    size_mb: Megabytes = 0
    size_bytes: Count | None = None  # our extension: exact, where sizeMb is rounded
    checksum: ShortText | None = None
    success: bool = True
    error: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


class HealthReport(_Message, tag="health_report", kw_only=True, frozen=True):
    node_id: ShortText | None = None
    cpu_percent: Percent | None = None
    cpu: Percent | None = None
    memory_usage_mb: Megabytes
    memory_total_mb: Megabytes
    disk_usage_mb: Megabytes
    disk_total_mb: Megabytes
    container_count: Count = 0
    uptime_seconds: Count = 0

    def cpu_value(self) -> float:
        return _one_of(self.cpu_percent, self.cpu, "cpuPercent/cpu")


class ResourceStats(_AboutServer, tag="resource_stats", kw_only=True, frozen=True):
    cpu: Percent | None = None
    cpu_percent: Percent | None = None
    memory_mb: Megabytes | None = None
    memory_usage_mb: Megabytes | None = None
    network_sent: Count | None = None
    network_received: Count | None = None
    disk_usage_mb: Megabytes | None = None

    def cpu_value(self) -> float:
        return _one_of(self.cpu, self.cpu_percent, "cpu/cpuPercent")

    def memory_value(self) -> float:
        return _one_of(self.memory_mb, self.memory_usage_mb, "memoryMb/memoryUsageMb")


class CommandAck(_Message, tag="command_ack", kw_only=True, frozen=True):
    """Our extension: the agent confirms (or refuses) the command with this request id."""

    request_id: ShortText
    success: bool = True
    error: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


FileErrorCode = Literal[
    "INVALID_PATH",
    "PATH_OUTSIDE_ROOT",
    "NOT_FOUND",
    "NOT_A_DIRECTORY",
    "NOT_A_FILE",
    "IS_A_DIRECTORY",
    "ALREADY_EXISTS",
    "TOO_LARGE",
    "UNSAFE_ARCHIVE",
    "BAD_ARCHIVE",
    "UNSUPPORTED",
    "IO_ERROR",
]
LongText = Annotated[str, msgspec.Meta(max_length=4096)]


class FileEntry(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    name: LongText
    size: Count = 0
    is_directory: bool = False
    is_symlink: bool = False
    modified: ShortText | None = None


class FileReady(_Message, tag="file_ready", kw_only=True, frozen=True):
    """Our extension: a file body can flow now (`size`: of the file being read)."""

    request_id: ShortText
    size: Count | None = None


class FileAck(_Message, tag="file_ack", kw_only=True, frozen=True):
    """Our extension, both ways: `received` chunks of a file body consumed so far."""

    request_id: ShortText
    received: Count


class FileResult(_Message, tag="file_result", kw_only=True, frozen=True):
    """Our extension: how a `file_operation` ended."""

    request_id: ShortText
    success: bool
    code: FileErrorCode | None = None
    error: LongText | None = None
    path: LongText | None = None
    size: Count | None = None
    entries: Annotated[list[FileEntry], msgspec.Meta(max_length=1000)] | None = None
    truncated: bool = False


FileFrame = FileReady | FileAck | FileResult


Base64 = Annotated[str, msgspec.Meta(max_length=262_144, pattern=r"^[A-Za-z0-9+/=]*$")]


class _AboutTransfer(_AboutServer, kw_only=True, frozen=True):
    transfer_id: ShortText

    def transfer(self) -> UUID:
        return parse_uuid(self.transfer_id, "transferId")


class TransferChunk(_AboutTransfer, tag="transfer_chunk", kw_only=True, frozen=True):
    """Source agent: the next piece of the server's archive (base64), in order from 0."""

    seq: Count
    data: Base64
    last: bool = False
    sha256: ShortText | None = None  # of the whole archive, with the last chunk


class TransferChunkAck(_AboutTransfer, tag="transfer_chunk_ack", kw_only=True, frozen=True):
    """Target agent: chunk `seq` is on its disk (the source may send one more)."""

    seq: Count


class TransferResult(_AboutTransfer, tag="transfer_result", kw_only=True, frozen=True):
    """The source could not archive (success false), or the target restored (or not)."""

    role: Literal["source", "target"]
    success: bool
    error: Annotated[str, msgspec.Meta(max_length=4096)] | None = None


TRANSFER_FRAMES = (TransferChunk, TransferChunkAck, TransferResult)


def _one_of(first: float | None, second: float | None, names: str) -> float:
    values = {v for v in (first, second) if v is not None}
    if len(values) != 1:
        raise ProtocolError(f"{names} missing or contradictory")
    return values.pop()


AgentMessage = (
    Heartbeat
    | ServerStateUpdate
    | ConsoleOutput
    | BackupComplete
    | HealthReport
    | ResourceStats
    | CommandAck
    | TransferChunk
    | TransferChunkAck
    | TransferResult
    | NodeHandshake
    | FileReady
    | FileAck
    | FileResult
)

_agent_decoder = msgspec.json.Decoder(AgentMessage)
_handshake_decoder = msgspec.json.Decoder(NodeHandshake)
_encoder = msgspec.json.Encoder()


def decode_agent_message(raw: str | bytes) -> AgentMessage:
    """Raises msgspec.ValidationError / DecodeError on anything that is not a valid frame."""
    return _agent_decoder.decode(raw)


def decode_handshake(raw: str | bytes) -> NodeHandshake:
    return _handshake_decoder.decode(raw)


def encode(message: object) -> bytes:
    return _encoder.encode(message)
