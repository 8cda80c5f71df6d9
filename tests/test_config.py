"""Settings: --db > DATABASE_URL env > ./.env > config.toml > defaults, per setting."""

from __future__ import annotations

import json
import os
import stat
from decimal import Decimal
from pathlib import Path

import pytest

from energy_tui import locations
from energy_tui.config import OPTIONS, load_settings, option
from energy_tui.errors import ConfigError


def write_dotenv(cwd: Path, text: str) -> Path:
    path = cwd / ".env"
    path.write_text(text, encoding="utf-8")
    return path


def write_config(text: str) -> Path:
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_apply_when_nothing_is_configured(tmp_path):
    settings = load_settings(cwd=tmp_path, environ={})
    for opt in OPTIONS:
        assert settings.sources[opt.name] == "default"
    assert settings.database_url == ""
    assert settings.db_pool_size == 10
    assert settings.db_timeout_seconds == 30
    assert settings.grid_fee_rate == Decimal("0.05")
    assert settings.order_ttl_hours == 24
    assert settings.grid_operator_address == "grid-operator"
    assert settings.bcrypt_rounds == 12
    assert settings.grid_import_price == Decimal("0.2500")
    assert settings.price_band_percent == Decimal("20")
    assert settings.min_order_value == Decimal("0.01")


def test_default_database_is_energy_trading_db_in_the_user_data_dir(tmp_path):
    settings = load_settings(cwd=tmp_path, environ={})
    expected = locations.data_dir() / "energy_trading.db"
    assert settings.effective_database_url == f"sqlite://{expected}"


def test_db_flag_beats_environment_dotenv_and_config_file(tmp_path):
    write_dotenv(tmp_path, "DATABASE_URL=sqlite:dotenv.db\n")
    write_config('DATABASE_URL = "sqlite:config.db"\n')
    settings = load_settings(
        "sqlite:flag.db", cwd=tmp_path, environ={"DATABASE_URL": "sqlite:env.db"}
    )
    assert settings.database_url == "sqlite:flag.db"
    assert settings.sources["DATABASE_URL"] == "--db"


def test_environment_beats_dotenv_and_config_file(tmp_path):
    write_dotenv(tmp_path, "DATABASE_URL=sqlite:dotenv.db\n")
    write_config('DATABASE_URL = "sqlite:config.db"\n')
    settings = load_settings(cwd=tmp_path, environ={"DATABASE_URL": "sqlite:env.db"})
    assert settings.database_url == "sqlite:env.db"
    assert settings.sources["DATABASE_URL"] == "environment"


def test_dotenv_in_working_directory_beats_config_file(tmp_path):
    dotenv = write_dotenv(tmp_path, "DATABASE_URL=sqlite:dotenv.db\n")
    write_config('DATABASE_URL = "sqlite:config.db"\n')
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.database_url == "sqlite:dotenv.db"
    assert settings.sources["DATABASE_URL"] == str(dotenv)


