"""Findings: pure heuristics over the rows the collectors keep, with evidence and fix SQL."""
