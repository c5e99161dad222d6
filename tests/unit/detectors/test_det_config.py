"""The cameras file: the example loads; every bad key or value is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from detectors.config import build_config, load_cameras_file
from detectors.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cameras.toml"


def test_example_cameras_file_loads(tmp_path: Path) -> None:
    config = load_cameras_file(EXAMPLE, data_dir=tmp_path)
    assert [c.id for c in config.cameras] == ["school-12-canteen", "square-3", "waste-site-40"]
    canteen = config.cameras[0]
    assert canteen.zones[0].role == "canteen"
    assert "lunch" in canteen.meals
    assert config.wanted_plates == frozenset({"A123BC77"})
    assert config.cameras[1].location == (43.2389, 76.8897)
    assert {"objects", "faces_detector", "faces_embedder", "ocr"} <= set(config.models)


@pytest.mark.parametrize(
    ("camera", "message"),
    [
        ({"url": "x"}, r"cameras\[0\]\.id: required"),
        ({"id": "c", "url": "x", "sample_fps": 0}, r"cameras\[0\]\.sample_fps=0.0: must be > 0"),
        ({"id": "c", "url": "x", "kind": "drone"}, r"cameras\[0\]\.kind='drone'"),
        ({"id": "c", "url": "x", "colour": 1}, r"cameras\[0\]: unknown key\(s\) colour"),
        ({"id": "c", "url": "x", "detectors": ["canteen"]}, r"site_id: required when the canteen"),
        ({"id": "c", "url": "x", "detectors": ["dumps"]}, "needs a zone with role 'dump'"),
        ({"id": "c", "url": "x", "meals": {"lunch": "noon"}}, r"meals\.lunch='noon'"),
        ({"id": "c", "url": "x", "timezone": "Mars/Base"}, "unknown time zone"),
        ({"id": "c", "url": "x", "location": {"lat": 43.2}}, r"cameras\[0\]\.location="),
        ({"id": "c", "url": "x", "started_at": "dawn"}, r"cameras\[0\]\.started_at='dawn'"),
        ({"id": "c", "url": "x", "zones": [{"name": "z", "polygon": [[0, 0], [2, 0], [1, 1]]}]},
         r"zones\[0\]\.polygon"),
    ],
)
def test_bad_camera_is_named(tmp_path: Path, camera: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config({"cameras": [camera]}, data_dir=tmp_path, base_dir=tmp_path)


def test_duplicate_ids_and_missing_model_file(tmp_path: Path) -> None:
    cams = [{"id": "a", "url": "x"}, {"id": "a", "url": "y"}]
    with pytest.raises(ConfigError, match="duplicate id"):
        build_config({"cameras": cams}, data_dir=tmp_path, base_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"models\.fire\.path='.*nope.onnx': no such model"):
        build_config({"models": {"fire": {"path": "nope.onnx"}}}, data_dir=tmp_path,
                     base_dir=tmp_path)
    (tmp_path / "m.onnx").write_bytes(b"")
    with pytest.raises(ConfigError, match=r"models\.fire\.classes\.0='lava'"):
        build_config({"models": {"fire": {"path": "m.onnx", "classes": {"0": "lava"}}}},
                     data_dir=tmp_path, base_dir=tmp_path)


def test_file_paths_are_relative_to_the_cameras_file_and_urls_kept(tmp_path: Path) -> None:
    data = {"cameras": [{"id": "a", "url": "clips/a.avi"},
                        {"id": "b", "url": "rtsp://10.0.0.5/stream1"},
                        {"id": "c", "url": "/abs/c.avi"}]}
    config = build_config(data, data_dir=tmp_path, base_dir=tmp_path / "site")
    assert [c.url for c in config.cameras] == [
        str(tmp_path / "site" / "clips" / "a.avi"), "rtsp://10.0.0.5/stream1", "/abs/c.avi"]


def test_mqtt_table_is_read_and_checked(tmp_path: Path) -> None:
    table = {"url": "mqtt://broker.local", "topics": ["kuzet/sensors/+/alarm"],
             "client_id": "det-1"}
    mqtt = build_config({"mqtt": table}, data_dir=tmp_path, base_dir=tmp_path).mqtt
    assert mqtt is not None
    assert (mqtt.host, mqtt.port, mqtt.qos, mqtt.tls) == ("broker.local", 1883, 1, False)
    assert mqtt.topics == ("kuzet/sensors/+/alarm",)
    secure = build_config({"mqtt": {**table, "url": "mqtts://b:9000"}}, data_dir=tmp_path,
                          base_dir=tmp_path).mqtt
    assert secure is not None
    assert (secure.port, secure.tls) == (9000, True)
    assert build_config({}, data_dir=tmp_path, base_dir=tmp_path).mqtt is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"topics": ["t"]}, r"mqtt\.url: required"),
        ({"url": "http://b", "topics": ["t"]}, r"mqtt\.url='http://b': expected mqtt://"),
        ({"url": "mqtt://b:port", "topics": ["t"]}, r"mqtt\.url='mqtt://b:port'"),
        ({"url": "mqtt://b", "topics": []}, r"mqtt\.topics=\[\]: expected a non-empty list"),
        ({"url": "mqtt://b", "topics": ["t"], "qos": 3}, r"mqtt\.qos=3: expected 0, 1 or 2"),
        ({"url": "mqtt://b", "topics": ["t"], "password": "x"}, r"mqtt: unknown key\(s\) pass"),
    ],
)
def test_bad_mqtt_table_is_named(tmp_path: Path, table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config({"mqtt": table}, data_dir=tmp_path, base_dir=tmp_path)


def test_plate_min_width_is_read_and_checked(tmp_path: Path) -> None:
    assert build_config({"detector": {"plate_min_width": 200}}, data_dir=tmp_path,
                        base_dir=tmp_path).plate_min_width == 200
    with pytest.raises(ConfigError, match=r"detector\.plate_min_width=0\.0: must be > 0"):
        build_config({"detector": {"plate_min_width": 0}}, data_dir=tmp_path, base_dir=tmp_path)
