from __future__ import annotations

import os
import socket

import msgspec

from nodebyte_common.settings import CommonSettings


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class NodeAgentGatewaySettings(CommonSettings, kw_only=True, frozen=True):
    # Alert-rule webhook hosts besides Discord's ("host" or "host:port"), as the notifier's.
    webhook_allowed_hosts: str = ""
    port: int = 8085
    # Many agents write at once (state changes, acknowledgements): more than the default.
    db_pool_max: int = 20
    # Names this process's command queue; unique per replica (the pod name in k8s).
    replica_id: str = msgspec.field(default_factory=default_replica_id)
    # Agents heartbeat at this cadence (told in the handshake response); a node
    # silent for `agent_offline_after_intervals` of them is offline.
    agent_heartbeat_interval_seconds: float = 30.0
    # Silent this many intervals: offline, node_offline alert.
    agent_offline_after_intervals: int = 3
    agent_handshake_timeout_seconds: float = 10.0
    agent_message_max_bytes: int = 262_144
    # Frames read from one agent ahead of their handling; beyond it reading waits (TCP
    # pushes back). At most this many times agent_message_max_bytes per connection.
    agent_read_ahead_frames: int = 64
    deployment_token_ttl_days: int = 90
    # Failed handshakes for one node: after `lockout_threshold` of them every further
    # failure locks the node's handshakes for base·2^k seconds, capped.
    lockout_threshold: int = 5
    # Then locked base·2^k seconds, up to LOCKOUT_MAX_SECONDS.
    lockout_base_seconds: float = 2.0
    lockout_max_seconds: float = 3600.0
    # Token buckets per node connection and per server within it (messages/second).
    node_message_rate: float = 50.0
    node_message_burst: int = 200
    # Frames/s per server within it (burst SERVER_MESSAGE_BURST).
    server_message_rate: float = 25.0
    server_message_burst: int = 100
    # A command's deadline: this long after a replica first took it off the shared queue
    # (time queued while no replica ran does not count). Until then a command lost with
    # a replica is sent again when its agent reconnects (once: never twice to an agent);
    # at it, one not acknowledged fails ("timeout"), and none is ever delivered after it.
    command_timeout_seconds: float = 15.0
    # A command for a node whose agent holds no socket now waits for it (until the
    # command's deadline) when the agent was heard from within the offline silence plus
    # this long (a gateway restart, a network blip); otherwise it fails as "node offline".
    command_reconnect_wait_seconds: float = 10.0
    telemetry_flush_seconds: float = 1.0
    # Raw samples; hourly/daily aggregates are kept longer.
    sample_retention_hours: int = 48
    hourly_usage_retention_days: int = 90
    daily_usage_retention_days: int = 730
    usage_rollup_interval_seconds: float = 300.0
    console_lines_per_server: int = 1000
    console_retention_days: int = 7
    console_line_max_bytes: int = 16_384
    alert_evaluation_interval_seconds: float = 30.0
    alert_cooldown_seconds: float = 300.0
    # A file transfer whose agent (or relaying replica) says nothing this long fails.
    file_idle_seconds: float = 30.0
    # Paths on the node handed to the agent with backup commands.
    agent_server_dir: str = "/var/lib/nodebyte/servers"
    agent_backup_dir: str = "/var/lib/nodebyte/backups"
    # Acts on database hosts (MySQL/MariaDB): the login, then the whole act. Under the
    # gateway's INTERNAL_TIMEOUT_SECONDS, so a slow host answers 503, not a timeout.
    database_host_connect_timeout_seconds: float = 3.0
    database_host_operation_timeout_seconds: float = 4.0
    # Transfers between nodes: the archive goes in chunks of this many bytes (base64 in a
    # frame, so under 3/4 of agent_message_max_bytes), at most `transfer_window` of them
    # unacknowledged by the target; a transfer without progress this long rolls back.
    transfer_chunk_bytes: int = 131_072
    transfer_window: int = 8
    transfer_stall_seconds: float = 60.0
    # Completed backups a server keeps (its own `backupLimit` overrides this); the
    # oldest beyond it are deleted on the agent as a new one completes. 0: no limit.
    backup_limit_per_server: int = 10
    # SFTP for game servers' files (`<username>.<server short id>` signs in): the port,
    # and the host key (an OpenSSH private key; a Secret in production). Without a
    # host key no SFTP is served.
    sftp_port: int = 2022
    sftp_host_key: str = ""
    # Where SFTP sign-ins are checked: the gateway owns accounts, passwords and keys.
    gateway_url: str = "http://127.0.0.1:8080"
    sftp_login_timeout_seconds: float = 5.0

    @property
    def offline_after_seconds(self) -> float:
        return self.agent_heartbeat_interval_seconds * self.agent_offline_after_intervals
