"""Streamlit glue that is not a page: services, who this browser is, the sidebar, widgets, style."""
