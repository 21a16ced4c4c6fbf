"""Sweeps: a grid of settings (spec) -> runs through the run service (runner) -> a lecture's table (table); the lessons (presets)."""
