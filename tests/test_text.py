"""Input and target strings: hand-built dialogues and labels, expected strings written out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import SHARED_DATA
from unimse_core.config import ConfigError, TextConfig, from_dict, load_config, read_params
from unimse_core.datasets import get as get_dataset
from unimse_core.datasets.iemocap import CODES as IEMOCAP_CODES
from unimse_core.datasets.iemocap import WORDS as IEMOCAP_WORDS
from unimse_core.datasets.iemocap import iemocap_inputs, iemocap_polarity
from unimse_core.datasets.meld import EMOTIONS as MELD_EMOTIONS
from unimse_core.datasets.meld import meld_inputs
from unimse_core.text import (POLARITIES, clean, format_score, msa_input, msa_inputs, parse_target, score_polarity,
                              target)
from unimse_core.universal import DEFAULT_SCHEMA, ParsedLabel

IEMOCAP_EMOTIONS = get_dataset("iemocap").words  # the target words of its codes


def _label(polarity, score, meld_emotion, iemocap_emotion, valid, reason) -> ParsedLabel:
    """A parse result of the paper's layout, its fields given in order."""
    return ParsedLabel(polarity, {"score": score, "meld_emotion": meld_emotion, "iemocap_emotion": iemocap_emotion},
                       valid, reason, DEFAULT_SCHEMA)

ROOT = Path(__file__).resolve().parents[1]
P = "sst2 sentence: "

# The `text` group as proposed for params.yaml.
TEXT_YAML = """
text:
  prefix: "sst2 sentence: "
  window: 2
  causal: false
  iemocap_context: dialogue
  score_decimals: 2
"""

# ----------------------------------------------------------------------------------------------
# config


def test_text_group_loads():
    cfg = load_config(TextConfig, "text", yaml.safe_load(TEXT_YAML))
    assert cfg == TextConfig(prefix=P, window=2, causal=False, iemocap_context="dialogue", score_decimals=2)


def test_text_group_of_the_shipped_params_loads_where_present():
    params = read_params(ROOT / "params.yaml")
    if "text" not in params:
        pytest.skip("params.yaml has no `text` group yet")
    assert isinstance(load_config(TextConfig, "text", params), TextConfig)


@pytest.mark.parametrize(("changes", "message"), [
    ({"window": -1}, "text.window: must be >= 0, got -1"),
    ({"score_decimals": 7}, "text.score_decimals: must be <= 6, got 7"),
    ({"iemocap_context": "turns"}, "text.iemocap_context: must be one of 'dialogue', 'speaker', got 'turns'"),
    ({"causal": "no"}, "text.causal: must be true or false, got 'no'"),
])
def test_text_group_rejects_bad_values(changes, message):
    data = {**yaml.safe_load(TEXT_YAML)["text"], **changes}
    with pytest.raises(ConfigError) as err:
        from_dict(TextConfig, data, "text")
    assert str(err.value) == message


# ----------------------------------------------------------------------------------------------
# MOSI / MOSEI


def test_msa_input_is_prefix_and_lower_cased_cleaned_text():
    assert msa_input("  I LOVED  this\tmovie \n", prefix=P) == "sst2 sentence: i loved this movie"
    assert msa_inputs(["A", "b C"], prefix="") == ["a", "b c"]
    assert clean(" a \t b\n\nc ") == "a b c"


# ----------------------------------------------------------------------------------------------
# MELD

# Input order interleaves three dialogues and scrambles the utterance ids:
# dialogue 7 (five utterances, three speakers), dialogue 3 (one utterance), dialogue 9 (two).
MELD_ROWS = [  # (dialogue, utterance id, speaker, text)
    (7, 2, "Joey", "How you doin'?"),
    (9, 1, "Ross", "We were on a break!"),
    (7, 0, "Chandler", "Hi there."),
    (3, 0, "Rachel", "Oh."),
    (7, 4, "Chandler", "Good."),
    (9, 0, "Rachel", "Ross,  stop."),  # double space: cleaned
    (7, 1, "Monica", "Hello, Chandler!"),
    (7, 3, "Monica", "Fine."),
]


