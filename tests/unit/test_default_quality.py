"""The defaults, on the bundled samples, reach the scores the README promises (time is measured in bench/)."""

import pytest

from core.data.reading import load_table_file
from core.data.samples import SAMPLES
from core.run_store import RunStore
from core.spec import DataSpec, RunSpec
from core.training.run_job import run_job


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sample", "metric", "minimum"),
    [("Adult census income", "accuracy", 0.85), ("Diamond prices", "r2", 0.97), ("Wine cultivars", "accuracy", 0.9)],
)
def test_defaults_reach_the_promised_score(tmp_path, sample, metric, minimum):
    chosen = SAMPLES[sample]
    store = RunStore(tmp_path)
    run_id = store.create_run(
        RunSpec(data=DataSpec(target=chosen.target)), load_table_file(chosen.path).frame, source_name=chosen.file_name
    )
    status = run_job(store, run_id)
    assert status.state == "finished", status.message
    assert store.metrics(run_id)["test"][metric] >= minimum
