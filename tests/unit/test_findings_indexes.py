"""Index checks on constructed index_catalog rows: what fires, what must not, and the SQL."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

from monitor.collectors.index_catalog import count_samples
from monitor.findings.checks import by_id
from monitor.findings.checks.indexes import create_sql, new_index_name
from monitor.findings.model import Cluster, Finding, Node, Row, Severity

DAY = 86400.0
MIB = 1024.0 * 1024.0
NOW = 1_800_000_000.0

Index = namedtuple(
    "Index",
    "datname indexrelid indrelid schemaname relname indexrelname partitioned "
    "parent_indexrelid amname key nkey opclasses collations options is_unique "
    "nulls_not_distinct is_primary is_exclusion is_replident constraint_type constraint_name "
    "referenced_by_fk is_valid building has_exprs exprs has_pred pred indexdef idx_scan "
    "size_bytes",
)
Window = namedtuple("Window", "datname stats_since stats_since_source collected_at")
FKey = namedtuple(
    "FKey",
    "datname conname conrelid schemaname relname partitioned key column_names "
    "ref_schemaname ref_relname table_bytes",
)

INT4_OPS, TEXT_OPS, TEXT_PATTERN_OPS, DEFAULT_COLLATION = 1978, 3126, 10043, 100


def index(oid: int, name: str, key: Sequence[int], **changes: Any) -> Row:
    """A plain valid btree index on public.t (oid 1) over int columns, never scanned."""
    nkey = changes.pop("nkey", len(key))
    row = Index(
        datname="app",
        indexrelid=oid,
        indrelid=1,
        schemaname="public",
        relname="t",
        indexrelname=name,
        partitioned=False,
        parent_indexrelid=None,
        amname="btree",
        key=list(key),
        nkey=nkey,
        opclasses=[INT4_OPS] * nkey,
        collations=[0] * nkey,
        options=[0] * nkey,
        is_unique=False,
        nulls_not_distinct=False,
        is_primary=False,
        is_exclusion=False,
        is_replident=False,
        constraint_type=None,
        constraint_name=None,
        referenced_by_fk=False,
        is_valid=True,
        building=False,
        has_exprs=False,
        exprs=None,
        has_pred=False,
        pred=None,
        indexdef=f"CREATE INDEX {name} ON public.t USING btree (c{key[0]})",
        idx_scan=0.0,
        size_bytes=8 * MIB,
    )
    return row._replace(**changes)


def fkey(name: str, key: Sequence[int], **changes: Any) -> Row:
    row = FKey(
        datname="app",
        conname=name,
        conrelid=1,
        schemaname="public",
        relname="t",
        partitioned=False,
        key=list(key),
        column_names=[f"c{k}" for k in key],
        ref_schemaname="public",
        ref_relname="parent",
        table_bytes=100 * MIB,
    )
    return row._replace(**changes)


def node(
    target: str,
    indexes: Sequence[Row],
    standby: bool = False,
    since: float = NOW - 30 * DAY,
    **rows: Any,
) -> Node:
    """A node with these indexes, its statistics collecting `since` in each database."""
    windows = tuple(
        Window(datname, since, "server start", NOW) for datname in {r.datname for r in indexes}
    )
    return Node(
        target,
        170000,
        "7",
        standby,
        {"index_catalog": tuple(indexes), "index_catalog_window": windows, **rows},
    )


def run(check: str, *nodes: Node, **thresholds: float) -> list[Finding]:
    spec = by_id()[check]
    return list(spec.evaluate(Cluster(tuple(nodes)), {**spec.defaults(), **thresholds}))


def objects(findings: list[Finding]) -> list[str]:
    return sorted(f.object for f in findings)


# -- unused_index -----------------------------------------------------------------------


def test_unused_index_without_standbys_says_replicas_were_not_checked() -> None:
    (found,) = run("unused_index", node("p", [index(10, "t_a", [1])]))
    assert found.severity is Severity.WARNING
    assert found.object == "public.t_a"
    assert found.evidence["replicas"].startswith("not checked")
    assert found.evidence["stats_collecting_seconds"] == 30 * DAY
    assert found.evidence["stats_since"] == "server start"
    assert found.remediation == "DROP INDEX CONCURRENTLY public.t_a;"
    assert found.rollback == "CREATE INDEX CONCURRENTLY t_a ON public.t USING btree (c1);"


def test_index_scanned_only_on_a_standby_is_used() -> None:
    primary = node("p", [index(10, "t_a", [1]), index(11, "t_b", [2])])
    standby = node("s", [index(10, "t_a", [1], idx_scan=3.0), index(11, "t_b", [2])], True)
    (found,) = run("unused_index", primary, standby)
    assert found.object == "public.t_b"
    assert found.evidence["replicas"] == "s"
    assert "on p or s" in found.message


def test_young_statistics_make_it_info_and_the_shortest_window_counts() -> None:
    primary = node("p", [index(10, "t_a", [1])])
    standby = node("s", [index(10, "t_a", [1])], True, since=NOW - 2 * DAY)
    (found,) = run("unused_index", primary, standby)
    assert found.severity is Severity.INFO
    assert found.evidence["stats_collecting_seconds"] == 2 * DAY


def test_constraint_unique_replica_identity_small_and_invalid_indexes_are_not_unused() -> None:
    rows = [
        index(10, "t_pkey", [1], is_unique=True, is_primary=True, constraint_type="p"),
        index(11, "t_excl", [2], amname="gist", is_exclusion=True, constraint_type="x"),
        index(12, "t_uniq", [3], is_unique=True),
        index(13, "t_ident", [4], is_replident=True),
        index(14, "t_small", [5], size_bytes=8192.0),
        index(15, "t_broken", [6], is_valid=False),
        index(16, "t_building", [7], is_valid=False, building=True),
    ]
    assert run("unused_index", node("p", rows)) == []
    assert objects(run("unused_index", node("p", rows), min_size_bytes=0)) == ["public.t_small"]


def test_no_primary_among_the_targets_means_no_unused_finding() -> None:
    assert run("unused_index", node("s", [index(10, "t_a", [1])], True)) == []


def partitioned_rows(scans: float = 0.0) -> list[Row]:
    parent = index(
        20,
        "events_a",
        [1],
        partitioned=True,
        size_bytes=0.0,
        indexdef="CREATE INDEX events_a ON ONLY public.events USING btree (a)",
    )
    return [
        parent,
        index(21, "events_1_a", [1], parent_indexrelid=20, size_bytes=3 * MIB),
        index(22, "events_2_a", [1], parent_indexrelid=20, size_bytes=3 * MIB, idx_scan=scans),
    ]


def test_partitioned_index_rollback_builds_it_on_every_partition_whatever_its_name() -> None:
    """pg_get_indexdef() quotes the name as the server's own quote_ident() does."""
    for name, written in (("ev$a", '"ev$a"'), ("json_table", "json_table"), ("Ev", '"Ev"')):
        rows = [
            index(
                20,
                name,
                [1],
                partitioned=True,
                size_bytes=MIB,
                indexdef=f"CREATE INDEX {written} ON ONLY public.events USING btree (a)",
            )
        ]
        (found,) = run("unused_index", node("p", rows))
        built = f"\nCREATE INDEX {written} ON public.events USING btree (a);"
        assert found.rollback.endswith(built), found.rollback


