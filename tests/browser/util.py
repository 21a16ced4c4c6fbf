"""Helpers for the browser tests."""


def wait_for_app(page, timeout: float = 30_000) -> None:
    """Wait until Streamlit has rendered the app and finished running the script."""
    page.wait_for_selector("[data-testid=stApp]", timeout=timeout)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=timeout)


def plot_point_count(page, index: int = 0) -> int:
    """Number of x values in the first trace of the index-th plotly chart on the page (read from
    _fullData: plotly 7 sends numpy arrays base64-encoded, so `data[0].x` is not an array)."""
    return page.evaluate(
        """(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i];
                    return p && p._fullData && p._fullData.length ? p._fullData[0].x.length : 0; }""",
        index)


def plot_last_x(page, index: int = 0) -> float:
    """The last x value (the newest epoch plotted) of the first trace of the index-th chart."""
    return page.evaluate(
        """(i) => { const p = document.querySelectorAll('.js-plotly-plot')[i];
                    if (!p || !p._fullData || !p._fullData.length) return -1;
                    const x = p._fullData[0].x; return x.length ? x[x.length - 1] : -1; }""", index)
