"""The app's pages (run by st.navigation in app.py) and `shared`, the glue they have in common."""
