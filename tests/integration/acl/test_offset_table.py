"""The relay's offsets table read, replaced and dropped with SQL, in the
shape Debezium's JDBC offset store gives it (its default DDL, as it creates
the table); no JVM needed."""

from __future__ import annotations

import json

import psycopg
from acl_stack_helpers import control_database

from acl.relay_offsets import OffsetTable
from local_stack.postgres import EmbeddedPostgres

#: JdbcOffsetBackingStoreConfig.DEFAULT_TABLE_DDL in debezium-storage-jdbc 3.6.3
DEBEZIUM_DDL = (
    "CREATE TABLE {} (id VARCHAR(36) NOT NULL, offset_key VARCHAR(1255), offset_val VARCHAR(1255),"
    "record_insert_ts TIMESTAMP NOT NULL,record_insert_seq INTEGER NOT NULL,PRIMARY KEY (id))"
)
KEY = '["strangler-legacy-relay",{"server":"legacy"}]'
VALUE = '{"lsn_proc":33369544,"messageType":"MESSAGE","lsn_commit":33369544,"lsn":33369544,"ts_usec":1796152071092000}'


def test_read_write_forget(postgres_server: EmbeddedPostgres) -> None:
    dsn = control_database(postgres_server, "offsets")
    table = OffsetTable(dsn, "cdc_offsets_slot_x")
    assert table.read() == {} and not table.exists()  # no table yet: nothing stored
    with psycopg.connect(dsn) as conn:
        conn.execute(DEBEZIUM_DDL.format(table.table))
        conn.execute(  # as the store's INSERT writes it
            f"INSERT INTO {table.table} VALUES ('6f1c0d8e-0000-4000-8000-000000000001', %s, %s, now(), 1)",
            (KEY, VALUE),
        )
    stored = table.read()
    assert table.exists() and stored == {KEY: json.loads(VALUE)}
    table.write({KEY: {**stored[KEY], "lsn": 1000}})
    assert table.read()[KEY]["lsn"] == 1000 and len(table.read()) == 1
    table.forget()
    assert table.read() == {}
    table.forget()  # twice is fine
