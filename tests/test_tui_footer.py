"""The footer at 80 columns: the app's keys (Help, Lock, Log out, Quit) always whole on
every top-level screen and the login screens, the screen's own keys only while they
fit; the lock screen does not offer Lock."""

from __future__ import annotations

from textual.widgets import Footer

from energy_tui.tui.app import EnergyApp
from tests.tui_identity_support import app_for, login, settle, sync

WIDTH = 80
GLOBAL = ["Help", "Lock", "Log out", "Quit"]


def footer_keys(app: EnergyApp) -> list[str]:
    """The keys the footer shows whole (cut ones and those past the edge are not)."""
    footer = app.screen.query_one(Footer)
    keys = [k for k in footer.children if hasattr(k, "description")]
    shown = [k for k in keys if k.region.x >= 0 and k.region.right <= WIDTH and k.region.width]
    palette = [k for k in shown if k.has_class("-command-palette")]
    edge = palette[0].region.x if palette else WIDTH
    cut = [str(k.description) for k in shown if k.region.right > edge and k not in palette]
    assert not cut, f"{cut} run under the palette key"
    wanted = [k for k in keys if k not in palette]
    width = sum(k.region.width for k in wanted)
    assert all(k in shown for k in wanted), f"{width} cells: some keys pass the edge"
    return [str(k.description) for k in wanted]


@sync
async def test_every_screen_keeps_the_app_keys_whole_at_80_columns(database) -> None:
    for user, keys in (("admin", "123456"), ("alice", "12345")):
        app = app_for(*database)
        async with app.run_test(size=(WIDTH, 24)) as pilot:
            await login(pilot, user)
            for key in keys:
                await pilot.press(f"f{key}")
                await settle(pilot)
                shown = footer_keys(app)
                where = (user, type(app.screen).__name__, shown)
                assert set(GLOBAL) <= set(shown), where
                assert shown[-4:] == GLOBAL, where  # in this order, last
            # the screen's own keys while they fit: the keys screen (F5) lists its two
            assert len(footer_keys(app)) > len(GLOBAL)


@sync
async def test_the_login_and_lock_screens_list_quit_and_the_lock_screen_no_lock(
    database,
) -> None:
    app = app_for(*database)
    async with app.run_test(size=(WIDTH, 24)) as pilot:
        await settle(pilot)
        assert footer_keys(app) == ["Quit"]  # Help is a ? typed in the field
        await login(pilot, "alice")
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert "Screen locked" in str(app.screen.query_one(".form-title").render())
        assert footer_keys(app) == ["Log out", "Quit"]
