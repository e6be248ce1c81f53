"""Readers for emotional-speech corpora in their original layouts.

Each reader walks a directory, finds audio by extension (``.wav`` as downloaded, ``.flac`` as
in shared/), parses corpus, speaker, sentence and raw emotion from the file name, maps the raw
emotion to the product's label set, and reports every file it skipped and why. Nothing here
decodes audio.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".aiff", ".aif")

# Raw emotion name in each corpus → product label. None: left out on purpose (see model card).
DEFAULT_LABEL_MAP: dict[str, dict[str, str | None]] = {
    "ravdess": {
        "neutral": "neutral", "calm": "neutral", "happy": "happy", "sad": "sad",
        "angry": "angry", "fearful": "fearful", "disgust": "disgust", "surprised": "surprised",
    },
    "tess": {
        "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
        "neutral": "neutral", "ps": "surprised", "sad": "sad",
    },
    "emodb": {
        "anger": "angry", "boredom": None, "disgust": "disgust", "fear": "fearful",
        "happiness": "happy", "sadness": "sad", "neutral": "neutral",
    },
    "crema-d": {
        "anger": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
        "neutral": "neutral", "sad": "sad",
    },
    "savee": {
        "anger": "angry", "disgust": "disgust", "fear": "fearful", "happiness": "happy",
        "neutral": "neutral", "sadness": "sad", "surprise": "surprised",
    },
    # Four emotions each. TurEV-DB's "calm" is a relaxed, low-arousal delivery, not the plain
    # reading "neutral" is in the acted corpora, so it is left out rather than relabelled.
    "turev": {"angry": "angry", "calm": None, "happy": "happy", "sad": "sad"},
    "urdu": {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad"},
    # nEMO was recorded without disgust: absent, not negative.
    "nemo": {
        "anger": "angry", "fear": "fearful", "happiness": "happy", "neutral": "neutral",
        "sadness": "sad", "surprised": "surprised",
    },
}  # fmt: skip

# Corpora recorded with only some of the product's emotions. Their absent emotions are
# unknown, not negative: training masks them out of the loss (JobConfig.mask_absent_labels)
# and they are read only when asked for (JobConfig.extra_corpora), never by default.
PARTIAL_CORPORA = ("turev", "urdu", "nemo")

LabelMap = dict[str, dict[str, str | None]]


@dataclass(frozen=True, slots=True)
class CorpusFacts:
    """What the model card says about a corpus the job can read."""

    name: str
    language: str
    speakers: str
    licence: str


CORPUS_FACTS: dict[str, CorpusFacts] = {
    "ravdess": CorpusFacts("RAVDESS", "English (North American), acted", "24 actors (12 f, 12 m)", "CC BY-NC-SA 4.0"),
    "tess": CorpusFacts("TESS", "English (Canadian), acted words", "2 (both f)", "CC BY-NC-ND 4.0"),
    "emodb": CorpusFacts("EMO-DB", "German, acted", "10 (5 f, 5 m)", "research use"),
    "crema-d": CorpusFacts("CREMA-D", "English, acted", "91", "ODbL"),
    "savee": CorpusFacts("SAVEE", "English (British), acted", "4 (m)", "research use"),
    "turev": CorpusFacts("TurEV-DB", "Turkish, acted words", "6", "CC BY-NC-ND 4.0"),
    "urdu": CorpusFacts("URDU", "Urdu, spontaneous TV speech", "29 (11 f, 18 m)", "research use"),
    "nemo": CorpusFacts("nEMO", "Polish, acted sentences", "9 (4 f, 5 m)", "CC BY-NC-SA 4.0"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Utterance:
    """One labelled recording."""

    path: Path
    corpus: str  # a key of PARSERS: "ravdess", "tess", "emodb", "crema-d", "savee", "turev", "urdu", "nemo"
    speaker: str  # globally unique: "<corpus>:<id>"
    sentence: str  # globally unique text id: "<corpus>:<id>"
    raw_emotion: str  # the corpus's own emotion name
    label: str  # product label after mapping


@dataclass
class ScanResult:
    """Utterances found under a directory, plus every skipped file with its reason."""

    utterances: list[Utterance] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def extend(self, other: ScanResult) -> None:
        self.utterances.extend(other.utterances)
        self.skipped.extend(other.skipped)

    def summary(self) -> str:
        by_corpus = Counter(u.corpus for u in self.utterances)
        reasons = Counter(reason for _, reason in self.skipped)
        lines = [f"{corpus}: {n} utterances" for corpus, n in sorted(by_corpus.items())]
        lines += [f"skipped {n}: {reason}" for reason, n in reasons.most_common()]
        return "\n".join(lines)


class UnrecognisedName(ValueError):
    """A file name that does not follow the corpus's naming scheme."""


