"""energy-tui: a terminal trading desk for peer-to-peer energy markets."""

__version__ = "0.1.0"