def meld(rows=MELD_ROWS, prefix=P, window=2, causal=False):
    dialogues, utterances, speakers, texts = zip(*rows)
    return meld_inputs(dialogues, utterances, speakers, texts, prefix=prefix, window=window, causal=causal)


def test_meld_window_two_both_sides():
    assert meld() == [
        "sst2 sentence: Chandler Hi there. Monica Hello, Chandler! </s> Joey How you doin'? </s> Monica Fine. "
        "Chandler Good.",                                                  # middle of 7
        "sst2 sentence: Rachel Ross, stop. </s> Ross We were on a break! </s>",  # last of 9
        "sst2 sentence: </s> Chandler Hi there. </s> Monica Hello, Chandler! Joey How you doin'?",  # first of 7
        "sst2 sentence: </s> Rachel Oh. </s>",                             # one-utterance dialogue
        "sst2 sentence: Joey How you doin'? Monica Fine. </s> Chandler Good. </s>",  # last of 7
        "sst2 sentence: </s> Rachel Ross, stop. </s> Ross We were on a break!",  # first of 9
        "sst2 sentence: Chandler Hi there. </s> Monica Hello, Chandler! </s> Joey How you doin'? Monica Fine.",
        "sst2 sentence: Monica Hello, Chandler! Joey How you doin'? </s> Monica Fine. </s> Chandler Good.",
    ]


def test_meld_causal_window_has_only_previous_utterances():
    out = meld(causal=True)
    assert out[0] == "sst2 sentence: Chandler Hi there. Monica Hello, Chandler! </s> Joey How you doin'? </s>"
    assert out[2] == "sst2 sentence: </s> Chandler Hi there. </s>"
    assert out[3] == "sst2 sentence: </s> Rachel Oh. </s>"
    assert out[4] == "sst2 sentence: Joey How you doin'? Monica Fine. </s> Chandler Good. </s>"
    assert out[5] == "sst2 sentence: </s> Rachel Ross, stop. </s>"


def test_meld_window_sizes_and_prefix():
    assert meld(window=1)[0] == "sst2 sentence: Monica Hello, Chandler! </s> Joey How you doin'? </s> Monica Fine."
    assert meld(window=0)[0] == "sst2 sentence: </s> Joey How you doin'? </s>"
    assert meld(window=10)[2] == ("</s> Chandler Hi there. </s> Monica Hello, Chandler! Joey How you doin'? "
                                  "Monica Fine. Chandler Good.").join([P, ""])
    assert meld(prefix="")[3] == "</s> Rachel Oh. </s>"


def test_meld_output_does_not_depend_on_input_order():
    expected = dict(zip(MELD_ROWS, meld()))
    shuffled = [MELD_ROWS[i] for i in np.random.default_rng(0).permutation(len(MELD_ROWS))]
    assert dict(zip(shuffled, meld(shuffled))) == expected


def test_meld_accepts_numpy_columns_and_string_dialogue_ids():
    out = meld_inputs(np.array(["a", "a"]), np.array([1, 0]), ["S", "T"], ["two", "one"],
                      prefix="", window=2, causal=False)
    assert out == ["T one </s> S two </s>", "</s> T one </s> S two"]


def test_meld_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="dialogue 7: utterance id 2 repeats"):
        meld([*MELD_ROWS, (7, 2, "Ross", "Again.")])
    with pytest.raises(ValueError, match="parallel sequences differ in length"):
        meld_inputs([1, 1], [0, 1], ["A"], ["x", "y"], prefix="", window=2, causal=False)
    with pytest.raises(ValueError, match="expected a number"):
        meld_inputs([1, 1], ["10", "2"], ["A", "B"], ["x", "y"], prefix="", window=2, causal=False)
    with pytest.raises(ValueError, match="window must be an integer >= 0"):
        meld(window=-1)


def test_meld_empty_split():
    assert meld_inputs([], [], [], [], prefix=P, window=2, causal=False) == []


# ----------------------------------------------------------------------------------------------
# IEMOCAP

