"""core/data/text.py: free-text columns on the two bundled text samples (English critic snippets, Chinese reviews)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from core.data.samples import SAMPLE_DIR
from core.data.text import (
    TextProfile,
    TextSettings,
    cjk_share,
    default_text_settings,
    is_text_column,
    profile_text,
    text_vectorizer,
    tfidf_baseline,
    tfidf_classifier,
    tfidf_vectorizer,
)
from core.errors import DataError
from core.i18n import read_catalog, t, use_language

TEXT_IDS = (
    "data.text.needs_tensorflow",
    "data.text.baseline_needs_classes",
    "data.text.baseline_no_vocabulary",
    "data.text.baseline_name",
    "data.text.baseline_words",
    "data.text.baseline_characters",
)


@pytest.fixture(scope="module")
def reviews() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "rotten_tomatoes.csv")


@pytest.fixture(scope="module")
def chinese() -> pd.DataFrame:
    return pd.read_csv(SAMPLE_DIR / "chinese_reviews.csv", encoding="utf-8")


def test_the_samples_are_as_described(reviews, chinese):
    assert reviews.shape == (6000, 2) and list(reviews.columns) == ["text", "label"]
    assert reviews["label"].value_counts().to_dict() == {"fresh": 3468, "rotten": 2532}  # the source's shares
    assert chinese.shape == (6000, 2) and list(chinese.columns) == ["评论", "情感"]
    assert chinese["情感"].value_counts().to_dict() == {"正面": 3000, "负面": 3000}


# --- detection --------------------------------------------------------------------------------------------------


def test_text_columns_of_the_samples(reviews, chinese):
    assert is_text_column(reviews["text"])
    assert not is_text_column(reviews["label"])
    assert is_text_column(chinese["评论"])
    assert not is_text_column(chinese["情感"])


def test_short_labels_numbers_and_repeats_are_not_text():
    rng = np.random.default_rng(0)
    numbers = pd.Series([f"{value:.4f}" for value in rng.normal(size=1000)], name="amount")
    cities = pd.Series(rng.choice(["Paris", "Lyon", "Marseille", "Toulouse", "Nice", "北京", "上海"], 1000))
    sentences = [f"This is a rather long sentence about topic number {i}, with several words." for i in range(10)]
    repeated = pd.Series(sentences * 100)
    codes = pd.Series([f"SKU-{i:06d}-XL" for i in range(1000)])
    assert not is_text_column(numbers)
    assert not is_text_column(cities)
    assert not is_text_column(repeated)  # long, but only 10 distinct values
    assert not is_text_column(codes)
    assert not is_text_column(pd.Series(rng.normal(size=100)))
    assert not is_text_column(pd.Series([None] * 10, dtype=object))
    assert is_text_column(
        pd.Series(sentences * 100 + [f"Another sentence, number {i}, quite long." for i in range(250)])
    )


def test_cjk_share(reviews, chinese):
    assert cjk_share(reviews["text"]) < 0.01
    assert cjk_share(chinese["评论"]) > 0.7
    assert cjk_share(pd.Series([], dtype=object)) == 0.0


# --- settings ---------------------------------------------------------------------------------------------------


def test_default_settings_split_chinese_into_characters_and_english_into_words(reviews, chinese):
    english = default_text_settings(reviews["text"], sequence=False)
    assert (english.split, english.standardize, english.output_mode) == (
        "whitespace",
        "lower_and_strip_punctuation",
        "tf_idf",
    )
    assert english.ngrams == 2 and english.output_sequence_length is None and english.max_tokens == 20_000
    zh = default_text_settings(chinese["评论"], sequence=False)
    assert (zh.split, zh.standardize, zh.ngrams) == ("character", "lower", 2)
    zh_sequence = default_text_settings(chinese["评论"], sequence=True)
    assert zh_sequence.output_mode == "int" and zh_sequence.split == "character"
    assert 16 <= zh_sequence.output_sequence_length <= 400
    assert zh_sequence.max_tokens < 20_000  # a few thousand distinct characters
    english_sequence = default_text_settings(reviews["text"], sequence=True)
    assert 16 <= english_sequence.output_sequence_length < 80  # critic snippets are one sentence
    assert TextSettings.from_dict(json.loads(json.dumps(english_sequence.to_dict()))) == english_sequence


def test_short_texts_get_the_shortest_sequence_length():
    texts = pd.Series([f"a b {i}" for i in range(50)])
    settings = default_text_settings(texts, sequence=True)
    assert settings.output_sequence_length == 16
    assert settings.max_tokens == 50 + 2 + 2  # a, b, 0–49, padding and OOV


def test_settings_refuse_unknown_values():
    with pytest.raises(ValueError):
        TextSettings(100, None, 2, "sentence", "lower", "tf_idf")
    with pytest.raises(ValueError):
        TextSettings(100, None, None, "whitespace", "lower", "int")  # a sequence needs a length


# --- profile ----------------------------------------------------------------------------------------------------


def test_profile_of_the_critic_snippets(reviews):
    profile = profile_text(reviews["text"], reviews["label"])
    assert isinstance(profile, TextProfile)
    assert (profile.column, profile.rows, profile.missing) == ("text", 6000, 0)
    quantiles = profile.length_quantiles
    assert list(quantiles) == ["min", "25%", "50%", "75%", "95%", "max"]
    assert quantiles["min"] <= quantiles["50%"] <= quantiles["max"] and 60 < quantiles["50%"] < 160
    assert 15 <= len(profile.length_histogram) <= 20
    assert sum(count for _, _, count in profile.length_histogram) == 6000
    assert 8_000 < profile.vocabulary_size < 30_000
    assert profile.cjk_share == 0.0
    words = {label: {token for token, _ in pairs} for label, pairs in profile.telling_words.items()}
    assert set(words) == {"fresh", "rotten"} and all(len(pairs) == 10 for pairs in profile.telling_words.values())
    assert words["fresh"] & {"best", "fun", "love", "entertaining", "performances", "funny", "beautifully"}
    assert words["rotten"] & {"bad", "dull", "too", "nothing", "worst", "boring"}
    assert not words["fresh"] & {"bad", "dull", "worst", "boring"}
    assert not words["rotten"] & {"best", "fun", "love", "entertaining"}
    assert json.loads(json.dumps(profile.to_dict())) == profile.to_dict()


def test_profile_of_chinese_reviews_uses_characters(chinese):
    profile = profile_text(chinese["评论"], chinese["情感"])
    assert profile.cjk_share > 0.7
    assert 1_000 < profile.vocabulary_size < 8_000  # distinct characters
    words = {label: [token for token, _ in pairs] for label, pairs in profile.telling_words.items()}
    assert {"不错", "很好"} & set(words["正面"])
    assert {"差", "没有", "失望"} & set(words["负面"])


def test_profile_with_missing_values_and_no_target():
    series = pd.Series(["a fairly long sentence of words", None, "another one, longer than the first", np.nan])
    profile = profile_text(series)
    assert (profile.rows, profile.missing, profile.telling_words) == (4, 2, {})
    assert profile.length_quantiles["min"] == len("a fairly long sentence of words")
    shuffled = pd.Series(["good fine great"] * 5 + ["bad awful poor"] * 5, index=[3] * 10)
    telling = profile_text(shuffled, pd.Series(["pos"] * 5 + ["neg"] * 5)).telling_words
    assert telling["pos"][0][0] in {"good", "fine", "great"} and telling["neg"][0][0] in {"bad", "awful", "poor"}
    empty = profile_text(pd.Series([None, None], dtype=object, name="notes"))
    assert empty.length_histogram == [] and empty.vocabulary_size == 0


# --- baseline ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "text", "label", "cjk"),
    [("reviews", "text", "label", False), ("chinese", "评论", "情感", True)],
)
def test_tfidf_baseline_on_the_samples(request, fixture, text, label, cjk):
    frame = request.getfixturevalue(fixture)
    train, test = train_test_split(frame, test_size=0.2, random_state=0, stratify=frame[label])
    result = tfidf_baseline(train[text], train[label], test[text], test[label], cjk=cjk)
    assert result["accuracy"] > 0.70, result  # reference: 0.78 (Rotten Tomatoes), 0.83 (Chinese)
    assert result["accuracy"] > result["majority_accuracy"] + 0.1
    assert result["name_id"] == "data.text.baseline_name"
    assert result["detail_id"] == ("data.text.baseline_characters" if cjk else "data.text.baseline_words")
    assert (result["train_rows"], result["test_rows"]) == (4800, 1200)
    assert tfidf_vectorizer(cjk=cjk).get_params()["analyzer"] == ("char" if cjk else "word")
    assert tfidf_classifier(seed=1).get_params()["C"] == 4.0


def test_tfidf_baseline_with_three_classes():
    rng = np.random.default_rng(0)
    words = {"sport": ["match", "goal", "team"], "food": ["soup", "bread", "spicy"], "tech": ["chip", "code", "app"]}
    labels = rng.choice(list(words), 300)
    texts = [" ".join(rng.choice(words[label], 3).tolist() + ["the", "a", "news"]) for label in labels]
    result = tfidf_baseline(texts[:240], labels[:240], texts[240:], labels[240:], cjk=False)
    assert result["accuracy"] > 0.95


def test_tfidf_baseline_says_what_is_wrong():
    texts = [f"text number {i}" for i in range(20)]
    with pytest.raises(DataError, match="two classes"):
        tfidf_baseline(texts, ["a"] * 20, texts, ["a"] * 20, cjk=False)
    unique = [f"w{i}" for i in range(20)]
    with pytest.raises(DataError, match="at least two"):
        tfidf_baseline(unique, ["a", "b"] * 10, unique, ["a", "b"] * 10, cjk=False)


# --- messages ---------------------------------------------------------------------------------------------------


def test_every_message_exists_in_english_and_chinese():
    english = {message.id for message in read_catalog("en", "text") if message.id}
    chinese = {message.id for message in read_catalog("zh", "text") if message.id}
    assert english == chinese == set(TEXT_IDS)
    params = {"classes": 1, "rows": 1200}
    for message_id in TEXT_IDS:
        english_text = t(message_id, **params)
        with use_language("zh"):
            chinese_text = t(message_id, **params)
        assert chinese_text and chinese_text != english_text or message_id == "data.text.baseline_name"


def test_baseline_messages_in_chinese(reviews):
    with use_language("zh"):
        with pytest.raises(DataError, match="两个类别"):
            tfidf_baseline(["x y"] * 4, ["a"] * 4, ["x y"], ["a"], cjk=False)
        assert "逻辑回归" in t("data.text.baseline_name")


# --- Keras: the vectorizer inside a saved model -----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("sequence", [False, True], ids=["bag", "sequence"])
def test_a_model_with_the_vectorizer_saves_and_loads_back(tmp_path, reviews, chinese, sequence):
    import keras  # a slow test: Keras only here
    import tensorflow as tf  # Keras 3's predict refuses numpy string (object) arrays; a tf.constant it takes

    for column in (reviews["text"].head(400), chinese["评论"].head(400)):
        settings = default_text_settings(column, sequence=sequence)
        texts = column.to_numpy(dtype=object)
        vectorizer = text_vectorizer(settings, texts[:300])
        vocabulary = vectorizer.get_vocabulary()
        assert "[UNK]" in vocabulary and len(vocabulary) <= settings.max_tokens
        inputs = keras.Input(shape=(1,), dtype="string")
        x = vectorizer(inputs)
        if sequence:
            x = keras.layers.Embedding(settings.max_tokens, 8)(x)
            x = keras.layers.GlobalAveragePooling1D()(x)
        outputs = keras.layers.Dense(1, activation="sigmoid")(x)
        model = keras.Model(inputs, outputs)
        unseen = tf.constant(texts[300:].reshape(-1, 1))
        before = model.predict(unseen, verbose=0)
        path = tmp_path / f"{settings.split}_{settings.output_mode}.keras"
        model.save(path)
        loaded = keras.saving.load_model(path)
        np.testing.assert_allclose(loaded.predict(unseen, verbose=0), before, rtol=1e-6, atol=1e-6)
        assert loaded.layers[1].get_config()["split"] == settings.split
