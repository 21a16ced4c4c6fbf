"""Entry point: `streamlit run app.py`. Page config and navigation, nothing else."""
import streamlit as st

from ui import shared, style

st.set_page_config(page_title="MNIST neural-network playground", page_icon="🧠", layout="wide")

pages = [
    st.Page("pages/home.py", title="Start here", icon="🏠", default=True),
    st.Page("pages/train.py", title="Train", icon="📈", url_path="train"),
    st.Page("pages/draw.py", title="Draw a digit", icon="✏️", url_path="draw"),
    st.Page("pages/look_inside.py", title="Look inside", icon="🔬", url_path="look_inside"),
    st.Page("pages/runs.py", title="Runs", icon="🗂️", url_path="runs"),
    st.Page("pages/experiments.py", title="Experiments", icon="🧪", url_path="experiments"),
    st.Page("pages/join.py", title="My class", icon="🎓", url_path="class"),
    st.Page("pages/teacher.py", title="Teach", icon="🧑‍🏫", url_path="teacher"),
]
shared.warm_up()
style.apply()
shared.data_folder_notice()
st.navigation(pages).run()
