"""Small Django and Alembic projects written into a release package, for the real tools.

Each reads the database's location from DATABASE_URL, as turnout passes it, and has two
migrations: the first creates `rewards` and fills it from the app's existing `users`
table, the second adds a `tier` column. Variants: a second migration that fails after
its first operation, and ones that wait (writing a marker file first) while a hold file
exists, for kill tests: Django's in its transaction, Alembic's on SQLite after its DDL
took effect (a half-applied revision). Every migration run appends its process's
arguments to the file named by ARGV_LOG, so tests can check that no password was on its
command line.

`django_release` and `alembic_release` add what serves the app (a slot process of the local
target): /health, and /rewards, which reads the table the migrations made.
"""

from __future__ import annotations

from pathlib import Path

DJANGO_MANAGE = """\
import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.management import execute_from_command_line

execute_from_command_line(sys.argv)
"""

DJANGO_SETTINGS = """\
import os
from urllib.parse import unquote, urlsplit

_url = urlsplit(os.environ["DATABASE_URL"])
if _url.scheme == "sqlite":
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(_url.path)}}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(_url.path.lstrip("/")),
            "USER": unquote(_url.username or ""),
            "PASSWORD": unquote(_url.password or ""),
            "HOST": _url.hostname,
            "PORT": _url.port or 5432,
        }
    }
INSTALLED_APPS = ["shop"]
SECRET_KEY = "tests-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
"""

_LOG_ARGV = """\
def log_argv(apps, schema_editor):
    import os, sys
    if os.environ.get("ARGV_LOG"):
        with open(os.environ["ARGV_LOG"], "a") as log:
            log.write(open("/proc/self/cmdline").read().replace("\\0", " ") + "\\n")
"""

DJANGO_0001 = (
    """\
from django.db import migrations, models

"""
    + _LOG_ARGV
    + """

class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            "Reward",
            [("id", models.AutoField(primary_key=True)), ("points", models.IntegerField())],
        ),
        migrations.RunSQL("INSERT INTO shop_reward (id, points) SELECT id, 10 FROM users"),
        migrations.RunPython(log_argv),
    ]
"""
)

DJANGO_0002 = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_rewards")]
    operations = [
        migrations.AddField("Reward", "tier", models.CharField(max_length=20, default="basic")),
    ]
"""

DJANGO_0002_BROKEN = """\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_rewards")]
    operations = [
        migrations.AddField("Reward", "tier", models.CharField(max_length=20, default="basic")),
        migrations.RunSQL("UPDATE shop_reward SET tier = 'gold' WHER id = 1"),
    ]
"""

DJANGO_0002_WAITS = """\
import os
import time
from pathlib import Path

from django.db import migrations, models


def wait(apps, schema_editor):
    Path(os.environ["STARTED_FILE"]).write_text("started")
    while Path(os.environ["HOLD_FILE"]).exists():
        time.sleep(0.05)


class Migration(migrations.Migration):
    dependencies = [("shop", "0001_rewards")]
    operations = [
        migrations.AddField("Reward", "tier", models.CharField(max_length=20, default="basic")),
        migrations.RunPython(wait),
    ]
"""

ALEMBIC_INI = """\
[alembic]
script_location = migrations
"""

ALEMBIC_ENV = """\
import os

from alembic import context
from sqlalchemy import create_engine

engine = create_engine(os.environ["DATABASE_URL"])
with engine.connect() as connection:
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
"""

ALEMBIC_SCRIPT = '''\
"""${message}"""
revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade():
    ${upgrades if upgrades else "pass"}
'''

ALEMBIC_REWARDS = (
    '''\
"""add rewards"""
from alembic import op
import sqlalchemy as sa

revision = "1a2b3c4d5e6f"
down_revision = None

'''
    + _LOG_ARGV
    + """

def upgrade():
    op.create_table("rewards", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("points", sa.Integer, nullable=False))
    op.execute("INSERT INTO rewards (id, points) SELECT id, 10 FROM users")
    log_argv(None, None)
