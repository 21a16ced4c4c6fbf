"""The page's look for its three screens: a laptop, a projector (1280×720: the curves must be
above the fold, the text readable from the back) and a phone (390 px: settings reachable, one
chart per row). Plain CSS on Streamlit's stable test ids, applied once per page run by app.py."""
import streamlit as st

CSS = """
<style>
/* less empty space above the page: at 1280x720 the curves start above the fold */
[data-testid="stMainBlockContainer"] { padding-top: 3.8rem; padding-bottom: 2rem; }
/* readable from the back of a room: body text and metric labels a little larger, darker */
[data-testid="stMetricLabel"] p { font-size: 0.95rem; color: #262730; }
[data-testid="stMetricValue"] { font-size: 1.9rem; }
/* on a phone the sidebar hides behind a small icon: make it a labelled button */
@media (max-width: 640px) {
  [data-testid="stExpandSidebarButton"] { width: auto !important; padding: 0.35rem 0.7rem !important;
      border: 1px solid #d0d3db; border-radius: 0.5rem; background: #fff; }
  [data-testid="stExpandSidebarButton"]::after { content: "⚙ Settings"; margin-left: 0.3rem;
      font-size: 1rem; font-weight: 600; }
  [data-testid="stMainBlockContainer"] { padding-left: 0.8rem; padding-right: 0.8rem; }
  [data-testid="stMetricValue"] { font-size: 1.3rem; }
  /* the buttons and the numbers stay in rows of three instead of one per line, so the curves
     start on the first screen */
  .st-key-controls [data-testid="stHorizontalBlock"], .st-key-metrics [data-testid="stHorizontalBlock"] {
      flex-direction: row !important; flex-wrap: wrap !important; gap: 0.4rem !important; }
  .st-key-controls [data-testid="stColumn"], .st-key-metrics [data-testid="stColumn"] {
      min-width: 30% !important; width: 30% !important; flex: 1 1 30% !important; }
  .st-key-controls button { padding: 0.2rem 0.3rem; min-height: 2.4rem; }
  .st-key-metrics [data-testid="stMetric"] { padding: 0; }
}
</style>
"""


def apply() -> None:
    st.html(CSS)
