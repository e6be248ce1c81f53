"""Corpus readers: labels, speakers and sentences from names; skipped files with reasons."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ser_training.data.corpora import (
    NEMO_TABLE,
    find_corpora,
    parse_crema_d,
    parse_savee,
    scan_corpus,
    scan_data_dir,
)
from tests.support.audio import write_audio
from tests.training.conftest import make_emodb, make_ravdess, make_tess

SHORT = np.full(1600, 0.1, dtype=np.float32)


def test_ravdess_labels_speakers_and_calm_merged_into_neutral(tmp_path: Path) -> None:
    result = scan_corpus(make_ravdess(tmp_path, actors=[1, 2]), "ravdess")
    assert len(result.utterances) == 16 and not result.skipped
    labels = Counter(u.label for u in result.utterances)
    assert labels["neutral"] == 4  # neutral + calm, two actors
    assert {u.speaker for u in result.utterances} == {"ravdess:01", "ravdess:02"}
    assert {u.raw_emotion for u in result.utterances} >= {"calm", "neutral"}


def test_ravdess_song_and_video_files_are_skipped_with_reasons(tmp_path: Path) -> None:
    write_audio(tmp_path / "Actor_01" / "03-02-05-01-01-01-01.wav", SHORT)  # song
    write_audio(tmp_path / "Actor_01" / "01-01-05-01-01-01-01.wav", SHORT)  # audio-video
    write_audio(tmp_path / "Actor_01" / "notes.wav", SHORT)
    result = scan_corpus(tmp_path, "ravdess")
    assert not result.utterances
    reasons = " ".join(reason for _, reason in result.skipped)
    assert "song" in reasons and "modality 01" in reasons and "not a RAVDESS name" in reasons


def test_tess_ps_is_surprised_and_the_misnamed_file_gets_its_folder_speaker(tmp_path: Path) -> None:
    make_tess(tmp_path, per_emotion=1)
    write_audio(tmp_path / "OAF_neutral" / "OA_bite_neutral.wav", SHORT)
    result = scan_corpus(tmp_path, "tess")
    assert not result.skipped
    by_name = {u.path.name: u for u in result.utterances}
    assert by_name["OA_bite_neutral.wav"].speaker == "tess:OAF"
    assert by_name["YAF_back_ps.wav"].label == "surprised"
    assert by_name["OAF_back_fear.wav"].label == "fearful"


def test_emodb_boredom_is_left_out_and_reported(tmp_path: Path) -> None:
    result = scan_corpus(make_emodb(tmp_path, speakers=("03",)), "emodb")
    assert sorted(u.label for u in result.utterances) == sorted(
        ["angry", "disgust", "fearful", "happy", "sad", "neutral"]
    )
    assert len(result.skipped) == 1 and "boredom" in result.skipped[0][1]
    assert result.utterances[0].sentence == "emodb:a01"


@pytest.mark.parametrize(
    ("name", "expected"),
    [("1001_DFA_ANG_XX", ("1001", "DFA", "anger")), ("1091_IEO_SAD_HI", ("1091", "IEO", "sad"))],
)
def test_crema_d_names(name: str, expected: tuple) -> None:
    assert parse_crema_d(Path(f"AudioWAV/{name}.wav")) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [("AudioData/DC/a01.wav", ("DC", "a01", "anger")), ("AudioData/JE/sa15.wav", ("JE", "sa15", "sadness")),
     ("ALL/KL_su03.wav", ("KL", "su03", "surprise")), ("ALL/JK_n30.wav", ("JK", "n30", "neutral"))],
)  # fmt: skip
def test_savee_names_in_both_layouts(path: str, expected: tuple) -> None:
    assert parse_savee(Path(path)) == expected


def test_crema_d_and_savee_directories_scan(tmp_path: Path) -> None:
    write_audio(tmp_path / "CREMA-D" / "AudioWAV" / "1001_DFA_ANG_XX.wav", SHORT)
    write_audio(tmp_path / "CREMA-D" / "AudioWAV" / "1002_DFA_BOR_XX.wav", SHORT)  # no such code
    write_audio(tmp_path / "SAVEE" / "AudioData" / "DC" / "h01.wav", SHORT)
    result = scan_data_dir(tmp_path)
    assert Counter(u.corpus for u in result.utterances) == {"crema-d": 1, "savee": 1}
    assert {u.label for u in result.utterances} == {"angry", "happy"}
    assert len(result.skipped) == 1


def test_find_corpora_by_folder_name_and_refuse_missing(tmp_path: Path) -> None:
    for folder in ("RAVDESS", "emo-db", "TESS", "other"):
        (tmp_path / folder).mkdir()
    assert set(find_corpora(tmp_path)) == {"ravdess", "emodb", "tess"}
    with pytest.raises(FileNotFoundError, match="savee"):
        scan_data_dir(tmp_path, corpora=["savee"])
    with pytest.raises(FileNotFoundError):
        find_corpora(tmp_path / "absent")


def test_uppercase_and_flac_extensions_are_found(tmp_path: Path) -> None:
    write_audio(tmp_path / "Actor_03" / "03-01-03-01-01-01-03.flac", SHORT)
    (tmp_path / "Actor_03" / "03-01-04-01-01-01-03.WAV").write_bytes(
        (tmp_path / "Actor_03" / "03-01-03-01-01-01-03.flac").read_bytes()
    )
    assert len(scan_corpus(tmp_path, "ravdess").utterances) == 2


SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "datasets"


@pytest.mark.corpus
@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/datasets is not beside this checkout")
def test_the_shared_corpora_parse_completely() -> None:
    result = scan_data_dir(SHARED, extra_corpora=["nemo"])
    counts = Counter(u.corpus for u in result.utterances)
    assert counts == {"ravdess": 1320, "tess": 1400, "emodb": 353, "nemo": 1576}
    assert {reason for _, reason in result.skipped} == {
        "emodb: emotion 'boredom' left out by the label map"
    }
    nemo = [u for u in result.utterances if u.corpus == "nemo"]
    assert len({u.speaker for u in nemo}) == 9
    assert {u.label for u in nemo} == {"angry", "fearful", "happy", "neutral", "sad", "surprised"}
    assert len({u.sentence for u in nemo}) == 70  # the texts of data.tsv, shared across speakers
    default = scan_data_dir(SHARED)  # nEMO is partial: read only when asked for
    assert "nemo" not in {u.corpus for u in default.utterances}


def make_turev(root: Path) -> Path:
    for folder, code in {"Angry": "kz", "Calm": "sk", "Happy": "mt", "Sad": "hl"}.items():
        for speaker in ("1234", "6783"):
            write_audio(root / folder / f"{speaker}_{code}_acik.flac", SHORT)
    return root


def make_urdu(root: Path) -> Path:
    for folder, letter in {"Angry": "A", "Happy": "H", "Neutral": "N", "Sad": "S"}.items():
        write_audio(root / folder / f"SM1_F1_{letter}01.flac", SHORT)
        write_audio(root / folder / f"SF9_F2_{letter}02.flac", SHORT)
    return root


def test_turev_reads_its_layout_and_leaves_calm_out(tmp_path: Path) -> None:
    result = scan_corpus(make_turev(tmp_path), "turev")
    assert Counter(u.label for u in result.utterances) == {"angry": 2, "happy": 2, "sad": 2}
    assert {u.speaker for u in result.utterances} == {"turev:1234", "turev:6783"}
    assert [reason for _, reason in result.skipped] == [
        "turev: emotion 'calm' left out by the label map"
    ] * 2


def test_urdu_reads_speakers_and_four_emotions(tmp_path: Path) -> None:
    result = scan_corpus(make_urdu(tmp_path), "urdu")
    assert Counter(u.label for u in result.utterances) == {
        "angry": 2, "happy": 2, "neutral": 2, "sad": 2,
    }  # fmt: skip
    assert {u.speaker for u in result.utterances} == {"urdu:SM1", "urdu:SF9"}
    assert not result.skipped


def test_partial_label_corpora_are_read_only_when_asked_for(tmp_path: Path) -> None:
    make_ravdess(tmp_path / "ravdess", actors=[1])
    make_turev(tmp_path / "TurEV-DB")
    make_urdu(tmp_path / "urdu")
    default = scan_data_dir(tmp_path)
    assert {u.corpus for u in default.utterances} == {"ravdess"}
    extra = scan_data_dir(tmp_path, extra_corpora=["turev", "urdu"])
    assert {u.corpus for u in extra.utterances} == {"ravdess", "turev", "urdu"}


def test_label_sets_follow_the_label_map() -> None:
    from ser_training.data.corpora import corpus_label_sets

    sets = corpus_label_sets()
    assert sets["turev"] == {"angry", "happy", "sad"}
    assert sets["urdu"] == {"angry", "happy", "neutral", "sad"}
    assert sets["nemo"] == {"angry", "fearful", "happy", "neutral", "sad", "surprised"}
    assert "surprised" not in sets["emodb"] and len(sets["ravdess"]) == 7


NEMO_ROWS = [  # file_id, emotion, normalized text, speaker, as in nEMO's data.tsv
    ("EB0_anger_1.wav", "anger", "lubię czytać przed snem", "EB0"),
    ("EB0_fear_1.wav", "fear", "lubię czytać przed snem", "EB0"),
    ("KS0_sadness_2.wav", "sadness", "nie waśńmy się ze sobą", "KS0"),
    ("KS0_surprised_2.wav", "surprised", "nie waśńmy się ze sobą", "KS0"),
    ("KS0_happiness_3.wav", "fear", "chodźmy w tango", "KS0"),  # disagrees with its name
]


def make_nemo(root: Path, rows=NEMO_ROWS) -> Path:
    """nEMO as downloaded: ``samples/<file_id>`` with ``data.tsv`` beside the folder."""
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for file_id, emotion, text, speaker in rows:
        write_audio(root / "samples" / file_id, SHORT)
        lines.append(f"{file_id}\t{emotion}\t{text.capitalize()}.\t{text}\t{speaker}\tfemale\t27")
    (root / NEMO_TABLE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_nemo_reads_labels_speakers_and_sentences_from_its_table(tmp_path: Path) -> None:
    result = scan_corpus(make_nemo(tmp_path), "nemo")
    by_name = {u.path.stem: u for u in result.utterances}
    assert sorted(by_name) == ["EB0_anger_1", "EB0_fear_1", "KS0_sadness_2", "KS0_surprised_2"]
    assert [by_name[n].label for n in sorted(by_name)] == ["angry", "fearful", "sad", "surprised"]
    assert by_name["EB0_anger_1"].speaker == "nemo:EB0"
    # One text, two emotions: the same sentence, so sentence-disjoint splits keep them together.
    assert by_name["EB0_anger_1"].sentence == by_name["EB0_fear_1"].sentence
    assert by_name["EB0_anger_1"].sentence == "nemo:lubię czytać przed snem"


def test_nemo_reports_malformed_names_and_disagreeing_rows(tmp_path: Path) -> None:
    make_nemo(tmp_path)
    write_audio(tmp_path / "samples" / "EB0-anger-7.wav", SHORT)
    write_audio(tmp_path / "samples" / "EB0_disgust_1.wav", SHORT)
    result = scan_corpus(tmp_path, "nemo")
    assert sorted((path.name, reason) for path, reason in result.skipped) == [
        ("EB0-anger-7.wav", "nemo: not an nEMO name (<speaker>_<emotion>_<n>, e.g. EB0_anger_1)"),
        ("EB0_disgust_1.wav", "nemo: unknown nEMO emotion 'disgust'"),
        (
            "KS0_happiness_3.wav",
            "nemo: data.tsv says speaker 'KS0', emotion 'fear'; the name says 'KS0', 'happiness'",
        ),
    ]
    assert len(result.utterances) == 4


def test_nemo_without_its_table_takes_the_sentence_from_the_number(tmp_path: Path) -> None:
    write_audio(tmp_path / "nemo" / "MK0" / "MK0_neutral_12.flac", SHORT)
    write_audio(tmp_path / "nemo" / "TP0" / "TP0_anger_12.flac", SHORT)
    result = scan_data_dir(tmp_path, extra_corpora=["nemo"])
    assert {u.sentence for u in result.utterances} == {"nemo:12"}
    assert {u.speaker for u in result.utterances} == {"nemo:MK0", "nemo:TP0"}
    assert not result.skipped


def test_nemo_table_without_needed_columns_is_refused(tmp_path: Path) -> None:
    write_audio(tmp_path / "samples" / "EB0_anger_1.wav", SHORT)
    (tmp_path / NEMO_TABLE).write_text("file_id\temotion\nEB0_anger_1.wav\tanger\n")
    with pytest.raises(ValueError, match="normalized_text"):
        scan_corpus(tmp_path, "nemo")