def test_partitioned_index_is_judged_by_the_sum_over_its_partitions() -> None:
    (found,) = run("unused_index", node("p", partitioned_rows()))
    assert found.object == "public.events_a"
    assert found.evidence["size_bytes"] == 6 * MIB
    assert found.evidence["index_partitions"] == 2
    assert found.remediation.endswith("\nDROP INDEX public.events_a;")
    assert "CONCURRENTLY is not allowed" in found.remediation
    assert found.rollback.endswith("\nCREATE INDEX events_a ON public.events USING btree (a);")
    assert run("unused_index", node("p", partitioned_rows(scans=1.0))) == []


def test_rollback_of_unique_and_quoted_indexes() -> None:
    unique = index(
        10,
        "Odd Name",
        [1],
        is_unique=True,
        indexdef='CREATE UNIQUE INDEX "Odd Name" ON public.t USING btree (c1) NULLS NOT DISTINCT',
    )
    assert create_sql(unique) == (
        'CREATE UNIQUE INDEX CONCURRENTLY "Odd Name" ON public.t USING btree (c1) '
        "NULLS NOT DISTINCT;"
    )
    assert create_sql(unique._replace(indexdef=None)) == ""


# -- duplicate_index and redundant_index ------------------------------------------------


def test_duplicate_keeps_the_index_that_backs_a_constraint() -> None:
    rows = [
        index(10, "t_a", [1]),
        index(11, "t_key", [1], is_unique=True, constraint_type="u", constraint_name="t_key"),
    ]
    (found,) = run("duplicate_index", node("p", rows))
    assert found.object == "public.t_a"
    assert found.evidence["duplicate_of"] == "public.t_key"
    assert found.remediation == "DROP INDEX CONCURRENTLY public.t_a;"
    assert found.rollback.startswith("CREATE INDEX CONCURRENTLY t_a ON")


