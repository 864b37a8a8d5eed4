"""Do MariaDB/MySQL and Redis answer? Used by `make test` to decide on the second pass.

Prints one line and exits 0 when both answer at UNION_TEST_DATABASE_URL / UNION_TEST_REDIS_URL
(defaults: the local servers on their standard ports), 1 otherwise.
"""

from __future__ import annotations

import os
import sys

DEFAULT_DB = "mysql+pymysql://root@127.0.0.1:3306/union_test"
DEFAULT_REDIS = "redis://127.0.0.1:6379/15"


def main() -> int:
    db_url = os.environ.get("UNION_TEST_DATABASE_URL") or DEFAULT_DB
    redis_url = os.environ.get("UNION_TEST_REDIS_URL") or DEFAULT_REDIS
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        engine = create_engine(make_url(db_url)._replace(database=None), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            version = conn.execute(text("SELECT VERSION()")).scalar()
        engine.dispose()
    except Exception as exc:  # noqa: BLE001
        print(f"MariaDB/MySQL 不可用（{db_url}）：{exc.__class__.__name__}: {exc}")
        return 1
    try:
        from redis import Redis

        Redis.from_url(redis_url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        print(f"Redis 不可用（{redis_url}）：{exc.__class__.__name__}: {exc}")
        return 1
    print(f"MariaDB/MySQL {version} 与 Redis 可用：第二轮测试将在其上运行")
    return 0


if __name__ == "__main__":
    sys.exit(main())
