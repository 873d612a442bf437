"""Storage behind one narrow interface; SQLite is the embedded default."""

from bot.store.sqlite import Store, connect

__all__ = ["Store", "connect"]
