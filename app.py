"""LayerLab: the entry script only builds the navigation and runs the chosen page."""

import streamlit as st

from ui.services import job_manager
from ui.state import get_state, sync_query_params

st.set_page_config(page_title="LayerLab", page_icon=":material/layers:", layout="wide")

pages = [
    st.Page("pages/data.py", title="Data", icon=":material/table:", default=True),
    st.Page("pages/prepare.py", title="Prepare", icon=":material/tune:"),
    st.Page("pages/model.py", title="Model", icon=":material/layers:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    st.Page("pages/predict.py", title="Predict", icon=":material/online_prediction:"),
    st.Page("pages/download.py", title="Download", icon=":material/download:"),
]
page = st.navigation(pages)
# Start the warm training workers now, so they are ready by the time the user presses Train.
job_manager()
state = get_state()
sync_query_params(state)
with st.sidebar:
    st.caption("Upload a table → build a network → train it live → evaluate → download a model that works anywhere.")
page.run()
