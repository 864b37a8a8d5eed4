"""The ``union`` command: database, demo data, web server, worker, OpenAPI, accounts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from server.config import ConfigError

MINIPROGRAM_TAG = "小程序"
MINIPROGRAM_SPEC = Path(__file__).resolve().parent.parent / "miniprogram_api" / "openapi.json"


def _app():
    from server.app import create_app

    try:
        return create_app()
    except ConfigError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)


def _prepare_schema(rt) -> None:  # noqa: ANN001
    """Bring the database to the models' schema before a command uses it.

    MySQL/MariaDB: Alembic ``upgrade head`` (server/migrate.py); a database built by
    ``create_all`` before migrations existed is first stamped at the baseline, and then checked
    against the models, since only the models it was built from can say whether it really is the
    baseline. SQLite (embedded default): ``create_all``, no revision recorded."""
    if rt.db.is_sqlite:
        rt.db.create_all()
        return
    from server import migrate

    if migrate.upgrade(rt.db.url):
        click.echo(f"数据库已有表而无迁移记录（迁移引入前由 create_all 建立）：已标记为基线版本 {migrate.BASELINE}", err=True)
        diffs = migrate.check(rt.db.url)
        if diffs:
            click.echo("警告：数据库与模型不一致，请对照 schema.sql 手工处理：", err=True)
            for diff in diffs:
                click.echo(f"  {diff}", err=True)


@click.group()
def main() -> None:
    """工会智慧平台命令行。"""


@main.command("init-db")
def init_db() -> None:
    """创建或升级数据库表：MySQL/MariaDB 执行迁移到最新版本，SQLite 创建缺少的表。"""
    app = _app()
    rt = app.extensions["union"]
    _prepare_schema(rt)
    if rt.db.is_sqlite:
        click.echo("数据库表已就绪")
    else:
        from server import migrate

        click.echo(f"数据库已是最新版本 {migrate.head()}")


def _migrated_url() -> str:
    db = _app().extensions["union"].db
    if db.is_sqlite:
        click.echo("迁移只用于 MySQL/MariaDB：请设置 UNION_DATABASE_URL（SQLite 由 create_all 建表）", err=True)
        sys.exit(2)
    return db.url


@main.command("db-check")
def db_check() -> None:
    """检查 MySQL/MariaDB 数据库是否处于最新迁移版本且与模型一致（不一致时退出码 1）。"""
    from server import migrate

    diffs = migrate.check(_migrated_url())
    if diffs:
        click.echo("数据库与模型不一致：", err=True)
        for diff in diffs:
            click.echo(f"  {diff}", err=True)
        sys.exit(1)
    click.echo(f"数据库处于最新版本 {migrate.head()}，与模型一致")


@main.command("db-revision")
@click.option("-m", "--message", required=True, help="本次变更的简短说明（英文，用作文件名）")
def db_revision(message: str) -> None:
    """开发用：按模型与数据库（须已升级到最新版本）的差异，在 migrations/versions/ 生成新迁移脚本。"""
    from server import migrate

    migrate.revision(_migrated_url(), message)


@main.command()
@click.option("--demo", is_flag=True, help="演示学校：分工会、各角色账号与约 2000 名会员")
@click.option("--members", type=click.IntRange(min=1), default=None,
              help="再生成 N 名会员，分布在现有分工会（没有分工会时先建演示分工会）")
def seed(demo: bool, members: int | None) -> None:
    """填充数据。"""
    if not demo and not members:
        raise click.UsageError("请指定 --demo 或 --members N")
    app = _app()
    rt = app.extensions["union"]
    _prepare_schema(rt)
    from server.devdata.seed import seed_demo, seed_members

    if demo:
        with rt.db.unit_of_work() as session:
            seed_demo(session, hash_method=app.config["PASSWORD_HASH_METHOD"])
        click.echo("演示数据已就绪（演示账号密码 demo123）")
    if members:
        import time

        started = time.perf_counter()
        with rt.db.unit_of_work() as session:
            count = seed_members(session, members)
        rt.db.analyze("members")
        elapsed = time.perf_counter() - started
        click.echo(f"已生成会员 {count} 名，用时 {elapsed:.1f} 秒")


@main.command()
@click.option("--demo", is_flag=True, help="首次启动时填充演示数据")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
def serve(demo: bool, host: str, port: int) -> None:
    """启动 Web 服务（开发用；生产用 gunicorn 'server.app:create_app()'）。"""
    app = _app()
    rt = app.extensions["union"]
    _prepare_schema(rt)
    if demo:
        from sqlalchemy import func, select

        from server.devdata.seed import seed_demo
        from server.domain.accounts.models import User

        with rt.db.unit_of_work() as session:
            if not session.scalar(select(func.count()).select_from(User)):
                click.echo("首次启动：正在生成演示数据……")
                seed_demo(session, hash_method=app.config["PASSWORD_HASH_METHOD"])
    click.echo(f"工会智慧平台: http://{host}:{port}/  接口文档: http://{host}:{port}/docs")
    app.run(host=host, port=port, threaded=True, use_reloader=False)


@main.command()
@click.option("--burst", is_flag=True, help="处理完队列中的任务后退出")
def worker(burst: bool) -> None:
    """启动 RQ 任务处理进程（需要 UNION_REDIS_URL）。"""
    app = _app()
    rt = app.extensions["union"]
    if rt.queue.inline:
        click.echo("未配置 UNION_REDIS_URL：任务在请求进程内同步执行，无需 worker", err=True)
        sys.exit(2)
    from rq import Worker
    from rq.serializers import JSONSerializer

    Worker([rt.queue.queue], connection=rt.queue.redis, serializer=JSONSerializer).work(burst=burst)


@main.command("purge-exports")
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="保留天数（默认取 UNION_EXPORT_RETENTION_DAYS，7 天）")
def purge_exports(days: int | None) -> None:
    """删除超过保留期的导出文件与中断的导入任务遗留的上传文件（记录与审计保留），可放入 cron 每日执行。"""
    import os
    from datetime import timedelta

    from server.domain.members import imports
    from server.domain.statistics import exports

    app = _app()
    retention = timedelta(days=days or app.config["EXPORT_RETENTION_DAYS"])
    with app.extensions["union"].db.unit_of_work() as session:
        purged = exports.purge_expired(session, os.path.join(app.instance_path, "exports"), retention=retention)
        # A finished import removes its upload at once; one left for a day belongs to a dead job.
        stale = imports.purge_stale_uploads(session, imports.uploads_dir(app.instance_path),
                                            older_than=timedelta(days=1))
    click.echo(f"已删除过期导出 {purged} 个、中断导入遗留的上传文件 {stale} 个")


def build_openapi(full: bool = False) -> dict:
    app = _app()
    with app.app_context():
        spec = app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec.to_dict()
    if full:
        return spec
    paths = {}
    for path, ops in spec["paths"].items():
        kept = {m: op for m, op in ops.items() if isinstance(op, dict) and MINIPROGRAM_TAG in op.get("tags", [])}
        if kept:
            paths[path] = kept
    spec["paths"] = paths
    spec["tags"] = [t for t in spec.get("tags", []) if t["name"] in {t for o in paths.values() for op in o.values() for t in op.get("tags", [])}]
    spec["info"]["title"] = "工会智慧平台 小程序接口（校园通）"
    return spec


@main.command()
@click.option("--out", type=click.Path(dir_okay=False), default=str(MINIPROGRAM_SPEC), show_default=True)
@click.option("--full", is_flag=True, help="写出全部接口（默认只写小程序接口）")
def openapi(out: str, full: bool) -> None:
    """写出 OpenAPI 文档（默认：miniprogram_api/openapi.json）。"""
    text = json.dumps(build_openapi(full), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    if out == "-":
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"已写出 {out}")


@main.command("create-admin")
@click.option("--username", prompt="用户名")
@click.option("--display-name", default="系统管理员", show_default=True)
@click.password_option("--password", prompt="密码")
def create_admin(username: str, display_name: str, password: str) -> None:
    """创建超级管理员账号。"""
    app = _app()
    rt = app.extensions["union"]
    _prepare_schema(rt)
    from server.core.errors import DomainError
    from server.domain.accounts import users as accounts

    try:
        with rt.db.unit_of_work() as session:
            accounts.create_user(session, None, username=username, display_name=display_name,
                                 password=password, roles=[{"role": "super_admin"}],
                                 hash_method=app.config["PASSWORD_HASH_METHOD"])
    except DomainError as exc:
        click.echo(f"创建失败：{exc.message}", err=True)
        sys.exit(1)
    click.echo(f"超级管理员 {username} 已创建")


@main.command()
def schema() -> None:
    """输出由模型生成的 MySQL DDL（union schema > schema.sql）。"""
    from server.schema import mysql_ddl

    click.echo(mysql_ddl(), nl=False)


if __name__ == "__main__":
    main()
