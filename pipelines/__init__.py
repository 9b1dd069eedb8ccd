"""Scrutineer's processing stages as plain functions, the one Settings, and the CLI."""
