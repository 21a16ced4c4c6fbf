"""Reading a network: why a run learned or not (verdict), its signals and mistakes (diagnostics), how runs differ (compare), how it learns (backprop)."""
