"""The many-tables database both benchmarks build: `tables` small tables with a primary key
and the given secondary indexes, filled with a few rows each."""

from __future__ import annotations

from collections.abc import Sequence


def many_tables_sql(tables: int, indexes: Sequence[str]) -> str:
    """A DO block; `indexes` are column lists such as "a" or "a, b" (columns a, b exist)."""
    lines = [
        "",
        "DO $$",
        "BEGIN",
        f"  FOR i IN 1..{int(tables)} LOOP",
        "    EXECUTE format('CREATE TABLE bench_t%s (id bigint PRIMARY KEY, a int, b int, c text)'"
        ", i);",
        *(f"    EXECUTE format('CREATE INDEX ON bench_t%s ({cols})', i);" for cols in indexes),
        "    EXECUTE format('INSERT INTO bench_t%s SELECT g, mod(g, 7), mod(g, 11), md5(g::text)",
        "                    FROM generate_series(1, 1 + mod(%s, 50)) g', i, i);",
        "    -- One transaction per 100 tables keeps the lock table from overflowing.",
        "    IF mod(i, 100) = 0 THEN COMMIT; END IF;",
        "  END LOOP;",
        "END $$;",
        "",
    ]
    return "\n".join(lines)
