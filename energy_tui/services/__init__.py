"""The domain: pure Python + Peewee, no Textual. The TUI and the CLI both call these."""