# One dialogue, turns alternate F M F M F by start time; input order scrambled; a second dialogue.
IEMOCAP_ROWS = [  # (dialogue, start, vid_cid, text)
    ("Ses01F_impro01", 9.0, "Ses01F_impro01_F001", "third"),
    ("Ses01F_impro01", 1.5, "Ses01F_impro01_F000", "first"),
    ("Ses01M_script01_1", 3.0, "Ses01M_script01_1_M000", "alone"),
    ("Ses01F_impro01", 12.25, "Ses01F_impro01_M001", "fourth"),
    ("Ses01F_impro01", 4.0, "Ses01F_impro01_M000", "second"),
    ("Ses01F_impro01", 20.0, "Ses01F_impro01_F002", "fifth"),
]


def iemocap(window=2, causal=False, context="dialogue"):
    dialogues, starts, ids, texts = zip(*IEMOCAP_ROWS)
    speakers = [i.rpartition("_")[2][0] for i in ids]  # F or M, as the raw reader gives them
    return iemocap_inputs(dialogues, starts, speakers, texts, prefix=P, window=window, causal=causal,
                          iemocap_context=context)


def test_iemocap_window_from_the_whole_dialogue():
    assert iemocap() == [
        "sst2 sentence: first second </s> third </s> fourth fifth",
        "sst2 sentence: </s> first </s> second third",
        "sst2 sentence: </s> alone </s>",
        "sst2 sentence: second third </s> fourth </s> fifth",
        "sst2 sentence: first </s> second </s> third fourth",
        "sst2 sentence: third fourth </s> fifth </s>",
    ]


def test_iemocap_window_from_the_same_speaker():
    # F: first third fifth; M: second fourth.
    assert iemocap(window=1, context="speaker") == [
        "sst2 sentence: first </s> third </s> fifth",
        "sst2 sentence: </s> first </s> third",
        "sst2 sentence: </s> alone </s>",
        "sst2 sentence: second </s> fourth </s>",
        "sst2 sentence: </s> second </s> fourth",
        "sst2 sentence: third </s> fifth </s>",
    ]


def test_iemocap_causal_windows():
    assert iemocap(causal=True)[0] == "sst2 sentence: first second </s> third </s>"
    assert iemocap(causal=True)[1] == "sst2 sentence: </s> first </s>"
    assert iemocap(causal=True, context="speaker")[5] == "sst2 sentence: first third </s> fifth </s>"


def test_iemocap_equal_order_values_keep_input_order():
    out = iemocap_inputs(["d"] * 3, [1.0, 0.0, 1.0], ["F", "M", "F"], ["b", "a", "c"], prefix="", window=1,
                         causal=False, iemocap_context="dialogue")
    assert out == ["a </s> b </s> c", "</s> a </s> b", "b </s> c </s>"]


def test_iemocap_bad_input_fails_clearly():
    with pytest.raises(ValueError, match="NaN|nan"):
        iemocap_inputs(["d"], [math.nan], ["F"], ["x"], prefix="", window=1, causal=False, iemocap_context="dialogue")
    with pytest.raises(ValueError, match="iemocap_context must be"):
        iemocap_inputs(["d"], [0], ["F"], ["x"], prefix="", window=1, causal=False, iemocap_context="turns")


# ----------------------------------------------------------------------------------------------
# targets


def test_class_lists():
    assert MELD_EMOTIONS == ("neutral", "joy", "surprise", "anger", "sadness", "disgust", "fear")
    assert POLARITIES == ("positive", "negative", "neutral")
    assert IEMOCAP_CODES == ("hap", "sad", "neu", "fru", "ang", "exc")
    assert IEMOCAP_WORDS == {"hap": "joy", "sad": "sadness", "neu": "neutral", "fru": "frustrated",
                             "ang": "anger", "exc": "excited"}
    assert IEMOCAP_EMOTIONS == ("joy", "sadness", "neutral", "frustrated", "anger", "excited")