def test_two_constraints_on_one_index_are_reported_without_a_drop() -> None:
    rows = [
        index(10, "t_pkey", [1], is_unique=True, constraint_type="p", constraint_name="t_pkey"),
        index(11, "t_key", [1], is_unique=True, constraint_type="u", constraint_name="t_key"),
    ]
    (found,) = run("duplicate_index", node("p", rows))
    assert found.object == "public.t_key"
    assert found.remediation == "" and found.rollback == ""


def test_not_duplicates_partial_opclass_collation_unique_and_expressions() -> None:
    text = {"opclasses": [TEXT_OPS], "collations": [DEFAULT_COLLATION]}
    pairs = [
        (index(10, "full", [1]), index(11, "partial", [1], has_pred=True, pred="(c2 > 0)")),
        (
            index(10, "plain", [2], **text),
            index(11, "pattern", [2], **{**text, "opclasses": [TEXT_PATTERN_OPS]}),
        ),
        (
            index(10, "c_coll", [2], **text),
            index(11, "x_coll", [2], **{**text, "collations": [950]}),
        ),
        (index(10, "asc", [1]), index(11, "desc", [1], options=[3])),
        (index(10, "hash", [1], amname="hash"), index(11, "btree", [1])),
        (
            index(10, "lower", [0], has_exprs=True, exprs="lower(c2)"),
            index(11, "upper", [0], has_exprs=True, exprs="upper(c2)"),
        ),
        (index(10, "a_incl_b", [1, 2], nkey=1), index(11, "a_b", [1, 2])),
    ]
    for left, right in pairs:
        assert run("duplicate_index", node("p", [left, right])) == [], (left, right)


def test_duplicate_of_a_unique_index_drops_the_one_enforcing_less() -> None:
    rows = [index(10, "t_a", [1]), index(11, "t_a_u", [1], is_unique=True)]
    (found,) = run("duplicate_index", node("p", rows))
    assert found.object == "public.t_a"
    # NULLS NOT DISTINCT enforces all that plain uniqueness does, and more
    rows = [
        index(10, "plain_u", [1], is_unique=True),
        index(11, "nnd_u", [1], is_unique=True, nulls_not_distinct=True),
    ]
    (found,) = run("duplicate_index", node("p", rows))
    assert found.object == "public.plain_u"