# A parser takes a path and returns (speaker id, sentence id, raw emotion) or raises.
NameParser = Callable[[Path], tuple[str, str, str]]

_RAVDESS_EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}  # fmt: skip
_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")


def parse_ravdess(path: Path) -> tuple[str, str, str]:
    """``MM-VV-EE-II-SS-RR-AA``: modality 03 = audio only, vocal channel 01 = speech."""
    match = _RAVDESS_NAME.match(path.stem)
    if not match:
        raise UnrecognisedName("not a RAVDESS name (MM-VV-EE-II-SS-RR-AA)")
    modality, channel, emotion, _intensity, statement, _repetition, actor = match.groups()
    if modality != "03":
        raise UnrecognisedName(f"modality {modality} is not audio-only (03)")
    if channel != "01":
        raise UnrecognisedName("song, not speech (vocal channel 02)")
    if emotion not in _RAVDESS_EMOTIONS:
        raise UnrecognisedName(f"unknown RAVDESS emotion code {emotion}")
    return actor, statement, _RAVDESS_EMOTIONS[emotion]


_TESS_SPEAKERS = ("OAF", "YAF")
_TESS_EMOTIONS = {"angry", "disgust", "fear", "happy", "neutral", "ps", "sad"}


def parse_tess(path: Path) -> tuple[str, str, str]:
    """``<SPK>_<word>_<emotion>``; the speaker also from the folder (one file says ``OA_``)."""
    parts = path.stem.split("_")
    if len(parts) != 3:
        raise UnrecognisedName("not a TESS name (<speaker>_<word>_<emotion>)")
    speaker, word, emotion = parts[0].upper(), parts[1].lower(), parts[2].lower()
    if speaker not in _TESS_SPEAKERS:
        folder_speaker = path.parent.name.split("_")[0].upper()
        if folder_speaker not in _TESS_SPEAKERS:
            raise UnrecognisedName(f"unknown TESS speaker {parts[0]!r}")
        speaker = folder_speaker
    if emotion not in _TESS_EMOTIONS:
        raise UnrecognisedName(f"unknown TESS emotion {emotion!r}")
    return speaker, word, emotion


_EMODB_EMOTIONS = {
    "W": "anger", "L": "boredom", "E": "disgust", "A": "fear",
    "F": "happiness", "T": "sadness", "N": "neutral",
}  # fmt: skip
_EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([A-Z])([a-z])$")


def parse_emodb(path: Path) -> tuple[str, str, str]:
    """``SSTTTEV``: speaker, text code, emotion letter (German initials), version."""
    match = _EMODB_NAME.match(path.stem)
    if not match:
        raise UnrecognisedName("not an EMO-DB name (SSTTTEV, e.g. 03a01Wa)")
    speaker, text, emotion, _version = match.groups()
    if emotion not in _EMODB_EMOTIONS:
        raise UnrecognisedName(f"unknown EMO-DB emotion letter {emotion}")
    return speaker, text, _EMODB_EMOTIONS[emotion]


