"""SQL files, one query each, shipped inside the package as monitor.queries."""