def test_unknown_expressions_are_not_compared() -> None:
    rows = [
        index(10, "l1", [0], has_exprs=True, exprs=None),
        index(11, "l2", [0], has_exprs=True, exprs=None),
    ]
    assert run("duplicate_index", node("p", rows)) == []


def test_attached_partitions_are_not_reported_but_their_parents_are() -> None:
    rows = [
        *partitioned_rows(),
        index(30, "events_a2", [1], partitioned=True, size_bytes=0.0),
        index(31, "events_1_a2", [1], parent_indexrelid=30, size_bytes=3 * MIB),
        index(32, "events_2_a2", [1], parent_indexrelid=30, size_bytes=3 * MIB),
    ]
    partitions = {21: 101, 22: 102, 31: 101, 32: 102}  # each index partition's table
    rows = [r._replace(indrelid=partitions.get(r.indexrelid, 1)) for r in rows]
    (found,) = run("duplicate_index", node("p", rows))
    assert found.object == "public.events_a2"
    assert found.evidence["size_bytes"] == 6 * MIB
    assert found.remediation.endswith("DROP INDEX public.events_a2;")


def test_redundant_prefix() -> None:
    rows = [index(10, "t_a", [1]), index(11, "t_a_b", [1, 2])]
    (found,) = run("redundant_index", node("p", rows))
    assert found.object == "public.t_a"
    assert found.evidence["covered_by"] == "public.t_a_b"
    assert found.severity is Severity.INFO
    assert found.remediation == "DROP INDEX CONCURRENTLY public.t_a;"


def test_column_1_is_no_prefix_of_column_12() -> None:
    # as text, indkey "1" is a prefix of "12 3", and "1 2" of "1 23"
    for rows in (
        [index(10, "t_1", [1]), index(11, "t_12_3", [12, 3])],
        [index(10, "t_1_2", [1, 2]), index(11, "t_1_23_4", [1, 23, 4])],
    ):
        assert run("redundant_index", node("p", rows)) == []
        assert run("duplicate_index", node("p", rows)) == []


def test_not_redundant() -> None:
    cases = [
        # INCLUDE columns are not key columns: (a, c) is not covered by (a) INCLUDE (c), and
        # (a) INCLUDE (b) is not covered by (a, c), which lacks b
        [index(10, "a_c", [1, 3]), index(11, "a_incl_b", [1, 2], nkey=1)],
        [index(10, "a_c", [1, 3]), index(11, "a_incl_c", [1, 3], nkey=1)][:1],
        # a unique index enforces uniqueness: not redundant to a wider one
        [index(10, "a_u", [1], is_unique=True), index(11, "a_b", [1, 2])],
        # different predicate, different method, different sort option
        [index(10, "a_p", [1], has_pred=True, pred="(c3 > 0)"), index(11, "a_b", [1, 2])],
        [index(10, "a_h", [1], amname="hash"), index(11, "a_b", [1, 2])],
        [index(10, "a_desc", [1], options=[3]), index(11, "a_b", [1, 2])],
        # constraint-backed narrower index is kept
        [index(10, "a_key", [1], constraint_type="u", is_unique=True), index(11, "a_b", [1, 2])],
        # expression prefix with other expressions
        [
            index(10, "l_a", [0], has_exprs=True, exprs="lower(c2)"),
            index(11, "u_a_b", [0, 1], has_exprs=True, exprs="upper(c2)"),
        ],
        # on another table
        [index(10, "a", [1]), index(11, "a_b", [1, 2], indrelid=2)],
    ]
    for rows in cases:
        assert run("redundant_index", node("p", rows)) == [], rows


def test_include_columns_of_the_narrower_index_must_be_in_the_wider_one() -> None:
    rows = [index(10, "a_incl_c", [1, 3], nkey=1), index(11, "a_b_c", [1, 2, 3])]
    assert objects(run("redundant_index", node("p", rows))) == ["public.a_incl_c"]


