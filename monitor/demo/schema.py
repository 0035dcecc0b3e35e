"""The demo's roles and its `shop` database, with the catalog problems pgmon should find:
an unused index, a duplicate index, an invalid index left by a failed CREATE UNIQUE INDEX
CONCURRENTLY, a foreign key without an index and an integer sequence near its end."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from monitor.demo.errors import DemoError
from monitor.pginstance import Server

DATABASE = "shop"
MONITOR_ROLE = "pgmon"
APP_ROLE = "shop_app"
LOCKED_PRODUCT = 1  # the row the lock cycle fights over (see workload)

# 95% of an int4 serial's range: sequence_exhaustion says critical (90%).
SEQUENCE_START = int(0.95 * (2**31 - 1))

_TABLES = """
CREATE TABLE customers (
    id serial PRIMARY KEY,          -- int4: the sequence runs out at 2^31 - 1
    name text NOT NULL,
    email text NOT NULL
);
CREATE TABLE products (
    id int PRIMARY KEY,
    sku text NOT NULL,
    name text NOT NULL,
    stock int NOT NULL
);
CREATE TABLE orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES customers,  -- no index: missing_fk_index
    product_id int NOT NULL,
    status text NOT NULL DEFAULT 'new',
    amount numeric(10, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE events (id bigserial PRIMARY KEY, payload text NOT NULL);

INSERT INTO customers (name, email)
    SELECT 'customer ' || g, 'customer' || g || '@example.com' FROM generate_series(1, 2000) g;
-- Only 50 distinct SKUs among 100 products, so a unique index on sku cannot be built.
INSERT INTO products SELECT g, 'SKU-' || (g % 50), 'product ' || g, 1000000
    FROM generate_series(1, 100) g;
INSERT INTO orders (customer_id, product_id, status, amount, created_at)
    SELECT 1 + g % 2000, 1 + g % 100, (ARRAY['new', 'paid', 'shipped'])[1 + g % 3],
           (g % 500) + 0.99, now() - make_interval(mins => g)
    FROM generate_series(1, 20000) g;

-- Never used by any query of the workload: unused_index.
CREATE INDEX orders_status_idx ON orders (status);
-- Two identical indexes, neither used: duplicate_index (the newer one), unused_index.
CREATE INDEX orders_created_at_idx ON orders (created_at);
CREATE INDEX orders_created_at_idx1 ON orders (created_at);
"""


@dataclass(frozen=True)
class Secrets:
    """Passwords of the demo's roles, random per run."""

    superuser: str
    monitor: str
    app: str


def create_roles(primary: Server, secrets: Secrets) -> None:
    """The monitoring role (pg_monitor, plus pg_read_all_data so that the sequence and
    bloat checks can read what they need) and the application's role and database."""
    with primary.connect() as conn:
        for role, password in ((MONITOR_ROLE, secrets.monitor), (APP_ROLE, secrets.app)):
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(MONITOR_ROLE)))
        if conn.info.server_version >= 140000:  # before 14 those checks say "not evaluated"
            conn.execute(
                sql.SQL("GRANT pg_read_all_data TO {}").format(sql.Identifier(MONITOR_ROLE))
            )
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(APP_ROLE)
            )
        )


def plant(primary: Server, secrets: Secrets) -> None:
    """Create and fill the application's tables, with the problems planted."""
    with primary.connect(DATABASE, user=APP_ROLE, password=secrets.app) as conn:
        with conn.transaction():
            conn.execute(_TABLES)
        conn.execute("SELECT setval('customers_id_seq', %s)", [SEQUENCE_START])
        try:
            # Fails on the duplicate SKUs and, being CONCURRENTLY, leaves the index behind,
            # invalid: queries never use it, every write still maintains it.
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY products_sku_key ON products (sku)")
        except psycopg.errors.UniqueViolation:
            pass
        else:
            raise DemoError("products_sku_key was expected to fail and stay invalid")
        # Sizes (relpages) and column statistics for the checks that read them.
        conn.execute("ANALYZE")
