import pytest

from energy_tui.services.context import ssh_client_ip


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("203.0.113.7 52311 22", "203.0.113.7"),
        ("2001:db8::1 52311 22", "2001:db8::1"),
        ("", None),
        ("not-an-address 1 22", None),
        ("x" * 200 + " 1 22", None),
    ],
)
def test_ssh_client_address_is_taken_only_when_it_is_an_ip(value, expected):
    assert ssh_client_ip({"SSH_CLIENT": value}) == expected