def test_plain_columns_prefix_of_an_expression_index() -> None:
    rows = [index(10, "a", [1]), index(11, "a_l", [1, 0], has_exprs=True, exprs="lower(c2)")]
    assert objects(run("redundant_index", node("p", rows))) == ["public.a"]


def test_include_columns_in_another_order_report_one_of_the_two() -> None:
    rows = [index(10, "a_incl_bc", [1, 2, 3], nkey=1), index(11, "a_incl_cb", [1, 3, 2], nkey=1)]
    assert objects(run("redundant_index", node("p", rows))) == ["public.a_incl_cb"]


def test_a_duplicate_is_not_also_reported_redundant() -> None:
    rows = [index(10, "a", [1]), index(11, "a2", [1]), index(12, "a_b", [1, 2])]
    assert objects(run("duplicate_index", node("p", rows))) == ["public.a2"]
    assert objects(run("redundant_index", node("p", rows))) == ["public.a"]


# -- invalid_index ----------------------------------------------------------------------


def test_invalid_index_is_dropped_and_rebuilt() -> None:
    (found,) = run("invalid_index", node("p", [index(10, "t_a", [1], is_valid=False)]))
    assert found.remediation == (
        "DROP INDEX CONCURRENTLY public.t_a;\n"
        "CREATE INDEX CONCURRENTLY t_a ON public.t USING btree (c1);"
    )
    assert found.rollback == ""


def test_index_being_built_is_not_invalid() -> None:
    rows = [index(10, "t_a", [1], is_valid=False, building=True)]
    assert run("invalid_index", node("p", rows)) == []


def test_invalid_copy_of_a_valid_index_is_only_dropped() -> None:
    rows = [index(10, "t_a", [1]), index(11, "t_a_ccnew", [1], is_valid=False)]
    (found,) = run("invalid_index", node("p", rows))
    assert found.evidence["valid_twin"] == "public.t_a"
    assert found.remediation == "DROP INDEX CONCURRENTLY public.t_a_ccnew;"


def test_failed_unique_index_is_not_replaced_by_a_plain_twin() -> None:
    rows = [index(10, "t_a", [1]), index(11, "t_a_u", [1], is_valid=False, is_unique=True)]
    (found,) = run("invalid_index", node("p", rows))
    assert "valid_twin" not in found.evidence
    assert "duplicate keys" in found.message


def test_invalid_partitioned_index_asks_for_the_missing_partition_index() -> None:
    rows = [index(10, "events_a", [1], partitioned=True, is_valid=False)]
    (found,) = run("invalid_index", node("p", rows))
    assert "ATTACH PARTITION" in found.remediation
    assert found.remediation.startswith("--")


# -- missing_fk_index -------------------------------------------------------------------


def fk_run(indexes: Sequence[Row], *fkeys: Row, **thresholds: float) -> list[Finding]:
    return run("missing_fk_index", node("p", indexes, index_catalog_fkeys=fkeys), **thresholds)


def test_foreign_key_without_index() -> None:
    (found,) = fk_run([index(10, "t_pkey", [1])], fkey("t_c2_fkey", [2]))
    assert found.object == "public.t.t_c2_fkey"
    assert found.remediation == "CREATE INDEX CONCURRENTLY t_c2_idx ON public.t (c2);"
    assert found.rollback == "DROP INDEX CONCURRENTLY public.t_c2_idx;"
    assert found.evidence["references"] == "public.parent"


def test_foreign_key_columns_leading_an_index_in_another_order() -> None:
    rows = [index(10, "t_c3_c2_c4", [3, 2, 4])]
    assert fk_run(rows, fkey("t_fk", [2, 3])) == []
    assert len(fk_run(rows, fkey("t_fk", [2, 4]))) == 1  # c4 is not among the leading two


