"""Cluster mode: the migrations' DDL for a ClickHouse cluster (`RVBBIT_CLICKHOUSE_CLUSTER`).

Topology: one shard, replicated to every node of the cluster. Every node holds every row of
the analytics tables; there are no Distributed tables, because no read needs one.

Why not shards: the pipeline rewrites whole day partitions with `REPLACE PARTITION` from a
staging table and reads each run's history (all earlier runs of its cascade, input category
and species) with window functions. On a sharded table both break down: REPLACE PARTITION
works on local tables only, so a day would have to be split by sharding key, staged and
swapped shard by shard (no longer atomic: readers could see a day new on one shard and old
on another), and a window over a Distributed table ships the whole history to the initiator
anyway. The tables are small (one row per run) and a whole-history pass is seconds for a
million runs (bench/README.md), so sharding buys nothing. Replication gives what a cluster
is for here: the data survives a node, and readers (API, dashboards) can use any replica.

So in cluster mode each migration statement gets `ON CLUSTER <name>` and each MergeTree-family
engine becomes its Replicated form with the usual Keeper path. The cluster must have exactly
one shard (`check_single_shard`); its nodes need the `shard` and `replica` macros.

Everything else runs on the one node the pipeline talks to: REPLACE/DROP PARTITION and
inserts on a Replicated table replicate through Keeper by themselves, and staging tables are
plain local tables (`local_engine`) that other replicas never need: a replica without the
staging table fetches the swapped-in parts from the one that has them.

Statements here are still templates: they go through `string.Template` (store.render_sql)
after this, so nothing added here may contain `$`; the Keeper path's `{shard}`-style macros
are not Template syntax and reach ClickHouse, which expands them on each node.
"""

from __future__ import annotations

import re

from rvbbit_assets.store.connection import StoreError
from rvbbit_assets.store.resource import StoreSession

# `{database}` and `{table}` are expanded by ClickHouse when the table is created (so the
# path survives a RENAME); `{shard}` and `{replica}` are each node's macros.
KEEPER_PATH = "/clickhouse/tables/{shard}/{database}/{table}"
REPLICA_NAME = "{replica}"

_NAME = r"(?:\$\{\w+\}|`[^`]*`|\w+)(?:\.(?:`[^`]*`|\w+))?"
# Statements naming one object: ON CLUSTER goes right after the name.
_NAMED_OBJECT = re.compile(
    r"(?:CREATE(?:\s+OR\s+REPLACE)?\s+(?:DATABASE|TABLE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY)"
    r"(?:\s+IF\s+NOT\s+EXISTS)?"
    r"|ALTER\s+TABLE"
    r"|DROP\s+(?:DATABASE|TABLE|VIEW|DICTIONARY)(?:\s+IF\s+EXISTS)?"
    r"|TRUNCATE(?:\s+TABLE)?(?:\s+IF\s+EXISTS)?"
    r"|OPTIMIZE\s+TABLE)"
    rf"\s+{_NAME}",
    re.I,
)
# Statements naming several objects: ON CLUSTER goes at the end.
_MULTI_OBJECT = re.compile(r"(?:RENAME|EXCHANGE)\s", re.I)
# Data statements run once: the Replicated engine copies their effect to every replica.
_DATA = re.compile(r"(?:INSERT|DELETE|SELECT|WITH)\s", re.I)
_CREATE_TABLE = re.compile(r"CREATE(?:\s+OR\s+REPLACE)?\s+TABLE\s", re.I)
_ANY_ENGINE = re.compile(r"\bENGINE\s*=", re.I)
_ENGINE = re.compile(r"\bENGINE\s*=\s*(?P<engine>\w*MergeTree)\b(?:\s*(?P<args>\())?", re.I)
_REPLICATED_ENGINE = re.compile(
    r"^Replicated(?P<engine>\w*MergeTree)\(\s*'(?:[^'\\]|\\.)*'\s*,\s*'(?:[^'\\]|\\.)*'\s*"
    r"(?:,\s*)?(?P<rest>.*)$",
    re.S,
)


class ClusterDDLError(StoreError):
    """A statement that cannot be made safe for cluster mode automatically."""