"""
)

ALEMBIC_TIERS = '''\
"""add tiers"""
from alembic import op
import sqlalchemy as sa

revision = "2b3c4d5e6f7a"
down_revision = "1a2b3c4d5e6f"


def upgrade():
    op.add_column("rewards", sa.Column("tier", sa.String(20), server_default="basic"))
'''

ALEMBIC_TIERS_BROKEN = ALEMBIC_TIERS.replace(
    '    op.add_column("rewards", sa.Column("tier", sa.String(20), server_default="basic"))\n',
    '    op.add_column("rewards", sa.Column("tier", sa.String(20), server_default="basic"))\n'
    "    op.execute(\"UPDATE rewards SET tier = 'gold' WHER id = 1\")\n",
)

# The tier column is added (SQLite runs Alembic's DDL outside a transaction, so it stays),
# then the revision waits: killed there, the database is half-way through it.
ALEMBIC_TIERS_WAITS = ALEMBIC_TIERS.replace(
    "import sqlalchemy as sa\n",
    "import sqlalchemy as sa\nimport os, time\nfrom pathlib import Path\n",
) + (
    '    Path(os.environ["STARTED_FILE"]).write_text("started")\n'
    '    while Path(os.environ["HOLD_FILE"]).exists():\n'
    "        time.sleep(0.05)\n"
)

DJANGO_URLS = """\
import os

from django.db import connection
from django.http import JsonResponse
from django.urls import path


def health(request):
    return JsonResponse({"status": "healthy", "version": os.environ.get("TURNOUT_VERSION")})


def rewards(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT tier, count(*) FROM shop_reward GROUP BY tier ORDER BY tier")
        tiers = dict(cursor.fetchall())
    return JsonResponse({"version": os.environ.get("TURNOUT_VERSION"), "tiers": tiers})


urlpatterns = [path("health", health), path("rewards", rewards)]
"""

DJANGO_SERVE = """\
import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
from django.core.wsgi import get_wsgi_application


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


port = int(os.environ["PORT"])
make_server("127.0.0.1", port, get_wsgi_application(), handler_class=Quiet).serve_forever()
"""

ALEMBIC_SERVE = """\
import json
import os
from wsgiref.simple_server import WSGIRequestHandler, make_server

from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"])


def app(environ, start_response):
    version = os.environ.get("TURNOUT_VERSION")
    if environ.get("PATH_INFO") == "/rewards":
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT tier, count(*) FROM rewards GROUP BY tier ORDER BY tier")
            )
            body = {"version": version, "tiers": {tier: count for tier, count in rows}}
    else:
        body = {"status": "healthy", "version": version}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


make_server("127.0.0.1", int(os.environ["PORT"]), app, handler_class=Quiet).serve_forever()
"""

ALEMBIC_VERIFY = """\
-- every user has a rewards row, and every row a tier
SELECT count(*) = (SELECT count(*) FROM users) FROM rewards;
SELECT id FROM rewards WHERE tier IS NULL;
"""


def write_files(root: Path, files: dict[str, str]) -> None:
    """Write each relative path's text under root."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def django_app(package: Path, second: str = DJANGO_0002) -> None:
    """A Django project (manage.py at the package's root) with the `shop` app."""
    write_files(
        package,
        {
            "manage.py": DJANGO_MANAGE,
            "settings.py": DJANGO_SETTINGS,
            "shop/__init__.py": "",
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_rewards.py": DJANGO_0001,
            "shop/migrations/0002_tiers.py": second,
        },
    )


def alembic_app(package: Path, second: str = ALEMBIC_TIERS) -> None:
    """An Alembic project (alembic.ini at the package's root, scripts in migrations/)."""
    write_files(
        package,
        {
            "alembic.ini": ALEMBIC_INI,
            "migrations/env.py": ALEMBIC_ENV,
            "migrations/script.py.mako": ALEMBIC_SCRIPT,
            "migrations/versions/1a2b_add_rewards.py": ALEMBIC_REWARDS,
            "migrations/versions/2b3c_add_tiers.py": second,
        },
    )


def django_release(package: Path, *, migrations: bool) -> None:
    """The Django app served by `python serve.py`; without `migrations`, its release
    before the `shop` migrations were written."""
    django_app(package)
    write_files(package, {"urls.py": DJANGO_URLS, "serve.py": DJANGO_SERVE})
    with (package / "settings.py").open("a") as settings:
        settings.write('ROOT_URLCONF = "urls"\nALLOWED_HOSTS = ["*"]\n')
    if not migrations:
        for name in ("0001_rewards.py", "0002_tiers.py"):
            (package / "shop" / "migrations" / name).unlink()


def alembic_release(package: Path, *, migrations: bool) -> None:
    """The Alembic app served by `python serve.py`, with deploy/verify.sql; without
    `migrations`, its release before any revision was written."""
    alembic_app(package)
    write_files(package, {"serve.py": ALEMBIC_SERVE, "deploy/verify.sql": ALEMBIC_VERIFY})
    if not migrations:
        for revision in (package / "migrations" / "versions").glob("*.py"):
            revision.unlink()