def test_dotenv_outside_working_directory_is_ignored(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    write_dotenv(tmp_path, "DB_POOL_SIZE=3\n")
    settings = load_settings(cwd=tmp_path / "elsewhere", environ={})
    assert settings.db_pool_size == 10


def test_config_file_beats_defaults_and_lives_in_user_config_dir(tmp_path):
    config = write_config('database_url = "sqlite:config.db"\ndb_pool_size = 4\n')
    assert config == locations.config_dir() / "config.toml"
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.database_url == "sqlite:config.db"
    assert settings.db_pool_size == 4
    assert settings.sources["DB_POOL_SIZE"] == str(config)


def test_precedence_is_decided_for_each_setting_separately(tmp_path):
    dotenv = write_dotenv(tmp_path, "DB_POOL_SIZE=3\nGRID_FEE_RATE=0.01\n")
    config = write_config(
        "DB_POOL_SIZE = 7\nGRID_FEE_RATE = 0.02\nORDER_TTL_HOURS = 0\nBCRYPT_ROUNDS = 5\n"
    )
    settings = load_settings(cwd=tmp_path, environ={"GRID_FEE_RATE": "0.03"})
    assert settings.grid_fee_rate == Decimal("0.03")
    assert settings.sources["GRID_FEE_RATE"] == "environment"
    assert settings.db_pool_size == 3
    assert settings.sources["DB_POOL_SIZE"] == str(dotenv)
    assert settings.order_ttl_hours == 0
    assert settings.bcrypt_rounds == 5
    assert settings.sources["ORDER_TTL_HOURS"] == str(config)
    assert settings.db_timeout_seconds == 30
    assert settings.sources["DB_TIMEOUT_SECONDS"] == "default"


def test_db_flag_only_overrides_the_database_url(tmp_path):
    settings = load_settings("sqlite:flag.db", cwd=tmp_path, environ={"DB_POOL_SIZE": "2"})
    assert settings.db_pool_size == 2
    assert settings.sources["DB_POOL_SIZE"] == "environment"


def test_dotenv_accepts_comments_export_and_quotes(tmp_path):
    write_dotenv(
        tmp_path,
        "# a comment\n\nexport DB_POOL_SIZE=6\n"
        "GRID_OPERATOR_ADDRESS='grid-main'\n"
        'DATABASE_URL="sqlite:./quoted.db"\n'
        "ORDER_TTL_HOURS=12 # half a day\n",
    )
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.db_pool_size == 6
    assert settings.grid_operator_address == "grid-main"
    assert settings.database_url == "sqlite:./quoted.db"
    assert settings.order_ttl_hours == 12


def test_seed_note_dotenv_with_unknown_keys_is_accepted(tmp_path):
    write_dotenv(
        tmp_path,
        "DATABASE_URL=sqlite:./energy_trading.db\nJWT_SECRET=x\nAPI_HOST=0.0.0.0\nAPI_PORT=3000\n",
    )
    assert load_settings(cwd=tmp_path, environ={}).database_url == "sqlite:./energy_trading.db"


MALFORMED = [
    ("DB_POOL_SIZE", "0"),
    ("DB_POOL_SIZE", "ten"),
    ("DB_TIMEOUT_SECONDS", "-1"),
    ("DB_TIMEOUT_SECONDS", "1.5"),
    ("GRID_FEE_RATE", "1"),
    ("GRID_FEE_RATE", "-0.01"),
    ("GRID_FEE_RATE", "NaN"),
    ("GRID_FEE_RATE", "five percent"),
    ("ORDER_TTL_HOURS", "-1"),
    ("GRID_OPERATOR_ADDRESS", "x" * 101),
    ("GRID_OPERATOR_ADDRESS", "   "),
    ("BCRYPT_ROUNDS", "3"),
    ("BCRYPT_ROUNDS", "32"),
    ("GRID_IMPORT_PRICE", "0.12345"),
    ("GRID_IMPORT_PRICE", "-1"),
    ("GRID_IMPORT_PRICE", "Infinity"),
    ("GRID_IMPORT_PRICE", "1000000"),  # beyond DECIMAL(10,4)
    ("GRID_FEE_RATE", "0.05001"),  # the database keeps 4 decimals
    ("ORDER_TTL_HOURS", "87601"),
    ("MIN_ORDER_VALUE", "0"),
    ("MIN_ORDER_VALUE", "0.005"),
    ("PRICE_BAND_PERCENT", "0"),
    ("PRICE_BAND_PERCENT", "-5"),
    ("PRICE_BAND_PERCENT", "12.345"),
]


@pytest.mark.parametrize(("name", "raw"), MALFORMED)
def test_malformed_environment_value_names_setting_source_and_what_is_accepted(tmp_path, name, raw):
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={name: raw})
    message = str(caught.value)
    assert name in message
    assert "environment" in message
    assert option(name).accepts in message