def test_targets():
    assert target("negative", -1.2, "sadness", "sad", 2) == "negative,-1.2,sadness,sadness"
    assert target("neutral", 0.0, "neutral", "neu", 2) == "neutral,0.0,neutral,neutral"
    assert target("positive", 2.3333333, "joy", "exc", 2) == "positive,2.33,joy,excited"
    assert target("positive", 0.6666666865348816, "surprise", "hap", 2) == "positive,0.67,surprise,joy"
    assert target("negative", np.float32(-3.0), "anger", "ang", 2) == "negative,-3.0,anger,anger"
    assert target("negative", -0.4, "disgust", "fru", 0) == "negative,0.0,disgust,frustrated"


@pytest.mark.parametrize(("score", "decimals", "text"), [
    (2.345, 2, "2.35"),    # the float 2.345 is 2.34500000000000019540..., above the tie
    (2.675, 2, "2.67"),    # the float 2.675 is 2.67499999999999982236..., below the tie
    (0.125, 2, "0.12"),    # an exact binary tie: to even
    (0.375, 2, "0.38"),    # an exact binary tie: to even
    (-0.004, 2, "0.0"),    # rounds to -0.0: written 0.0
    (-0.0, 2, "0.0"),
    (-0.005, 2, "-0.01"),  # the float is a hair below -0.005
    (1e-05, 6, "0.00001"),  # never scientific notation
    (1e-07, 6, "0.0"),
    (3.0, 2, "3.0"),
    (-1.2, 2, "-1.2"),
    (2.6, 0, "3.0"),
    (2.5, 0, "2.0"),       # half to even
    (0.1 + 0.2, 6, "0.3"),
])
def test_format_score_rounding_rule(score, decimals, text):
    assert format_score(score, decimals) == text
    assert float(text) == round(score, decimals)  # the value of Python's round()


def test_target_rejects_unknown_values():
    with pytest.raises(ValueError, match="unknown IEMOCAP emotion code 'xxx': expected one of hap, sad, neu, fru"):
        target("neutral", 0.0, "neutral", "xxx", 2)
    with pytest.raises(ValueError, match="unknown IEMOCAP emotion code 'joy'"):
        target("neutral", 0.0, "neutral", "joy", 2)  # the word is not a code
    with pytest.raises(ValueError, match="unknown MELD emotion 'happy'"):
        target("neutral", 0.0, "happy", "neu", 2)
    with pytest.raises(ValueError, match="unknown polarity 'Positive'"):
        target("Positive", 1.0, "joy", "hap", 2)
    with pytest.raises(ValueError, match="score must be finite"):
        target("neutral", math.nan, "neutral", "neu", 2)
    with pytest.raises(ValueError, match="score_decimals must be an integer in 0..6"):
        target("neutral", 0.0, "neutral", "neu", 7)
    with pytest.raises(TypeError, match="one code per emotion slot \\(meld_emotion, iemocap_emotion\\)"):
        target("neutral", 0.0, "neutral", 2)


def test_iemocap_word_and_polarities():
    assert [get_dataset("iemocap").word(c) for c in IEMOCAP_CODES] == list(IEMOCAP_EMOTIONS)
    for code in ("xxx", "oth", "sur", "", None):
        with pytest.raises(ValueError, match="unknown IEMOCAP emotion code"):
            get_dataset("iemocap").word(code)
    assert [iemocap_polarity(c) for c in ("neu", "hap", "exc", "sad", "ang", "fru", "sur")] == [
        "neutral", "positive", "positive", "negative", "negative", "negative", "negative"]
    assert [score_polarity(s) for s in (1.5, -0.2, 0.0, -0.0, 0.001)] == [
        "positive", "negative", "neutral", "neutral", "positive"]


# ----------------------------------------------------------------------------------------------
# parse_target


def test_parse_round_trips_every_target():
    for i, code in enumerate(IEMOCAP_CODES):
        for meld_emotion in MELD_EMOTIONS:
            for polarity in POLARITIES:
                score = (i - 2.5) * 1.234567
                text = target(polarity, score, meld_emotion, code, 2)
                assert parse_target(text) == _label(polarity, round(score, 2), meld_emotion,
                                                         IEMOCAP_WORDS[code], True, "")


