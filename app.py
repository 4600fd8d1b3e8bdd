"""LayerLab: the entry script only builds the navigation and runs the chosen page."""

import streamlit as st

from ui.gate import require_access, require_login
from ui.identity import session_owner
from ui.services import job_manager, settings
from ui.state import get_state, sync_query_params

st.set_page_config(page_title="LayerLab", page_icon=":material/layers:", layout="wide")
if settings().shared:
    # A public demo: no Deploy button or developer menu, and no traceback ever reaches a visitor.
    st.set_option("client.toolbarMode", "viewer")
    st.set_option("client.showErrorDetails", "none")
require_login()
require_access(session_owner())

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
# server.py starts the job manager with the server; under a bare `streamlit run app.py` (and AppTest) the first
# visitor starts it, so warm workers are ready by the time anyone presses Train.
job_manager()
state = get_state()
sync_query_params(state)
with st.sidebar:
    st.caption("Upload a table → build a network → train it live → evaluate → download a model that works anywhere.")
page.run()
