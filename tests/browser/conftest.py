"""The browser tests use the console tests' home: sample data made by the real pipelines."""

from tests.console.conftest import built_home, home

__all__ = ["built_home", "home"]