_CREMAD_EMOTIONS = {
    "ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}  # fmt: skip
_CREMAD_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def parse_crema_d(path: Path) -> tuple[str, str, str]:
    """``AAAA_SSS_EEE_II``: actor 1001-1091, sentence, emotion, intensity (LO/MD/HI/XX)."""
    match = _CREMAD_NAME.match(path.stem)
    if not match:
        raise UnrecognisedName("not a CREMA-D name (1001_DFA_ANG_XX)")
    actor, sentence, emotion, _intensity = match.groups()
    if emotion not in _CREMAD_EMOTIONS:
        raise UnrecognisedName(f"unknown CREMA-D emotion code {emotion}")
    return actor, sentence, _CREMAD_EMOTIONS[emotion]


_SAVEE_EMOTIONS = {
    "a": "anger", "d": "disgust", "f": "fear", "h": "happiness",
    "n": "neutral", "sa": "sadness", "su": "surprise",
}  # fmt: skip
_SAVEE_SPEAKERS = ("DC", "JE", "JK", "KL")
_SAVEE_NAME = re.compile(r"^(?:([A-Z]{2})_)?(sa|su|a|d|f|h|n)(\d\d)$")


def parse_savee(path: Path) -> tuple[str, str, str]:
    """``AudioData/<SPK>/<e><NN>`` (release layout) or ``<SPK>_<e><NN>`` (flattened copies)."""
    match = _SAVEE_NAME.match(path.stem)
    if not match:
        raise UnrecognisedName("not a SAVEE name (e.g. DC/a01 or DC_a01)")
    speaker, emotion, number = match.groups()
    speaker = speaker or path.parent.name.upper()
    if speaker not in _SAVEE_SPEAKERS:
        raise UnrecognisedName(f"unknown SAVEE speaker {speaker!r}")
    # SAVEE's sentences are numbered per emotion with common (1-3) and emotion-specific texts.
    return speaker, f"{emotion}{number}", _SAVEE_EMOTIONS[emotion]


_TUREV_EMOTIONS = {"kz": "angry", "sk": "calm", "mt": "happy", "hl": "sad"}
_TUREV_NAME = re.compile(r"^(\d{4})_([a-z]{2})_(\w+)$")


def parse_turev(path: Path) -> tuple[str, str, str]:
    """``<SPK>_<code>_<word>``: 4-digit speaker, emotion code (kz, sk, mt, hl), the word."""
    match = _TUREV_NAME.match(path.stem)
    if not match:
        raise UnrecognisedName("not a TurEV-DB name (<speaker>_<code>_<word>, e.g. 1157_kz_acik)")
    speaker, code, word = match.groups()
    if code not in _TUREV_EMOTIONS:
        raise UnrecognisedName(f"unknown TurEV-DB emotion code {code!r}")
    return speaker, word.lower(), _TUREV_EMOTIONS[code]


_URDU_EMOTIONS = {"A": "angry", "H": "happy", "N": "neutral", "S": "sad"}
_URDU_NAME = re.compile(r"^(S[FM]\d+)_F(\d+)_([AHNS])(\d+)$")


def parse_urdu(path: Path) -> tuple[str, str, str]:
    """``<SPK>_F<n>_<E><nn>``: speaker (SF… female, SM… male), file number, emotion letter.

    The clips are spontaneous TV speech: no two share a text, so the clip is its own sentence.
    """
    match = _URDU_NAME.match(path.stem)
    if not match:
        raise UnrecognisedName("not an URDU name (<speaker>_F<n>_<E><nn>, e.g. SM1_F10_A010)")
    speaker, _file, emotion, number = match.groups()
    return speaker, f"{emotion}{number}", _URDU_EMOTIONS[emotion]


_NEMO_NAME = re.compile(r"^([A-Z]{2}\d)_([a-z]+)_(\d+)$")
NEMO_TABLE = "data.tsv"  # nEMO's metadata, beside its samples/ folder (or the speaker folders)
_NEMO_COLUMNS = ("file_id", "emotion", "normalized_text", "speaker_id")


@dataclass(frozen=True, slots=True)
class NemoRow:
    """One row of nEMO's ``data.tsv``: what the corpus says a file holds."""

    emotion: str
    speaker: str
    text: str  # normalized_text: lower case, no punctuation


def read_nemo_table(root: Path) -> dict[str, NemoRow]:
    """File stem → its ``data.tsv`` row, from every ``data.tsv`` below ``root`` (none: {}).

    Keyed by stem so that the table's ``.wav`` names also describe the ``.flac`` copies.
    Raises ValueError for a table without the columns the reader needs.
    """
    rows: dict[str, NemoRow] = {}
    for table in sorted(root.rglob(NEMO_TABLE)):
        with table.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            missing = [c for c in _NEMO_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(
                    f"{table}: no column {missing} (nEMO's data.tsv has {_NEMO_COLUMNS})"
                )
            for row in reader:
                rows[Path(row["file_id"]).stem] = NemoRow(
                    emotion=row["emotion"], speaker=row["speaker_id"], text=row["normalized_text"]
                )
    return rows


def nemo_parser(root: Path) -> NameParser:
    """A parser for ``<SPK>_<emotion>_<n>`` files that checks each name against ``data.tsv``.

    The sentence is the row's normalized text (the same 70 texts recur across speakers and
    emotions), else the number, which names one text across the corpus. A row that disagrees
    with the name is reported, never resolved by guessing which one is right.
    """
    table = read_nemo_table(root)
    emotions = DEFAULT_LABEL_MAP["nemo"]

    def parse(path: Path) -> tuple[str, str, str]:
        match = _NEMO_NAME.match(path.stem)
        if not match:
            raise UnrecognisedName("not an nEMO name (<speaker>_<emotion>_<n>, e.g. EB0_anger_1)")
        speaker, emotion, number = match.groups()
        if emotion not in emotions:
            raise UnrecognisedName(f"unknown nEMO emotion {emotion!r}")
        row = table.get(path.stem)
        if row is None:
            return speaker, number, emotion
        if (row.speaker, row.emotion) != (speaker, emotion):
            raise UnrecognisedName(
                f"{NEMO_TABLE} says speaker {row.speaker!r}, emotion {row.emotion!r}; "
                f"the name says {speaker!r}, {emotion!r}"
            )
        return speaker, row.text, emotion

    return parse


PARSERS: dict[str, NameParser] = {
    "ravdess": parse_ravdess,
    "tess": parse_tess,
    "emodb": parse_emodb,
    "crema-d": parse_crema_d,
    "savee": parse_savee,
    "turev": parse_turev,
    "urdu": parse_urdu,
}
# Corpora whose parser reads a table beside the audio: corpus → (root → parser).
TABLE_PARSERS: dict[str, Callable[[Path], NameParser]] = {"nemo": nemo_parser}

# Folder names (lower case, without separators) under which each corpus is recognised.
CORPUS_FOLDER_ALIASES: dict[str, tuple[str, ...]] = {
    "ravdess": ("ravdess",),
    "tess": ("tess",),
    "emodb": ("emodb", "emodbberlin", "berlin"),
    "crema-d": ("cremad", "crema"),
    "savee": ("savee",),
    "turev": ("turev", "turevdb"),
    "urdu": ("urdu",),
    "nemo": ("nemo",),
}


def audio_files(root: Path) -> list[Path]:
    """Every audio file below ``root``, sorted, found by extension (case-insensitive)."""
    return sorted(
        p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS
    )


def scan_corpus(root: Path, corpus: str, label_map: LabelMap | None = None) -> ScanResult:
    """Read one corpus directory in its original layout.

    Parameters
    ----------
    root : directory holding the corpus (any depth of sub-folders)
    corpus : one of PARSERS or TABLE_PARSERS
    label_map : raw emotion → product label per corpus; defaults to DEFAULT_LABEL_MAP
    """
    parse = TABLE_PARSERS[corpus](root) if corpus in TABLE_PARSERS else PARSERS[corpus]
    mapping = (label_map or DEFAULT_LABEL_MAP)[corpus]
    result = ScanResult()
    for path in audio_files(root):
        try:
            speaker, sentence, raw = parse(path)
        except UnrecognisedName as error:
            result.skipped.append((path, f"{corpus}: {error}"))
            continue
        if raw not in mapping:
            result.skipped.append((path, f"{corpus}: emotion {raw!r} not in the label map"))
            continue
        label = mapping[raw]
        if label is None:
            result.skipped.append((path, f"{corpus}: emotion {raw!r} left out by the label map"))
            continue
        result.utterances.append(
            Utterance(
                path=path,
                corpus=corpus,
                speaker=f"{corpus}:{speaker}",
                sentence=f"{corpus}:{sentence}",
                raw_emotion=raw,
                label=label,
            )
        )
    return result


def _normalised(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def corpus_label_sets(label_map: LabelMap | None = None) -> dict[str, set[str]]:
    """Product labels each corpus can have, from the label map (None values left out)."""
    return {
        corpus: {label for label in mapping.values() if label is not None}
        for corpus, mapping in (label_map or DEFAULT_LABEL_MAP).items()
    }


def find_corpora(data_dir: Path) -> dict[str, Path]:
    """Corpus name → directory for each recognised sub-folder of ``data_dir``."""
    found: dict[str, Path] = {}
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist")
    for child in sorted(data_dir.iterdir()):
        if not child.is_dir():
            continue
        key = _normalised(child.name)
        for corpus, aliases in CORPUS_FOLDER_ALIASES.items():
            if key in aliases and corpus not in found:
                found[corpus] = child
    return found


def scan_data_dir(
    data_dir: Path,
    corpora: Iterable[str] | None = None,
    label_map: LabelMap | None = None,
    extra_corpora: Iterable[str] = (),
) -> ScanResult:
    """Scan the corpora named in ``corpora`` under ``data_dir``; by default every recognised
    corpus with the full label set (PARTIAL_CORPORA only when named in ``extra_corpora``)."""
    found = find_corpora(data_dir)
    if corpora is not None:
        wanted = list(corpora)
    else:
        wanted = [c for c in found if c not in PARTIAL_CORPORA]
    wanted += [c for c in extra_corpora if c not in wanted]
    missing = [c for c in wanted if c not in found]
    if missing:
        raise FileNotFoundError(
            f"no folder for {missing} under {data_dir}; found {sorted(found) or 'none'} "
            f"(expected sub-folders named like {sorted(CORPUS_FOLDER_ALIASES)})"
        )
    result = ScanResult()
    for corpus in wanted:
        result.extend(scan_corpus(found[corpus], corpus, label_map))
    return result
