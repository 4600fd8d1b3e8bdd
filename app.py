"""LayerLab: the entry script only builds the navigation and runs the chosen page."""

import streamlit as st

from core.i18n import t
from ui.gate import require_access, require_login
from ui.language import apply_browser_language, choose_language
from ui.services import job_manager, settings
from ui.state import get_state, session_owner, sync_query_params

st.set_page_config(page_title="LayerLab", page_icon=":material/layers:", layout="wide")
if settings().shared:
    # A public demo: no Deploy button or developer menu, and no traceback ever reaches a visitor.
    st.set_option("client.toolbarMode", "viewer")
    st.set_option("client.showErrorDetails", "none")
apply_browser_language()  # the gates below speak the browser's language
require_login()
require_access(session_owner())
choose_language()  # this run's language (core.i18n) and the sidebar picker, before anything is drawn in it

pages = [
    st.Page("pages/data.py", title=t("ui.nav.data"), icon=":material/table:", default=True),
    st.Page("pages/prepare.py", title=t("ui.nav.prepare"), icon=":material/tune:"),
    st.Page("pages/model.py", title=t("ui.nav.model"), icon=":material/layers:"),
    st.Page("pages/train.py", title=t("ui.nav.train"), icon=":material/model_training:"),
    st.Page("pages/evaluate.py", title=t("ui.nav.evaluate"), icon=":material/analytics:"),
    st.Page("pages/predict.py", title=t("ui.nav.predict"), icon=":material/online_prediction:"),
    st.Page("pages/download.py", title=t("ui.nav.download"), icon=":material/download:"),
    st.Page("pages/search.py", title=t("ui.nav.search"), icon=":material/travel_explore:"),
    st.Page("pages/runs.py", title=t("ui.nav.runs"), icon=":material/history:"),
]
page = st.navigation(pages)
# server.py starts the job manager with the server; under a bare `streamlit run app.py` (and AppTest) the first
# visitor starts it, so warm workers are ready by the time anyone presses Train.
job_manager()
state = get_state()
sync_query_params(state)
with st.sidebar:
    st.caption(t("ui.sidebar.tagline"))
page.run()
