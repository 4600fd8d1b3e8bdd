"""The Model page's sentences in Chinese: shape errors, spec validation, the doctor, pre-flight, schedules and
the settings' help, with no English sentence left in them (catalog domain `model`)."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel

import core.spec
from core.errors import SpecError
from core.i18n import message_ids, t, use_language
from core.model.building import check_stack, describe_model
from core.model.doctor import diagnose
from core.model.optimization import OPTIMIZER_LABELS, SCHEDULE_LABELS, describe_schedule
from core.model.preflight import estimate, human_seconds
from core.spec import (
    DataSpec,
    DenseLayer,
    DropoutLayer,
    LSTMLayer,
    ModelSpec,
    RunSpec,
    ScheduleSpec,
    TrainingSpec,
    parse_spec,
)
from ui.spec_fields import help_text, number_kwargs

CHINESE = re.compile(r"[\u4e00-\u9fff]")
# English words that only a sentence would bring (field names, Keras names and values stay as they are).
ENGLISH_SENTENCE = re.compile(r"\b(the|needs|outputs|layer|Layer|is|and|of|should|received|try)\b")


def _spec_models() -> list[type[BaseModel]]:
    return [
        obj
        for obj in vars(core.spec).values()
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj.__module__ == "core.spec"
    ]


def test_every_described_setting_has_its_help_in_the_catalog_with_the_description_as_english():
    for model in _spec_models():
        for name, info in model.model_fields.items():
            if info.description:
                message_id = f"model.help.{model.__name__.lower()}.{name}"
                assert message_id in message_ids(), message_id
                assert t(message_id) == info.description, message_id


def test_setting_help_follows_the_language():
    assert help_text(DenseLayer, "units") == "Number of neurons."
    with use_language("zh"):
        assert help_text(DenseLayer, "units") == "神经元的个数。"
        assert CHINESE.search(number_kwargs(TrainingSpec, "batch_size")["help"])


def test_shape_errors_read_in_chinese():
    spec = ModelSpec(layers=(DenseLayer(units=64), LSTMLayer(units=8)))
    with use_language("zh"), pytest.raises(SpecError) as error:
        check_stack(spec, 13)
    message = str(error.value)
    assert "第 2 层（LSTM，8 个单元）需要序列输入" in message
    assert "第 1 层（Dense，64 个单元）" in message and "(None, 64)" in message
    assert not ENGLISH_SENTENCE.search(message), message
    with pytest.raises(SpecError, match=r"Layer 2 \(LSTM, 8 units\) needs a sequence input"):
        check_stack(spec, 13)


def test_diagram_details_read_in_chinese():
    with use_language("zh"):
        rows = describe_model(ModelSpec(layers=(DenseLayer(units=32), DropoutLayer(rate=0.3))), 5, "binary")
    assert [row.details for row in rows[:3]] == ["5 个编码后的特征", "32 个单元，relu", "失活比例 0.3"]


def test_spec_errors_read_in_chinese():
    payload = RunSpec(data=DataSpec(target="y")).model_dump(mode="json")
    payload["model"]["layers"][0]["units"] = 0
    payload["training"]["colour"] = "red"
    with use_language("zh"), pytest.raises(SpecError) as error:
        parse_spec(payload)
    message = str(error.value)
    assert message.startswith("运行配置无效：")
    assert "应大于或等于 1（收到的是 0）" in message
    assert "`training.colour` 不是已知的设置" in message
    assert not ENGLISH_SENTENCE.search(message), message
    with use_language("zh"), pytest.raises(SpecError, match="目标列 'y' 不能同时是特征"):
        parse_spec({**payload, "training": {}, "data": {"target": "y", "features": ["y"]}})


def test_doctor_findings_and_fixes_read_in_chinese():
    spec = RunSpec(
        data=DataSpec(target="y"),
        model=ModelSpec(layers=(DenseLayer(units=512, activation="linear"), DropoutLayer(rate=0.9), DenseLayer())),
        training=TrainingSpec(batch_size=512, learning_rate=0.5),
    )
    with use_language("zh"):
        findings = diagnose(spec, train_rows=200, num_inputs=12, task="binary")
    assert {advice.kind for advice in findings} >= {"linear_stack", "high_dropout", "too_many_parameters",
                                                     "batch_too_large", "learning_rate"}  # fmt: skip
    for advice in findings:
        assert CHINESE.search(advice.message) and CHINESE.search(advice.fix_label), advice
        assert not ENGLISH_SENTENCE.search(advice.message), advice.message
    dropout = next(advice for advice in findings if advice.kind == "high_dropout")
    assert dropout.message.startswith("第 2 层每一步都丢掉 90% 的输入")


def test_preflight_and_schedules_read_in_chinese():
    spec = RunSpec(data=DataSpec(target="y"))
    with use_language("zh"):
        assert human_seconds(2.5) == "2.5 秒" and human_seconds(0.02) == "20 毫秒"
        planned = estimate(spec, num_inputs=10, task="binary", train_rows=100, max_params=10)
        assert planned.warnings and planned.warnings[0].startswith("网络有 4,929 个参数")
        assert OPTIMIZER_LABELS["adamw"] == "AdamW（解耦的权重衰减）"
        assert SCHEDULE_LABELS.get("cosine") == "余弦衰减（可预热）"
        training = TrainingSpec(schedule=ScheduleSpec(kind="cosine", warmup_epochs=2))
        assert describe_schedule(training).startswith("先在 2 个轮次内从 0 线性升到 0.001")
    assert human_seconds(2.5) == "2.5 s"
    assert OPTIMIZER_LABELS["adamw"] == "AdamW (decoupled weight decay)"


def test_the_gpu_batch_note_is_kept_as_a_message_and_reads_in_either_language():
    from core.i18n import Message
    from core.model.optimization import gpu_batch_size_note

    note = gpu_batch_size_note("GPU: NVIDIA H200 (jax backend)", 32, 500_000)
    stored = Message.from_dict(note.to_dict())
    with use_language("zh"):
        assert str(stored).startswith("在 GPU 上，每批 32 行")
    assert str(stored).startswith("On a GPU, batches of 32 rows")
