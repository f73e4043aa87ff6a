"""The package version, importable from any layer (the package root is the application's public API)."""

__version__ = "0.1.0"
