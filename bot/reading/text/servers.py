"""Servers known by their own log lines (databases, brokers, proxies) and the object each names as failing."""

from __future__ import annotations

import re

SERVERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    # PostgreSQL writes two blanks after its level ("ERROR:  relation ..."), or a [pid] / user@db prefix before it
    ("postgresql", re.compile(r"(?:^|\s)(?:LOG|ERROR|FATAL|PANIC|WARNING|DETAIL|STATEMENT|HINT):  \S"
                              r"|(?:\[\d{1,9}\]|@[\w-]{1,60})\s{1,3}(?:LOG|ERROR|FATAL|PANIC|WARNING):\s",
                              re.MULTILINE)),
    ("mysql", re.compile(r"\[(ERROR|Warning|Note|System)\] \[MY-\d{6}\]|\bInnoDB:|mysqld(?:\[\d+\])?:|^# Query_time:",
                         re.MULTILINE)),
    ("redis", re.compile(r"^\d{1,7}:[MSCX] \d\d \w{3} \d{4} [\d:.]{8,12} [#*.-] ", re.MULTILINE)),
    ("kafka", re.compile(r"\((?:kafka|org\.apache\.kafka)\.[\w.$]{1,120}\)|\[(?:KafkaServer|Controller|ReplicaFetcher|"
                         r"Partition|Log partition)[^\]]{0,80}\]|NotEnoughReplicas|kafka\.server")),
    ("rabbitmq", re.compile(r"\[(?:error|warning|info|notice)\] <\d{1,6}\.\d{1,8}\.\d{1,6}>|rabbit@|RabbitMQ")),
    ("elasticsearch", re.compile(r"\]\[(?:WARN|ERROR|INFO|DEBUG) ?\]\[[\w.]{1,100}\s*\]|cluster_block_exception|"
                                 r"(?i:elasticsearch|opensearch)")),
    ("mongodb", re.compile(r"\"c\":\s?\"(?:STORAGE|NETWORK|REPL|COMMAND|ACCESS)\"|mongod\b|MongoDB"
                           r"|\bE11000 duplicate key|\[conn\d{1,9}\]")),
    ("cassandra", re.compile(r"\b(?:ERROR|WARN|INFO)\s+\[(?:CompactionExecutor|MemtableFlushWriter|ReadStage|"
                             r"MutationStage|GossipStage|Native-Transport)[^\]]{0,40}\]|(?i:cassandra)")),
    ("nginx", re.compile(r"\d{4}/\d\d/\d\d [\d:]{8} \[(?:error|warn|crit|alert|emerg)\] \d{1,8}#\d{1,6}:")),
    ("haproxy", re.compile(r"haproxy(?:\[\d+\])?:|\bServer [\w.-]{1,100}/[\w.-]{1,100} is (?:DOWN|UP)|has no server "
                           r"available")),
    ("envoy", re.compile(r"\benvoy\b|upstream_reset_before_response|\bUH\b.{0,40}no_healthy_upstream")),
    ("clickhouse", re.compile(r"\{[0-9a-f-]{0,36}\} <(?:Fatal|Critical|Error|Warning|Information|Debug|Trace)> "
                              r"|\bDB::Exception\b|(?i:clickhouse)")),
    ("memcached", re.compile(r"\bmemcached\b")),
    ("zookeeper", re.compile(r"(?i)\bzookeeper\b")),
    ("etcd", re.compile(r"\betcd(?:server|main)?\b")),
)


# what a server's own log names as the failing object, before the host it runs on
_KAFKA_PARTITION = re.compile(r"\b[Pp]artition ([A-Za-z0-9][A-Za-z0-9._]{0,200}"
                              r"(?:-[A-Za-z0-9._]{1,60}){0,8})-\d{1,6}\b")
_PG_FULL = re.compile(r"could not (?:write to|extend|create) file \"([\w.-]{1,80})/[^\"\n]{0,200}\": "
                      r"No space left on device")
_NGINX_GROUP = re.compile(r"no live upstreams while [^\n]{0,300}?upstream: \"https?://([A-Za-z_][\w-]{0,100})/")
_HAPROXY_SERVER = re.compile(r"\bServer ([\w.-]{1,100}/[\w.-]{1,100}) is DOWN\b")
_CLICKHOUSE_TABLE = re.compile(r"\bin table '?([A-Za-z_][\w]{0,100}\.[A-Za-z_][\w]{0,100})")


def server_resource(server: str, head: str) -> str:
    """The object a database, broker or proxy log names as failing: a topic, a WAL directory, an upstream, a server."""
    pattern = {"kafka": _KAFKA_PARTITION, "postgresql": _PG_FULL, "nginx": _NGINX_GROUP,
               "haproxy": _HAPROXY_SERVER, "clickhouse": _CLICKHOUSE_TABLE}.get(server)
    hit = pattern.search(head) if pattern is not None else None
    return hit.group(1) if hit is not None else ""
