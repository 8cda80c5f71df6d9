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
    assert "integer >= 1" in str(caught.value)


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
        "energy-tui: DB_POOL_SIZE='lots' (from environment) is not valid: expected integer >= 1"
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
