"""Version 2: costs in double precision on PostgreSQL.

Release 49291aa declared ``cost_usd`` as peewee's ``FloatField``, which PostgreSQL stores
as ``real`` (about 7 significant digits): a cost moved from SQLite (whose REAL is 8
bytes) lost digits, and sums of many small costs drifted. SQLite needs nothing.
"""

from __future__ import annotations

import peewee
from playhouse.migrate import SchemaMigrator

COLUMNS = (("messages", "cost_usd"), ("api_calls", "cost_usd"))


def migrate(db: peewee.Database, migrator: SchemaMigrator) -> None:
    if not isinstance(db, peewee.PostgresqlDatabase):
        return
    for table, column in COLUMNS:
        if db.table_exists(table):
            # Through text, so a stored 0.00075 stays 0.00075 instead of becoming the
            # binary neighbour 0.000750000035762787.
            db.execute_sql(
                f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE double precision '
                f'USING "{column}"::text::double precision'
            )
