"""Plain Python + torch: everything the app does, without Streamlit."""