@pytest.mark.parametrize(("text", "expected"), [
    ("", _label(None, None, None, None, False, "1 field(s), expected 4")),
    ("positive", _label("positive", None, None, None, False, "1 field(s), expected 4")),
    ("positive,1.5", _label("positive", 1.5, None, None, False, "2 field(s), expected 4")),
    ("positive,abc,joy,joy", _label("positive", None, "joy", "joy", False, "score 'abc' not a finite number")),
    ("positive,nan,joy,joy", _label("positive", None, "joy", "joy", False, "score 'nan' not a finite number")),
    ("positive,inf,joy,joy", _label("positive", None, "joy", "joy", False, "score 'inf' not a finite number")),
    ("positive,1e999,joy,joy", _label("positive", None, "joy", "joy", False,
                                           "score '1e999' not a finite number")),
    ("positive,1_0,joy,joy", _label("positive", None, "joy", "joy", False, "score '1_0' not a finite number")),
    ("  negative , -1.5 ,sadness,anger ", _label("negative", -1.5, "sadness", "anger", True, "")),
    ("Neutral, -0.0, Neutral, Neutral", _label("neutral", 0.0, "neutral", "neutral", True, "")),
    ("positive,.5,joy,excited", _label("positive", 0.5, "joy", "excited", True, "")),
    ("positive,+2.,joy,excited", _label("positive", 2.0, "joy", "excited", True, "")),
    ("positive,0.6666666865348816,joy,jo", _label("positive", 0.6666666865348816, "joy", None, False,
                                                        "IEMOCAP emotion 'jo' unknown")),
    ("happy,1.0,happy,hap", _label(None, 1.0, None, None, False, "polarity 'happy' unknown")),
    ("positive,1.0,joy,joy,joy", _label("positive", 1.0, "joy", "joy", False, "5 field(s), expected 4")),
    ("positive,,joy,", _label("positive", None, "joy", None, False, "score missing")),
    (",,,", _label(None, None, None, None, False, "polarity missing")),
    ("positive 1.0 joy joy", _label(None, None, None, None, False, "1 field(s), expected 4")),
])
def test_parse_target_never_raises(text, expected):
    assert parse_target(text) == expected


@pytest.mark.parametrize("junk", [None, 3.5, b"positive,1.0,joy,joy", ["positive"], "\x00,\ufffd,,", "," * 1000])
def test_parse_target_survives_junk(junk):
    parsed = parse_target(junk)
    assert not parsed.valid and parsed.reason


def test_prediction_picks_the_field_of_each_dataset():
    parsed = parse_target("negative,-1.5,sadness,anger")
    assert [parsed.prediction(d) for d in ("mosi", "mosei", "meld", "iemocap")] == [-1.5, -1.5, "sadness", "anger"]
    assert parse_target("negative,x,sadness").prediction("meld") == "sadness"
    with pytest.raises(ValueError, match="unknown dataset 'sst'"):
        parsed.prediction("sst")


# ----------------------------------------------------------------------------------------------
# real MELD texts (../shared/data), where present

MELD_DIR = SHARED_DATA / "meld"


@pytest.mark.skipif(not MELD_DIR.is_dir(), reason="real MELD texts not found at ../shared/data/meld "
                                                   "(set UNIMSE_SHARED_DATA)")
def test_real_meld_splits():
    import csv

    for name, count in (("train", 9989), ("dev", 1109), ("test", 2610)):
        with open(MELD_DIR / f"{name}_sent_emo.csv", encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
        out = meld_inputs([int(r["Dialogue_ID"]) for r in rows], [int(r["Utterance_ID"]) for r in rows],
                          [r["Speaker"] for r in rows], [r["Utterance"] for r in rows], prefix=P, window=2,
                          causal=False)
        assert len(out) == count
        for row, text in zip(rows, out):
            assert text.startswith(P) and text.count("</s>") == 2 and "  " not in text
            assert f"</s> {clean(row['Speaker'])} {clean(row['Utterance'])} </s>" in text
