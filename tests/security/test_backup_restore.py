"""Backup and restore: `backup_database` writes a pg_dump, `restore_database` puts it into a fresh
database, and every record is there with its audit history (who, what, why)."""

from __future__ import annotations

import re
import stat
import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg2 import sql

from ops.backup import database_exists, default_target
from tests.conftest import TwoSiteTrial
from trials.audit import audited
from trials.models import Patient

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REASON = "family name misspelt at screening"


@pytest.fixture
def fresh_database_name():
    name = f"{connection.settings_dict['NAME']}_restored_{uuid.uuid4().hex[:8]}"
    yield name
    conn = default_target().connect("postgres")
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
    finally:
        conn.close()


def model_tables() -> list[str]:
    return sorted(
        {
            model._meta.db_table
            for model in apps.get_models(include_auto_created=True)
            if model._meta.managed and not model._meta.proxy
        }
    )


def table_fingerprints(cursor, tables: list[str]) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row, per table."""
    prints = {}
    for table in tables:
        cursor.execute(
            sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' "
                "ORDER BY md5(t::text))), '') FROM {} t"
            ).format(sql.Identifier(table))
        )
        prints[table] = cursor.fetchone()
    return prints


def patient_history(cursor, patient_pk: int) -> list[tuple]:
    event_table = apps.get_model("trials", "PatientEvent")._meta.db_table
    cursor.execute(
        sql.SQL(
            "SELECT e.pgh_label, e.family_name, c.metadata->>'reason', c.metadata->>'user' "
            "FROM {} e LEFT JOIN pghistory_context c ON c.id = e.pgh_context_id "
            "WHERE e.pgh_obj_id = %s ORDER BY e.pgh_id"
        ).format(sql.Identifier(event_table)),
        [patient_pk],
    )
    return cursor.fetchall()


def test_a_restored_backup_has_every_record_and_its_audit_history(
    two_site_trial: TwoSiteTrial, tmp_path, fresh_database_name, capsys
):
    t = two_site_trial
    # given: clinical records and a correction made with a reason
    with audited(acting_user=t.coordinator_a, reason=REASON):
        Patient.objects.filter(pk=t.patient_a.pk).update(family_name="Corrected")
    archive = tmp_path / "trialdesk-test.dump"

    # when: backed up, then restored into a fresh database
    call_command("backup_database", "--out", str(archive))
    call_command("restore_database", "--file", str(archive), "--target-db", fresh_database_name)

    # then: every table has the same rows, and the correction's history says who and why
    tables = model_tables()
    with connection.cursor() as cur:
        source = table_fingerprints(cur, tables)
        source_history = patient_history(cur, t.patient_a.pk)
    restored_conn = default_target().connect(fresh_database_name)
    try:
        with restored_conn.cursor() as cur:
            restored = table_fingerprints(cur, tables)
            restored_history = patient_history(cur, t.patient_a.pk)
    finally:
        restored_conn.close()
    assert capsys.readouterr().out.startswith(str(archive))
    assert source[Patient._meta.db_table][0] == 2
    assert restored == source
    assert restored_history == source_history
    assert ("update", "Corrected", REASON, str(t.coordinator_a.pk)) in restored_history


def test_backups_are_named_by_utc_time_and_readable_by_the_owner_only(settings, tmp_path):
    settings.VAR_DIR = tmp_path

    call_command("backup_database")

    [archive] = (tmp_path / "backups").iterdir()
    assert re.fullmatch(r"trialdesk-\d{8}T\d{6}Z\.dump", archive.name)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert archive.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format


def test_restore_refuses_a_database_that_has_tables(tmp_path):
    archive = tmp_path / "backup.dump"
    call_command("backup_database", "--out", str(archive))

    with pytest.raises(CommandError, match="already has tables"):
        call_command(
            "restore_database",
            "--file",
            str(archive),
            "--target-db",
            connection.settings_dict["NAME"],
        )


def test_a_restore_that_fails_part_way_leaves_nothing_behind(tmp_path, fresh_database_name):
    archive = tmp_path / "backup.dump"
    call_command("backup_database", "--out", str(archive))
    # a type squatting on a table's name makes the restore fail after other tables were made
    admin = default_target().connect("postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(fresh_database_name)))
    admin.close()
    target = default_target().connect(fresh_database_name)
    target.autocommit = True
    with target.cursor() as cur:
        cur.execute(
            sql.SQL("CREATE TYPE {} AS (x int)").format(sql.Identifier(Patient._meta.db_table))
        )

    with pytest.raises(CommandError, match="failed"):
        call_command("restore_database", "--file", str(archive), "--target-db", fresh_database_name)

    with target.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        tables_left = cur.fetchone()[0]
    target.close()
    assert tables_left == 0


def test_a_damaged_backup_is_refused_before_anything_is_created(tmp_path, fresh_database_name):
    archive = tmp_path / "backup.dump"
    call_command("backup_database", "--out", str(archive))
    damaged = tmp_path / "damaged.dump"
    damaged.write_bytes(archive.read_bytes()[:200])

    with pytest.raises(CommandError):
        call_command("restore_database", "--file", str(damaged), "--target-db", fresh_database_name)

    assert not database_exists(default_target(), fresh_database_name)


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No backup file"):
        call_command(
            "restore_database",
            "--file",
            str(Path(tmp_path) / "nope.dump"),
            "--target-db",
            "whatever",
        )