def test_malformed_dotenv_value_names_the_dotenv_file(tmp_path):
    dotenv = write_dotenv(tmp_path, "BCRYPT_ROUNDS=99\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={})
    assert str(dotenv) in str(caught.value)
    assert "integer 4-31" in str(caught.value)


def test_malformed_config_file_value_names_the_config_file(tmp_path):
    config = write_config("db_timeout_seconds = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={})
    assert "DB_TIMEOUT_SECONDS" in str(caught.value)
    assert str(config) in str(caught.value)
    assert "integer 1-3600" in str(caught.value)


def test_dotenv_line_without_equals_sign_is_refused_with_its_line_number(tmp_path):
    dotenv = write_dotenv(tmp_path, "DB_POOL_SIZE=3\nthis is not a setting\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={})
    assert f"{dotenv}:2" in str(caught.value)
    assert "KEY=VALUE" in str(caught.value)


def test_config_file_that_is_not_toml_is_refused_naming_the_file(tmp_path):
    config = write_config("db_pool_size = = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={})
    assert str(config) in str(caught.value)
    assert "TOML" in str(caught.value)


def test_valid_value_from_a_higher_source_hides_a_malformed_lower_one(tmp_path):
    write_config("db_pool_size = 0\n")
    assert load_settings(cwd=tmp_path, environ={"DB_POOL_SIZE": "2"}).db_pool_size == 2


def database_of(cli, *args: str) -> str:
    result = cli(*args, "db", "status", "--json")
    assert result.code == 0, result.err
    return json.loads(result.out)["database"]


def test_cli_follows_the_database_precedence_end_to_end(cli, monkeypatch):
    work = Path.cwd()
    data = locations.data_dir()
    assert database_of(cli) == f"sqlite://{data / 'energy_trading.db'}"
    write_config(f'DATABASE_URL = "sqlite:{work}/config.db"\n')
    assert database_of(cli) == f"sqlite://{work / 'config.db'}"
    write_dotenv(work, "DATABASE_URL=sqlite:./dotenv.db\n")
    assert database_of(cli) == f"sqlite://{work / 'dotenv.db'}"
    monkeypatch.setenv("DATABASE_URL", "sqlite:env.db")
    assert database_of(cli) == f"sqlite://{work / 'env.db'}"
    assert database_of(cli, "--db", "sqlite:flag.db") == f"sqlite://{work / 'flag.db'}"


def test_cli_refuses_a_malformed_setting_with_exit_2_and_one_line(cli, monkeypatch):
    monkeypatch.setenv("DB_POOL_SIZE", "lots")
    result = cli("--db", "sqlite:x.db", "db", "status")
    assert result.code == 2
    assert result.err.strip() == (
        "energy-tui: DB_POOL_SIZE='lots' (from environment) is not valid: expected integer 1-1000"
    )
    assert result.out == ""
    assert not Path("x.db").exists()


def test_first_cli_use_creates_private_data_folder_and_database_file(cli):
    data = locations.data_dir()
    assert not data.exists()
    old_umask = os.umask(0)  # a permissive umask must not leak into the modes
    try:
        result = cli("db", "migrate")
    finally:
        os.umask(old_umask)
    assert result.code == 0, result.err
    database = data / "energy_trading.db"
    assert database.is_file()
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_default_database_file_keeps_its_mode_on_later_runs(cli):
    assert cli("db", "migrate").code == 0
    assert cli("prosumer", "add", "house-1", "--name", "House").code == 0
    database = locations.default_database_file()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700


def test_readme_settings_table_lists_every_setting_as_config_defines_it():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for opt in OPTIONS:
        default = f"`{opt.default}`" if opt.default else "(empty)"
        assert f"| `{opt.name}` | {default} | {opt.accepts} | {opt.help} |" in readme, opt.name


# --- files and values that are not what a setting can be ------------------------------


def write_config_bytes(data: bytes) -> Path:
    path = locations.config_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def assert_refused_in_one_line(result, *fragments: str) -> None:
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith("energy-tui: ")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err


def test_dotenv_that_is_not_utf8_is_refused_naming_file_and_line(cli):
    dotenv = Path.cwd() / ".env"
    dotenv.write_bytes(b"DB_POOL_SIZE=3\nGRID_OPERATOR_ADDRESS=caf\xe9\n")
    result = cli("--db", "sqlite:x.db", "db", "status")
    assert_refused_in_one_line(result, f"{dotenv}:2: not valid UTF-8")
    assert not Path("x.db").exists()


def test_config_file_that_is_not_utf8_is_refused_naming_file_and_line(cli):
    config = write_config_bytes(b'db_pool_size = 3\ngrid_operator_address = "\xff\xfe"\n')
    result = cli("--db", "sqlite:x.db", "db", "status")
    assert_refused_in_one_line(result, f"{config}:2: not valid UTF-8")


def test_dotenv_with_a_byte_order_mark_is_read_from_its_first_line(tmp_path):
    (tmp_path / ".env").write_bytes(b"\xef\xbb\xbfDATABASE_URL=sqlite:./bom.db\nDB_POOL_SIZE=4\n")
    settings = load_settings(cwd=tmp_path, environ={})
    assert settings.database_url == "sqlite:./bom.db"
    assert settings.sources["DATABASE_URL"] == str(tmp_path / ".env")
    assert settings.db_pool_size == 4


def test_config_file_with_a_byte_order_mark_is_read(tmp_path):
    write_config_bytes(b"\xef\xbb\xbfdb_pool_size = 4\n")
    assert load_settings(cwd=tmp_path, environ={}).db_pool_size == 4


@pytest.mark.parametrize(
    "text",
    [
        "GRID_OPERATOR_ADDRESS=grid\x00op\n",
        "DATABASE_URL=sqlite:./a\x00b.db\n",
        "DB_POOL_SIZE=\x003\n",
    ],
)
def test_nul_in_a_dotenv_value_is_refused_without_showing_the_value(cli, text):
    dotenv = Path.cwd() / ".env"
    dotenv.write_text(text, encoding="utf-8")
    result = cli("db", "status")
    name = text.partition("=")[0]
    assert_refused_in_one_line(result, f"{name} (from {dotenv}) contains a control character")
    assert "\x00" not in result.err


def test_nul_in_a_config_file_value_is_refused(cli):
    config = write_config('database_url = "sqlite:./a\\u0000b.db"\n')
    result = cli("db", "status")
    assert_refused_in_one_line(result, f"DATABASE_URL (from {config}) contains a control character")


def test_undecodable_environment_value_is_refused(cli, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", os.fsdecode(b"sqlite:./\xff.db"))
    result = cli("db", "status")
    assert_refused_in_one_line(result, "DATABASE_URL (from environment) is not valid UTF-8")


def test_config_file_table_is_refused_naming_it(cli):
    config = write_config('db_pool_size = 3\n[database]\nurl = "sqlite:./x.db"\n')
    result = cli("--db", "sqlite:x.db", "db", "status")
    assert_refused_in_one_line(result, f"{config}: keys not understood: [database] (a table)")
    assert "database_url" in result.err  # says which keys are understood


def test_config_file_unknown_or_list_keys_are_refused_naming_each(tmp_path):
    config = write_config('databse_url = "sqlite:x.db"\ndb_pool_size = [1, 2]\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={})
    assert f"{config}: keys not understood: databse_url, db_pool_size (a list)" in str(caught.value)


def test_config_file_key_given_twice_in_different_case_is_refused(tmp_path):
    write_config("db_pool_size = 3\nDB_POOL_SIZE = 4\n")
    with pytest.raises(ConfigError, match="DB_POOL_SIZE is set twice"):
        load_settings(cwd=tmp_path, environ={})


BEYOND_RANGE = [
    ("ORDER_TTL_HOURS", "99999999999", "integer 0-87600"),
    ("ORDER_TTL_HOURS", "87601", "integer 0-87600"),
    ("LOGIN_LOCKOUT_MINUTES", "99999999999999", "integer 1-10080"),
    ("LOGIN_LOCKOUT_MINUTES", "1e20", "integer 1-10080"),
    ("LOGIN_MAX_FAILURES", "100000", "integer 1-1000"),
    ("SESSION_IDLE_MINUTES", "1441", "integer 1-1440"),
    ("SESSION_MAX_HOURS", "721", "integer 1-720"),
    ("DB_POOL_SIZE", "1001", "integer 1-1000"),
    ("DB_TIMEOUT_SECONDS", "3601", "integer 1-3600"),
    ("DB_POOL_SIZE", "\u0661\u0662", "integer 1-1000"),  # Arabic-Indic 12: int() takes it
    ("DB_POOL_SIZE", "1_0", "integer 1-1000"),
    ("DB_POOL_SIZE", "+5", "integer 1-1000"),
    ("GRID_FEE_RATE", "0.0_5", "decimal in [0, 1)"),
    ("GRID_OPERATOR_ADDRESS", "bad address!", "letters, digits"),
    ("GRID_OPERATOR_ADDRESS", "-grid", "starting with a letter or digit"),
]


@pytest.mark.parametrize(("name", "raw", "accepted"), BEYOND_RANGE)
def test_setting_beyond_its_range_or_form_is_refused_saying_what_is_accepted(
    tmp_path, name, raw, accepted
):
    with pytest.raises(ConfigError) as caught:
        load_settings(cwd=tmp_path, environ={name: raw})
    assert f"{name}=" in str(caught.value)
    assert accepted in str(caught.value)


def test_every_integer_setting_has_a_maximum_that_is_accepted(tmp_path):
    for opt in OPTIONS:
        if opt.accepts.startswith("integer "):
            most = opt.accepts.split()[1].split("-")[1]
            settings = load_settings(cwd=tmp_path, environ={opt.name: most})
            assert getattr(settings, opt.name.lower()) == int(most)


def test_huge_order_ttl_stops_order_place_with_exit_2_before_anything(cli, monkeypatch):
    monkeypatch.setenv("ORDER_TTL_HOURS", "99999999999")
    monkeypatch.setenv("ENERGY_TUI_API_KEY", "k")
    result = cli("--db", "sqlite:x.db", "order", "place", "buy", "1", "0.1")
    assert_refused_in_one_line(result, "ORDER_TTL_HOURS='99999999999' (from environment)")
    assert not Path("x.db").exists()