def test_foreign_key_covered_only_by_a_partial_or_invalid_index() -> None:
    partial = index(10, "t_c2_part", [2], has_pred=True, pred="(c2 IS NOT NULL)")
    assert len(fk_run([partial], fkey("t_fk", [2]))) == 1
    assert len(fk_run([index(10, "t_c2", [2], is_valid=False)], fkey("t_fk", [2]))) == 1
    assert fk_run([index(10, "t_c2", [2], is_valid=False, building=True)], fkey("t_fk", [2])) == []


def test_foreign_key_on_a_small_table_or_with_a_hash_index() -> None:
    assert fk_run([], fkey("t_fk", [2], table_bytes=MIB)) == []
    assert len(fk_run([], fkey("t_fk", [2], table_bytes=MIB), min_table_size_bytes=0)) == 1
    assert fk_run([index(10, "t_h", [2], amname="hash")], fkey("t_fk", [2])) == []
    assert fk_run([index(10, "t_g", [2], amname="gin")], fkey("t_fk", [2]))


def test_foreign_key_index_on_another_table_does_not_count() -> None:
    assert fk_run([index(10, "u_c2", [2], indrelid=2)], fkey("t_fk", [2]))


def test_new_index_names_are_quoted_cut_and_unique() -> None:
    key = fkey("fk", [2, 3], relname="Order", column_names=["Customer", "select"])
    assert new_index_name(key, set()) == "Order_Customer_select_idx"
    (found,) = fk_run([], key)
    assert found.remediation == (
        'CREATE INDEX CONCURRENTLY "Order_Customer_select_idx" ON public."Order" '
        '("Customer", "select");'
    )
    long = fkey("fk", [2], relname="t" * 60, column_names=["c" * 10])
    assert len(new_index_name(long, set()).encode()) == 63
    assert new_index_name(fkey("fk", [2]), {"t_c2_idx"}) == "t_c2_idx1"


def test_foreign_key_on_a_partitioned_table() -> None:
    (found,) = fk_run([], fkey("t_fk", [2], partitioned=True))
    assert found.remediation.endswith("\nCREATE INDEX t_c2_idx ON public.t (c2);")
    assert found.rollback == "DROP INDEX public.t_c2_idx;"


def test_catalog_counts() -> None:
    samples = list(count_samples("app", [index(10, "a", [1])], []))
    assert [(s.metric, s.labels, s.value) for s in samples] == [
        ("pg_database_indexes", ("app",), 1.0),
        ("pg_database_foreign_keys", ("app",), 0.0),
    ]


def test_new_index_names_are_the_ones_postgres_would_choose() -> None:
    """Checked against CREATE INDEX ON ... without a name on PostgreSQL 15: the longer of
    table and columns is cut first, between letters, and the table's own name never comes
    back (it would be taken: tables and indexes share one namespace)."""
    table = "t" * 51 + "ü" * 6  # 63 bytes
    key = fkey("fk", [2], relname=table, column_names=["ref ü"])
    assert new_index_name(key, {table}) == "t" * 51 + "_ref ü_idx"
    key = fkey("fk", [2, 3], relname="ab" * 20, column_names=["c" * 40, "d" * 30])
    assert new_index_name(key, set()) == "ab" * 14 + "a_" + "c" * 29 + "_idx"
    assert new_index_name(key, {"ab" * 14 + "a_" + "c" * 29 + "_idx"}) == (
        "ab" * 14 + "a_" + "c" * 28 + "_idx1"
    )
    # A table of that name takes it as surely as an index would.
    other_table = index(10, "u_pkey", [1], indrelid=2, relname="t_c2_idx")
    (found,) = fk_run([other_table], fkey("t_fk", [2]))
    assert found.remediation == "CREATE INDEX CONCURRENTLY t_c2_idx1 ON public.t (c2);"


def test_two_foreign_keys_are_not_offered_one_index_name() -> None:
    first, second = fk_run([], fkey("t_fk1", [2]), fkey("t_fk2", [2]))
    assert "t_c2_idx " in first.remediation and "t_c2_idx1 " in second.remediation
