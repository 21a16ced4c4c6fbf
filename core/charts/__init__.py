"""Plotly figure builders, one module per page: pure functions from data to figures."""