def cluster_ddl(statement: str, cluster: str | None) -> str:
    """The statement as cluster mode runs it; unchanged when `cluster` is None.

    `cluster` is a validated identifier (config.checked_identifier).
    """
    if cluster is None:
        return statement
    code = _code_only(statement)
    start = len(code) - len(code.lstrip())
    if _DATA.match(code, start):
        return statement
    if _MULTI_OBJECT.match(code, start):
        return f"{statement.rstrip()} ON CLUSTER {cluster}"
    named = _NAMED_OBJECT.match(code, start)
    if named is None:
        raise ClusterDDLError(
            "cluster mode cannot place ON CLUSTER in this statement; write it as "
            f"CREATE/ALTER/DROP/TRUNCATE/OPTIMIZE/RENAME or a data statement:\n{statement}"
        )
    if _CREATE_TABLE.match(code, start) and not _ANY_ENGINE.search(code, named.end()):
        # Without ENGINE a table would be local to each node, or (CREATE TABLE ... AS t)
        # copy t's Replicated engine with t's own Keeper path and fail on REPLICA_ALREADY_EXISTS.
        raise ClusterDDLError(f"in cluster mode a CREATE TABLE must name its ENGINE:\n{statement}")
    head = statement[: named.end()] + f" ON CLUSTER {cluster}"
    engine = _ENGINE.search(code, named.end())
    if engine is None or engine["engine"].lower().startswith(("replicated", "shared")):
        return head + statement[named.end() :]
    args = [f"'{KEEPER_PATH}'", f"'{REPLICA_NAME}'"]
    tail_at = engine.end()
    if engine["args"] is not None:
        tail_at = _closing_paren(code, engine.end() - 1) + 1
        inner = statement[engine.end() : tail_at - 1].strip()
        if inner:
            args.append(inner)
    return (
        head
        + statement[named.end() : engine.start("engine")]
        + f"Replicated{engine['engine']}({', '.join(args)})"
        + statement[tail_at:]
    )


def check_single_shard(session: StoreSession) -> None:
    """Refuse a cluster that is unknown to this server or has more than one shard."""
    shards = session.scalar(
        "SELECT uniqExact(shard_num) FROM system.clusters WHERE cluster = {c:String}",
        {"c": session.cluster},
    )
    if not shards:
        raise ClusterDDLError(
            f"RVBBIT_CLICKHOUSE_CLUSTER={session.cluster}: no such cluster on this server "
            "(system.clusters)"
        )
    if shards > 1:
        raise ClusterDDLError(
            f"cluster {session.cluster} has {shards} shards; the analytics tables need one "
            "shard replicated to every node (docs/deploy.md, 'Cluster mode')"
        )


def local_engine(engine_full: str) -> str:
    """A table's engine clause (system.tables.engine_full) without replication.

    Staging tables use it: same engine family, keys and settings as the table they are
    swapped into, but local to this node, with no Keeper path of their own.
    """
    replicated = _REPLICATED_ENGINE.match(engine_full)
    if replicated is None:
        return engine_full
    return f"{replicated['engine']}({replicated['rest']}"


def staging_engine_clause(session: StoreSession, table: str) -> str:
    """`ENGINE = ...` for a staging copy of an analytics table; empty outside cluster mode.

    Without it, `CREATE TABLE staging AS table` would copy the Replicated engine together
    with the table's Keeper path (expanded at creation) and collide with the table itself.
    """
    if session.cluster is None:
        return ""
    engine_full = session.scalar(
        "SELECT engine_full FROM system.tables WHERE database = {db:String} AND name = {t:String}",
        {"db": session.analytics_database, "t": table},
    )
    # `$$`: the clause goes through string.Template with the rest of the statement.
    return " ENGINE = " + local_engine(engine_full).replace("$", "$$")


def _closing_paren(code: str, opening: int) -> int:
    depth = 0
    for index in range(opening, len(code)):
        depth += {"(": 1, ")": -1}.get(code[index], 0)
        if depth == 0:
            return index
    raise ClusterDDLError(f"unbalanced parentheses after ENGINE:\n{code}")


def _code_only(sql: str) -> str:
    """`sql` with comments and string literal contents blanked, offsets unchanged."""
    out = list(sql)
    index = 0
    while index < len(sql):
        if sql.startswith("--", index):
            end = sql.find("\n", index)
            end = len(sql) if end < 0 else end
        elif sql.startswith("/*", index):
            end = sql.find("*/", index)
            end = len(sql) if end < 0 else end + 2
        elif sql[index] == "'":
            end = index + 1
            while end < len(sql) and sql[end] != "'":
                end += 2 if sql[end] == "\\" else 1
            out[index + 1 : end] = " " * (min(end, len(sql)) - index - 1)
            index = end + 1
            continue
        else:
            index += 1
            continue
        out[index:end] = re.sub(r"[^\n]", " ", sql[index:end])
        index = end
    return "".join(out)
